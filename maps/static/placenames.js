/* 民情地图 place-name map: names coloured by their rule check, heritage names, sign text
 * (Chinese + pinyin), findings, approval and history (GET /placenames/{id}/history). */
(function () {
  "use strict";
  var mq = window.minqing;
  var ACTION_ZH = { create: "命名", rename: "更名", retire: "销名", update: "变更" };

  function signHtml(sign) {
    return '<div class="mq-sign"><div class="mq-sign-zh">' + mq.esc(sign.chinese) + '</div><div class="mq-sign-py">' +
      mq.esc(sign.pinyin || "（拼音待定）") + "</div></div>";
  }

  var SCOPE_ZH = { country: "全国", province: "省内", county: "县(区)内", city_or_town: "市(镇)内", town: "乡镇内", all: "" };
  /* The rule library writes the legal scope as "scope city_or_town:澄湾区": say it in Chinese. */
  function detailZh(text) {
    return String(text || "").replace(/范围\s*scope\s*(\w+):/g, function (m, k) { return "范围：" + (SCOPE_ZH[k] || "") + " "; });
  }

  function popupHtml(n, colors) {
    var res = colors[n.result];
    var findings = n.findings.length ? '<ul class="mq-findings">' + n.findings.map(function (f) {
      return "<li><b>" + mq.esc(f.reason) + "</b>" + (f.detail ? "：" + mq.esc(detailZh(f.detail)) : "") +
        '<span class="mq-rule">依据：' + mq.esc(f.rule) + "</span></li>";
    }).join("") + "</ul>" : "";
    return '<div class="mq-pop mq-pop-name"><h3>' + mq.esc(n.name) +
      (n.heritage ? ' <span class="mq-tag mq-tag-heritage">历史文化地名</span>' : "") + "</h3>" +
      signHtml(n.sign) +
      '<p class="mq-result" style="color:' + res.color + '">● ' + mq.esc(res.name) +
      (n.sign_missing ? '<span class="mq-tag">缺少地名标志</span>' : "") + "</p>" + findings +
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
    return "<b>沿革</b><ol>" + rows.map(function (h) {
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
    var renderer = L.canvas({ padding: 0.3, tolerance: 4 });
    var byId = {};

    L.geoJSON(data.shapes, {
      renderer: renderer, interactive: false,
      style: function (f) {
        var c = colors[f.properties.r].color;
        return { color: c, weight: 2, opacity: 0.5, fillColor: c, fillOpacity: 0.05 };
      },
      onEachFeature: function (f, layer) { layers["r_" + f.properties.r].addLayer(layer); }
    });

    data.names.forEach(function (n) {
      var c = colors[n.result].color;
      var m = L.circleMarker([n.lat, n.lon], {
        renderer: renderer, radius: n.result === "ok" ? 5 : 7, color: "#fff", weight: 1.5,
        fillColor: c, fillOpacity: 0.95
      });
      m.bindTooltip(mq.esc(n.name), { direction: "top", offset: [0, -6] });
      m.bindPopup(function () { return popupHtml(n, colors); }, { maxWidth: 340, minWidth: 260 });
      m.mqName = n;
      layers["r_" + n.result].addLayer(m);
      byId[n.id] = m;
      if (n.heritage) {
        layers.heritage.addLayer(L.circleMarker([n.lat, n.lon], {
          renderer: renderer, radius: 11, color: "#c9a227", weight: 3, fill: false, interactive: false
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
        function (err) { histories[id] = '<b>沿革</b><p class="mq-empty">' + mq.esc(err.message) + "</p>"; }
      ).then(function () { if (e.popup.isOpen()) e.popup.update(); });
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

    /* review list: one row per flagged name and result ("澄鹭公路 ×5" cycles through its records) */
    var list = mq.$("mq-review"), filter = mq.$("mq-review-filter");
    var order = data.results.map(function (r) { return r.code; });
    var rows = [];
    function fill() {
      var want = filter.value, byKey = {};
      rows = [];
      data.names.forEach(function (n) {
        if (n.result === "ok" || (want && n.result !== want)) return;
        var key = n.result + "|" + n.name;
        if (!byKey[key]) { byKey[key] = { name: n.name, result: n.result, ids: [], reasons: [], next: 0 }; rows.push(byKey[key]); }
        byKey[key].ids.push(n.id);
        n.findings.forEach(function (f) { if (byKey[key].reasons.indexOf(f.reason) < 0) byKey[key].reasons.push(f.reason); });
      });
      rows.sort(function (a, b) { return order.indexOf(a.result) - order.indexOf(b.result) || a.name.localeCompare(b.name, "zh-CN"); });
      list.innerHTML = rows.slice(0, 300).map(function (r, i) {
        return '<li data-id="' + mq.esc(r.ids[0]) + '" data-row="' + i + '"><span class="mq-dot" style="background:' + colors[r.result].color + '"></span>' +
          '<span class="mq-review-name">' + mq.esc(r.name) + "</span>" + (r.ids.length > 1 ? '<span class="mq-count-x">×' + r.ids.length + "</span>" : "") +
          '<span class="mq-review-why">' + mq.esc(r.reasons.join("；") || colors[r.result].name) + "</span></li>";
      }).join("") || '<li class="mq-empty">没有待审核地名。</li>';
    }
    filter.addEventListener("change", fill);
    fill();
    list.addEventListener("click", function (e) {
      var li = e.target.closest("li[data-row]");
      if (!li) return;
      var row = rows[Number(li.getAttribute("data-row"))];
      var m = byId[row.ids[row.next % row.ids.length]];
      row.next += 1;
      if (!m) return;
      map.setView(m.getLatLng(), Math.max(map.getZoom(), 16));
      m.openPopup();
    });

    mq.search(map, { categories: data.placename_categories, onChoose: function (r) {
      var m = byId[r.name_id];
      if (m) { map.closePopup(); setTimeout(function () { m.openPopup(); }, 50); }
    } });
    state.ready = true;
    document.body.classList.add("mq-ready");
  };
})();
