/* 民情地图 place-name map: names coloured by their rule check, heritage names, sign text
 * (Chinese + pinyin), findings, approval and history (GET /placenames/{id}/history). */
(function () {
  "use strict";
  var mq = window.minqing;
  var ACTION_ZH = { create: "命名", rename: "更名", retire: "销名", update: "变更" };
  var FLAG_ORDER = ["重", "大", "洋", "怪"];
  var PAGE = 200;  // review rows added per "显示更多"

  function signHtml(sign) {
    return '<div class="mq-sign"><div class="mq-sign-zh">' + mq.esc(sign.chinese) + '</div><div class="mq-sign-py">' +
      mq.esc(sign.pinyin || "（拼音待定）") + "</div></div>";
  }

  /* The 大/洋/怪/重 flags of a name's findings, in a fixed order. */
  function flagsOf(n) {
    return FLAG_ORDER.filter(function (f) { return n.findings.some(function (x) { return x.flag === f; }); });
  }

  function flagTags(n) {
    return flagsOf(n).map(function (f) { return '<span class="mq-flag mq-flag-' + f.charCodeAt(0) + '">' + f + "</span>"; }).join("");
  }

  function popupHtml(n, colors) {
    var res = colors[n.result];
    var findings = n.findings.length ? '<ul class="mq-findings">' + n.findings.map(function (f) {
      return "<li><b>" + mq.esc(f.reason) + "</b>" + (f.detail ? "：" + mq.esc(f.detail) : "") +
        '<span class="mq-rule">依据：' + mq.esc(f.rule) + "</span></li>";
    }).join("") + "</ul>" : "";
    // The result line names the result once; a missing sign is added only when it is not the result itself.
    return '<div class="mq-pop mq-pop-name"><h3>' + mq.esc(n.name) +
      (n.heritage ? ' <span class="mq-tag mq-tag-heritage">历史文化地名</span>' : "") + "</h3>" +
      signHtml(n.sign) +
      '<p class="mq-result" style="color:' + res.color + '">● ' + mq.esc(res.name) + flagTags(n) +
      (n.sign_missing && n.result !== "missing_sign" ? '<span class="mq-tag">缺少地名标志</span>' : "") + "</p>" + findings +
      '<table class="mq-pop-table">' +
      "<tr><th>类别</th><td>" + mq.esc(n.category_zh) + "</td></tr>" +
      "<tr><th>状态</th><td>" + mq.esc(n.status_zh) + "</td></tr>" +
      "<tr><th>地名标志</th><td>" + (n.sign_present ? "已设置" : "未设置") + "</td></tr>" +
      "<tr><th>批准文件</th><td>" + (n.etag ? mq.esc(mq.or(n.approval, "暂无")) : n.pending ? "待审批" : "正在读取…") + "</td></tr>" +
      (n.meaning ? "<tr><th>含义由来</th><td>" + mq.esc(n.meaning) + "</td></tr>" : "") +
      "</table>" +
      '<div class="mq-history" data-history="' + mq.esc(n.id) + '">' +
      (histories[n.id] || '<b>沿革</b><p class="mq-empty">正在读取…</p>') + "</div></div>";
  }
  var histories = {};  // name id → rendered history (popups are rebuilt from popupHtml on update)

  function historyHtml(res) {
    var rows = Array.isArray(res) ? res : (res && (res.history || res.items)) || [];
    if (!rows.length) return '<b>沿革</b><p class="mq-empty">暂无记录</p>';
    return '<b>沿革</b><ol class="mq-history-list">' + rows.map(function (h) {
      var when = String(h.changed_at || h.at || "").slice(0, 10);
      var what = ACTION_ZH[h.action] || h.action || "";
      var names = h.old_name && h.new_name && h.old_name !== h.new_name ? mq.esc(h.old_name) + " → " + mq.esc(h.new_name) : mq.esc(h.new_name || h.old_name || "");
      return "<li>" + mq.esc(when) + " " + mq.esc(what) + " " + names + (h.approval ? "（" + mq.esc(h.approval) + "）" : "") + "</li>";
    }).join("") + "</ol>";
  }

  /* A request to our own API: resolves to {body, etag}; a refusal rejects with a Chinese message
   * (err.status is the HTTP status). */
  function call(url, options) {
    var o = Object.assign({ credentials: "same-origin" }, options || {});
    o.headers = Object.assign({ Accept: "application/json" }, (options && options.headers) || {});
    return fetch(url, o).then(function (res) {
      return res.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
        if (!res.ok) {
          var e = body && (body.error || body), msg = e && (e.message_zh || e.message || e.detail);
          var err = new Error(mq.zhMessage(typeof msg === "string" ? msg : null, res.status));
          err.status = res.status;
          throw err;
        }
        return { body: body, etag: res.headers.get("ETag") };
      });
    }, function () { throw new Error("网络连接失败，请稍后重试"); });
  }

  /* The registry's current record of a name (GET /placenames/{id}) into the page's copy. */
  function take(n, res) {
    var r = res.body;
    n.etag = res.etag;
    ["name", "category", "status", "heritage", "sign_present", "approval", "meaning"].forEach(function (k) { n[k] = r[k]; });
    n.status_zh = mq.state.statuses[n.status] || n.status;
    n.category_zh = mq.state.categories[n.category] || n.category;
    n.sign = { chinese: r.name, pinyin: r.pinyin || n.sign.pinyin };
  }

  /* The embedded rows (columns + finding kinds, see maps/placenames.py) as name objects. */
  function decode(data) {
    var C = data.names.columns, kinds = data.names.kinds;
    return data.names.rows.map(function (r) {
      var n = {};
      C.forEach(function (k, i) { n[k] = r[i]; });
      n.findings = n.findings.map(function (f) {
        var k = kinds[f[0]];
        return { code: k[0], flag: k[1], reason: k[2], rule: k[3], detail: f[1] };
      });
      n.category_zh = data.placename_categories[n.category] || n.category;
      n.status_zh = data.statuses[n.status] || n.status;
      n.sign = { chinese: n.name, pinyin: n.pinyin };
      return n;
    });
  }

  mq.placenames = function (map, layers, data) {
    mq.chrome(map, data);
    var state = mq.state;
    state.map = map;
    state.layers = layers;
    state.statuses = data.statuses;
    state.categories = data.placename_categories;
    var colors = {};
    data.results.forEach(function (r) { colors[r.code] = r; });
    var order = data.results.map(function (r) { return r.code; });
    var cluster = layers.cluster;
    var heritageOn = true;
    // One pane per result, the most serious on top: flagged names are never hidden under the many green
    // 规范 dots. SVG, not canvas: a click passes through a pane's empty parts to the dots below (only the
    // names the clusters let go are drawn). Lines and polygons of named features lie under every dot.
    var renderers = {};
    var shapePane = map.createPane("mq-pn-shapes");
    shapePane.style.zIndex = 401;
    var shapeRenderer = L.canvas({ pane: "mq-pn-shapes", padding: 0.3 });
    order.slice().reverse().forEach(function (code, i) {
      var pane = map.createPane("mq-pn-" + code);
      pane.style.zIndex = 402 + i;
      renderers[code] = L.svg({ pane: "mq-pn-" + code, padding: 0.3 });
    });
    state.panes = order;
    var byId = {};
    var names = decode(data);
    state.data = names;

    /* A cluster shows its count in the colour of the most serious result inside it. */
    cluster.options.iconCreateFunction = function (c) {
      var worst = order.length - 1;
      c.getAllChildMarkers().forEach(function (m) { if (m.mqRank < worst) worst = m.mqRank; });
      var n = c.getChildCount(), size = n < 10 ? 30 : n < 100 ? 36 : 44;
      return L.divIcon({ className: "mq-cluster-wrap", iconSize: [size, size],
        html: '<div class="mq-cluster mq-pn-cluster" data-result="' + order[worst] + '" style="width:' + size + "px;height:" +
          size + "px;border-color:" + colors[order[worst]].color + '">' + n + "</div>" });
    };

    /* lines and outlines of named features, per result, drawn from data.shapes_zoom on */
    var shapes = {}, shapesBuilt = false, shown = {};
    order.forEach(function (code) { shapes[code] = L.layerGroup(); shown[code] = true; });
    function syncShapes() {
      var near = map.getZoom() >= data.shapes_zoom;
      if (near && !shapesBuilt) {
        shapesBuilt = true;
        L.geoJSON(data.shapes, {
          renderer: shapeRenderer, interactive: false,
          style: function (f) {
            var c = colors[f.properties.r].color;
            return { color: c, weight: 2, opacity: 0.5, fillColor: c, fillOpacity: 0.05 };
          },
          onEachFeature: function (f, layer) { shapes[f.properties.r].addLayer(layer); }
        });
      }
      order.forEach(function (code) {
        var want = near && shown[code];
        if (want && !map.hasLayer(shapes[code])) map.addLayer(shapes[code]);
        if (!want && map.hasLayer(shapes[code])) map.removeLayer(shapes[code]);
      });
    }
    map.on("zoomend", syncShapes);

    function markerStyle(n) {
      var quiet = n.result === "ok" || n.result === "historical";
      var ring = n.heritage && heritageOn;
      return { radius: quiet && !ring ? 4.5 : 7, color: ring ? "#c9a227" : "#fff", weight: ring ? 3 : quiet ? 1 : 1.8,
               fillColor: colors[n.result].color, fillOpacity: 0.95 };
    }
    state.markerStyle = markerStyle;

    // The sub-groups are filled off the map and added back at once: one batch insert into the cluster.
    order.forEach(function (code) { if (map.hasLayer(layers["r_" + code])) map.removeLayer(layers["r_" + code]); });
    names.forEach(function (n) {
      var m = L.circleMarker([n.lat, n.lon], Object.assign(markerStyle(n), {
        renderer: renderers[n.result], pane: "mq-pn-" + n.result
      }));
      m.mqName = n;
      m.mqRank = order.indexOf(n.result);
      layers["r_" + n.result].addLayer(m);
      byId[n.id] = m;
    });
    order.forEach(function (code) { map.addLayer(layers["r_" + code]); });
    state.names = byId;
    // Popups and tooltips are bound when first wanted (the cluster hands on its names' events).
    function withPopup(m) {
      if (!m.getPopup()) {
        m.bindPopup(function () { return popupHtml(m.mqName, colors); },
                    { maxWidth: mq.popupWidth(340), minWidth: mq.popupWidth(260) });
      }
      return m;
    }
    cluster.on("click", function (e) { if (e.layer.mqName && !e.layer.getPopup()) withPopup(e.layer).openPopup(); });
    cluster.on("mouseover", function (e) {
      var m = e.layer;
      if (!m.mqName || m.getTooltip()) return;
      m.bindTooltip(mq.esc(m.mqName.name), { direction: "top", offset: [0, -6] }).openTooltip();
    });
    syncShapes();

    /* an opened popup reads the name's current record (meaning, version) and its history */
    map.on("popupopen", function (e) {
      var box = e.popup.getElement().querySelector("[data-history]");
      if (!box) return;
      var id = box.getAttribute("data-history"), n = byId[id] && byId[id].mqName;
      var reads = [];
      if (n && !n.etag) {
        reads.push(call("/placenames/" + encodeURIComponent(id)).then(function (res) { take(n, res); }, function () {}));
      }
      if (!histories[id]) {
        reads.push(mq.fetchJSON("/placenames/" + encodeURIComponent(id) + "/history").then(
          function (res) { histories[id] = historyHtml(res); },
          function (err) { histories[id] = '<b>沿革</b><p class="mq-empty mq-history-error">' + mq.esc(err.message) + "</p>"; }));
      }
      if (!reads.length) return;
      Promise.all(reads).then(function () {
        // update() re-lays the grown popup out and pans it back into view.
        if (e.popup.isOpen()) e.popup.update();
      });
    });

    /* result checkboxes ↔ the result's names and shapes; 历史文化地名 ↔ the gold ring of heritage names */
    var boxes = document.querySelectorAll("#mq-results input[data-result]");
    Array.prototype.forEach.call(boxes, function (box) {
      var key = box.getAttribute("data-result");
      box.addEventListener("change", function () {
        if (key === "heritage") {
          heritageOn = box.checked;
          names.forEach(function (n) { if (n.heritage) byId[n.id].setStyle(markerStyle(n)); });
          return;
        }
        shown[key] = box.checked;
        if (box.checked) map.addLayer(layers["r_" + key]); else map.removeLayer(layers["r_" + key]);
        syncShapes();
      });
    });

    /* a name's popup, opened once the map has stopped moving to it and the cluster has let it go */
    function openName(m) {
      map.closePopup();
      mq.viewThen(map, m.getLatLng(), cluster.options.disableClusteringAtZoom, function () {
        function open() { withPopup(m).openPopup(); state.opened = m.mqName.id; }
        if (map.hasLayer(m)) open(); else cluster.zoomToShowLayer(m, open);
      });
    }
    state.openName = openName;

    /* review list: one row per flagged name and result ("澄鹭公路 ×5" cycles through its records),
     * shown PAGE rows at a time with the total */
    var list = mq.$("mq-review"), filter = mq.$("mq-review-filter"), more = mq.$("mq-review-more");
    var rows = [], shown = 0;
    function collect() {
      var want = filter.value, byKey = {};
      rows = [];
      names.forEach(function (n) {
        if (n.result === "ok" || n.result === "historical" || (want && n.result !== want)) return;
        var key = n.result + "|" + n.name;
        if (!byKey[key]) { byKey[key] = { name: n.name, result: n.result, ids: [], reasons: [], flags: [], next: 0 }; rows.push(byKey[key]); }
        var row = byKey[key];
        row.ids.push(n.id);
        n.findings.forEach(function (f) { if (row.reasons.indexOf(f.reason) < 0) row.reasons.push(f.reason); });
        flagsOf(n).forEach(function (f) { if (row.flags.indexOf(f) < 0) row.flags.push(f); });
      });
      rows.sort(function (a, b) { return order.indexOf(a.result) - order.indexOf(b.result) || a.name.localeCompare(b.name, "zh-CN"); });
    }
    function rowHtml(r, i) {
      return '<li data-id="' + mq.esc(r.ids[0]) + '" data-row="' + i + '" data-result="' + r.result + '">' +
        '<span class="mq-dot" style="background:' + colors[r.result].color + '"></span>' +
        '<span class="mq-review-name">' + mq.esc(r.name) + "</span>" + (r.ids.length > 1 ? '<span class="mq-count-x">×' + r.ids.length + "</span>" : "") +
        r.flags.map(function (f) { return '<span class="mq-flag mq-flag-' + f.charCodeAt(0) + '">' + f + "</span>"; }).join("") +
        '<span class="mq-review-why">' + mq.esc(r.reasons.join("；") || colors[r.result].name) + "</span></li>";
    }
    function render(count) {
      shown = Math.min(rows.length, count);
      list.innerHTML = rows.slice(0, shown).map(rowHtml).join("") || '<li class="mq-empty">没有待审核地名。</li>';
      var total = rows.length;
      mq.$("mq-review-count").textContent = total ? (shown < total ? "显示前 " + shown + " 条，共 " + total + " 条" : "共 " + total + " 条") : "";
      more.hidden = shown >= total;
      more.textContent = "再显示 " + Math.min(PAGE, total - shown) + " 条";
      state.review = { shown: shown, total: total };
    }
    function fill() { collect(); render(PAGE); list.scrollTop = 0; }
    filter.addEventListener("change", fill);
    more.addEventListener("click", function () { render(shown + PAGE); });
    fill();
    list.addEventListener("click", function (e) {
      var li = e.target.closest("li[data-row]");
      if (!li) return;
      var row = rows[Number(li.getAttribute("data-row"))];
      var m = byId[row.ids[row.next % row.ids.length]];
      row.next += 1;
      if (m) openName(m);
    });

    mq.search(map, { categories: data.placename_categories, onChoose: function (r) {
      var m = byId[r.name_id];
      if (!m) return false;
      openName(m);
      return m;
    } });
    state.ready = true;
    document.body.classList.add("mq-ready");
  };
})();
