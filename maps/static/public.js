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

  function facilityPopup(f, type, cat) {
    var phone = f.phone ? '<a href="tel:' + mq.esc(String(f.phone).replace(/[^0-9+\-]/g, "")) + '">' + mq.esc(f.phone) + "</a>" : null;
    return '<div class="mq-pop"><h3>' + mq.esc(f.name) + "</h3>" +
      '<p class="mq-pop-type">' + mq.iconHtml(cat.color, cat.glyph) + mq.esc(type ? type.name : f.type) +
      (f.status === "planned" ? ' <span class="mq-tag">规划中</span>' : "") + "</p>" +
      '<table class="mq-pop-table">' +
      row("开放时间", hoursZh(f.hours)) + row("联系电话", f.phone, phone) + row("地址", f.address) +
      "</table>" +
      '<button class="mq-btn mq-btn-small" type="button" data-iso-fid="' + mq.esc(f.id) + '" data-iso-name="' + mq.esc(f.name) +
      '" data-iso-lat="' + f.lat + '" data-iso-lon="' + f.lon + '">从这里出发：步行15分钟能到哪里</button></div>';
  }

  function gridPopup(p) {
    return '<div class="mq-pop"><h3>' + mq.esc(p.n) + "</h3>" +
      '<table class="mq-pop-table">' +
      row("所属社区", p.community) + row("所属镇街", p.town) + row("网格编码", p.code) +
      row("网格员", p.worker) +
      row("工作电话", p.phone, p.phone ? '<a href="tel:' + mq.esc(String(p.phone).replace(/[^0-9+\-]/g, "")) + '">' + mq.esc(p.phone) + "</a>" : null) +
      "</table><p class=\"mq-pop-note\">有事找网格员：反映问题、咨询办事。</p></div>";
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

    /* facilities → one marker cluster, one sub-group per category (toggled in the layer control) */
    var markers = {};
    var subs = {};
    data.categories.forEach(function (c) {
      var sub = layers["cat_" + c.code];
      if (!sub) return;
      subs[c.code] = sub;
      sub._mqWasOn = map.hasLayer(sub);
      if (sub._mqWasOn) map.removeLayer(sub);  // re-added below: one batch insert into the cluster
    });
    var F = data.facility_columns;
    data.facilities.forEach(function (r) {
      var f = {};
      F.forEach(function (k, i) { f[k] = r[i]; });
      var type = data.types[f.type];
      var cat = cats[type ? type.category : "other"] || cats.other;
      if (!cat || !subs[cat.code]) return;
      var m = L.marker([f.lat, f.lon], { icon: icons[cat.code], title: f.name, keyboard: false });
      m.bindPopup(function () { return facilityPopup(f, type, cat); }, { maxWidth: mq.popupWidth(300), minWidth: mq.popupWidth(220) });
      m.mqFacility = f;
      subs[cat.code].addLayer(m);
      markers[f.id] = m;
    });
    Object.keys(subs).forEach(function (k) { if (subs[k]._mqWasOn) map.addLayer(subs[k]); });
    state.markers = markers;

    /* grids */
    // Grid lines stay light when zoomed out (they would hide the streets) and firm up close in.
    function gridStyle() {
      var near = map.getZoom() >= 15;
      return { color: "#7e57c2", weight: near ? 1.6 : 0.9, dashArray: near ? "6 4" : "3 3", opacity: near ? 0.85 : 0.55,
               fillColor: "#7e57c2", fillOpacity: 0.02 };
    }
    var grids = L.geoJSON(data.grids, {
      style: gridStyle,
      onEachFeature: function (feature, layer) {
        layer.bindPopup(function () { return gridPopup(feature.properties); }, { maxWidth: 280 });
        layer.on("mouseover", function () { layer.setStyle({ weight: 3, fillOpacity: 0.08 }); });
        layer.on("mouseout", function () { layer.setStyle(gridStyle()); });
      }
    });
    map.on("zoomend", function () { grids.setStyle(gridStyle); });
    layers.grids.addLayer(grids);
    state.grids = grids;

    mq.search(map, { categories: data.placename_categories });
    isochrones(map, layers.isochrones, data, markers, cats);
    state.ready = true;
    document.body.classList.add("mq-ready");
  };

  /* ---------- 15分钟内能到哪里 ---------- */
  function isochrones(map, group, data, markers, cats) {
    var picking = false;
    var status = mq.$("mq-iso-status"), result = mq.$("mq-iso-result");
    var pickBtn = mq.$("mq-iso-pick"), clearBtn = mq.$("mq-iso-clear"), locBtn = mq.$("mq-iso-locate");
    var fab = mq.$("mq-iso-fab"), hint = mq.$("mq-pick-hint");
    var minutes = data.isochrone.minutes, profile = data.isochrone.profile;
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
      var html = '<p class="mq-iso-summary">步行 ' + minutes[minutes.length - 1] + " 分钟内可到达 <b>" + facs.length + "</b> 处服务设施</p>";
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
      mq.status(status, "正在计算步行可达范围…", "busy");
      if (mq.openPanel) mq.openPanel();
      var q = "minutes=" + minutes.join(",") + "&profile=" + profile;
      var url = facilityId ? "/facilities/" + encodeURIComponent(facilityId) + "/isochrone?" + q
        : "/isochrones?lon=" + lon.toFixed(6) + "&lat=" + lat.toFixed(6) + "&" + q;
      return mq.fetchJSON(url).then(function (fc) {
        draw(fc, lat, lon, facilityName ? facilityName : "起点");
        list(fc);
        clearBtn.hidden = false;
        mq.status(status, facilityName ? "出发点：" + facilityName + "（沿道路步行计算）"
                                       : "出发点：地图上所选位置（沿道路步行计算）", "ok");
        mq.state.isochrone = { lat: lat, lon: lon, from: facilityName || null, features: (fc.features || []).length,
                               facilities: (fc.facilities || []).length };
      }, function (err) {
        group.clearLayers();
        result.innerHTML = "";
        mq.status(status, errorText(err), "error");
        mq.state.isochrone = { error: errorText(err) };
      });
    }
    mq.state.computeIsochrone = compute;

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
    // While picking, a click on a grid polygon picks the point instead of opening its popup.
    mq.state.grids.eachLayer(function (l) {
      l.on("click", function (e) {
        if (!picking) return;
        l.closePopup();
        L.DomEvent.stop(e);
        compute(e.latlng.lat, e.latlng.lng);
      });
    });
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
      if (!li) return;
      var m = markers[li.getAttribute("data-fid")];
      if (!m) return;
      if (phone && mq.closePanel) mq.closePanel();
      var cluster = mq.state.layers.cluster;
      if (cluster && cluster.zoomToShowLayer) cluster.zoomToShowLayer(m, function () { m.openPopup(); });
      else { map.setView(m.getLatLng(), 17); m.openPopup(); }
    });
  }
})();
