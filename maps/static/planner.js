/* 民情地图 planner map: coverage choropleth by grid tier and life circle, gaps, facility catchments and
 * load, scenarios (before/after), compliance per community and report downloads. Data from the planner
 * JSON endpoints (app-relative URLs only). */
(function () {
  "use strict";
  var mq = window.minqing;

  var GAIN = "#0d47a1", LOSS = "#e65100";
  var CHANGE = {
    add: { glyph: "新", label: "新增设施" }, open: { glyph: "新", label: "启用规划设施" },
    close: { glyph: "关", label: "关闭设施" }, move: { glyph: "迁", label: "设施迁址" },
    change: { glyph: "改", label: "改变类型或容量" }
  };
  var CIRCLE_ZH = { urban: "城市", rural: "农村" };

  function shareColor(classes, share) {
    if (share === null || share === undefined || isNaN(share)) return "#d9d9d9";
    for (var i = 0; i < classes.length; i++) if (share >= classes[i].min) return classes[i].color;
    return classes[classes.length - 1].color;
  }

  function featuresOf(res) {
    if (!res) return [];
    if (Array.isArray(res)) return res;
    if (Array.isArray(res.features)) return res.features;
    return [];
  }

  function rowsOf(res, keys) {
    if (Array.isArray(res)) return res;
    if (!res) return [];
    for (var i = 0; i < keys.length; i++) if (Array.isArray(res[keys[i]])) return res[keys[i]];
    return [];
  }

  function table(head, rows) {
    return '<table class="mq-table"><thead><tr>' + head.map(function (h) { return "<th>" + h + "</th>"; }).join("") +
      "</tr></thead><tbody>" + rows.join("") + "</tbody></table>";
  }

  function signed(n) { return (n > 0 ? "+" : n < 0 ? "−" : "") + mq.num(Math.abs(n || 0)); }

  /* A load of 0.87 reads 87%; 16.9 reads "16.9 倍" (a percentage in the thousands says nothing). */
  function loadText(load) {
    if (load === null || load === undefined || isNaN(load)) return "—";
    return load >= 10 ? mq.num(load, 1) + " 倍" : Math.round(load * 100) + "%";
  }

  function pane(map, name, z) {
    var p = map.getPane(name) || map.createPane(name);
    p.style.zIndex = z;
    return name;
  }

  mq.planner = function (map, layers, data) {
    mq.chrome(map, data);
    var state = mq.state;
    state.map = map;
    state.layers = layers;
    var run = data.run;
    var typeSel = mq.$("mq-type"), circleSel = mq.$("mq-circle"), levelSel = mq.$("mq-level");
    var status = mq.$("mq-plan-status");
    var types = {};
    data.types.forEach(function (t) { types[t.code] = t; });
    var circleClass = {};
    data.circles.forEach(function (c) { circleClass[c.code] = c["class"] || null; });

    // Panes, bottom to top: choropleth, catchments, gaps, compliance (a theme of its own, opaque when
    // shown), scenario outlines, facilities.
    var P = {
      coverage: pane(map, "mq-p-coverage", 401), catchments: pane(map, "mq-p-catchments", 402),
      gaps: pane(map, "mq-p-gaps", 403), compliance: pane(map, "mq-p-compliance", 404),
      scenario: pane(map, "mq-p-scenario", 405), facilities: pane(map, "mq-p-facilities", 406),
      labels: pane(map, "mq-p-labels", 640)
    };
    var R = {};
    ["coverage", "compliance", "catchments", "scenario", "facilities"].forEach(function (k) {
      R[k] = L.canvas({ pane: P[k], padding: 0.3, tolerance: k === "facilities" ? 4 : 0 });
    });
    R.gaps = L.svg({ pane: P.gaps, padding: 0.3 });  // SVG: the gap hatching is an SVG pattern

    function fillTypes() {
      var circle = circleSel.value, keep = typeSel.value || data.default_type;
      var list = data.types.filter(function (t) {
        return circle === "all" || t.urban_tier === circle || t.rural_tier === circle;
      });
      typeSel.innerHTML = list.map(function (t) {
        return '<option value="' + mq.esc(t.code) + '">' + mq.esc(t.name) + (t.required ? "（必配）" : "") + "</option>";
      }).join("");
      if (list.some(function (t) { return t.code === keep; })) typeSel.value = keep;
    }
    fillTypes();

    if (!run) {
      var start = mq.$("mq-run-start");
      if (start) start.addEventListener("click", function () { startRun(start); });
      mq.status(status, "计算完成后即可查看覆盖率、缺口和达标情况。");
      state.ready = true;
      document.body.classList.add("mq-ready");
      return;
    }

    var seq = 0;
    function load() {
      var type = typeSel.value, level = levelSel.value, circle = circleClass[circleSel.value], mine = ++seq;
      if (!type) return Promise.resolve();
      mq.status(status, "正在读取“" + (types[type] ? types[type].name : type) + "”的覆盖结果…", "busy");
      var base = "/coverage/runs/" + run.run_id;
      var q = "type=" + encodeURIComponent(type);
      return Promise.all([
        mq.fetchJSON(base + "/areas?level=" + encodeURIComponent(level) + "&" + q + (circle ? "&circle=" + circle : "")),
        mq.fetchJSON(base + "/gaps?" + q),
        mq.fetchJSON(base + "/facilities?" + q),
        mq.fetchJSON(base + "/catchments?" + q)
      ]).then(function (res) {
        if (mine !== seq) return;
        var areas = drawAreas(res[0], circle);
        drawGaps(res[1]);
        var catchments = drawCatchments(res[3]);
        var fac = drawFacilities(res[2], catchments);
        downloads(type);
        mq.status(status, areas.total ? "" : "该层级暂无统计结果（没有居民落在此层级的区域内）。", areas.total ? "" : "error");
        state.loaded = { type: type, level: level, circle: circle, areas: areas.total, inCircle: areas.inCircle,
                         greyed: areas.greyed, gaps: featuresOf(res[1]).length, facilities: fac.total,
                         overloaded: fac.overloaded, catchments: featuresOf(res[3]).length };
        if (state.scenarioId) return loadScenario(state.scenarioId);
      }, function (err) {
        if (mine !== seq) return;
        mq.status(status, err.message, "error");
        state.loaded = { error: err.message };
      });
    }

    /* ----- coverage choropleth; with a life circle only its residents count, other areas grey ----- */
    function drawAreas(res, circle) {
      layers.coverage.clearLayers();
      var feats = featuresOf(res);
      var pop = 0, covered = 0, pass = 0, judged = 0, inCircle = 0, greyed = 0;
      var geo = L.geoJSON({ type: "FeatureCollection", features: feats }, {
        renderer: R.coverage, pane: P.coverage,
        style: function (f) {
          var p = f.properties;
          if (circle && p.in_circle === false) {
            return { color: "#9e9e9e", weight: 0.6, opacity: 0.8, dashArray: "2 3", fillColor: "#e0e0e0", fillOpacity: 0.55 };
          }
          return { color: p.pass === false ? "#7f0000" : "#555", weight: p.pass === false ? 1.6 : 0.8, opacity: 0.8,
                   dashArray: null, fillColor: shareColor(data.share_classes, p.share), fillOpacity: 0.62 };
        },
        onEachFeature: function (f, layer) {
          var p = f.properties;
          layer.mqGreyed = !!(circle && p.in_circle === false);
          if (layer.mqGreyed) greyed++; else inCircle++;
          pop += p.population || 0;
          covered += p.population_covered || 0;
          if (p.pass === true || p.pass === false) { judged++; if (p.pass) pass++; }
          layer.bindPopup(function () {
            if (layer.mqGreyed) {
              return '<div class="mq-pop"><h3>' + mq.esc(p.name || p.code || "") + '</h3><p class="mq-pop-note">此区域没有' +
                CIRCLE_ZH[circle] + "社区的居民，所选生活圈不适用（" + (circle === "urban" ? "农村社区按乡村生活圈计算" : "城市社区按城镇生活圈计算") + "）。</p></div>";
            }
            return '<div class="mq-pop"><h3>' + mq.esc(p.name || p.code || "") + "</h3>" +
              (circle ? '<p class="mq-pop-note">仅统计' + CIRCLE_ZH[circle] + "社区居民</p>" : "") + '<table class="mq-pop-table">' +
              "<tr><th>户数</th><td>" + mq.num(p.households) + "</td></tr>" +
              "<tr><th>常住人口</th><td>" + mq.num(p.population) + "</td></tr>" +
              "<tr><th>覆盖人口</th><td>" + mq.num(p.population_covered) + "</td></tr>" +
              "<tr><th>覆盖率</th><td><b>" + mq.pct(p.share) + "</b></td></tr>" +
              "<tr><th>目标</th><td>" + mq.pct(p.target) + "</td></tr>" +
              "<tr><th>是否达标</th><td>" + (p.pass === true ? '<span class="mq-ok">达标</span>' : p.pass === false ? '<span class="mq-bad">未达标</span>' : "—") + "</td></tr>" +
              "</table></div>";
          });
        }
      });
      layers.coverage.addLayer(geo);
      state.coverage = geo;
      var type = typeSel.value;
      mq.$("mq-summary").innerHTML =
        '<div class="mq-kpis"><div><b>' + mq.pct(pop ? covered / pop : null) + "</b><span>人口覆盖率</span></div>" +
        "<div><b>" + mq.num(pop - covered) + "</b><span>未覆盖人口</span></div>" +
        "<div><b>" + (judged ? pass + "/" + judged : "—") + "</b><span>达标单元</span></div></div>" +
        '<p class="mq-hint">' + mq.esc(types[type] ? types[type].name : type) + " · " + mq.esc(levelSel.options[levelSel.selectedIndex].text) +
        " · 共 " + feats.length + " 个统计单元" + (circle ? "，其中 " + inCircle + " 个有" + CIRCLE_ZH[circle] + "社区居民" : "") + "</p>";
      var note = mq.$("mq-circle-note");
      note.hidden = !circle;
      if (circle) {
        note.textContent = "“" + circleSel.options[circleSel.selectedIndex].text + "”只适用于" + CIRCLE_ZH[circle] +
          "社区：只统计" + CIRCLE_ZH[circle] + "社区的居民，" + (circle === "urban" ? "农村" : "城市") + "区域显示为灰色。";
      }
      return { total: feats.length, inCircle: inCircle, greyed: greyed };
    }

    /* ----- gaps: hatched purple, labels only where they do not collide ----- */
    var gapLabels = L.layerGroup().addTo(layers.gaps);
    var gapLayers = [];
    function drawGaps(res) {
      layers.gaps.eachLayer(function (l) { if (l !== gapLabels) layers.gaps.removeLayer(l); });
      var feats = featuresOf(res).slice().sort(function (a, b) { return (a.properties.rank || 0) - (b.properties.rank || 0); });
      var byRank = {};
      gapLayers = [];
      var geo = L.geoJSON({ type: "FeatureCollection", features: feats }, {
        renderer: R.gaps, pane: P.gaps,
        style: { color: "#4a148c", weight: 1.8, opacity: 0.95, fillColor: "url(#mq-hatch-gap)", fillOpacity: 1, className: "mq-gap" },
        onEachFeature: function (f, layer) {
          var p = f.properties;
          byRank[p.rank] = layer;
          layer.mqRank = p.rank;
          gapLayers.push(layer);
          layer.bindTooltip("缺口" + p.rank + " · " + mq.num(p.population) + " 人", { sticky: true, className: "mq-gap-tip" });
          layer.bindPopup('<div class="mq-pop"><h3>服务缺口 第' + mq.esc(p.rank) + "位</h3><table class=\"mq-pop-table\">" +
            "<tr><th>户数</th><td>" + mq.num(p.households) + "</td></tr><tr><th>人口</th><td>" + mq.num(p.population) +
            "</td></tr><tr><th>60岁以上</th><td>" + mq.num(p.elderly) + "</td></tr><tr><th>0-14岁</th><td>" + mq.num(p.children) +
            "</td></tr></table></div>");
        }
      });
      layers.gaps.addLayer(geo);
      state.gaps = geo;
      layoutGapLabels();
      var box = mq.$("mq-gaps");
      if (!feats.length) { box.innerHTML = '<p class="mq-empty">该类设施没有服务缺口。</p>'; return; }
      box.innerHTML = table(["排名", "户数", "人口", "老人", "儿童"], feats.slice(0, 10).map(function (f) {
        var p = f.properties;
        return '<tr data-rank="' + mq.esc(p.rank) + '"><td><a href="#">缺口' + mq.esc(p.rank) + "</a></td><td>" + mq.num(p.households) +
          "</td><td>" + mq.num(p.population) + "</td><td>" + mq.num(p.elderly) + "</td><td>" + mq.num(p.children) + "</td></tr>";
      })) + (feats.length > 10 ? '<p class="mq-hint">另有 ' + (feats.length - 10) + " 处较小缺口，见下载报告。</p>" : "");
      box.onclick = function (e) {
        var tr = e.target.closest("tr[data-rank]");
        if (!tr) return;
        e.preventDefault();
        var layer = byRank[tr.getAttribute("data-rank")];
        if (!layer) return;
        map.once("moveend", function () { layer.openPopup(); });
        map.fitBounds(layer.getBounds(), { maxZoom: 16, paddingTopLeft: [mq.visibleArea(map).left + 40, 40], paddingBottomRight: [40, 40] });
      };
    }
    /* The ten largest gaps get a label from zoom 14, largest first, never over another label. */
    function layoutGapLabels() {
      gapLabels.clearLayers();
      var placed = [];
      if (map.getZoom() >= 14) {
        var view = map.getBounds();
        gapLayers.slice(0, 10).forEach(function (layer) {
          var c = layer.getBounds().getCenter();
          if (!view.contains(c)) return;
          var p = map.latLngToContainerPoint(c), text = "缺口" + layer.mqRank;
          var w = 14 * text.length + 10, box = [p.x - w / 2, p.y - 12, p.x + w / 2, p.y + 12];
          var hit = placed.some(function (b) { return box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3]; });
          if (hit) return;
          placed.push(box);
          gapLabels.addLayer(L.marker(c, { pane: P.labels, interactive: false, keyboard: false,
            icon: L.divIcon({ className: "mq-gap-label", html: "<span>" + text + "</span>", iconSize: null }) }));
        });
      }
      state.gapLabels = placed.length;
    }
    map.on("zoomend moveend", layoutGapLabels);

    /* ----- catchments: where the residents each facility serves live ----- */
    function drawCatchments(res) {
      layers.catchments.clearLayers();
      var feats = featuresOf(res), byId = {};
      var geo = L.geoJSON({ type: "FeatureCollection", features: feats }, {
        renderer: R.catchments, pane: P.catchments,
        style: function (f) {
          var over = f.properties.load > 1;
          return { color: over ? "#c62828" : "#1e6fd9", weight: 1.4, opacity: 0.9, fillColor: over ? "#ef5350" : "#64b5f6",
                   fillOpacity: 0.16 };
        },
        onEachFeature: function (f, layer) {
          var p = f.properties;
          byId[p.facility_id] = p;
          layer.bindTooltip(mq.esc(p.name || "") + " 的服务范围", { sticky: true });
          layer.on("mouseover", function () { layer.setStyle({ weight: 3, fillOpacity: 0.3 }); });
          layer.on("mouseout", function () { geo.resetStyle(layer); });
          layer.bindPopup(function () { return facilityPopup(p, p); });
        }
      });
      layers.catchments.addLayer(geo);
      state.catchments = geo;
      return byId;
    }

    /* ----- facilities: circles sized by the people they serve, red when over their capacity ----- */
    function facilityPopup(p, c) {
      var t = types[p.type_code || typeSel.value] || {};
      var basis = t.basis, unit = t.unit || "", served = c ? c[basis] : 0;
      var over = p.load !== null && p.load !== undefined && p.load > 1;
      var explain = "";
      if (basis && p.capacity) {
        explain = '<p class="mq-pop-note">负荷率 = 服务范围内 ' + mq.esc(data.basis_zh[basis] || basis) + " " + mq.num(served || 0) +
          (basis === "households" ? "" : " 人") + " ÷ （设计容量 " + mq.num(p.capacity) + " " + mq.esc(unit) +
          (t.per_unit && t.per_unit !== 1 ? " × 每" + mq.esc(unit || "单位") + " " + mq.num(t.per_unit, 2) + (basis === "households" ? " 户" : " 人") : "") +
          "）；超过 100% 即服务人口多于设计容量。</p>";
      } else if (!basis) {
        explain = '<p class="mq-pop-note">该类设施的容量没有对应的服务人口口径，不计算负荷率。</p>';
      }
      return '<div class="mq-pop"><h3>' + mq.esc(p.name || "") + "</h3><table class=\"mq-pop-table\">" +
        "<tr><th>服务范围内人口</th><td>" + mq.num(c ? c.population : p.catchment_population) + " 人</td></tr>" +
        "<tr><th>服务范围内户数</th><td>" + mq.num(c ? c.households : p.catchment_households) + " 户</td></tr>" +
        "<tr><th>设计容量</th><td>" + (p.capacity ? mq.num(p.capacity) + " " + mq.esc(unit) : "未登记") + "</td></tr>" +
        "<tr><th>负荷率</th><td>" + (over ? '<b class="mq-bad">' + loadText(p.load) + "（超负荷）</b>" : loadText(p.load)) + "</td></tr>" +
        "</table>" + explain + '<p class="mq-pop-note">服务范围：以此设施为最近、且在生活圈时间内能走到的居民。</p></div>';
    }
    function drawFacilities(res, catchments) {
      layers.facilities.clearLayers();
      var feats = featuresOf(res), overloaded = 0, markers = {};
      var geo = L.geoJSON({ type: "FeatureCollection", features: feats }, {
        // Styles only what is not a point: a style object would also restyle the circle markers.
        style: function (f) { return f.geometry && f.geometry.type === "Point" ? {} : { color: "#1e6fd9", weight: 1.2, fillOpacity: 0.08 }; },
        pointToLayer: function (f, latlng) {
          var p = f.properties, pop = p.catchment_population || 0;
          var over = p.load !== null && p.load !== undefined && p.load > 1;
          if (over) overloaded++;
          return L.circleMarker(latlng, { renderer: R.facilities, pane: P.facilities,
            radius: Math.max(5, Math.min(22, 4 + Math.sqrt(pop) / 6)), color: "#fff", weight: 1.5,
            fillColor: over ? "#c62828" : "#1e6fd9", fillOpacity: 0.9 });
        },
        onEachFeature: function (f, layer) {
          var p = f.properties;
          markers[p.facility_id] = layer;
          layer.mqOverloaded = p.load !== null && p.load !== undefined && p.load > 1;
          layer.bindTooltip(mq.esc(p.name || ""), { direction: "top", offset: [0, -6] });
          layer.bindPopup(function () { return facilityPopup(p, catchments[p.facility_id]); }, { maxWidth: mq.popupWidth(320) });
        }
      });
      layers.facilities.addLayer(geo);
      state.facilities = geo;
      state.facilityMarkers = markers;
      return { total: feats.length, overloaded: overloaded };
    }

    /* ----- downloads (URLs of docs/API_CONTRACT.md) ----- */
    function downloads(type) {
      var id = run.run_id, name = types[type] ? types[type].name : type;
      var links = [
        ["/reports/" + id + ".xlsx", "覆盖率与达标报告（Excel）"],
        ["/reports/" + id + "/gaps/" + encodeURIComponent(type) + ".png", "“" + name + "”缺口图（PNG）"],
        ["/exports/" + id + "/areas.geojson", "分区结果 GeoJSON"],
        ["/exports/" + id + "/areas.gpkg", "分区结果 GeoPackage"],
        ["/exports/" + id + "/areas.csv", "分区结果 CSV"]
      ];
      mq.$("mq-downloads").innerHTML = links.map(function (l) {
        return '<li><a href="' + l[0] + '" download>' + mq.esc(l[1]) + "</a></li>";
      }).join("");
    }

    /* ----- scenarios: gains and losses per area, every change marked, before → after ----- */
    var scenarioSel = mq.$("mq-scenario"), scenarioBox = mq.$("mq-scenario-result");
    var scenarioList = mq.fetchJSON("/scenarios").then(function (res) {
      var list = rowsOf(res, ["scenarios", "items", "features"]);
      list.forEach(function (sc) {
        var o = document.createElement("option");
        o.value = sc.scenario_id || sc.id;
        o.textContent = (sc.name || ("方案 " + o.value)) + (sc.evaluated_at ? "" : "（未评估）");
        scenarioSel.appendChild(o);
      });
      state.scenarios = list.length;
    }, function (err) { scenarioBox.innerHTML = '<p class="mq-empty">' + mq.esc(err.message) + "</p>"; state.scenarios = 0; });
    scenarioSel.addEventListener("change", function () {
      state.scenarioId = scenarioSel.value || null;
      if (state.scenarioId) loadScenario(state.scenarioId);
      else { layers.scenario.clearLayers(); scenarioBox.innerHTML = ""; state.scenario = null; }
    });

    function changeMarker(c, loads) {
      var kind = CHANGE[c.op] || CHANGE.change;
      return L.marker([c.lat, c.lon], {
        icon: L.divIcon({ className: "mq-change-wrap", html: '<span class="mq-change mq-change-' + mq.esc(c.op) + '">' + kind.glyph + "</span>",
                          iconSize: [26, 26] }),
        title: kind.label + "：" + (c.name || ""), zIndexOffset: 500
      }).bindPopup(function () {
        var type = types[c.type_after] || {};
        var lines = "<p>" + mq.esc(kind.label) + " · " + mq.esc(type.name || c.type_after || "") + "</p>";
        if (c.op === "change") {
          if (c.type_before && c.type_before !== c.type_after) lines += "<p>类型：" + mq.esc((types[c.type_before] || {}).name || c.type_before) + " → " + mq.esc(type.name || c.type_after) + "</p>";
          if (c.capacity_before !== c.capacity_after) lines += "<p>设计容量：" + mq.num(c.capacity_before) + " → " + mq.num(c.capacity_after) + " " + mq.esc(type.unit || "") + "</p>";
        }
        if (c.op === "move") lines += '<p class="mq-pop-note">由灰色圆点处迁来（虚线）。</p>';
        var ld = loads[c.facility_id];
        if (ld && (ld.load_before !== null || ld.load_after !== null)) {
          lines += "<p>负荷率：" + loadText(ld.load_before) + " → <b>" + loadText(ld.load_after) + "</b>（服务人口 " +
            mq.num(ld.catchment_population_before) + " → " + mq.num(ld.catchment_population_after) + "）</p>";
        }
        return '<div class="mq-pop"><h3>' + mq.esc(c.name || kind.label) + "</h3>" + lines + "</div>";
      });
    }

    function scenarioChanges(sc, result) {
      // The evaluated log carries each change's place; an older result falls back to the saved changes.
      var log = (result && result.changes) || [];
      return log.length && log[0].lat !== undefined ? log : (sc.changes || []).map(function (c, i) {
        return Object.assign({ index: i, type_after: c.type_code }, c);
      });
    }

    function loadScenario(id) {
      var type = typeSel.value, level = levelSel.value;
      return mq.fetchJSON("/scenarios/" + encodeURIComponent(id) + "?level=" + encodeURIComponent(level) + "&type=" + encodeURIComponent(type)).then(function (sc) {
        if (String(state.scenarioId) !== String(id)) return;
        layers.scenario.clearLayers();
        var result = sc.result;
        if (!result) {
          scenarioBox.innerHTML = '<p class="mq-hint">“' + mq.esc(sc.name) + '”尚未评估。</p><button id="mq-scenario-eval" class="mq-btn mq-btn-small" type="button">评估此方案</button>';
          mq.$("mq-scenario-eval").onclick = function () { evaluate(id); };
          state.scenario = { id: id, evaluated: false };
          return;
        }
        var rows = rowsOf(result, ["areas"]).filter(function (r) { return r.type_code === type && r.level === level; });
        var byArea = {};
        rows.forEach(function (r) { byArea[r.area_id] = r; });
        var gains = 0, losses = 0;
        if (state.coverage) state.coverage.eachLayer(function (layer) {
          var p = layer.feature.properties, r = byArea[p.area_id];
          if (!r || typeof r.before_share !== "number" || typeof r.after_share !== "number") return;
          var up = r.after_share > r.before_share + 1e-9, down = r.after_share < r.before_share - 1e-9;
          if (!up && !down) return;
          if (up) gains++; else losses++;
          L.geoJSON(layer.feature, {
            renderer: R.scenario, pane: P.scenario,
            style: { color: up ? GAIN : LOSS, weight: 3.2, opacity: 1, dashArray: up ? null : "6 4",
                     fillColor: shareColor(data.share_classes, r.after_share), fillOpacity: 0.7 }
          }).bindPopup('<div class="mq-pop"><h3>' + mq.esc(p.name || "") + "</h3><p>覆盖率 " + mq.pct(r.before_share) + " → <b>" +
            mq.pct(r.after_share) + "</b></p><p>新增覆盖 " + mq.num(r.population_gained) + " 人，失去覆盖 " + mq.num(r.population_lost) + " 人</p></div>")
            .eachLayer(function (l) { l.mqScenario = up ? "gain" : "loss"; })
            .addTo(layers.scenario);
        });
        var changes = scenarioChanges(sc, result), marks = 0, kinds = {}, loads = {};
        (result.facility_load || []).forEach(function (l) { loads[l.facility_id] = l; });
        changes.forEach(function (c) {
          if (typeof c.lat !== "number" || typeof c.lon !== "number") return;
          if (c.op === "move" && typeof c.from_lat === "number") {
            L.polyline([[c.from_lat, c.from_lon], [c.lat, c.lon]], { color: "#37474f", weight: 2, dashArray: "4 4", interactive: false }).addTo(layers.scenario);
            L.circleMarker([c.from_lat, c.from_lon], { radius: 5, color: "#37474f", weight: 1, fillColor: "#b0bec5", fillOpacity: 1, interactive: false }).addTo(layers.scenario);
          }
          changeMarker(c, loads).addTo(layers.scenario);
          marks++;
          kinds[(CHANGE[c.op] || CHANGE.change).glyph] = true;
        });
        var sum = rowsOf(result, ["summary"]).filter(function (r) { return r.type_code === type; })[0];
        var html = '<p class="mq-hint">' + mq.esc(sc.description || "") + "</p>";
        if (sum) {
          var before = sum.before_population_covered, after = sum.after_population_covered, total = sum.population;
          html += '<div class="mq-kpis mq-kpis-2"><div><b>' + mq.num(before) + " → " + mq.num(after) + "</b><span>" +
            mq.esc(types[type] ? types[type].name : type) + " 覆盖人口（前→后）</span></div>" +
            "<div><b>" + mq.pct(total ? before / total : null) + " → " + mq.pct(total ? after / total : null) + "</b><span>覆盖率（前→后）</span></div>" +
            '<div><b class="mq-gain">' + signed(sum.population_gained) + "</b><span>新增覆盖人口</span></div>" +
            '<div><b class="mq-loss">' + (sum.population_lost ? "−" + mq.num(sum.population_lost) : "0") + "</b><span>失去覆盖人口</span></div></div>" +
            '<p class="mq-hint">' + gains + " 个统计单元覆盖率提高（蓝框），" + losses + " 个下降（橙色虚框）。</p>";
        } else {
          html += '<p class="mq-hint">此方案不影响“' + mq.esc(types[type] ? types[type].name : type) + "”。受影响的设施类型：" +
            (result.types || []).map(function (t) { return '<a href="#" data-type="' + mq.esc(t) + '">' + mq.esc(types[t] ? types[t].name : t) + "</a>"; }).join("、") + "</p>";
        }
        html += '<ol class="mq-change-list">' + changes.map(function (c, i) {
          var kind = CHANGE[c.op] || CHANGE.change;
          return '<li data-change="' + i + '"><span class="mq-change mq-change-' + mq.esc(c.op) + '">' + kind.glyph + "</span>" +
            mq.esc(c.name || kind.label) + '<span class="mq-muted"> · ' + mq.esc(kind.label) + "</span></li>";
        }).join("") + "</ol>";
        scenarioBox.innerHTML = html;
        scenarioBox.onclick = function (e) {
          var a = e.target.closest("a[data-type]");
          if (a) { e.preventDefault(); circleSel.value = "all"; fillTypes(); typeSel.value = a.getAttribute("data-type"); load(); return; }
          var li = e.target.closest("li[data-change]"), c = li && changes[Number(li.getAttribute("data-change"))];
          if (c && typeof c.lat === "number") map.setView([c.lat, c.lon], Math.max(map.getZoom(), 15));
        };
        state.scenario = { id: id, evaluated: true, gains: gains, losses: losses, changes: marks, kinds: Object.keys(kinds),
                           before: sum ? sum.before_population_covered : null, after: sum ? sum.after_population_covered : null,
                           gained: sum ? sum.population_gained : null, lost: sum ? sum.population_lost : null };
      }, function (err) {
        scenarioBox.innerHTML = '<p class="mq-empty">' + mq.esc(err.message) + "</p>";
        state.scenario = { id: id, error: err.message };
      });
    }

    function evaluate(id) {
      scenarioBox.innerHTML = '<p class="mq-status mq-status-busy">正在评估方案…</p>';
      mq.fetchJSON("/scenarios/" + encodeURIComponent(id) + "/evaluate", { method: "POST", headers: { Accept: "application/json" } })
        .then(function () { loadScenario(id); }, function (err) { scenarioBox.innerHTML = '<p class="mq-empty">' + mq.esc(err.message) + "</p>"; });
    }

    /* ----- compliance per community: polygons pass/fail with per-tier popups; district targets ----- */
    var compliance = mq.fetchJSON("/compliance?run_id=" + run.run_id).then(function (res) {
      var rows = rowsOf(res, ["communities"]);
      drawTargets(res && res.targets || []);
      var byId = {};
      rows.forEach(function (r) { byId[r.area_id] = r; });
      var drawn = 0, byArea = {};
      var geo = L.geoJSON(data.communities, {
        renderer: R.compliance, pane: P.compliance,
        filter: function (f) { return !!byId[f.properties.id]; },
        style: function (f) {
          var ok = byId[f.properties.id].pass;
          return { color: ok ? "#1b5e20" : "#880e4f", weight: 2, opacity: 1, fillColor: ok ? "#81c784" : "#f48fb1", fillOpacity: 0.85 };
        },
        onEachFeature: function (f, layer) {
          var r = byId[f.properties.id];
          drawn++;
          layer.mqPass = r.pass;
          byArea[r.area_id] = layer;
          layer.bindTooltip(mq.esc(r.name) + (r.pass ? " · 达标" : " · 未达标"), { sticky: true });
          layer.bindPopup(function () { return compliancePopup(r); }, { maxWidth: mq.popupWidth(380), minWidth: mq.popupWidth(300) });
        }
      });
      layers.compliance.addLayer(geo);
      state.complianceLayer = geo;
      state.compliance = { communities: rows.length, polygons: drawn };
      if (!rows.length) { mq.$("mq-compliance").innerHTML = '<p class="mq-empty">暂无达标数据。</p>'; return; }
      var passed = rows.filter(function (r) { return r.pass; }).length;
      mq.$("mq-compliance").innerHTML = '<p class="mq-hint">' + passed + " / " + rows.length + " 个村(社区)全部层级达标。</p>" +
        table(["村(社区)", "达标层级", "缺项"], rows.map(function (r) {
          var tiers = r.tiers || [], ok = tiers.filter(function (t) { return t.pass; }).length;
          return '<tr data-area="' + mq.esc(r.area_id) + '"><td><a href="#">' + mq.esc(r.name) + "</a></td><td class=\"" + (r.pass ? "mq-ok" : "mq-bad") + "\">" +
            ok + "/" + tiers.length + "</td><td>" + mq.esc(tiers.filter(function (t) { return !t.pass; }).map(function (t) { return t.tier_label; }).join("、") || "—") + "</td></tr>";
        }));
      mq.$("mq-compliance").onclick = function (e) {
        var tr = e.target.closest("tr[data-area]");
        if (!tr) return;
        e.preventDefault();
        var layer = byArea[tr.getAttribute("data-area")];
        if (!layer) return;
        if (!map.hasLayer(layers.compliance)) map.addLayer(layers.compliance);
        map.once("moveend", function () { layer.openPopup(); });
        map.fitBounds(layer.getBounds(), { maxZoom: 15, paddingTopLeft: [mq.visibleArea(map).left + 40, 60], paddingBottomRight: [40, 40] });
      };
    }, function (err) {
      mq.$("mq-compliance").innerHTML = '<p class="mq-empty">' + mq.esc(err.message) + "</p>";
      state.compliance = { error: err.message };
    });

    function compliancePopup(r) {
      var circle = r.circle === "rural" ? "rural" : "urban";
      var rows = (r.tiers || []).map(function (t) {
        var missing = t.missing_codes || [];
        var present = data.types.filter(function (ty) {
          return ty.required && (circle === "urban" ? ty.urban_tier : ty.rural_tier) === t.tier && missing.indexOf(ty.code) < 0;
        }).map(function (ty) { return ty.name; });
        return "<tr><th>" + mq.esc(t.tier_label) + '</th><td><span class="' + (t.pass ? "mq-ok" : "mq-bad") + '">' + (t.pass ? "达标" : "未达标") +
          "</span> " + t.within + "/" + t.required + "<br>" +
          (present.length ? '<span class="mq-ok">已有：</span>' + mq.esc(present.join("、")) + "<br>" : "") +
          (missing.length ? '<span class="mq-bad">缺少：</span>' + mq.esc(t.missing || missing.map(function (m) { return types[m] ? types[m].name : m; }).join("、")) : "") +
          "</td></tr>";
      }).join("");
      var fa = r.floor_area || {};
      var per100 = fa.households ? fa.floor_area_m2 / fa.households * 100 : null;
      return '<div class="mq-pop"><h3>' + mq.esc(r.name) + ' <span class="mq-tag">' + (circle === "urban" ? "城市社区" : "农村社区") + "</span></h3>" +
        '<p class="mq-result ' + (r.pass ? "mq-ok" : "mq-bad") + '">' + (r.pass ? "● 各层级均达标" : "● 未达标") + "</p>" +
        '<table class="mq-pop-table mq-pop-tiers">' + rows + "</table>" +
        '<p class="mq-floor"><b>社区服务用房</b>：' + mq.num(fa.floor_area_m2) + " m²（" + mq.num(fa.households) + " 户，每百户 " +
        (per100 === null ? "—" : mq.num(per100, 1)) + " m²，标准 ≥ 30 m²）" +
        '<span class="' + (fa.pass ? "mq-ok" : "mq-bad") + '"> ' + (fa.pass ? "达标" : "不足") + "</span>" +
        (fa.unknown_area ? '<br><span class="mq-pop-note">另有 ' + fa.unknown_area + " 处设施未登记面积</span>" : "") + "</p></div>";
    }

    function drawTargets(targets) {
      var box = mq.$("mq-targets");
      if (!targets.length) { box.innerHTML = ""; return; }
      box.innerHTML = '<h3 class="mq-sub">区级目标</h3><ul class="mq-targets">' + targets.map(function (t) {
        return '<li class="' + (t.pass ? "mq-target-pass" : "mq-target-fail") + '"><span class="mq-target-mark">' + (t.pass ? "✔" : "✘") + "</span>" +
          '<span class="mq-target-label">' + mq.esc(t.label_zh) + '</span><span class="mq-target-value">' + mq.pct(t.value) +
          " / " + mq.pct(t.threshold) + "</span></li>";
      }).join("") + "</ul>";
      state.targets = targets.length;
    }

    typeSel.addEventListener("change", load);
    levelSel.addEventListener("change", load);
    circleSel.addEventListener("change", function () { fillTypes(); load(); });
    state.reload = load;
    Promise.all([load(), scenarioList, compliance]).then(function () { state.ready = true; document.body.classList.add("mq-ready"); });
  };

  function startRun(button) {
    var status = mq.$("mq-plan-status");
    button.disabled = true;
    mq.status(status, "正在计算覆盖率，请稍候…", "busy");
    mq.fetchJSON("/coverage/runs", { method: "POST", headers: { Accept: "application/json", "Content-Type": "application/json" }, body: "{}" })
      .then(function (queued) {
        var tries = 0, url = queued && queued.run_id ? "/coverage/runs/" + queued.run_id : "/coverage/runs/latest";
        (function poll() {
          mq.fetchJSON(url).then(function (r) {
            if (r && r.status === "done") { location.reload(); return; }
            if (r && r.status === "failed") { mq.status(status, "计算失败，请联系管理员。", "error"); button.disabled = false; return; }
            if (++tries < 200) setTimeout(poll, 3000);
          }, function () { if (++tries < 200) setTimeout(poll, 3000); });
        })();
      }, function (err) { mq.status(status, err.message, "error"); button.disabled = false; });
  }
})();
