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
  // Outlines, gaps and catchments come simplified to a few metres (less than a pixel up to zoom 16): a
  // county's areas stay one small response each (GET …?simplify=, api/routes/planning.py); the page
  // says how many (maps/planner.py SIMPLIFY_M, the same the server warms: api/warm.py).
  var SIMPLIFY = "&simplify=3";

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
    if (data.simplify_m) SIMPLIFY = "&simplify=" + data.simplify_m;
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
        mq.fetchJSON(base + "/areas?level=" + encodeURIComponent(level) + "&" + q + (circle ? "&circle=" + circle : "") + SIMPLIFY),
        mq.fetchJSON(base + "/gaps?" + q + (data.gap_tiles ? "&geometry=false" : SIMPLIFY)),
        mq.fetchJSON(base + "/facilities?" + q),
        mq.fetchJSON(base + "/catchments?" + q + SIMPLIFY)
      ]).then(function (res) {
        if (mine !== seq) return;
        if (mine === 1 && measureSel.value === "presence" && !featuresOf(res[0]).some(function (f) {
          return f.properties.present !== undefined || f.properties.presence_share !== undefined;
        })) measureSel.value = "network";  // a run computed before the presence measure existed
        var areas = drawAreas(res[0], circle);
        drawGaps(res[1], type);
        var catchments = drawCatchments(res[3]);
        var fac = drawFacilities(res[2], catchments);
        downloads(type);
        mq.status(status, areas.total ? "" : "该层级暂无统计结果（没有居民落在此层级的区域内）。", areas.total ? "" : "error");
        state.loaded = { type: type, level: level, circle: circle, measure: measureSel.value, areas: areas.total, inCircle: areas.inCircle,
                         greyed: areas.greyed, gaps: featuresOf(res[1]).length, facilities: fac.total,
                         overloaded: fac.overloaded, catchments: featuresOf(res[3]).length };
        if (state.scenarioId) return loadScenario(state.scenarioId);
      }, function (err) {
        if (mine !== seq) return;
        mq.status(status, err.message, "error");
        state.loaded = { error: err.message };
      });
    }

    /* ----- measures: presence, radius, network (named as officials name them), and the words ----- */
    var measureSel = mq.$("mq-measure");
    var SHARE_MEASURES = ["presence", "radius", "network"];
    var STATUS_COLOR = {}, STATUS_ALIAS = { "可达不足": "步行可达不足" };
    data.status_classes.forEach(function (c) { STATUS_COLOR[c.word] = c.color; });
    var SOURCE_ZH = { inside: "社区内设有", town: "由所在镇(街道)的设施服务", assigned: "按服务范围规则指定" };
    function measureName(code, circle) {
      var m = data.measures[code] || {};
      if (code === "status") return "问题类型";
      if (circle === "rural") return m.name_rural || m.name || code;
      if (circle === "urban" || !m.name_rural || m.name_rural === m.name) return m.name || code;
      return m.name + " / " + m.name_rural;
    }
    function measureDef(code) {
      if (code === "status") return "按社区判断该类设施的问题：未设置、步行可达不足（农村：可达不足）、容量不足或达标";
      return (data.measures[code] || {}).definition || "";
    }
    /* A measure's name with its definition as a tooltip: every figure says which measure it is. */
    function named(code, circle) {
      return '<span class="mq-measure" title="' + mq.esc(measureDef(code)) + '">' + mq.esc(measureName(code, circle)) + "</span>";
    }
    function fillMeasures() {
      var circle = circleClass[circleSel.value], keep = measureSel.value || data.default_measure;
      measureSel.innerHTML = SHARE_MEASURES.concat(["status"]).map(function (code) {
        return '<option value="' + mq.esc(code) + '" title="' + mq.esc(measureDef(code)) + '">' +
          mq.esc(code === "status" ? "问题类型（未设置 / 步行可达不足 / 容量不足）" : measureName(code, circle)) + "</option>";
      }).join("");
      measureSel.value = keep;
    }
    fillMeasures();
    function canonical(w) { return STATUS_ALIAS[w] || w; }
    function statusColor(w) { return STATUS_COLOR[w] || STATUS_COLOR[STATUS_ALIAS[w]] || null; }
    function statusHtml(w) {
      if (!w) return "—";
      return '<span class="mq-word" style="background:' + mq.esc(statusColor(w) || "#9e9e9e") + '">' + mq.esc(w) + "</span>";
    }
    /* The community's word for the type: /compliance knows capacity (容量不足), the areas route the rest. */
    function communityStatus(p, type) {
      var c = state.complianceById && state.complianceById[p.area_id];
      return (c && c.status && c.status[type]) || p.status || null;
    }
    function presenceValue(p, level) {
      if (level === "community") return p.present === true ? 1 : p.present === false ? 0 : null;
      return typeof p.presence_share === "number" ? p.presence_share : null;
    }
    function measureValue(p, measure, level) {
      if (measure === "network") return p.share;
      if (measure === "radius") return typeof p.radius_share === "number" ? p.radius_share : null;
      if (measure === "presence") return presenceValue(p, level);
      return null;
    }
    function fillFor(p, measure, level, type) {
      if (measure === "status") {
        return level === "community" ? (statusColor(communityStatus(p, type)) || "#d9d9d9") : "#d9d9d9";
      }
      if (measure === "presence" && level === "community") {
        var v = presenceValue(p, level);
        return v === 1 ? STATUS_COLOR["达标"] : v === 0 ? STATUS_COLOR["未设置"] : "#d9d9d9";
      }
      return shareColor(data.share_classes, measureValue(p, measure, level));
    }
    function legend(measure, level, circle) {
      var title = mq.$("mq-legend-title"), list = mq.$("mq-legend-measure"), items;
      title.innerHTML = "图例：" + named(measure, circle);
      mq.$("mq-measure-def").textContent = measureDef(measure);
      if (measure === "status") {
        items = data.status_classes.map(function (c) { return [c.color, c.label]; });
      } else if (measure === "presence" && level === "community") {
        items = [[STATUS_COLOR["达标"], "设有设施（社区内，或按服务范围规则由镇(街道)设施服务）"], [STATUS_COLOR["未设置"], "未设置：没有该类设施"]];
      } else {
        var unit = measure === "presence" ? "的社区设有设施" : "的居民";
        items = data.share_classes.map(function (c) { return [c.color, c.label + unit]; });
      }
      list.innerHTML = items.map(function (it) {
        return '<li><span class="mq-swatch" style="background:' + mq.esc(it[0]) + '"></span>' + mq.esc(it[1]) + "</li>";
      }).join("");
      state.legend = { measure: measure, title: title.textContent, definition: measureDef(measure) };
    }
    var PER_COMMUNITY = { grid_small: true, grid_middle: true };

    /* ----- coverage choropleth; with a life circle only its residents count, other areas grey ----- */
    var lastAreas = null;
    function drawAreas(res, circle) {
      lastAreas = { res: res, circle: circle };
      layers.coverage.clearLayers();
      var feats = featuresOf(res), measure = measureSel.value, level = levelSel.value, type = typeSel.value;
      var pop = 0, covered = 0, inRadius = 0, radiusPop = 0, comms = 0, present = 0, pass = 0, judged = 0, inCircle = 0, greyed = 0;
      var words = {};
      var geo = L.geoJSON({ type: "FeatureCollection", features: feats }, {
        renderer: R.coverage, pane: P.coverage,
        style: function (f) {
          var p = f.properties;
          if (circle && p.in_circle === false) {
            return { color: "#9e9e9e", weight: 0.6, opacity: 0.8, dashArray: "2 3", fillColor: "#e0e0e0", fillOpacity: 0.55 };
          }
          return { color: p.pass === false && measure === "network" ? "#7f0000" : "#555", weight: p.pass === false && measure === "network" ? 1.6 : 0.8,
                   opacity: 0.8, dashArray: null, fillColor: fillFor(p, measure, level, type), fillOpacity: 0.62 };
        },
        onEachFeature: function (f, layer) {
          var p = f.properties;
          layer.mqGreyed = !!(circle && p.in_circle === false);
          if (layer.mqGreyed) greyed++; else inCircle++;
          pop += p.population || 0;
          covered += p.population_covered || 0;
          if (typeof p.radius_share === "number") { inRadius += p.radius_share * (p.population || 0); radiusPop += p.population || 0; }
          if (level === "community") {
            if (p.present === true || p.present === false) { comms++; if (p.present) present++; }
          } else if (typeof p.communities === "number") { comms += p.communities; present += p.communities_present || 0; }
          if (level === "community" && !layer.mqGreyed) {
            var w = communityStatus(p, type);
            if (w) words[canonical(w)] = (words[canonical(w)] || 0) + 1;
          }
          if (p.pass === true || p.pass === false) { judged++; if (p.pass) pass++; }
          layer.bindPopup(function () { return areaPopup(p, layer, circle, level, type); }, { maxWidth: mq.popupWidth(360) });
        }
      });
      layers.coverage.addLayer(geo);
      state.coverage = geo;
      legend(measure, level, circle);
      var kpi;
      if (measure === "presence") {
        kpi = "<div><b>" + mq.pct(comms ? present / comms : null) + "</b><span>" + named("presence", circle) + "</span></div>" +
          "<div><b>" + (comms ? present + "/" + comms : "—") + "</b><span>设有设施的社区</span></div>";
      } else if (measure === "radius") {
        kpi = "<div><b>" + mq.pct(radiusPop ? inRadius / radiusPop : null) + "</b><span>" + named("radius", circle) + "</span></div>" +
          "<div><b>" + mq.num(radiusPop ? radiusPop - inRadius : null) + "</b><span>服务半径外居民</span></div>";
      } else if (measure === "status") {
        kpi = data.status_classes.map(function (c) {
          return '<div><b style="color:' + mq.esc(c.color) + '">' + (words[c.word] || 0) + "</b><span>" + mq.esc(c.word) + "</span></div>";
        }).join("");
      } else {
        kpi = "<div><b>" + mq.pct(pop ? covered / pop : null) + "</b><span>" + named("network", circle) + "</span></div>" +
          "<div><b>" + mq.num(pop - covered) + "</b><span>" + mq.esc(measureName("network", circle)) + "：未覆盖居民</span></div>";
      }
      if (measure !== "status") kpi += "<div><b>" + (judged ? pass + "/" + judged : "—") + "</b><span>" + mq.esc(measureName("network", circle)) + "达标单元</span></div>";
      mq.$("mq-summary").innerHTML = '<div class="mq-kpis' + (measure === "status" ? " mq-kpis-4" : "") + '">' + kpi + "</div>" +
        '<p class="mq-hint">' + mq.esc(types[type] ? types[type].name : type) + " · " + mq.esc(levelSel.options[levelSel.selectedIndex].text) +
        " · 共 " + feats.length + " 个统计单元" + (circle ? "，其中 " + inCircle + " 个有" + CIRCLE_ZH[circle] + "社区居民" : "") + "</p>" +
        ((measure === "status" && level !== "community") || (measure === "presence" && PER_COMMUNITY[level]) ?
          '<p class="mq-hint mq-warn">“' + mq.esc(measureName(measure, circle)) + "”按村(社区)统计：请把统计单元选为“村(社区)”" +
          (measure === "presence" ? "或更大的区域" : "") + "。</p>" : "");
      var note = mq.$("mq-circle-note");
      note.hidden = !circle;
      if (circle) {
        note.textContent = "“" + circleSel.options[circleSel.selectedIndex].text + "”只适用于" + CIRCLE_ZH[circle] +
          "社区：只统计" + CIRCLE_ZH[circle] + "社区的居民，" + (circle === "urban" ? "农村" : "城市") + "区域显示为灰色。";
      }
      state.words = words;
      return { total: feats.length, inCircle: inCircle, greyed: greyed };
    }

    function areaPopup(p, layer, circle, level, type) {
      if (layer.mqGreyed) {
        return '<div class="mq-pop"><h3>' + mq.esc(p.name || p.code || "") + '</h3><p class="mq-pop-note">此区域没有' +
          CIRCLE_ZH[circle] + "社区的居民，所选生活圈不适用（" + (circle === "urban" ? "农村社区按乡村生活圈计算" : "城市社区按城镇生活圈计算") + "）。</p></div>";
      }
      var own = level === "community" ? (p.urban === false ? "rural" : "urban") : circle;
      var rows = "<tr><th>户数</th><td>" + mq.num(p.households) + "</td></tr>" +
        "<tr><th>常住人口</th><td>" + mq.num(p.population) + "</td></tr>";
      if (level === "community" && (p.present === true || p.present === false)) {
        rows += "<tr><th>" + named("presence", own) + "</th><td>" + (p.present ? '<span class="mq-ok">' + mq.esc(SOURCE_ZH[p.presence_source] || "设有") + "</span>" :
          statusHtml("未设置")) + "</td></tr>";
      } else if (typeof p.presence_share === "number") {
        rows += "<tr><th>" + named("presence", own) + "</th><td><b>" + mq.pct(p.presence_share) + "</b>（" + mq.num(p.communities_present) + "/" +
          mq.num(p.communities) + " 个社区设有）</td></tr>";
      }
      if (typeof p.radius_share === "number") rows += "<tr><th>" + named("radius", own) + "</th><td><b>" + mq.pct(p.radius_share) + "</b></td></tr>";
      rows += "<tr><th>" + named("network", own) + "</th><td><b>" + mq.pct(p.share) + "</b>（" + mq.num(p.population_covered) + " 人可达）</td></tr>" +
        "<tr><th>目标（" + mq.esc(measureName("network", own)) + "）</th><td>" + mq.pct(p.target) + " " +
        (p.pass === true ? '<span class="mq-ok">达标</span>' : p.pass === false ? '<span class="mq-bad">未达标</span>' : "") + "</td></tr>";
      var w = level === "community" ? communityStatus(p, type) : null;
      if (w) rows += '<tr><th><span class="mq-measure" title="' + mq.esc(measureDef("status")) + '">问题</span></th><td>' + statusHtml(w) + "</td></tr>";
      return '<div class="mq-pop"><h3>' + mq.esc(p.name || p.code || "") + "</h3>" +
        (circle ? '<p class="mq-pop-note">仅统计' + CIRCLE_ZH[circle] + "社区居民</p>" : "") +
        '<table class="mq-pop-table">' + rows + "</table></div>";
    }

    /* ----- gaps: hatched purple, labels only where they do not collide ----- */
    var gapLabels = L.layerGroup().addTo(layers.gaps);
    var gapLayers = [];
    /* The gaps of ``res`` (largest first). With ``data.gap_tiles`` their shapes come from the vector tiles of the
     * run's gaps of ``type`` (GET /tiles/gaps/…, hatched SVG) and ``res`` lists them without geometry (their
     * bbox): a gap is named, listed and opened from the list; else ``res`` holds the polygons. */
    function drawGaps(res, type) {
      layers.gaps.eachLayer(function (l) { if (l !== gapLabels) layers.gaps.removeLayer(l); });
      var feats = featuresOf(res).slice().sort(function (a, b) { return (a.properties.rank || 0) - (b.properties.rank || 0); });
      var byRank = {};
      gapLayers = [];
      var style = { color: "#4a148c", weight: 1.8, opacity: 0.95, fillColor: "url(#mq-hatch-gap)", fillOpacity: 1, className: "mq-gap" };
      function popupHtml(p) {
        return '<div class="mq-pop"><h3>' + mq.esc(gapPlace(p)) + '</h3><p class="mq-pop-note">服务缺口 第' + mq.esc(p.rank) +
          "位：" + mq.esc(measureName("network", null)) + "不可达的居民聚集处</p><table class=\"mq-pop-table\">" +
          "<tr><th>户数</th><td>" + mq.num(p.households) + "</td></tr><tr><th>人口</th><td>" + mq.num(p.population) +
          "</td></tr><tr><th>60岁以上</th><td>" + mq.num(p.elderly) + "</td></tr><tr><th>0-14岁</th><td>" + mq.num(p.children) +
          "</td></tr></table></div>";
      }
      function tipText(p) { return mq.esc(gapPlace(p)) + " · " + mq.num(p.population) + " 人"; }
      var geo;
      if (data.gap_tiles) {
        var byId = {}, tip = L.tooltip({ sticky: true, className: "mq-gap-tip" });
        feats.forEach(function (f) {
          var p = f.properties, b = f.bbox;
          var bounds = b ? L.latLngBounds([b[1], b[0]], [b[3], b[2]]) : null;
          var gap = { mqRank: p.rank, mqPlace: gapPlace(p), properties: p,
                      getBounds: function () { return bounds; },
                      openPopup: function (at) {
                        L.popup().setLatLng(at || bounds.getCenter()).setContent(popupHtml(p)).openOn(map);
                      } };
          byRank[p.rank] = gap;
          byId[p.gap_id] = gap;
          if (bounds) gapLayers.push(gap);
        });
        geo = mq.vectorTiles(data.gap_tiles + "&type_code=" + encodeURIComponent(type), "gaps", function () {
          return Object.assign({ fill: true }, style);
        }, { pane: P.gaps, rendererFactory: L.svg.tile, interactive: true,
             getFeatureId: function (f) { return f.properties.gap_id; } });
        geo.on("click", function (e) {
          var gap = byId[e.layer && e.layer.properties && e.layer.properties.gap_id];
          if (gap) gap.openPopup(e.latlng);
        });
        geo.on("mouseover", function (e) {
          var gap = byId[e.layer && e.layer.properties && e.layer.properties.gap_id];
          if (gap) map.openTooltip(tip.setContent(tipText(gap.properties)), e.latlng);
        });
        geo.on("mouseout", function () { map.closeTooltip(tip); });
      } else {
        geo = L.geoJSON({ type: "FeatureCollection", features: feats }, {
          renderer: R.gaps, pane: P.gaps,
          style: style,
          onEachFeature: function (f, layer) {
            var p = f.properties;
            byRank[p.rank] = layer;
            layer.mqRank = p.rank;
            gapLayers.push(layer);
            layer.mqPlace = gapPlace(p);
            layer.bindTooltip(tipText(p), { sticky: true, className: "mq-gap-tip" });
            layer.bindPopup(popupHtml(p));
          }
        });
      }
      layers.gaps.addLayer(geo);
      state.gaps = geo;
      state.gapList = gapLayers;  // largest first: mqRank, mqPlace, getBounds(), openPopup()
      layoutGapLabels();
      var box = mq.$("mq-gaps");
      if (!feats.length) { box.innerHTML = '<p class="mq-empty">该类设施没有服务缺口。</p>'; return; }
      box.innerHTML = '<p class="mq-hint">缺口：按' + named("network", null) + "计，生活圈时间内到不了该类设施的居民聚集处。</p>" +
        table(["位置", "户数", "人口", "老人", "儿童"], feats.slice(0, 10).map(function (f) {
        var p = f.properties;
        return '<tr data-rank="' + mq.esc(p.rank) + '"><td><a href="#">' + mq.esc(gapPlace(p)) + "</a></td><td>" + mq.num(p.households) +
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
    /* Where a gap lies, as the API names it ("鹭田镇 西关社区 兴业路以南"); its rank when unnamed. */
    function gapPlace(p) { return p.place || p.label || [p.town, p.community, p.road].filter(Boolean).join(" ") || "缺口" + p.rank; }
    /* The ten largest gaps get a label from zoom 14, largest first, never over another label. */
    function layoutGapLabels() {
      gapLabels.clearLayers();
      var placed = [];
      // The first (district) view names the five largest gaps; from zoom 14 the ten largest.
      var limit = map.getZoom() >= 14 ? 10 : map.getZoom() >= 12 ? 5 : 0;
      if (limit) {
        var view = map.getBounds();
        gapLayers.slice(0, limit).forEach(function (layer) {
          var c = layer.getBounds().getCenter();
          if (!view.contains(c)) return;
          var p = map.latLngToContainerPoint(c), text = layer.mqPlace || "缺口" + layer.mqRank;
          var w = 13 * text.length + 14, box = [p.x - w / 2, p.y - 12, p.x + w / 2, p.y + 12];
          var hit = placed.some(function (b) { return box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3]; });
          if (hit) return;
          placed.push(box);
          gapLabels.addLayer(L.marker(c, { pane: P.labels, interactive: false, keyboard: false,
            icon: L.divIcon({ className: "mq-gap-label", html: "<span>" + mq.esc(text) + "</span>", iconSize: null }) }));
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
        "</table>" + explain + '<p class="mq-pop-note">服务范围：以此设施为最近、且在生活圈时间内能走到的居民。</p>' + facilityActions(p) + "</div>";
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
            radius: Math.max(5, Math.min(22, 4 + Math.sqrt(pop) / 6)), color: "#fff", weight: 1.5, bubblingMouseEvents: false,
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
          }).bindPopup('<div class="mq-pop"><h3>' + mq.esc(p.name || "") + "</h3><p>" + named("network", null) + " " + mq.pct(r.before_share) + " → <b>" +
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
            mq.esc(types[type] ? types[type].name : type) + " 可达居民（前→后）</span></div>" +
            "<div><b>" + mq.pct(total ? before / total : null) + " → " + mq.pct(total ? after / total : null) + "</b><span>" + named("network", null) + "（前→后）</span></div>" +
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
      state.complianceById = byId;
      if (lastAreas && measureSel.value === "status") drawAreas(lastAreas.res, lastAreas.circle);
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
          layer.bindTooltip(mq.esc(r.name) + (r.pass ? " · 达标" : " · " + mq.esc(wordSummary(r) || "未达标")), { sticky: true });
          layer.bindPopup(function () { return compliancePopup(r); }, { maxWidth: mq.popupWidth(380), minWidth: mq.popupWidth(300) });
        }
      });
      layers.compliance.addLayer(geo);
      state.complianceLayer = geo;
      state.compliance = { communities: rows.length, polygons: drawn };
      if (!rows.length) { mq.$("mq-compliance").innerHTML = '<p class="mq-empty">暂无达标数据。</p>'; return; }
      var passed = rows.filter(function (r) { return r.pass; }).length;
      mq.$("mq-compliance").innerHTML = '<p class="mq-hint">' + passed + " / " + rows.length + " 个村(社区)全部层级达标。</p>" +
        table(["村(社区)", "达标层级", "问题"], rows.map(function (r) {
          var tiers = r.tiers || [], ok = tiers.filter(function (t) { return t.pass; }).length;
          var problems = wordGroups(r, null);
          return '<tr data-area="' + mq.esc(r.area_id) + '"><td><a href="#">' + mq.esc(r.name) + "</a></td><td class=\"" + (r.pass ? "mq-ok" : "mq-bad") + "\">" +
            ok + "/" + tiers.length + "</td><td>" + (problems.length ? problems.map(function (g) {
              return statusHtml(g.word) + " " + mq.esc(g.names.join("、"));
            }).join("<br>") : mq.esc(tiers.filter(function (t) { return !t.pass; }).map(function (t) { return t.tier_label; }).join("、") || "—")) + "</td></tr>";
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

    /* A community's failing types grouped by the word that says what is wrong (未设置, 步行可达不足, 容量不足),
     * within one tier's types (``codes``) or all of them. */
    function wordGroups(r, codes) {
      var byWord = {}, order = [];
      Object.keys(r.status || {}).forEach(function (code) {
        var w = r.status[code];
        if (!w || w === "达标" || (codes && codes.indexOf(code) < 0)) return;
        if (!byWord[w]) { byWord[w] = []; order.push(w); }
        byWord[w].push(types[code] ? types[code].name : code);
      });
      var rank = {};
      data.status_classes.forEach(function (c, i) { rank[c.word] = -i; });
      order.sort(function (a, b) { return (rank[canonical(a)] || 0) - (rank[canonical(b)] || 0); });
      return order.map(function (w) { return { word: w, names: byWord[w] }; });
    }
    function wordSummary(r) {
      return wordGroups(r, null).map(function (g) { return g.word + " " + g.names.length + " 类"; }).join("，");
    }
    function compliancePopup(r) {
      var circle = r.circle === "rural" ? "rural" : "urban";
      var rows = (r.tiers || []).map(function (t) {
        var missing = t.missing_codes || [];
        var tierCodes = data.types.filter(function (ty) {
          return ty.required && (circle === "urban" ? ty.urban_tier : ty.rural_tier) === t.tier;
        }).map(function (ty) { return ty.code; });
        var present = tierCodes.filter(function (code) {
          return missing.indexOf(code) < 0 && !(r.status && r.status[code] && r.status[code] !== "达标");
        }).map(function (code) { return types[code].name; });
        var groups = wordGroups(r, tierCodes.concat(missing));
        var problems = groups.length ? groups.map(function (g) { return statusHtml(g.word) + " " + mq.esc(g.names.join("、")); }).join("<br>") :
          (missing.length ? '<span class="mq-bad">缺少：</span>' + mq.esc(t.missing || missing.map(function (m) { return types[m] ? types[m].name : m; }).join("、")) : "");
        return "<tr><th>" + mq.esc(t.tier_label) + '</th><td><span class="' + (t.pass ? "mq-ok" : "mq-bad") + '">' + (t.pass ? "达标" : "未达标") +
          "</span> " + t.within + "/" + t.required + "<br>" +
          (present.length ? statusHtml("达标") + " " + mq.esc(present.join("、")) + "<br>" : "") + problems + "</td></tr>";
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
      box.innerHTML = '<h3 class="mq-sub">区级目标</h3><ul class="mq-targets">' + targets.map(function (t, i) {
        var circle = t.circle === "rural" ? "rural" : t.circle === "urban" ? "urban" : null;
        var measure = t.measure_zh ? '<span class="mq-measure" title="' + mq.esc(t.definition_zh || measureDef(t.measure)) + '">' + mq.esc(t.measure_zh) + "</span>" :
          (data.measures[t.measure] ? named(t.measure, circle) : "");
        return '<li class="' + (t.pass ? "mq-target-pass" : "mq-target-fail") + '"><span class="mq-target-mark">' + (t.pass ? "✔" : "✘") + "</span>" +
          '<span class="mq-target-label">' + mq.esc(t.label_zh) + (measure ? '<br><span class="mq-muted">口径：' + measure +
          (t.measure === "composite" ? "（全部应配建设施均可达的居民比例）" : "") + "</span>" : "") +
          (t.measure === "composite" ? '<br><span class="mq-limiting" data-target="' + i + '"></span>' : "") +
          '</span><span class="mq-target-value">' + mq.pct(t.value) + " / " + mq.pct(t.threshold) + "</span></li>";
      }).join("") + "</ul>";
      state.targets = targets.length;
      if (targets.some(function (t) { return t.measure === "composite"; })) limitingTypes(targets);
    }

    /* The composite's limiting types: the run's own ranking per circle (required types by the residents of
     * the circle who do not reach them); a run without it: the district's residents per required type from
     * the areas route (network measure). */
    function limitingTypes(targets) {
      return Promise.all([mq.fetchJSON("/coverage/runs/" + run.run_id), mq.fetchJSON("/coverage/runs/" + run.run_id + "/areas?level=district" + SIMPLIFY)])
        .then(function (res) {
          var summary = (res[0] && res[0].summary && res[0].summary.composite) || {};
          var p = (featuresOf(res[1])[0] || {}).properties || {};
          var out = {};
          targets.forEach(function (t, i) {
            if (t.measure !== "composite") return;
            var circle = t.circle === "rural" ? "rural" : "urban", ranked;
            if (summary[circle] && Array.isArray(summary[circle].limiting)) {
              ranked = summary[circle].limiting.map(function (x) {
                return { code: x.type_code, name: x.name_zh || (types[x.type_code] || {}).name || x.type_code, uncovered: x.population_missing };
              });
            } else {
              ranked = data.types.filter(function (ty) {
                return ty.required && (circle === "rural" ? ty.rural_tier : ty.urban_tier) && typeof p[ty.code + "__covered"] === "number";
              }).map(function (ty) { return { code: ty.code, name: ty.name, uncovered: (p.population || 0) - p[ty.code + "__covered"] }; })
                .filter(function (x) { return x.uncovered > 0; })
                .sort(function (a, b) { return b.uncovered - a.uncovered; });
            }
            ranked = ranked.slice(0, 3);
            out[i] = ranked;
            var el = document.querySelector('.mq-limiting[data-target="' + i + '"]');
            if (el) {
              el.textContent = ranked.length ? "最常缺的是：" + ranked.map(function (x) {
                return x.name + "（" + mq.num(x.uncovered) + " 人不可达）";
              }).join("、") : "各应配建设施均无不可达居民。";
            }
          });
          state.limiting = out;
        }, function () { state.limiting = {}; });
    }

    /* ----- siting from the map: type, number of sites or a target share, candidates → named sites ----- */
    var siteType = mq.$("mq-site-type"), siteMode = mq.$("mq-site-mode"), siteCand = mq.$("mq-site-cand");
    var siteFile = mq.$("mq-site-file"), siteStatus = mq.$("mq-site-status"), siteBox = mq.$("mq-site-result");
    var siteRun = mq.$("mq-site-run");
    var tiered = data.types.filter(function (t) { return t.urban_tier || t.rural_tier; });
    function typeOptions(list, selected) {
      return list.map(function (t) {
        return '<option value="' + mq.esc(t.code) + '"' + (t.code === selected ? " selected" : "") + ">" + mq.esc(t.name) + "</option>";
      }).join("");
    }
    siteType.innerHTML = typeOptions(tiered, typeSel.value);
    typeSel.addEventListener("change", function () { if (types[typeSel.value]) siteType.value = typeSel.value; });
    function siteForm() {
      var byK = siteMode.value === "k", upload = siteCand.value === "upload";
      mq.$("mq-site-k").hidden = mq.$("mq-site-k-label").hidden = !byK;
      mq.$("mq-site-target").hidden = mq.$("mq-site-target-label").hidden = byK;
      siteFile.hidden = mq.$("mq-site-file-label").hidden = !upload;
    }
    siteMode.addEventListener("change", siteForm);
    siteCand.addEventListener("change", siteForm);
    siteForm();

    function sitingBody() {
      var body = { type_code: siteType.value, k: null, target: null, candidates: { kind: siteCand.value } };
      if (siteMode.value === "k") {
        var k = parseInt(mq.$("mq-site-k").value, 10);
        if (!(k >= 1 && k <= 200)) return Promise.reject(new Error("新增处数应为 1 至 200 的整数"));
        body.k = k;
      } else {
        var t = Number(mq.$("mq-site-target").value);
        if (!(t > 0 && t <= 100)) return Promise.reject(new Error("目标覆盖率应在 1% 至 100% 之间"));
        body.target = t / 100;
      }
      if (mq.$("mq-site-one").checked) body.one_per_community = true;
      var cap = mq.$("mq-site-cap").value;
      if (cap !== "") {
        if (!(Number(cap) > 0)) return Promise.reject(new Error("每处容量应为正数，或留空按标准默认"));
        body.capacity = Number(cap);
      }
      if (siteCand.value !== "upload") return Promise.resolve(body);
      var file = siteFile.files && siteFile.files[0];
      if (!file) return Promise.reject(new Error("请选择要上传的地块清单文件（CSV 或 GeoJSON）"));
      return file.text().then(function (text) {
        body.candidates = { kind: "upload", format: /\.csv$/i.test(file.name) ? "csv" : "geojson", content: text, crs: "wgs84" };
        return body;
      });
    }

    var siteSeq = 0;
    siteRun.addEventListener("click", function () {
      var mine = ++siteSeq;
      sitingBody().then(function (body) {
        siteRun.disabled = true;
        layers.siting.clearLayers();
        siteBox.innerHTML = "";
        siteProgress("已提交", 0);
        state.siting = { running: true };
        return mq.fetchJSON("/siting", { method: "POST", headers: { Accept: "application/json", "Content-Type": "application/json" },
                                         body: JSON.stringify(body) }).then(function (job) { pollSiting(job.job_id, mine, Date.now()); });
      }).catch(function (err) {
        siteRun.disabled = false;
        mq.status(siteStatus, err.message, "error");
        state.siting = { error: err.message };
      });
    });
    function siteProgress(what, seconds) {
      siteStatus.className = "mq-status mq-status-busy";
      siteStatus.innerHTML = '<progress class="mq-progress"></progress> 正在选址：' + mq.esc(what) + (seconds ? "，已用 " + seconds + " 秒" : "") + "…";
    }
    function pollSiting(id, mine, started) {
      mq.fetchJSON("/siting/jobs/" + encodeURIComponent(id)).then(function (job) {
        if (mine !== siteSeq) return;
        if (job.status === "done") { siteRun.disabled = false; mq.status(siteStatus, ""); drawSites(job); return; }
        if (job.status === "failed") {
          siteRun.disabled = false;
          var msg = mq.zhMessage(job.error, 422);
          mq.status(siteStatus, "选址失败：" + msg, "error");
          state.siting = { error: msg, job: id };
          return;
        }
        siteProgress(job.status === "queued" ? "排队中" : "求解中", Math.round((Date.now() - started) / 1000));
        setTimeout(function () { pollSiting(id, mine, started); }, 1000);
      }, function (err) {
        siteRun.disabled = false;
        mq.status(siteStatus, err.message, "error");
        state.siting = { error: err.message, job: id };
      });
    }

    /* A site's name: where it lies ("鹭田镇 西关社区 兴业路以南"), after the parcel's or building's own name. */
    function sitePlace(p) {
      var place = p.place || "";
      if (p.name && p.name !== place) return place ? p.name + "（" + place + "）" : p.name;
      return place || "拟建设施 " + p.rank;
    }
    function drawSites(job) {
      var res = job.result || {}, key = job.params && job.params.target !== null && job.params.target !== undefined && res.set_covering ?
        "set_covering" : "maximal_covering";
      var plan = res[key];
      layers.siting.clearLayers();
      if (!plan) { siteBox.innerHTML = '<p class="mq-empty">没有可用的选址结果。</p>'; state.siting = { job: job.job_id, sites: 0 }; return; }
      var feats = featuresOf(plan.sites), who = (res.users && res.users.label) || "居民", unit = (res.capacity && res.capacity.unit) || "";
      unit = unit.split(" ")[0];
      function sitePopup(p) {
        return '<div class="mq-pop"><h3>' + mq.esc(sitePlace(p)) + '</h3><p class="mq-pop-note">拟建' + mq.esc(res.type_name || "") + " 第 " +
          mq.esc(p.rank) + ' 处</p><table class="mq-pop-table">' +
          "<tr><th>设计容量</th><td>" + mq.num(p.capacity) + " " + mq.esc(unit) + "（可服务 " + mq.num(p.capacity_users) + " 名" + mq.esc(who) + "）</td></tr>" +
          "<tr><th>新增服务" + mq.esc(who) + "</th><td><b>" + mq.num(p.users_served) + "</b> / 容量 " + mq.num(p.capacity_users) + "</td></tr>" +
          "<tr><th>可达" + mq.esc(who) + "</th><td>" + mq.num(p.users_reached) + "（" + named("network", p.circle === "rural" ? "rural" : "urban") + "）</td></tr>" +
          "<tr><th>新增可达居民</th><td>" + mq.num(p.population_gained) + " 人</td></tr></table></div>";
      }
      L.geoJSON(plan.sites, {
        renderer: R.scenario, pane: P.scenario,
        style: { color: "#00695c", weight: 2, opacity: 0.9, dashArray: "5 4", fillColor: "#4db6ac", fillOpacity: 0.18 },
        onEachFeature: function (f, layer) { layer.bindPopup(sitePopup(f.properties)); }
      }).addTo(layers.siting);
      var marks = {};
      feats.forEach(function (f) {
        var p = f.properties;
        if (typeof p.lat !== "number" || typeof p.lon !== "number") return;
        var m = L.marker([p.lat, p.lon], {
          icon: L.divIcon({ className: "mq-change-wrap", html: '<span class="mq-change mq-change-site">' + mq.esc(p.rank) + "</span>", iconSize: [26, 26] }),
          title: sitePlace(p), zIndexOffset: 600
        }).bindPopup(sitePopup(p));
        if (feats.length <= 12) m.bindTooltip(mq.esc(sitePlace(p)), { permanent: true, direction: "right", offset: [12, 0], className: "mq-site-label" });
        m.addTo(layers.siting);
        marks[p.rank] = m;
      });
      var u = plan.users || {}, r = plan.residents || {}, cm = plan.communities || null;
      var presence = cm ? ["urban", "rural"].filter(function (c) { return cm[c] && cm[c].total; }).map(function (c) {
        return "<div><b>" + mq.num(cm[c].before) + " → " + mq.num(cm[c].after) + " / " + mq.num(cm[c].total) + "</b><span>" +
          named("presence", c) + "（" + CIRCLE_ZH[c] + "社区，" + mq.pct(cm[c].share_before) + " → " + mq.pct(cm[c].share_after) + "）</span></div>";
      }).join("") : "";
      var exact = plan.method === "exact" && !plan.gap;
      siteBox.innerHTML = '<div class="mq-kpis mq-kpis-2">' +
        "<div><b>" + mq.num(u.before) + " → " + mq.num(u.after) + "</b><span>服务" + mq.esc(who) + "（计容量，现状→新增后）</span></div>" +
        "<div><b>" + mq.pct(u.share_before) + " → " + mq.pct(u.share_after) + "</b><span>" + named("network", null) + "（" + mq.esc(who) + "）</span></div>" +
        "<div><b>" + mq.num(r.before) + " → " + mq.num(r.after) + "</b><span>可达居民（现状→新增后）</span></div>" +
        presence + "<div><b>" + feats.length + "</b><span>" + (key === "set_covering" ? "达到目标所需处数" + (plan.feasible === false ? "（候选点不足以达到目标）" : "") : "新增处数") + "</span></div></div>" +
        '<p class="mq-hint">' + (exact ? "已求得最优解。" : "近似解（" + mq.esc(plan.method === "greedy" ? "贪心算法" : "限时求解") + "），与最优相差不超过 " + mq.pct(plan.gap) + "。") +
        "候选位置 " + mq.num(res.candidates && res.candidates.count) + " 处；每处容量 " + mq.num(res.capacity && res.capacity.per_site) + " " + mq.esc(unit) + "。</p>" +
        table(["序号", "位置", "服务/容量"], feats.map(function (f) {
          var p = f.properties;
          return '<tr data-site="' + mq.esc(p.rank) + '"><td>' + mq.esc(p.rank) + '</td><td><a href="#">' + mq.esc(sitePlace(p)) + "</a></td><td>" +
            mq.num(p.users_served) + " / " + mq.num(p.capacity_users) + "</td></tr>";
        })) + '<button id="mq-site-save" class="mq-btn mq-btn-small" type="button">保存为方案</button>';
      siteBox.onclick = function (e) {
        var tr = e.target.closest("tr[data-site]"), m = tr && marks[tr.getAttribute("data-site")];
        if (!m) return;
        e.preventDefault();
        mq.viewThen(map, m.getLatLng(), Math.max(map.getZoom(), 15), function () { m.openPopup(); });
      };
      mq.$("mq-site-save").onclick = function () { saveSites(job.job_id, key, res.type_code); };
      if (layers.siting.getBounds().isValid()) {
        map.fitBounds(layers.siting.getBounds(), { maxZoom: 15, paddingTopLeft: [mq.visibleArea(map).left + 40, 60], paddingBottomRight: [60, 60] });
      }
      state.siting = { job: job.job_id, plan: key, sites: feats.length, names: feats.map(function (f) { return sitePlace(f.properties); }),
                       markers: Object.keys(marks).length, before: u.before, after: u.after };
    }
    function saveSites(jobId, key, type) {
      var button = mq.$("mq-site-save");
      button.disabled = true;
      mq.status(siteStatus, "正在保存并评估方案…", "busy");
      mq.fetchJSON("/siting/jobs/" + encodeURIComponent(jobId) + "/scenario", {
        method: "POST", headers: { Accept: "application/json", "Content-Type": "application/json" },
        body: JSON.stringify({ plan: key, evaluate: true })
      }).then(function (sc) {
        mq.status(siteStatus, "已保存为方案“" + sc.name + "”。");
        state.siting = Object.assign({}, state.siting, { saved: sc.scenario_id });
        showScenario(sc, type);
      }, function (err) { button.disabled = false; mq.status(siteStatus, err.message, "error"); });
    }
    /* A new scenario joins the list, is selected and drawn with the overlay, for its facility type. */
    function showScenario(sc, type) {
      var o = document.createElement("option");
      o.value = sc.scenario_id;
      o.textContent = sc.name + (sc.evaluated_at || sc.result ? "" : "（未评估）");
      scenarioSel.appendChild(o);
      scenarioSel.value = String(sc.scenario_id);
      state.scenarioId = String(sc.scenario_id);
      if (type && typeSel.value !== type) {
        if (![].some.call(typeSel.options, function (opt) { return opt.value === type; })) { circleSel.value = "all"; fillTypes(); fillMeasures(); }
        typeSel.value = type;
        load();
      } else {
        loadScenario(state.scenarioId);
      }
    }

    /* ----- scenarios edited on the map: click to add; click a facility to close, move, retype or resize ----- */
    var editBox = mq.$("mq-edit-box"), editStart = mq.$("mq-edit-start"), editList = mq.$("mq-edit-list");
    var editStatus = mq.$("mq-edit-status"), editSave = mq.$("mq-edit-save");
    var draft = [], pendingMove = null;
    state.editing = false;
    function setEditing(on) {
      state.editing = on;
      editBox.hidden = !on;
      editStart.hidden = on;
      map.getContainer().classList.toggle("mq-editing", on);
      if (!on) { draft = []; pendingMove = null; drawDraft(); map.closePopup(); }
      else mq.status(editStatus, "点击地图空白处新增设施，或点击现有设施修改。");
    }
    editStart.addEventListener("click", function () { setEditing(true); });
    mq.$("mq-edit-cancel").addEventListener("click", function () { setEditing(false); });
    function facilityOf(id) {
      var m = state.facilityMarkers && state.facilityMarkers[id];
      return m ? { props: m.feature.properties, latlng: m.getLatLng() } : null;
    }
    function describe(c) {
      var f = c.facility_id ? facilityOf(c.facility_id) : null, fname = c.facility_name || (f && f.props.name) || "设施";
      if (c.op === "add") return "新增" + (types[c.type_code] ? types[c.type_code].name : c.type_code) + "：" + (c.name || "") +
        (c.capacity ? "（容量 " + mq.num(c.capacity) + "）" : "");
      if (c.op === "close") return "关闭：" + fname;
      if (c.op === "move") return "迁址：" + fname;
      var parts = [];
      if (c.type_code) parts.push("改为" + (types[c.type_code] ? types[c.type_code].name : c.type_code));
      if (c.capacity) parts.push("容量改为 " + mq.num(c.capacity));
      return fname + "：" + parts.join("，");
    }
    function drawDraft() {
      layers.draft.clearLayers();
      draft.forEach(function (c, i) {
        var kind = CHANGE[c.op] || CHANGE.change, at = c.lat !== undefined ? L.latLng(c.lat, c.lon) : c.at;
        if (c.op === "move" && c.from) {
          L.polyline([c.from, at], { color: "#37474f", weight: 2, dashArray: "4 4", interactive: false }).addTo(layers.draft);
        }
        var movable = c.op === "add" || c.op === "move";  // a new or moved facility can be dragged to its place
        var mark = L.marker(at, { icon: L.divIcon({ className: "mq-change-wrap", html: '<span class="mq-change mq-change-' + mq.esc(c.op) + ' mq-draft">' + kind.glyph + "</span>",
                                                    iconSize: [26, 26] }), title: describe(c), zIndexOffset: 700, draggable: movable })
          .bindTooltip(mq.esc(describe(c) + (movable ? "（可拖动调整位置）" : "")));
        if (movable) mark.on("dragend", function () { var ll = mark.getLatLng(); c.lon = round6(ll.lng); c.lat = round6(ll.lat); drawDraft(); });
        mark.addTo(layers.draft).mqDraft = i;
      });
      editList.innerHTML = draft.map(function (c, i) {
        var kind = CHANGE[c.op] || CHANGE.change;
        return '<li><span class="mq-change mq-change-' + mq.esc(c.op) + '">' + kind.glyph + "</span>" + mq.esc(describe(c)) +
          ' <button class="mq-btn mq-btn-ghost mq-btn-small" type="button" data-remove="' + i + '">删除</button></li>';
      }).join("");
      editSave.disabled = !draft.length;
      state.draft = draft.map(function (c) { return payload(c); });
    }
    editList.addEventListener("click", function (e) {
      var b = e.target.closest("button[data-remove]");
      if (!b) return;
      draft.splice(Number(b.getAttribute("data-remove")), 1);
      drawDraft();
    });
    function payload(c) {
      var out = {};
      ["op", "facility_id", "type_code", "lon", "lat", "name", "capacity"].forEach(function (k) {
        if (c[k] !== undefined && c[k] !== null && c[k] !== "") out[k] = c[k];
      });
      return out;
    }
    function round6(x) { return Math.round(x * 1e6) / 1e6; }
    function positive(value) { var n = Number(value); return value !== "" && n > 0 ? n : null; }

    map.on("click", function (e) {
      if (!state.editing) return;
      if (pendingMove) {
        var f = pendingMove;
        pendingMove = null;
        draft.push({ op: "move", facility_id: f.id, facility_name: f.name, from: f.latlng, lon: round6(e.latlng.lng), lat: round6(e.latlng.lat) });
        drawDraft();
        mq.status(editStatus, "已记录迁址。");
        return;
      }
      addForm(e.latlng);
    });
    function addForm(latlng) {
      var type = typeSel.value;
      var html = '<div class="mq-pop mq-edit-form"><h3>在此新增设施</h3><div class="mq-form">' +
        '<label for="mq-add-type">类型</label><select id="mq-add-type">' + typeOptions(tiered, type) + "</select>" +
        '<label for="mq-add-name">名称</label><input id="mq-add-name" type="text" maxlength="200" value="' + mq.esc("拟建" + (types[type] ? types[type].name : "")) + '">' +
        '<label for="mq-add-cap">容量</label><input id="mq-add-cap" type="number" min="1" step="1" placeholder="按标准默认">' +
        '</div><button id="mq-add-ok" class="mq-btn mq-btn-primary mq-btn-small" type="button">添加</button></div>';
      var popup = L.popup({ maxWidth: mq.popupWidth(300) }).setLatLng(latlng).setContent(html).openOn(map);
      var el = popup.getElement();
      el.querySelector("#mq-add-ok").onclick = function () {
        var t = el.querySelector("#mq-add-type").value;
        draft.push({ op: "add", type_code: t, lon: round6(latlng.lng), lat: round6(latlng.lat),
                     name: el.querySelector("#mq-add-name").value.trim() || "拟建" + (types[t] ? types[t].name : ""),
                     capacity: positive(el.querySelector("#mq-add-cap").value) });
        map.closePopup(popup);
        drawDraft();
        mq.status(editStatus, "已添加；可继续点击地图，或保存并评估。");
      };
    }
    /* In editing, a facility's popup offers the changes; the buttons are bound when it opens. */
    function facilityActions(p) {
      if (!state.editing) return "";
      var t = types[p.type_code || typeSel.value] || {};
      return '<div class="mq-edit-actions" data-fid="' + mq.esc(p.facility_id) + '"><p class="mq-pop-note">修改此设施（加入方案）：</p>' +
        '<button class="mq-btn mq-btn-small" type="button" data-edit="close">关闭</button> ' +
        '<button class="mq-btn mq-btn-small" type="button" data-edit="move">迁址（再点击新位置）</button>' +
        '<div class="mq-form"><label for="mq-chg-type">改类型</label><select id="mq-chg-type">' + typeOptions(tiered, t.code) + "</select>" +
        '<label for="mq-chg-cap">改容量</label><input id="mq-chg-cap" type="number" min="1" step="1" value="' + mq.esc(p.capacity || "") + '"></div>' +
        '<button class="mq-btn mq-btn-small" type="button" data-edit="change">改类型或容量</button></div>';
    }
    map.on("popupopen", function (e) {
      var box = e.popup.getElement().querySelector(".mq-edit-actions");
      if (!box) return;
      var id = Number(box.getAttribute("data-fid")), f = facilityOf(id);
      if (!f) return;
      var base = { facility_id: id, facility_name: f.props.name, at: f.latlng };
      [].forEach.call(box.querySelectorAll("button[data-edit]"), function (b) {
        b.onclick = function () {
          var op = b.getAttribute("data-edit");
          map.closePopup();
          if (op === "move") {
            pendingMove = { id: id, name: f.props.name, latlng: f.latlng };
            mq.status(editStatus, "请在地图上点击“" + (f.props.name || "") + "”的新位置。", "busy");
            return;
          }
          if (op === "close") { draft.push(Object.assign({ op: "close" }, base)); drawDraft(); return; }
          var t = box.querySelector("#mq-chg-type").value, cap = positive(box.querySelector("#mq-chg-cap").value);
          var c = Object.assign({ op: "change" }, base);
          if (t !== (f.props.type_code || typeSel.value)) c.type_code = t;
          if (cap !== null && cap !== f.props.capacity) c.capacity = cap;
          if (!c.type_code && !c.capacity) { mq.status(editStatus, "类型和容量都没有改变。", "error"); return; }
          draft.push(c);
          drawDraft();
        };
      });
    });
    editSave.addEventListener("click", function () {
      var name = mq.$("mq-edit-name").value.trim();
      if (!name) { mq.status(editStatus, "请填写方案名称。", "error"); return; }
      var changes = draft.map(payload), counts = {};
      draft.forEach(function (c) { counts[c.op] = (counts[c.op] || 0) + 1; });
      var description = "在地图上编辑：" + Object.keys(counts).map(function (op) { return (CHANGE[op] || CHANGE.change).label + " " + counts[op] + " 处"; }).join("，");
      editSave.disabled = true;
      mq.status(editStatus, "正在保存并评估方案…", "busy");
      var type = typeSel.value;
      mq.fetchJSON("/scenarios", { method: "POST", headers: { Accept: "application/json", "Content-Type": "application/json" },
                                   body: JSON.stringify({ name: name, description: description, changes: changes, evaluate: true }) })
        .then(function (sc) {
          setEditing(false);
          state.edited = { scenario: sc.scenario_id, changes: changes };
          showScenario(sc, type);
        }, function (err) { editSave.disabled = false; mq.status(editStatus, err.message, "error"); });
    });

    typeSel.addEventListener("change", load);
    levelSel.addEventListener("change", load);
    circleSel.addEventListener("change", function () { fillTypes(); fillMeasures(); load(); });
    measureSel.addEventListener("change", function () {
      if (!lastAreas) return;
      drawAreas(lastAreas.res, lastAreas.circle);
      if (state.loaded) state.loaded = Object.assign({}, state.loaded, { measure: measureSel.value });
    });
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
