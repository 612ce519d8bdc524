/* 民情地图 public map: facilities by category, grids with the grid worker's contact,
 * "15分钟内能到哪里" isochrones (GET /isochrones) and place-name search. No personal data. */
(function () {
  "use strict";
  var mq = window.minqing;

  var ISO_STYLE = {
    5: { color: "#0b6e69", fillColor: "#14a098", fillOpacity: 0.34 },
    10: { color: "#2c8c7a", fillColor: "#5cc3a6", fillOpacity: 0.26 },
    15: { color: "#5b9f6a", fillColor: "#b5e3b0", fillOpacity: 0.24 }
  };

  function facilityIcon(cat) {
    return L.divIcon({
      className: "mq-pin-wrap",
      html: '<div class="mq-pin" style="background:' + mq.esc(cat.color) + '"><span>' + mq.esc(cat.glyph) + "</span></div>",
      iconSize: [30, 38], iconAnchor: [15, 37], popupAnchor: [0, -32], tooltipAnchor: [12, -24]
    });
  }

  var DAYS = { Mo: "周一", Tu: "周二", We: "周三", Th: "周四", Fr: "周五", Sa: "周六", Su: "周日", PH: "节假日" };
  /* OSM-style opening hours ("Mo-Fr 08:30-12:00,14:30-17:30; Sa off") in Chinese. */
  function hoursZh(text) {
    if (!text) return text;
    if (/^\s*24\/7\s*$/.test(text)) return "全天24小时";
    return String(text)
      .replace(/\b(Mo|Tu|We|Th|Fr|Sa|Su|PH)-(Mo|Tu|We|Th|Fr|Sa|Su)\b/g, function (m, a, b) { return DAYS[a] + "至" + DAYS[b]; })
      .replace(/\b(Mo|Tu|We|Th|Fr|Sa|Su|PH)\b/g, function (m) { return DAYS[m]; })
      .replace(/\boff\b/g, "休息").replace(/;\s*/g, "；").replace(/,\s*/g, "、");
  }
  mq.hoursZh = hoursZh;

  function row(label, value, html) {
    return "<tr><th>" + label + "</th><td>" + (html || mq.esc(mq.or(value, "暂无"))) + "</td></tr>";
  }

  var INTAKE = { open: "可接收", full: "已满" };

  /* Links handing the route over to 高德 / 百度 navigation (their URI APIs), with the position already
   * in their coordinate systems (GCJ-02 / BD-09, converted by geo.chinacrs on the server). Only when
   * the device is online: offline nothing outside is linked (nor ever requested by the page itself). */
  function navLinks(f) {
    if (!navigator.onLine || !f.gcj || !f.bd) return "";
    var name = encodeURIComponent(f.name || "");
    var amap = "https://uri.amap.com/navigation?to=" + f.gcj[0] + "," + f.gcj[1] + "," + name +
      "&mode=walk&coordinate=gaode&callnative=1&src=minqing";
    var baidu = "baidumap://map/direction?destination=" + encodeURIComponent("latlng:" + f.bd[1] + "," + f.bd[0] + "|name:" + (f.name || "")) +
      "&coord_type=bd09ll&mode=walking&src=minqing";
    return '<p class="mq-nav-out">导航前往：<a class="mq-nav-amap" target="_blank" rel="noopener noreferrer" href="' + mq.esc(amap) +
      '">高德地图</a><a class="mq-nav-baidu" rel="noopener noreferrer" href="' + mq.esc(baidu) + '">百度地图</a></p>';
  }

  function facilityPopup(f, type, cat) {
    var unit = type && type.unit;
    var places = unit && f.capacity ? mq.esc(Math.round(f.capacity)) + " 个" + mq.esc(unit) : null;
    var taking = unit ? '<span class="mq-intake mq-intake-' + mq.esc(f.intake || "unknown") + '">' + (INTAKE[f.intake] || "不详") + "</span>" : null;
    return '<div class="mq-pop" data-fid="' + mq.esc(f.id) + '"><h3>' + mq.esc(f.name) + "</h3>" +
      '<p class="mq-pop-type">' + mq.iconHtml(cat.color, cat.glyph) + mq.esc(type ? type.name : f.type) +
      (f.status === "planned" ? ' <span class="mq-tag">规划中</span>' : "") + "</p>" +
      '<table class="mq-pop-table">' +
      row("地址", f.address) + row("开放时间", hoursZh(f.hours)) + row("联系电话", f.phone, telLink(f.phone)) +
      (unit ? row(mq.esc(unit), null, places || "暂无") + row("接收新用户", null, taking) : "") +
      (f.fees ? '<tr class="mq-pop-fees"><th>收费标准</th><td>' + mq.esc(f.fees) + "</td></tr>" : "") +
      "</table>" +
      (unit ? '<p class="mq-pop-note">是否可接收按最近一次生活圈分析的服务人口与' + mq.esc(unit) + "数估算，以设施答复为准。</p>" : "") +
      navLinks(f) +
      '<button class="mq-btn mq-btn-small" type="button" data-iso-fid="' + mq.esc(f.id) + '" data-iso-name="' + mq.esc(f.name) +
      '" data-iso-lat="' + mq.esc(f.lat) + '" data-iso-lon="' + mq.esc(f.lon) + '">从这里出发：步行15分钟能到哪里</button></div>';
  }

  function gridPopup(p) {
    return '<div class="mq-pop"><h3>' + mq.esc(p.n) + "</h3>" +
      '<table class="mq-pop-table">' +
      row("网格员", p.worker) + row("工作电话", p.phone, telLink(p.phone)) +
      row("所属社区", p.community) + row("所属镇街", p.town) +
      (p.communityId ? '<tr class="mq-pop-resolved"><th>本月已办结</th><td>…</td></tr>' : "") +
      "</table><p class=\"mq-pop-note\">有事找网格员：反映问题、咨询办事。</p>" +
      '<a class="mq-btn mq-btn-small mq-btn-primary mq-report-link" href="/report">我要反映</a></div>';
  }

  /* 我要反映 at a map point: the link opens the report page with that point chosen. */
  function reportHref(latlng) {
    return "/report?lon=" + latlng.lng.toFixed(6) + "&lat=" + latlng.lat.toFixed(6);
  }
  function reportHere(map, latlng) {
    L.popup({ maxWidth: 240 }).setLatLng(latlng).setContent(
      '<div class="mq-pop"><p class="mq-pop-note">在这里反映问题（环境卫生、道路设施、噪音扰民等）</p>' +
      '<a class="mq-btn mq-btn-small mq-btn-primary mq-report-link" href="' + mq.esc(reportHref(latlng)) + '">我要反映</a></div>'
    ).openOn(map);
  }

  function telLink(phone) {
    return phone ? '<a href="tel:' + mq.esc(String(phone).replace(/[^0-9+\-]/g, "")) + '">' + mq.esc(phone) + "</a>" : null;
  }

  /* The small grid containing a point (its public properties): asked of the grids layer for that
   * point (GET /collections/grids/items?bbox=…), then the polygon that holds it. */
  function inRing(ring, x, y) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }
  function gridAt(lat, lon) {
    // a box of about 0.2 m around the point (an empty box meets nothing in PostGIS)
    var box = [lon - 2e-6, lat - 2e-6, lon + 2e-6, lat + 2e-6].map(function (v) { return Number(v).toFixed(6); }).join(",");
    return mq.fetchJSON("/collections/grids/items?level=grid_small&limit=20&bbox=" + box).then(function (fc) {
      var found = null;
      (fc && fc.features || []).forEach(function (f) {
        var g = f.geometry, polys = !g ? [] : g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
        polys.forEach(function (rings) {
          if (!found && inRing(rings[0], lon, lat) && !rings.slice(1).some(function (h) { return inRing(h, lon, lat); })) {
            found = f.properties;
          }
        });
      });
      return found;
    });
  }
  /* A grid's properties as the popups name them (from a vector tile or the grids collection). */
  function gridProps(p) {
    return { id: p.area_id, n: p.name, code: p.code, community: p.community, communityId: p.community_id, town: p.town,
             worker: p.worker_name, phone: p.worker_phone };
  }

  /* 本月已办结 of a community (GET /public/resolved-counts: every community's rounded count, small ones
   * suppressed by the server; asked once per page). Never an event, only the aggregate. */
  var resolvedCounts = null;
  function resolvedText(communityId) {
    if (!resolvedCounts) {
      resolvedCounts = mq.fetchJSON("/public/resolved-counts").catch(function (err) { resolvedCounts = null; throw err; });
    }
    return resolvedCounts.then(function (body) {
      var c = null;
      (body.communities || []).forEach(function (x) { if (String(x.area_id) === String(communityId)) c = x; });
      if (!c) return "暂无";
      return c.suppressed || c.resolved === null ? "件数较少，不单独公布" : "约 " + mq.num(c.resolved) + " 件（全社区）";
    });
  }
  function fillResolved(popup, communityId) {
    resolvedText(communityId).then(function (label) {
      var cell = popup.getElement() && popup.getElement().querySelector(".mq-pop-resolved td");
      if (!cell) return;
      cell.textContent = label;
      // keep it on a later opening too (update() alone would redraw the popup from its first content)
      popup.setContent(popup.getElement().querySelector(".leaflet-popup-content").innerHTML);
    }, function () {
      var row = popup.getElement() && popup.getElement().querySelector(".mq-pop-resolved");
      if (row) row.parentNode.removeChild(row);  // offline or refused: the popup stands without it
    });
  }

  mq.public = function (map, layers, data) {
    mq.chrome(map, data);
    var state = mq.state;
    state.map = map;
    state.layers = layers;
    var cats = {};
    data.categories.forEach(function (c) { cats[c.code] = c; });
    var icons = {};
    Object.keys(cats).forEach(function (k) { icons[k] = facilityIcon(cats[k]); });

    /* Facilities: drawn from the clustered facility tiles (GET /tiles/facility_clusters/…?status=open, public
     * fields only): a bubble with its count per cell of a tile (a click zooms in), each facility as its pin
     * from zoom ``facility_cluster_below`` on. The category switches of the layer control filter both. */
    var enabled = {};
    function catOf(code) { return cats[code] ? code : "other"; }
    data.categories.forEach(function (c) {
      var sw = layers["cat_" + c.code];
      enabled[c.code] = !sw || map.hasLayer(sw);
    });
    var below = data.facility_cluster_below || 17;
    function clusterIcon(n) {
      var size = n < 10 ? 34 : n < 50 ? 40 : 48;
      var cls = n < 10 ? "" : n < 50 ? " mq-cluster-m" : " mq-cluster-l";
      return L.divIcon({ html: '<div class="mq-cluster' + cls + '" style="width:' + size + "px;height:" + size + 'px">' + n + "</div>",
                         className: "mq-cluster-wrap", iconSize: [size, size] });
    }
    /* A cluster's click: to the zoom that shows its bounds, at least one step in, at most where its
     * facilities are drawn one by one. */
    function expand(p) {
      var b = L.latLngBounds([p.south, p.west], [p.north, p.east]);
      var z = Math.max(map.getZoom() + 1, Math.min(map.getBoundsZoom(b.pad(0.3)), below));
      map.setView(b.getCenter(), Math.min(z, map.getMaxZoom()));
    }
    var rows = null;  // facility id → its row (public fields, as the popups show them), once read
    var markers = {};  // facility id → its pin on the map now
    function fromTile(p, latlng) {  // until the rows are read: the tile's own public fields
      return { id: p.facility_id, lat: latlng.lat, lon: latlng.lng, type: p.type_code, name: p.name, address: p.address,
               hours: p.opening_hours, phone: p.phone, status: p.status, capacity: p.capacity, fees: p.fees };
    }
    function pin(p, latlng, z) {
      var type = data.types[p.type_code];
      var cat = cats[catOf(type ? type.category : "other")] || cats.other;
      if (!cat || !enabled[cat.code]) return null;
      var m = L.marker(latlng, { icon: icons[cat.code], title: p.name, keyboard: false });
      m.bindPopup(function () {
        return facilityPopup((rows && rows[p.facility_id]) || fromTile(p, latlng), type, cat);
      }, { maxWidth: mq.popupWidth(300), minWidth: mq.popupWidth(220) });
      m.mqFacility = p;
      m.mqZoom = z;
      m.on("remove", function () { if (markers[p.facility_id] === m) delete markers[p.facility_id]; });
      markers[p.facility_id] = m;
      return m;
    }
    function bubble(p, latlng) {
      var n = 0;
      Object.keys(p).forEach(function (k) {
        if (k.indexOf("n_") === 0 && enabled[catOf(k.slice(2))]) n += p[k];
      });
      if (!n) return null;
      var m = L.marker(latlng, { icon: clusterIcon(n), keyboard: false, title: n + " 处服务设施，点击放大" });
      m.on("click", function () { expand(p); });
      return m;
    }
    var waiting = {};  // facility id → open its popup once its pin is drawn
    function drawn() {
      Object.keys(waiting).forEach(function (id) {
        var m = markers[id];
        if (m && m._map && m.mqZoom === map.getZoom()) { var cb = waiting[id]; delete waiting[id]; cb(m); }
      });
    }
    var facilityTiles = data.facility_tiles && mq.pointTiles(data.facility_tiles, "facility_clusters", function (p, latlng, z) {
      return p.count ? bubble(p, latlng) : pin(p, latlng, z);
    }, { drawn: drawn });
    if (facilityTiles) facilityTiles.addTo(map);
    state.facilityTiles = facilityTiles;
    map.on("overlayadd overlayremove", function (e) {
      var code = null;
      data.categories.forEach(function (c) { if (layers["cat_" + c.code] === e.layer) code = c.code; });
      if (code === null) return;
      enabled[code] = e.type === "overlayadd";
      if (facilityTiles) facilityTiles.refresh();
    });

    /* The rows travel in the page, or beside it in parts read in parallel (GET /map-data/facilities/{part}.json,
     * public fields only) once the map is up: popups (intake, navigation), search and lists use them. */
    var rowsRead = null;
    function readRows() {
      if (rowsRead) return rowsRead;
      var parts = data.facility_parts, reads = [];
      for (var i = 0; parts && i < parts.parts; i++) reads.push(mq.fetchJSON(parts.url.replace("{part}", i)));
      var F = data.facility_columns;
      rowsRead = Promise.all(reads).then(function (read) {
        var byId = {};
        [data.facilities].concat(read).forEach(function (part) {
          part.forEach(function (r) {
            var f = {};
            F.forEach(function (k, j) { f[k] = r[j]; });
            byId[f.id] = f;
          });
        });
        rows = byId;
        state.facilities = byId;
        // a popup opened meanwhile from the tile's fields gets the full row
        Object.keys(markers).forEach(function (id) {
          var m = markers[id];
          if (m.isPopupOpen && m.isPopupOpen()) m.setPopupContent(m.getPopup()._content);
        });
        return byId;
      }).catch(function (err) {
        rowsRead = null;
        mq.status(mq.$("mq-iso-status"), "设施数据读取失败：" + err.message, "error");
        throw err;
      });
      return rowsRead;
    }
    state.readFacilities = readRows;
    state.markers = markers;
    /* Open a facility's popup: to its position, close enough to draw it alone, once its pin is drawn; when
     * every tile in view is drawn without its pin (the tiles could not be read, its category is switched
     * off), on a pin of its own until the popup closes. */
    state.openFacilityAt = function (id) {
      return readRows().then(function (byId) {
        var f = byId[id];
        if (!f) return null;
        return new Promise(function (resolve) {
          function open(m) { delete waiting[id]; m.openPopup(); resolve(m); }
          waiting[id] = open;
          map.setView([f.lat, f.lon], Math.max(map.getZoom(), below), { animate: false });
          drawn();
          function settle() {
            if (waiting[id] !== open) return;
            var type = data.types[f.type];
            var cat = cats[catOf(type ? type.category : "other")] || cats.other;
            var m = L.marker([f.lat, f.lon], { icon: icons[cat.code], title: f.name, keyboard: false });
            m.bindPopup(facilityPopup(f, type, cat), { maxWidth: mq.popupWidth(300), minWidth: mq.popupWidth(220) });
            m.on("popupclose", function () { map.removeLayer(m); });
            m.on("remove", function () { if (markers[id] === m) delete markers[id]; });
            markers[id] = m;
            open(m.addTo(map));
          }
          if (facilityTiles && facilityTiles._loading) facilityTiles.once("load", settle);
          else settle();
        });
      });
    };

    /* grids: vector tiles of the small grids (GET /tiles/grids/…?level=grid_small) */
    // Grid lines stay light when zoomed out (they would hide the streets) and firm up close in.
    function gridStyle(p, z) {
      var near = z >= 15;
      return { color: "#7e57c2", weight: near ? 1.6 : 0.9, dashArray: near ? "6 4" : "3 3", opacity: near ? 0.85 : 0.55,
               fill: true, fillColor: "#7e57c2", fillOpacity: 0.02 };
    }
    var grids = mq.vectorTiles(data.grid_tiles, "grids", gridStyle, {
      interactive: true, getFeatureId: function (f) { return f.properties.area_id; }
    });
    var hovered = null;
    grids.on("mouseover", function (e) {
      hovered = e.layer.properties.area_id;
      grids.setFeatureStyle(hovered, Object.assign(gridStyle(null, map.getZoom()), { weight: 3, fillOpacity: 0.08 }));
    });
    grids.on("mouseout", function () {
      if (hovered !== null) grids.resetFeatureStyle(hovered);
      hovered = null;
    });
    grids.on("click", function (e) {
      if (state.gridClick && state.gridClick(e.latlng)) return;  // picking a point for 步行可达范围
      var latlng = e.latlng;
      var g = gridProps(e.layer.properties);
      var popup = L.popup({ maxWidth: 280 }).setLatLng(latlng).setContent(gridPopup(g));
      popup.openOn(map);
      // the report link takes the point where the grid was clicked
      var link = popup.getElement() && popup.getElement().querySelector(".mq-report-link");
      if (link) link.setAttribute("href", reportHref(latlng));
      if (g.communityId) fillResolved(popup, g.communityId);
    });
    // a long press (phones) or right click anywhere: report a problem at that point
    map.on("contextmenu", function (e) { reportHere(map, e.latlng); });
    state.reportHere = function (lat, lon) { reportHere(map, L.latLng(lat, lon)); };
    layers.grids.addLayer(grids);
    state.grids = grids;
    // A searched place's popup names its grid once the grid is known.
    map.on("popupopen", function (e) {
      var slot = e.popup.getElement() && e.popup.getElement().querySelector(".mq-grid-slot");
      if (!slot) return;
      gridAt(Number(slot.getAttribute("data-lat")), Number(slot.getAttribute("data-lon"))).then(function (g) {
        if (!g) return;
        g = gridProps(g);
        slot.outerHTML = '<table class="mq-pop-table mq-pop-grid">' + row("所属网格", g.n) + row("网格员", g.worker) +
          row("工作电话", g.phone, telLink(g.phone)) + "</table>";
        // keep it on a later opening too (update() alone would redraw the popup from its first content)
        e.popup.setContent(e.popup.getElement().querySelector(".leaflet-popup-content").innerHTML);
      }, function () { /* no grid shown: the place popup stands on its own */ });
    });

    mq.search(map, {
      categories: data.placename_categories,
      url: function (q) {
        var c = map.getCenter();
        return "/search?q=" + encodeURIComponent(q) + "&limit=10&lon=" + c.lng.toFixed(5) + "&lat=" + c.lat.toFixed(5);
      },
      onChoose: function (r) { return r.kind === "facility" ? state.openFacility(String(r.facility_id)) : null; },
      placeExtra: function (r) {
        return '<div class="mq-grid-slot" data-lat="' + mq.esc(r.lat) + '" data-lon="' + mq.esc(r.lon) + '"></div>';
      }
    });
    isochrones(map, layers.isochrones, data, cats);
    state.ready = true;
    document.body.classList.add("mq-ready");
    // the rows once the first facility tiles are drawn (the map is up), not before
    if (facilityTiles) facilityTiles.once("load", function () { readRows().catch(function () {}); });
    else readRows().catch(function () {});
  };

  /* ---------- 15分钟内能到哪里 ---------- */
  function isochrones(map, group, data, cats) {
    var picking = false;
    var status = mq.$("mq-iso-status"), result = mq.$("mq-iso-result");
    var pickBtn = mq.$("mq-iso-pick"), clearBtn = mq.$("mq-iso-clear"), locBtn = mq.$("mq-iso-locate");
    var fab = mq.$("mq-iso-fab"), hint = mq.$("mq-pick-hint");
    var minutes = data.isochrone.minutes, profile = data.isochrone.profile;
    var profileNames = data.isochrone.profiles || { walk: "步行" };
    var last = null;  // the last origin: changing the travel mode recomputes from it
    Array.prototype.forEach.call(document.querySelectorAll('input[name="mq-iso-profile"]'), function (el) {
      el.addEventListener("change", function () {
        if (!el.checked) return;
        profile = el.value;
        if (last) compute(last.lat, last.lon, last.id, last.name);
      });
    });
    var phone = window.matchMedia("(max-width: 760px)").matches;

    function setPicking(on) {
      picking = on;
      map.getContainer().classList.toggle("mq-picking", on);
      pickBtn.classList.toggle("mq-active", on);
      pickBtn.textContent = on ? "请点击地图上的位置…" : "在地图上选点";
      if (fab) fab.hidden = on;
      if (hint) hint.hidden = !on;
      if (on) {
        mq.status(status, "点击地图选择出发点（也可在地图上长按或右键）。");
        // On a phone the sheet would cover half the map: fold it away while the user picks.
        if (phone && mq.closePanel) mq.closePanel();
      }
      mq.state.picking = on;
    }

    function clear() {
      group.clearLayers();
      result.innerHTML = "";
      last = null;
      nearSection.hidden = true;
      nearResult.innerHTML = "";
      mq.state.nearest = null;
      mq.status(status, "");
      clearBtn.hidden = true;
      mq.state.isochrone = null;
    }

    /* Fit the isochrone into the part of the map no panel or bottom sheet covers. */
    function fit(bounds) {
      var area = mq.visibleArea(map), size = map.getSize();
      map.fitBounds(bounds, { paddingTopLeft: [area.left + 24, area.top + 24],
                              paddingBottomRight: [size.x - area.right + 24, size.y - area.bottom + 24], maxZoom: 17 });
    }

    function draw(fc, lat, lon, label) {
      group.clearLayers();
      var feats = (fc.features || []).slice().sort(function (a, b) { return b.properties.minutes - a.properties.minutes; });
      feats.forEach(function (f) {
        var s = ISO_STYLE[f.properties.minutes] || ISO_STYLE[15];
        L.geoJSON(f, { style: Object.assign({ weight: 1.5 }, s), interactive: false }).addTo(group);
      });
      L.marker([lat, lon], {
        icon: L.divIcon({ className: "mq-origin", html: "<span>" + mq.esc(label || "起点") + "</span>", iconSize: null }),
        keyboard: false, interactive: false, zIndexOffset: 1000  // above the facility pins
      }).addTo(group);
      if (feats.length) {
        var b = L.geoJSON({ type: "FeatureCollection", features: feats }).getBounds();
        if (b.isValid()) fit(b);
      }
    }

    /* Bands (lo, hi]: a facility 10.0 minutes away is in 5–10, one at 10.2 in 10–15, never in both;
     * times shown rounded up, so each band lists only its own whole minutes. */
    function bandOf(t) {
      for (var i = 0; i < minutes.length; i++) if (t <= minutes[i] + 1e-9) return i;
      return -1;
    }
    function bandLabel(i) {
      return i === 0 ? minutes[0] + " 分钟以内" : (minutes[i - 1] + 1) + "–" + minutes[i] + " 分钟";
    }

    function list(fc) {
      var facs = fc.facilities || [];
      var bands = minutes.map(function (m) { return { m: m, items: [] }; });
      facs.forEach(function (f) {
        var i = bandOf(f.time_s / 60);
        if (i >= 0) bands[i].items.push(f);
      });
      var byCat = {};
      facs.forEach(function (f) {
        var type = data.types[f.type_code];
        var c = type ? type.category : "other";
        byCat[c] = (byCat[c] || 0) + 1;
      });
      var html = '<p class="mq-iso-summary">' + mq.esc(profileNames[profile] || "步行") + " " + minutes[minutes.length - 1] + " 分钟内可到达 <b>" + facs.length + "</b> 处服务设施</p>";
      html += '<div class="mq-chips">' + Object.keys(byCat).map(function (c) {
        var cat = cats[c] || cats.other || { color: "#777", glyph: "•", name: c };
        return '<span class="mq-chip">' + mq.iconHtml(cat.color, cat.glyph) + mq.esc(cat.name) + " " + byCat[c] + "</span>";
      }).join("") + "</div>";
      bands.forEach(function (band, i) {
        html += '<h3 class="mq-band mq-band-' + band.m + '" data-band="' + i + '">' + bandLabel(i) + "（" + band.items.length + " 处）</h3>";
        if (!band.items.length) { html += '<p class="mq-empty">无</p>'; return; }
        html += '<ol class="mq-fac-list" data-band="' + i + '">' + band.items.map(function (f) {
          var type = data.types[f.type_code];
          var cat = cats[type ? type.category : "other"] || cats.other || { color: "#777", glyph: "•" };
          return '<li data-fid="' + mq.esc(f.facility_id) + '" data-time="' + f.time_s + '">' + mq.iconHtml(cat.color, cat.glyph) +
            '<span class="mq-fac-name">' + mq.esc(f.name) + '</span><span class="mq-fac-type">' +
            mq.esc(f.type_name || (type && type.name) || f.type_code) + '</span><span class="mq-fac-time">' +
            Math.max(1, Math.ceil(f.time_s / 60 - 1e-9)) + " 分钟</span></li>";
        }).join("") + "</ol>";
      });
      if (!facs.length) html += '<p class="mq-empty">附近步行范围内暂无服务设施。</p>';
      result.innerHTML = html;
    }

    function errorText(err) {
      if (err.code === "unprocessable_point" || err.status === 422) {
        return (err.message || "所选位置无法计算") + "。请在辖区内、靠近道路的地方重新选点。";
      }
      return err.message;
    }

    function compute(lat, lon, facilityId, facilityName) {
      setPicking(false);
      last = { lat: lat, lon: lon, id: facilityId, name: facilityName };
      var mode = profileNames[profile] || "步行";
      mq.status(status, "正在计算" + mode + "可达范围…", "busy");
      if (mq.openPanel) mq.openPanel();
      var q = "minutes=" + minutes.join(",") + "&profile=" + profile;
      var url = facilityId ? "/facilities/" + encodeURIComponent(facilityId) + "/isochrone?" + q
        : "/isochrones?lon=" + lon.toFixed(6) + "&lat=" + lat.toFixed(6) + "&" + q;
      return mq.fetchJSON(url).then(function (fc) {
        draw(fc, lat, lon, facilityName ? facilityName : "起点");
        list(fc);
        clearBtn.hidden = false;
        mq.status(status, facilityName ? "出发点：" + facilityName + "（沿道路" + mode + "计算）"
                                       : "出发点：地图上所选位置（沿道路" + mode + "计算）", "ok");
        mq.state.isochrone = { lat: lat, lon: lon, from: facilityName || null, features: (fc.features || []).length,
                               facilities: (fc.facilities || []).length, profile: profile };
      }, function (err) {
        group.clearLayers();
        result.innerHTML = "";
        mq.status(status, errorText(err), "error");
        mq.state.isochrone = { error: errorText(err) };
      }).then(function () { if (!facilityId) return nearest(lat, lon); });
    }
    mq.state.computeIsochrone = compute;

    /* 离我最近的…: per facility type the nearest by travel time, on foot and by e-bike (GET /nearest). */
    var nearSection = mq.$("mq-nearest"), nearStatus = mq.$("mq-nearest-status"), nearResult = mq.$("mq-nearest-result");
    function minutesText(s) { return s === null || s === undefined ? "无法到达" : Math.max(1, Math.ceil(s / 60 - 1e-9)) + " 分钟"; }
    function nearest(lat, lon) {
      nearSection.hidden = false;
      nearResult.innerHTML = "";
      mq.status(nearStatus, "正在查找离您最近的服务设施…", "busy");
      return mq.fetchJSON("/nearest?lon=" + lon.toFixed(6) + "&lat=" + lat.toFixed(6)).then(function (res) {
        var byCat = {};
        (res.types || []).forEach(function (t) { (byCat[t.category] = byCat[t.category] || []).push(t); });
        var html = "";
        var order = data.categories.map(function (c) { return c.code; });
        Object.keys(byCat).forEach(function (c) { if (order.indexOf(c) < 0) order.push(c); });
        order.forEach(function (c) {
          if (!byCat[c]) return;
          var cat = cats[c] || cats.other || { color: "#777", glyph: "•", name: c };
          html += '<h3 class="mq-near-cat">' + mq.iconHtml(cat.color, cat.glyph) + mq.esc(cat.name) + "</h3><ol class=\"mq-fac-list mq-near-list\">";
          byCat[c].forEach(function (t) {
            t.facilities.forEach(function (f) {
              html += '<li data-fid="' + mq.esc(f.facility_id) + '" data-type="' + mq.esc(t.type_code) + '" data-walk="' + mq.esc(f.walk_s) +
                '" data-ebike="' + mq.esc(f.ebike_s) + '"><span class="mq-fac-type">' + mq.esc(t.type_name) + '</span><span class="mq-fac-name">' +
                mq.esc(f.name) + '</span><span class="mq-fac-time">步行 ' + minutesText(f.walk_s) + " · 电动自行车 " + minutesText(f.ebike_s) + "</span></li>";
            });
          });
          html += "</ol>";
        });
        nearResult.innerHTML = html || '<p class="mq-empty">从此处沿道路无法到达任何服务设施。</p>';
        mq.status(nearStatus, "");
        mq.state.nearest = { lat: lat, lon: lon, types: (res.types || []).length, origin: res.origin };
      }, function (err) {
        mq.status(nearStatus, errorText(err), "error");
        mq.state.nearest = { error: errorText(err) };
      });
    }
    nearResult.addEventListener("click", function (e) {
      var li = e.target.closest("li[data-fid]");
      if (li) openFacility(li.getAttribute("data-fid"));
    });

    pickBtn.addEventListener("click", function () { setPicking(!picking); });
    if (fab) fab.addEventListener("click", function () { setPicking(true); });
    var cancel = mq.$("mq-pick-cancel");
    if (cancel) cancel.addEventListener("click", function () { setPicking(false); mq.status(status, ""); });
    var hintLocate = mq.$("mq-pick-locate");
    if (hintLocate) hintLocate.addEventListener("click", function () { setPicking(false); locate(); });
    clearBtn.addEventListener("click", clear);
    function locate() {
      if (!navigator.geolocation) { mq.status(status, "此浏览器不支持定位，请在地图上选点。", "error"); return; }
      mq.status(status, "正在获取您的位置…", "busy");
      map.locate({ setView: false, enableHighAccuracy: true, timeout: 10000 });
    }
    locBtn.addEventListener("click", locate);
    map.on("locationfound", function (e) { compute(e.latlng.lat, e.latlng.lng); });
    map.on("locationerror", function () {
      if (mq.openPanel) mq.openPanel();
      mq.status(status, "无法获取您的位置，请允许定位或在地图上选点。", "error");
    });

    map.on("click", function (e) { if (picking) compute(e.latlng.lat, e.latlng.lng); });
    map.on("contextmenu", function (e) { compute(e.latlng.lat, e.latlng.lng); });
    // While picking, a click on a grid picks the point instead of opening its popup.
    mq.state.gridClick = function (latlng) {
      if (!picking) return false;
      compute(latlng.lat, latlng.lng);
      return true;
    };
    map.on("popupopen", function (e) {
      var btn = e.popup.getElement().querySelector("[data-iso-lat]");
      if (btn) btn.addEventListener("click", function () {
        map.closePopup();
        compute(Number(btn.getAttribute("data-iso-lat")), Number(btn.getAttribute("data-iso-lon")),
                btn.getAttribute("data-iso-fid"), btn.getAttribute("data-iso-name"));
      });
    });
    result.addEventListener("click", function (e) {
      var li = e.target.closest("li[data-fid]");
      if (li) openFacility(li.getAttribute("data-fid"));
    });
    function openFacility(id) {
      if (phone && mq.closePanel) mq.closePanel();
      return mq.state.openFacilityAt(String(id));
    }
    mq.state.openFacility = openFacility;
  }
})();
