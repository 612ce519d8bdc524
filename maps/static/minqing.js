/* 民情地图 minqing-map: shared map code (offline base map, panel, place-name search, helpers).
 * Our own code, served from /assets/static/. It only ever requests app-relative URLs. */
(function () {
  "use strict";
  var mq = (window.minqing = window.minqing || {});
  mq.state = mq.state || { ready: false };

  /* ---------- helpers ---------- */
  var ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  mq.esc = function (s) {
    return s === null || s === undefined ? "" : String(s).replace(/[&<>"']/g, function (c) { return ESC[c]; });
  };
  mq.num = function (n, digits) {
    if (n === null || n === undefined || isNaN(n)) return "—";
    return Number(n).toLocaleString("zh-CN", { maximumFractionDigits: digits === undefined ? 0 : digits });
  };
  mq.pct = function (x) {
    return x === null || x === undefined || isNaN(x) ? "—" : (100 * x).toFixed(1) + "%";
  };
  mq.$ = function (id) { return document.getElementById(id); };
  mq.or = function (v, dflt) { return v === null || v === undefined || v === "" ? dflt : v; };

  /* fetch JSON from OUR app only; errors become Chinese messages (the API's own text when it has one). */
  mq.fetchJSON = function (url, options) {
    if (typeof url !== "string" || url.charAt(0) !== "/" || url.charAt(1) === "/") {
      return Promise.reject(new Error("只允许访问本站地址"));
    }
    return fetch(url, Object.assign({ credentials: "same-origin", headers: { Accept: "application/json" } }, options || {}))
      .then(function (res) {
        return res.text().then(function (text) {
          var body = null;
          try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
          if (!res.ok) {
            var e = body && (body.error || body);  // the API's {"error": {code, message, fix}}
            var msg = e && (e.message_zh || e.message || e.detail);
            if (msg && typeof msg !== "string") msg = msg[0] && msg[0].msg ? msg[0].msg : JSON.stringify(msg);
            var err = new Error(msg || mq.httpMessage(res.status));
            err.status = res.status;
            throw err;
          }
          return body;
        });
      }, function () { throw new Error("网络连接失败，请稍后重试"); });
  };
  mq.httpMessage = function (status) {
    if (status === 401) return "登录已过期，请重新登录";
    if (status === 403) return "当前账号无权查看该数据";
    if (status === 404) return "暂无该数据";
    if (status === 422) return "所选位置无法计算（超出辖区或远离道路）";
    return "服务暂时不可用（" + status + "），请稍后重试";
  };

  mq.status = function (el, text, kind) {
    if (!el) return;
    el.textContent = text || "";
    el.className = "mq-status" + (kind ? " mq-status-" + kind : "");
  };

  /* ---------- page chrome ---------- */
  mq.chrome = function (map, data) {
    var b = data && data.district && data.district.bounds;
    var side = mq.$("mq-panel");
    if (b) {
      // Keep the district clear of the side panel on wide screens.
      var wide = side && !window.matchMedia("(max-width: 760px)").matches;
      // No animation: the first view is simply there (and a view set right after is not swallowed by it).
      map.fitBounds(b, { paddingTopLeft: [wide ? side.offsetWidth + 24 : 10, 10], paddingBottomRight: [10, 10],
                         animate: false });
    }
    L.control.scale({ position: "bottomright", imperial: false }).addTo(map);
    map.attributionControl.setPrefix('<a href="/" title="民情地图">民情地图</a> · Leaflet');
    var panel = mq.$("mq-panel"), toggle = mq.$("mq-panel-toggle");
    if (panel && toggle) {
      var small = window.matchMedia("(max-width: 760px)").matches;
      var setOpen = function (open) {
        panel.classList.toggle("mq-collapsed", !open);
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
        toggle.textContent = open ? "收起面板" : (small ? "展开面板 ▲" : "展开面板");
      };
      setOpen(!small);
      if (!small) {
        // Popups pan clear of the side panel and the header.
        L.Popup.prototype.options.autoPanPaddingTopLeft = L.point(panel.offsetWidth + 30, 20);
      }
      toggle.addEventListener("click", function () { setOpen(panel.classList.contains("mq-collapsed")); });
      mq.openPanel = function () { setOpen(true); };
      L.DomEvent.disableClickPropagation(panel);
      L.DomEvent.disableScrollPropagation(panel);
    }
    map.on("baselayerchange", function (e) {
      map.getContainer().classList.toggle("mq-offline", e.layer === mq.state.offlineBase);
    });
  };

  /* ---------- offline base map ---------- */
  var ROAD = {
    major: { color: "#f5c16c", casing: "#c99a4a", w: 7 },
    secondary: { color: "#fff3c9", casing: "#cdb98a", w: 5.5 },
    minor: { color: "#ffffff", casing: "#d6d0c4", w: 4, minZoom: 13 },
    service: { color: "#ffffff", casing: "#ddd8cd", w: 2.5, minZoom: 15 },
    path: { color: "#b9ad98", w: 1.2, dash: "3 3", minZoom: 15 }
  };
  var ROAD_ORDER = ["path", "service", "minor", "secondary", "major"];
  var AREA = {
    district: { color: "#6d5a8f", weight: 3, dashArray: null, opacity: 0.8 },
    town: { color: "#8a77ad", weight: 2, dashArray: "8 5", opacity: 0.8 },
    community: { color: "#a99bc4", weight: 1.2, dashArray: "4 4", opacity: 0.8, minZoom: 13 }
  };

  function width(base, z) {
    return Math.max(0.6, base * Math.pow(1.55, z - 15));
  }

  function label(lat, lon, text, cls) {
    return L.marker([lat, lon], {
      icon: L.divIcon({ className: "mq-label " + cls, html: "<span>" + mq.esc(text) + "</span>", iconSize: null }),
      interactive: false, keyboard: false
    });
  }

  mq.basemap = function (map, group, data) {
    var renderer = L.canvas({ padding: 0.4, tolerance: 3 });
    mq.state.offlineBase = group;
    mq.state.baseRenderer = renderer;
    map.getContainer().classList.add("mq-offline");

    var water = L.geoJSON(data.water, {
      renderer: renderer, interactive: false,
      style: function () { return { stroke: true, color: "#8fc3e8", weight: 1, fillColor: "#aad3f0", fillOpacity: 1 }; }
    });
    var roadLayers = {};
    ROAD_ORDER.forEach(function (cls) {
      var feats = data.roads.features.filter(function (f) { return f.properties.c === cls; });
      var spec = ROAD[cls];
      var pair = {};
      if (spec.casing) {
        pair.casing = L.geoJSON({ type: "FeatureCollection", features: feats },
          { renderer: renderer, interactive: false, style: { color: spec.casing, lineCap: "round", lineJoin: "round" } });
      }
      pair.fill = L.geoJSON({ type: "FeatureCollection", features: feats },
        { renderer: renderer, interactive: false, style: { color: spec.color, dashArray: spec.dash || null, lineCap: "round", lineJoin: "round" } });
      roadLayers[cls] = pair;
    });
    // Casings of every class are drawn first, then fills: crossings look joined, not stacked.
    var areaLayers = {};
    ["community", "town", "district"].forEach(function (lvl) {
      var feats = data.areas.features.filter(function (f) { return f.properties.l === lvl; });
      areaLayers[lvl] = L.geoJSON({ type: "FeatureCollection", features: feats },
        { renderer: renderer, interactive: false, style: function () { var s = AREA[lvl]; return { color: s.color, weight: s.weight, dashArray: s.dashArray, opacity: s.opacity, fill: false }; } });
    });
    // Stamp ids in drawing order: a LayerGroup re-added to the map (after another base map was
    // picked) adds its layers in id order, so the ids must follow water < casings < fills < outlines.
    L.stamp(water);
    ROAD_ORDER.forEach(function (cls) { if (roadLayers[cls].casing) L.stamp(roadLayers[cls].casing); });
    ROAD_ORDER.forEach(function (cls) { L.stamp(roadLayers[cls].fill); });
    ["community", "town", "district"].forEach(function (lvl) { L.stamp(areaLayers[lvl]); });

    var labels = { town: L.layerGroup(), community: L.layerGroup(), water: L.layerGroup(), road: L.layerGroup() };
    data.areas.features.forEach(function (f) {
      var p = f.properties;
      if (p.l === "town" || p.l === "community") labels[p.l].addLayer(label(p.p[0], p.p[1], p.n, "mq-label-" + p.l));
    });
    data.water.features.forEach(function (f) {
      if (!f.properties.n) return;
      var p = f.properties.p || [L.geoJSON(f).getBounds().getCenter().lat, L.geoJSON(f).getBounds().getCenter().lng];
      labels.water.addLayer(label(p[0], p[1], f.properties.n, "mq-label-water"));
    });
    (data.road_labels || []).forEach(function (r) { labels.road.addLayer(label(r[0], r[1], r[2], "mq-label-road mq-label-" + r[3])); });

    function toggle(layer, on) {
      if (on && !group.hasLayer(layer)) group.addLayer(layer);
      if (!on && group.hasLayer(layer)) group.removeLayer(layer);
    }
    // Canvas draws in the order layers were added: keep water < casings < fills < outlines.
    var shown = "";
    function restack(z) {
      var stack = [water];
      ROAD_ORDER.forEach(function (cls) {
        if ((!ROAD[cls].minZoom || z >= ROAD[cls].minZoom) && roadLayers[cls].casing) stack.push(roadLayers[cls].casing);
      });
      ROAD_ORDER.forEach(function (cls) {
        if (!ROAD[cls].minZoom || z >= ROAD[cls].minZoom) stack.push(roadLayers[cls].fill);
      });
      if (z >= AREA.community.minZoom) stack.push(areaLayers.community);
      stack.push(areaLayers.town, areaLayers.district);
      var key = stack.map(function (l) { return L.stamp(l); }).join(",");
      if (key === shown) return;
      shown = key;
      [water, areaLayers.community, areaLayers.town, areaLayers.district].forEach(function (l) { toggle(l, false); });
      ROAD_ORDER.forEach(function (cls) { toggle(roadLayers[cls].fill, false); if (roadLayers[cls].casing) toggle(roadLayers[cls].casing, false); });
      stack.forEach(function (l) { group.addLayer(l); });
    }
    function restyle() {
      var z = map.getZoom();
      restack(z);
      ROAD_ORDER.forEach(function (cls) {
        var spec = ROAD[cls], w = width(spec.w, z);
        roadLayers[cls].fill.setStyle({ weight: spec.casing ? w : Math.max(1, w / 2) });
        if (roadLayers[cls].casing) roadLayers[cls].casing.setStyle({ weight: w + 2 });
      });
      toggle(labels.town, z < 14);
      toggle(labels.community, z >= 14);
      toggle(labels.water, z >= 13);
      toggle(labels.road, z >= 16);
    }
    map.on("zoomend", restyle);
    restyle();
    mq.state.basemap = { water: water, roads: roadLayers, areas: areaLayers, labels: labels };
    return group;
  };

  /* ---------- place-name search (GET /placenames/search) ---------- */
  mq.search = function (map, options) {
    var input = mq.$("mq-search-input"), list = mq.$("mq-search-results");
    if (!input || !list) return;
    var categoryNames = (options && options.categories) || {};
    var timer = null, seq = 0, items = [], active = -1, marker = null;

    function hide() { list.hidden = true; active = -1; }
    function show(results, q) {
      items = results;
      if (!results.length) {
        list.innerHTML = '<li class="mq-search-empty">没有找到“' + mq.esc(q) + '”</li>';
      } else {
        list.innerHTML = results.map(function (r, i) {
          return '<li role="option" data-i="' + i + '"><b>' + mq.esc(r.name) + "</b>" +
            '<span class="mq-search-py">' + mq.esc(r.pinyin || "") + "</span>" +
            '<span class="mq-search-cat">' + mq.esc(categoryNames[r.category] || r.category || "") + "</span></li>";
        }).join("");
      }
      list.hidden = false;
    }
    function choose(i) {
      var r = items[i];
      if (!r) return;
      hide();
      input.value = r.name;
      if (marker) map.removeLayer(marker);
      marker = L.marker([r.lat, r.lon], {
        icon: L.divIcon({ className: "mq-found", html: '<span class="mq-found-dot"></span>', iconSize: [22, 22] }),
        title: r.name
      }).addTo(map);
      marker.bindPopup('<div class="mq-pop"><h3>' + mq.esc(r.name) + '</h3><p class="mq-pop-py">' + mq.esc(r.pinyin || "") +
        "</p><p>" + mq.esc(categoryNames[r.category] || r.category || "") + "</p></div>");
      map.setView([r.lat, r.lon], Math.max(map.getZoom(), 16));
      marker.openPopup();
      mq.state.searchMarker = marker;
      if (options && options.onChoose) options.onChoose(r);
    }
    function run() {
      var q = input.value.trim();
      if (!q) { hide(); return; }
      var mine = ++seq;
      mq.fetchJSON("/placenames/search?q=" + encodeURIComponent(q) + "&limit=8").then(function (res) {
        if (mine !== seq) return;
        show(Array.isArray(res) ? res : (res && res.results) || [], q);
      }, function (err) {
        if (mine !== seq) return;
        list.innerHTML = '<li class="mq-search-empty">' + mq.esc(err.message) + "</li>";
        list.hidden = false;
      });
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 220); });
    input.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        if (!items.length) return;
        active = (active + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
        Array.prototype.forEach.call(list.children, function (li, i) { li.classList.toggle("mq-active", i === active); });
      } else if (e.key === "Enter") {
        e.preventDefault();
        if (active >= 0) choose(active);
        else if (items.length && !list.hidden) choose(0);
        else { clearTimeout(timer); run(); }
      } else if (e.key === "Escape") { hide(); }
    });
    list.addEventListener("click", function (e) {
      var li = e.target.closest("li[data-i]");
      if (li) choose(Number(li.getAttribute("data-i")));
    });
    document.addEventListener("click", function (e) { if (!e.target.closest(".mq-search")) hide(); });
  };

  /* Layer-control label with a coloured icon. */
  mq.iconHtml = function (color, glyph) {
    return '<span class="mq-icon" style="background:' + mq.esc(color) + '">' + mq.esc(glyph) + "</span>";
  };
})();
