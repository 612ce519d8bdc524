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
      "<tr><th>批准文件</th><td>" + mq.esc(mq.or(n.approval, "暂无")) + "</td></tr>" +
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

  mq.placenames = function (map, layers, data) {
    mq.chrome(map, data);
    var state = mq.state;
    state.map = map;
    state.layers = layers;
    var colors = {};
    data.results.forEach(function (r) { colors[r.code] = r; });
    var order = data.results.map(function (r) { return r.code; });
    // One pane (and canvas) per result, the most serious on top: flagged names are never hidden under
    // the many green 规范 dots. Lines and polygons of named features lie under every dot.
    var renderers = {};
    var shapePane = map.createPane("mq-pn-shapes");
    shapePane.style.zIndex = 401;
    var shapeRenderer = L.canvas({ pane: "mq-pn-shapes", padding: 0.3 });
    order.slice().reverse().forEach(function (code, i) {
      var pane = map.createPane("mq-pn-" + code);
      pane.style.zIndex = 402 + i;
      renderers[code] = L.canvas({ pane: "mq-pn-" + code, padding: 0.3, tolerance: 4 });
    });
    var heritagePane = map.createPane("mq-pn-heritage");
    heritagePane.style.zIndex = 402 + order.length;
    heritagePane.style.pointerEvents = "none";
    var heritageRenderer = L.canvas({ pane: "mq-pn-heritage", padding: 0.3 });
    state.panes = order;
    var byId = {};

    L.geoJSON(data.shapes, {
      renderer: shapeRenderer, interactive: false,
      style: function (f) {
        var c = colors[f.properties.r].color;
        return { color: c, weight: 2, opacity: 0.5, fillColor: c, fillOpacity: 0.05 };
      },
      onEachFeature: function (f, layer) { layers["r_" + f.properties.r].addLayer(layer); }
    });

    data.names.forEach(function (n) {
      var c = colors[n.result].color;
      var quiet = n.result === "ok" || n.result === "historical";
      var m = L.circleMarker([n.lat, n.lon], {
        renderer: renderers[n.result], radius: quiet ? 4.5 : 7, color: "#fff", weight: quiet ? 1 : 1.8,
        fillColor: c, fillOpacity: 0.95, pane: "mq-pn-" + n.result
      });
      m.bindTooltip(mq.esc(n.name), { direction: "top", offset: [0, -6] });
      m.bindPopup(function () { return popupHtml(n, colors); }, { maxWidth: mq.popupWidth(340), minWidth: mq.popupWidth(260) });
      m.mqName = n;
      layers["r_" + n.result].addLayer(m);
      byId[n.id] = m;
      if (n.heritage) {
        layers.heritage.addLayer(L.circleMarker([n.lat, n.lon], {
          renderer: heritageRenderer, pane: "mq-pn-heritage", radius: 11, color: "#c9a227", weight: 3, fill: false,
          interactive: false
        }));
      }
    });
    state.names = byId;

    map.on("popupopen", function (e) {
      var box = e.popup.getElement().querySelector("[data-history]");
      if (!box) return;
      var id = box.getAttribute("data-history");
      if (histories[id]) return;
      mq.fetchJSON("/placenames/" + encodeURIComponent(id) + "/history").then(
        function (res) { histories[id] = historyHtml(res); },
        function (err) { histories[id] = '<b>沿革</b><p class="mq-empty mq-history-error">' + mq.esc(err.message) + "</p>"; }
      ).then(function () {
        // update() re-lays the grown popup out and pans it back into view.
        if (e.popup.isOpen()) e.popup.update();
      });
    });

    /* result checkboxes ↔ layers */
    var boxes = document.querySelectorAll("#mq-results input[data-result]");
    Array.prototype.forEach.call(boxes, function (box) {
      var key = box.getAttribute("data-result"), layer = layers[key === "heritage" ? "heritage" : "r_" + key];
      box.addEventListener("change", function () {
        if (box.checked) map.addLayer(layer); else map.removeLayer(layer);
      });
      map.on("overlayadd overlayremove", function (e) { if (e.layer === layer) box.checked = e.type === "overlayadd"; });
    });

    /* a name's popup, opened once the map has stopped moving to it */
    function openName(m) {
      map.closePopup();
      mq.viewThen(map, m.getLatLng(), 16, function () { m.openPopup(); state.opened = m.mqName.id; });
    }

    /* review list: one row per flagged name and result ("澄鹭公路 ×5" cycles through its records),
     * shown PAGE rows at a time with the total */
    var list = mq.$("mq-review"), filter = mq.$("mq-review-filter"), more = mq.$("mq-review-more");
    var rows = [], shown = 0;
    function collect() {
      var want = filter.value, byKey = {};
      rows = [];
      data.names.forEach(function (n) {
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
