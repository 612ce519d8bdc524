/* 民情地图 planner map: coverage choropleth by grid tier, gaps, facility catchments, scenarios,
 * compliance and report downloads. Data from the planner JSON endpoints (app-relative URLs only). */
(function () {
  "use strict";
  var mq = window.minqing;

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

  mq.planner = function (map, layers, data) {
    mq.chrome(map, data);
    var state = mq.state;
    state.map = map;
    state.layers = layers;
    var run = data.run;
    var typeSel = mq.$("mq-type"), circleSel = mq.$("mq-circle"), levelSel = mq.$("mq-level");
    var status = mq.$("mq-plan-status");
    var typeName = {};
    data.types.forEach(function (t) { typeName[t.code] = t.name; });

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
      var type = typeSel.value, level = levelSel.value, mine = ++seq;
      if (!type) return Promise.resolve();
      mq.status(status, "正在读取“" + (typeName[type] || type) + "”的覆盖结果…", "busy");
      var base = "/coverage/runs/" + run.run_id;
      var q = "type=" + encodeURIComponent(type);
      return Promise.all([
        mq.fetchJSON(base + "/areas?level=" + encodeURIComponent(level) + "&" + q),
        mq.fetchJSON(base + "/gaps?" + q),
        mq.fetchJSON(base + "/facilities?" + q)
      ]).then(function (res) {
        if (mine !== seq) return;
        drawAreas(res[0]);
        drawGaps(res[1]);
        drawFacilities(res[2]);
        downloads(type);
        mq.status(status, "");
        state.loaded = { type: type, level: level, areas: featuresOf(res[0]).length, gaps: featuresOf(res[1]).length,
                         facilities: featuresOf(res[2]).length };
        if (state.scenarioId) loadScenario(state.scenarioId);
      }, function (err) {
        if (mine !== seq) return;
        mq.status(status, err.message, "error");
        state.loaded = { error: err.message };
      });
    }

    /* ----- coverage choropleth ----- */
    function drawAreas(res) {
      layers.coverage.clearLayers();
      var feats = featuresOf(res);
      var pop = 0, covered = 0, pass = 0, judged = 0;
      var geo = L.geoJSON({ type: "FeatureCollection", features: feats }, {
        style: function (f) {
          var p = f.properties;
          return { color: p.pass === false ? "#7f0000" : "#555", weight: p.pass === false ? 1.6 : 0.8, opacity: 0.8,
                   fillColor: shareColor(data.share_classes, p.share), fillOpacity: 0.62 };
        },
        onEachFeature: function (f, layer) {
          var p = f.properties;
          pop += p.population || 0;
          covered += p.population_covered || 0;
          if (p.pass === true || p.pass === false) { judged++; if (p.pass) pass++; }
          layer.bindPopup(function () {
            return '<div class="mq-pop"><h3>' + mq.esc(p.name || p.code || "") + "</h3><table class=\"mq-pop-table\">" +
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
        '<p class="mq-hint">' + mq.esc(typeName[type] || type) + " · " + mq.esc(levelSel.options[levelSel.selectedIndex].text) +
        " · 共 " + feats.length + " 个统计单元</p>";
    }

    /* ----- gaps ----- */
    function drawGaps(res) {
      layers.gaps.clearLayers();
      var feats = featuresOf(res).slice().sort(function (a, b) { return (a.properties.rank || 0) - (b.properties.rank || 0); });
      var byRank = {};
      var geo = L.geoJSON({ type: "FeatureCollection", features: feats }, {
        style: { color: "#b71c1c", weight: 2, dashArray: "6 3", fillColor: "#e53935", fillOpacity: 0.28 },
        onEachFeature: function (f, layer) {
          var p = f.properties;
          byRank[p.rank] = layer;
          layer.bindTooltip("缺口" + p.rank, { permanent: p.rank <= 5, direction: "center", className: "mq-gap-label" });
          layer.bindPopup('<div class="mq-pop"><h3>服务缺口 第' + mq.esc(p.rank) + "位</h3><table class=\"mq-pop-table\">" +
            "<tr><th>户数</th><td>" + mq.num(p.households) + "</td></tr><tr><th>人口</th><td>" + mq.num(p.population) +
            "</td></tr><tr><th>60岁以上</th><td>" + mq.num(p.elderly) + "</td></tr><tr><th>14岁以下</th><td>" + mq.num(p.children) +
            "</td></tr></table></div>");
        }
      });
      layers.gaps.addLayer(geo);
      state.gaps = geo;
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
        if (layer) { map.fitBounds(layer.getBounds(), { maxZoom: 16, padding: [40, 40] }); layer.openPopup(); }
      };
    }

    /* ----- facilities: circles sized by the population they serve; catchment polygons when sent ----- */
    function drawFacilities(res) {
      layers.facilities.clearLayers();
      var feats = featuresOf(res);
      var geo = L.geoJSON({ type: "FeatureCollection", features: feats }, {
        style: { color: "#1e6fd9", weight: 1.2, fillColor: "#1e6fd9", fillOpacity: 0.08, dashArray: "3 3" },
        pointToLayer: function (f, latlng) {
          var p = f.properties, pop = p.catchment_population || p.covered_population || 0;
          var over = p.load !== null && p.load !== undefined && p.load > 1;
          return L.circleMarker(latlng, { radius: Math.max(5, Math.min(22, 4 + Math.sqrt(pop) / 6)),
            color: "#fff", weight: 1.5, fillColor: over ? "#c62828" : "#1e6fd9", fillOpacity: 0.9 });
        },
        onEachFeature: function (f, layer) {
          var p = f.properties;
          if (f.geometry && f.geometry.type !== "Point") return;
          layer.bindPopup('<div class="mq-pop"><h3>' + mq.esc(p.name || "") + "</h3><table class=\"mq-pop-table\">" +
            "<tr><th>服务范围内人口</th><td>" + mq.num(p.catchment_population) + "</td></tr>" +
            "<tr><th>服务范围内户数</th><td>" + mq.num(p.catchment_households) + "</td></tr>" +
            "<tr><th>容量</th><td>" + mq.num(p.capacity) + "</td></tr>" +
            "<tr><th>负荷率</th><td>" + (p.load === null || p.load === undefined ? "—" : mq.pct(p.load)) + "</td></tr></table></div>");
        }
      });
      layers.facilities.addLayer(geo);
      state.facilities = geo;
    }

    /* ----- downloads (URLs of docs/API_CONTRACT.md) ----- */
    function downloads(type) {
      var id = run.run_id;
      var links = [
        ["/reports/" + id + ".xlsx", "覆盖率与达标报告（Excel）"],
        ["/reports/" + id + "/gaps/" + encodeURIComponent(type) + ".png", "“" + (typeName[type] || type) + "”缺口图（PNG）"],
        ["/exports/" + id + "/areas.geojson", "分区结果 GeoJSON"],
        ["/exports/" + id + "/areas.gpkg", "分区结果 GeoPackage"],
        ["/exports/" + id + "/areas.csv", "分区结果 CSV"]
      ];
      mq.$("mq-downloads").innerHTML = links.map(function (l) {
        return '<li><a href="' + l[0] + '" download>' + mq.esc(l[1]) + "</a></li>";
      }).join("");
    }

    /* ----- scenarios: before/after per area ----- */
    var scenarioSel = mq.$("mq-scenario");
    mq.fetchJSON("/scenarios").then(function (res) {
      rowsOf(res, ["scenarios", "items", "features"]).forEach(function (sc) {
        var o = document.createElement("option");
        o.value = sc.scenario_id || sc.id;
        o.textContent = sc.name || ("方案 " + o.value);
        scenarioSel.appendChild(o);
      });
    }, function (err) { mq.$("mq-scenario-result").innerHTML = '<p class="mq-empty">' + mq.esc(err.message) + "</p>"; });
    scenarioSel.addEventListener("change", function () {
      state.scenarioId = scenarioSel.value || null;
      if (state.scenarioId) loadScenario(state.scenarioId);
      else { layers.scenario.clearLayers(); mq.$("mq-scenario-result").innerHTML = ""; }
    });

    function loadScenario(id) {
      mq.fetchJSON("/scenarios/" + encodeURIComponent(id)).then(function (sc) {
        layers.scenario.clearLayers();
        var result = sc.result || sc;
        var rows = rowsOf(result, ["areas", "per_area", "rows"]).filter(function (r) {
          return !r.type_code || r.type_code === typeSel.value;
        });
        var byArea = {};
        rows.forEach(function (r) { byArea[r.area_id] = r; });
        var improved = 0, gained = 0;
        if (state.coverage) state.coverage.eachLayer(function (layer) {
          var p = layer.feature.properties, r = byArea[p.area_id];
          if (!r) return;
          var before = r.before_share !== undefined ? r.before_share : (r.before && r.before.share !== undefined ? r.before.share : r.before);
          var after = r.after_share !== undefined ? r.after_share : (r.after && r.after.share !== undefined ? r.after.share : r.after);
          if (typeof before !== "number" || typeof after !== "number" || after <= before) return;
          improved++;
          gained += (r.after_population_covered || 0) - (r.before_population_covered || 0);
          L.geoJSON(layer.feature, { style: { color: "#0d47a1", weight: 3, fillColor: shareColor(data.share_classes, after), fillOpacity: 0.75 } })
            .bindPopup('<div class="mq-pop"><h3>' + mq.esc(p.name || "") + "</h3><p>覆盖率 " + mq.pct(before) + " → <b>" + mq.pct(after) + "</b></p></div>")
            .addTo(layers.scenario);
        });
        (sc.changes || []).forEach(function (c) {
          var lat = c.lat || (c.geometry && c.geometry.coordinates && c.geometry.coordinates[1]);
          var lon = c.lon || (c.geometry && c.geometry.coordinates && c.geometry.coordinates[0]);
          if (typeof lat !== "number" || typeof lon !== "number") return;
          L.marker([lat, lon], { icon: L.divIcon({ className: "mq-new-fac", html: "<span>新</span>", iconSize: [24, 24] }) })
            .bindPopup('<div class="mq-pop"><h3>' + mq.esc(c.name || "方案新增设施") + "</h3><p>" + mq.esc(typeName[c.type_code] || c.type_code || "") + "</p></div>")
            .addTo(layers.scenario);
        });
        mq.$("mq-scenario-result").innerHTML = '<p class="mq-hint">“' + mq.esc(sc.name || id) + "”：" + improved +
          " 个统计单元覆盖率提高（蓝框）" + (gained ? "，新增覆盖人口 " + mq.num(gained) : "") + "。</p>";
      }, function (err) { mq.$("mq-scenario-result").innerHTML = '<p class="mq-empty">' + mq.esc(err.message) + "</p>"; });
    }

    /* ----- compliance per community ----- */
    mq.fetchJSON("/compliance?run_id=" + run.run_id).then(function (res) {
      var rows = rowsOf(res, ["communities", "rows", "items", "features"]).map(function (r) { return r.properties || r; });
      state.compliance = rows.length;
      if (!rows.length) { mq.$("mq-compliance").innerHTML = '<p class="mq-empty">暂无达标数据。</p>'; return; }
      mq.$("mq-compliance").innerHTML = table(["村(社区)", "达标", "缺项"], rows.map(function (r) {
        var missing = r.missing || r.failed || r.missing_types || [];
        if (!Array.isArray(missing)) missing = [missing];
        var ok = r.pass !== undefined ? r.pass : !missing.length;
        var passed = r.passed !== undefined && r.required !== undefined ? r.passed + "/" + r.required : (ok ? "是" : "否");
        return "<tr><td>" + mq.esc(r.name || r.community || r.area_name || r.area_id) + "</td><td class=\"" + (ok ? "mq-ok" : "mq-bad") + "\">" +
          mq.esc(passed) + "</td><td>" + mq.esc(missing.map(function (m) { return typeName[m] || m; }).join("、")) + "</td></tr>";
      }));
    }, function (err) { mq.$("mq-compliance").innerHTML = '<p class="mq-empty">' + mq.esc(err.message) + "</p>"; });

    typeSel.addEventListener("change", load);
    levelSel.addEventListener("change", load);
    circleSel.addEventListener("change", function () { fillTypes(); load(); });
    state.reload = load;
    load().then(function () { state.ready = true; document.body.classList.add("mq-ready"); });
  };

  function startRun(button) {
    var status = mq.$("mq-plan-status");
    button.disabled = true;
    mq.status(status, "正在计算覆盖率，请稍候…", "busy");
    mq.fetchJSON("/coverage/runs", { method: "POST", headers: { Accept: "application/json", "Content-Type": "application/json" }, body: "{}" })
      .then(function () {
        var tries = 0;
        (function poll() {
          mq.fetchJSON("/coverage/runs/latest").then(function (r) {
            if (r && (r.status === "done" || r.run_id)) { location.reload(); return; }
            if (++tries < 60) setTimeout(poll, 3000);
          }, function () { if (++tries < 60) setTimeout(poll, 3000); });
        })();
      }, function (err) { mq.status(status, err.message, "error"); button.disabled = false; });
  }
})();
