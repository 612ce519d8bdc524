/* 民情地图 place-name map: names coloured by their rule check, heritage names, sign text
 * (Chinese + pinyin), findings, approval and history (GET /placenames/{id}/history). */
(function () {
  "use strict";
  var mq = window.minqing;
  var ACTION_ZH = { create: "命名", rename: "更名", retire: "销名", update: "变更" };
  var FLAG_ORDER = ["重", "大", "洋", "怪"];
  var PAGE = 200;  // review rows added per "显示更多"
  var zh = new Intl.Collator("zh-CN").compare;  // one collator: far cheaper than localeCompare per pair

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
      "<tr><th>地名标志</th><td>" + signStatus(n) + "</td></tr>" +
      "<tr><th>批准文件</th><td>" + (n.etag ? mq.esc(mq.or(n.approval, "暂无")) : n.pending ? "待审批" : "正在读取…") + "</td></tr>" +
      (n.meaning ? "<tr><th>含义由来</th><td>" + mq.esc(n.meaning) + "</td></tr>" : "") +
      "</table>" +
      actionsHtml(n) +
      '<div class="mq-history" data-history="' + mq.esc(n.id) + '">' +
      (histories[n.id] || '<b>沿革</b><p class="mq-empty">正在读取…</p>') + "</div></div>";
  }

  /* ---------- the officer's workbench: approve, rename, retire, review decision, sign status ---------- */
  var canEdit = false;  // the panel's workbench exists only for the roles that may change names
  var messages = {};    // name id → [text, kind] of the last action, shown in its popup and in the panel

  function signStatus(n) {
    if (n.status === "historical") return n.sign_present ? "待拆除" : "无（已销名）";
    return n.sign_present ? "已设置" : "待设置";
  }

  function field(name, label, required) {
    return '<label class="mq-wb-field"><span>' + label + '</span><input name="' + name + '" type="text" maxlength="' +
      (name === "note" ? 500 : 200) + '"' + (required ? " required" : "") + "></label>";
  }
  function choice(name, label, options, current) {
    return '<label class="mq-wb-field"><span>' + label + '</span><select name="' + name + '">' + options.map(function (o) {
      return '<option value="' + o[0] + '"' + (String(o[0]) === String(current) ? " selected" : "") + ">" + o[1] + "</option>";
    }).join("") + "</select></label>";
  }
  function form(act, title, body, submit) {
    return '<details class="mq-wb-act"><summary>' + title + '</summary><form data-act="' + act + '">' + body +
      '<button class="mq-btn mq-btn-small mq-btn-primary" type="submit">' + submit + "</button></form></details>";
  }

  function actionsHtml(n) {
    if (!canEdit) return "";
    var msg = messages[n.id];
    var h = '<div class="mq-wb" data-wb="' + mq.esc(n.id) + '"><b>办理</b>' +
      '<p class="mq-wb-msg' + (msg ? " mq-wb-" + msg[1] : "") + '" role="status" aria-live="polite">' + mq.esc(msg ? msg[0] : "") + "</p>";
    if (!n.etag) return h + '<p class="mq-empty">正在读取最新版本…</p></div>';
    var retired = n.status === "historical";
    if (n.heritage && !retired) {
      h += '<p class="mq-wb-heritage">地名文化遗产：更名须附专家论证意见，并慎重论证。</p>';
    }
    if (!retired && (n.pending || n.status === "irregular")) {
      h += form("approve", n.pending ? "批准（待审批 → 标准地名）" : "批准为标准地名", field("approval", "批复文号与日期", true), "批准");
    }
    if (!retired) {
      h += form("rename", n.heritage ? "更名（历史文化地名）" : "更名", field("new_name", "新名称", true) +
        field("approval", "批复文号与日期", true) +
        (n.heritage ? field("heritage_review", "专家论证意见文号与日期", true) : ""), "提交更名");
      h += form("retire", "销名", field("approval", "批复文号与日期", true), "销名");
    }
    if (!retired && n.findings.length) {
      h += form("review", "审核决定", choice("decision", "决定", [["保留", "保留（名称不改）"], ["豁免", "豁免（该规则不适用）"],
        ["整改", "整改（需要更正）"]], "保留") + field("note", "说明（可选）"), "记录决定");
    }
    h += form("sign", "标志状态（当前：" + signStatus(n) + "）", choice("sign_present", "地名标志", [["true", retired ? "仍在原处（待拆除）" : "已设置"],
      ["false", retired ? "已拆除" : "未设置（待设置）"]], n.sign_present), "保存");
    return h + "</div>";
  }

  var CONFLICT = "该地名已被他人修改，页面已重新读取最新内容，请核对后重新提交。";
  var REFUSED = {
    401: "登录已过期，请重新登录后再办理",
    403: "当前账号无权修改地名",
    404: "该地名已不存在",
    409: "该地名当前状态不允许此操作（已销名，或历史文化地名更名缺少专家论证意见）",
    422: "填写内容不符合要求，请检查批复文号、新名称等是否填写完整"
  };
  var DONE = { approve: "已批准为标准地名", rename: "已更名", retire: "已销名", review: "已记录审核决定", sign: "已保存标志状态" };

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
    n.pending = r.approval === "待审批";
  }

  /* The names' rows (columns + finding kinds, see maps/placenames.py name_parts) of one part as name objects. */
  function decode(part, data) {
    var C = part.columns, kinds = part.kinds;
    return part.rows.map(function (r) {
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

  /* Every name: the page's own data block when the names fit in one part, else the parts
     (GET /map-data/placenames/{part}.json) fetched together, in order. */
  function loadNames(data) {
    var block = mq.$("mq-pn-names");
    if (block) return Promise.resolve(decode(JSON.parse(block.textContent), data));
    var reads = [];
    for (var i = 0; i < data.names.parts; i++) {
      reads.push(mq.fetchJSON(data.names.url.replace("{part}", String(i))));
    }
    return Promise.all(reads).then(function (parts) {
      return [].concat.apply([], parts.map(function (part) { return decode(part, data); }));
    });
  }

  mq.placenames = function (map, layers, data) {
    mq.chrome(map, data);
    start(map, layers, data);
  };

  function start(map, layers, data) {
    var state = mq.state;
    state.map = map;
    state.layers = layers;
    state.statuses = data.statuses;
    state.categories = data.placename_categories;
    var colors = {};
    data.results.forEach(function (r) { colors[r.code] = r; });
    var order = data.results.map(function (r) { return r.code; });
    var below = data.names_below || 16;  // map zoom from which the tiles hold every name on its own
    var heritageOn = true;
    // One pane per result, the most serious on top: flagged names are never hidden under the many green
    // 规范 dots. SVG, not canvas: a click passes through a pane's empty parts to the dots below. Lines and
    // polygons of named features lie under every dot.
    var renderers = {};
    var shapePane = map.createPane("mq-pn-shapes");
    shapePane.style.zIndex = 401;
    shapePane.style.pointerEvents = "none";
    order.slice().reverse().forEach(function (code, i) {
      var pane = map.createPane("mq-pn-" + code);
      pane.style.zIndex = 402 + i;
      renderers[code] = L.svg({ pane: "mq-pn-" + code, padding: 0.3 });
    });
    state.panes = order;
    var names = [];     // every name's row (GET /map-data/placenames/{part}.json), once read
    var rowOf = {};     // name id → its row
    var byId = {};      // name id → {mqName: row, marker: its dot on the map now or null}
    var markers = {};   // name id → its dot on the map now
    state.data = names;
    state.names = byId;
    state.markers = markers;
    canEdit = !!mq.$("mq-workbench");
    state.canEdit = canEdit;
    var signRequired = {};
    data.sign_categories.forEach(function (c) { signRequired[c] = true; });
    var showing = {};
    order.forEach(function (code) { showing[code] = true; });

    /* Names are drawn from the clustered place-name tiles (GET /tiles/place_name_clusters/…, made in PostGIS
     * from the stored check results): below zoom ``below`` a bubble per cell of a tile with its count per
     * result, in the colour of the most serious result inside it (a click zooms in), else each name as its
     * dot. The result boxes filter both. */
    function bubble(p, latlng) {
      var n = 0, worst = null;
      order.forEach(function (code) {
        var k = p["n_" + code] || 0;
        if (!k || !showing[code]) return;
        n += k;
        if (worst === null) worst = code;
      });
      if (!n) return null;
      var size = n < 10 ? 30 : n < 100 ? 36 : 44;
      var icon = L.divIcon({ className: "mq-cluster-wrap", iconSize: [size, size],
        html: '<div class="mq-cluster mq-pn-cluster" data-result="' + worst + '" style="width:' + size + "px;height:" +
          size + "px;border-color:" + colors[worst].color + '">' + n + "</div>" });
      var m = L.marker(latlng, { icon: icon, keyboard: false, title: n + " 个地名，点击放大" });
      m.mqCluster = p;
      m.on("click", function () {
        var b = L.latLngBounds([p.south, p.west], [p.north, p.east]);
        var z = Math.max(map.getZoom() + 1, Math.min(map.getBoundsZoom(b.pad(0.3)), below));
        map.setView(b.getCenter(), Math.min(z, map.getMaxZoom()));
      });
      return m;
    }
    function markerStyle(n) {
      var quiet = n.result === "ok" || n.result === "historical";
      var ring = n.heritage && heritageOn;
      return { radius: quiet && !ring ? 4.5 : 7, color: ring ? "#c9a227" : "#fff", weight: ring ? 3 : quiet ? 1 : 1.8,
               fillColor: colors[n.result].color, fillOpacity: 0.95 };
    }
    state.markerStyle = markerStyle;
    function dot(p, latlng, z) {
      var n = rowOf[p.name_id];
      if (!n) return null;  // drawn once the rows are read (popups need them)
      if (!showing[n.result]) return null;
      var m = L.circleMarker(latlng, Object.assign(markerStyle(n), {
        renderer: renderers[n.result], pane: "mq-pn-" + n.result
      }));
      m.mqName = n;
      m.mqZoom = z;
      m.on("click", function () { withPopup(m).openPopup(); });
      m.on("mouseover", function () {
        if (!m.getTooltip()) m.bindTooltip(mq.esc(n.name), { direction: "top", offset: [0, -6] }).openTooltip();
      });
      m.on("remove", function () {
        if (markers[n.id] === m) { delete markers[n.id]; if (byId[n.id]) byId[n.id].marker = null; }
      });
      markers[n.id] = m;
      if (byId[n.id]) byId[n.id].marker = m;
      return m;
    }
    var waiting = {};  // name id → open its popup once its dot is drawn
    function drawn() {
      Object.keys(waiting).forEach(function (id) {
        var m = markers[id];
        if (m && m._map) { var cb = waiting[id]; delete waiting[id]; cb(m); }
      });
    }
    var edits = 0;
    var tiles = mq.pointTiles(data.name_tiles, "place_name_clusters", function (p, latlng, z) {
      return p.count ? bubble(p, latlng) : dot(p, latlng, z);
    }, { drawn: drawn });
    tiles.addTo(map);
    state.nameTiles = tiles;
    /* after an edit: the tiles of the new data version (the URL's ``v`` is the page's: a browser may keep
     * those tiles for a day) */
    function reloadTiles() {
      edits += 1;
      tiles.setUrl(data.name_tiles + (data.name_tiles.indexOf("?") < 0 ? "?" : "&") + "edit=" + edits + "-" + Date.now());
    }

    /* lines and outlines of named features (vector tiles), coloured by their name's result, from data.shapes_zoom
     * on; a result's box hides its shapes too */
    var shapes = mq.vectorTiles(data.shape_tiles, "place_name_shapes", function (p) {
      var n = rowOf[p.name_id], r = n && n.result;
      if (!r || !showing[r]) return [];
      var c = colors[r].color;
      return { color: c, weight: 2, opacity: 0.5, fill: true, fillColor: c, fillOpacity: 0.05 };
    }, { pane: "mq-pn-shapes", minZoom: data.shapes_zoom });
    function syncShapes() {
      var near = map.getZoom() >= data.shapes_zoom;
      if (near && !map.hasLayer(shapes)) map.addLayer(shapes);
      if (!near && map.hasLayer(shapes)) map.removeLayer(shapes);
    }
    function redrawShapes() { if (map.hasLayer(shapes)) shapes.redraw(); }
    map.on("zoomend", syncShapes);
    state.shapes = shapes;

    // Popups and tooltips are bound when first wanted.
    function withPopup(m) {
      if (!m.getPopup()) {
        m.bindPopup(function () { return popupHtml(m.mqName, colors); },
                    { maxWidth: mq.popupWidth(340), minWidth: mq.popupWidth(260) });
      }
      return m;
    }
    syncShapes();

    loadNames(data).then(function (read) {
      read.forEach(function (n) { names.push(n); rowOf[n.id] = n; byId[n.id] = { mqName: n, marker: null }; });
      withNames();
    }, function (err) {
      var status = document.createElement("p");
      status.className = "mq-status mq-status-error";
      status.textContent = "地名读取失败：" + err.message + "，请刷新页面重试。";
      var panel = mq.$("mq-results");
      if (panel) panel.parentNode.insertBefore(status, panel);
      mq.state.error = err.message;
    });

  function withNames() {
    tiles.refresh();
    redrawShapes();

    /* an opened popup reads the name's current record (meaning, version) and its history */
    map.on("popupopen", function (e) {
      var box = e.popup.getElement().querySelector("[data-history]");
      if (!box) return;
      var id = box.getAttribute("data-history"), n = rowOf[id];
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
          Object.keys(markers).forEach(function (id) { markers[id].setStyle(markerStyle(markers[id].mqName)); });
          return;
        }
        showing[key] = box.checked;
        tiles.refresh();
        redrawShapes();
      });
    });

    /* a name's popup: the map goes to it, close enough to draw it alone, and opens it on its dot once drawn;
     * when every tile in view is drawn without it (its result's box is off, the tiles could not be read),
     * on a dot of its own until the popup closes */
    function openName(which) {
      var id = which && which.mqName ? which.mqName.id : which, n = rowOf[id];
      if (!n) return;
      map.closePopup();
      function open(m) {
        delete waiting[id];
        withPopup(m).openPopup();
        state.opened = id;
      }
      mq.viewThen(map, L.latLng(n.lat, n.lon), below, function () {
        waiting[id] = open;
        drawn();
        function settle() {
          if (waiting[id] !== open) return;
          var m = L.circleMarker([n.lat, n.lon], Object.assign(markerStyle(n), {
            renderer: renderers[n.result], pane: "mq-pn-" + n.result
          }));
          m.mqName = n;
          m.on("popupclose", function () { map.removeLayer(m); });
          m.on("remove", function () { if (markers[id] === m) delete markers[id]; });
          markers[id] = m;
          open(m.addTo(map));
        }
        if (tiles._loading) tiles.once("load", settle); else settle();
      });
    }
    state.openName = openName;

    /* after a change: the name's result and marker follow its new state (a retired name is historical;
     * 保留/豁免 clear its findings; the sign decides whether it still lacks one) */
    function refresh(n) {
      n.sign_missing = n.status !== "historical" && !!signRequired[n.category] && !n.sign_present;
      var result = n.status === "historical" ? "historical" : (function () {
        var flagged = n.findings.map(function (f) { return f.flag === "重" ? "duplicate" : f.flag === "other" ? "other" : "dayangguai"; });
        for (var i = 0; i < 3; i++) if (flagged.indexOf(order[i]) >= 0) return order[i];
        return n.sign_missing ? "missing_sign" : "ok";
      })();
      var m = markers[n.id], open = !!(m && m.isPopupOpen());
      var changed = result !== n.result;
      n.result = result;
      if (changed) {
        if (open) map.closePopup();
        tiles.refresh();
        redrawShapes();
        if (open) openName(n.id);
      } else if (m) {
        m.setStyle(markerStyle(n));
        if (open) m.getPopup().update();
      }
      reloadSoon();  // the bubbles' counts of the new data version
    }
    var reloadWanted = false;
    function reloadSoon() {  // not under an open popup: its dot would go with its tile
      if (!(map._popup && map.hasLayer(map._popup))) { reloadTiles(); return; }
      if (reloadWanted) return;
      reloadWanted = true;
      map.once("popupclose", function () { reloadWanted = false; reloadTiles(); });
    }

    function reread(n) {
      return call("/placenames/" + encodeURIComponent(n.id)).then(function (res) { take(n, res); });
    }

    function send(n, act, values) {
      var url = "/placenames/" + encodeURIComponent(n.id), method = "POST", body;
      if (act === "approve") { method = "PATCH"; body = { approval: values.approval, status: "standard" }; }
      if (act === "sign") { method = "PATCH"; body = { sign_present: values.sign_present === "true" }; }
      if (act === "rename") {
        url += "/rename";
        body = { new_name: values.new_name, approval: values.approval };
        if (values.heritage_review) body.heritage_review = values.heritage_review;
      }
      if (act === "retire") { url += "/retire"; body = { approval: values.approval }; }
      if (act === "review") { url += "/review"; body = { decision: values.decision, note: values.note || null }; }
      return call(url, { method: method, body: JSON.stringify(body),
                         headers: { "Content-Type": "application/json", "If-Match": n.etag } });
    }

    function act(n, kind, values) {
      messages[n.id] = ["正在提交…", "busy"];
      show(n);
      return send(n, kind, values).then(function (res) {
        if (kind === "review") {
          if (values.decision !== "整改") n.findings = [];
          return reread(n);
        }
        take(n, res);
      }).then(function () {
        delete histories[n.id];
        messages[n.id] = [DONE[kind] + "（已记入沿革与审计日志）", "ok"];
        state.done = (state.done || 0) + 1;
      }, function (err) {
        if (err.status === 412) {
          messages[n.id] = [CONFLICT, "error"];
          state.conflicts = (state.conflicts || 0) + 1;
          return reread(n).catch(function () {});
        }
        messages[n.id] = [REFUSED[err.status] || err.message, "error"];
      }).then(function () {
        refresh(n);
        show(n);
        if (listed) { fillWork(); refill(); }
        recount();
      });
    }

    /* The legend's counts (per result, heritage, pending approval) and the review filter's follow every
     * action, from the page's copy of the names (the same rules as the server's first count). */
    function recount() {
      var counts = { heritage: 0, pending: 0 };
      order.forEach(function (code) { counts[code] = 0; });
      names.forEach(function (n) {
        counts[n.result] += 1;
        if (n.heritage) counts.heritage += 1;
        if (n.pending && n.status !== "historical") counts.pending += 1;
      });
      Array.prototype.forEach.call(document.querySelectorAll("[data-count]"), function (el) {
        el.textContent = counts[el.getAttribute("data-count")];
      });
      Array.prototype.forEach.call(filter.querySelectorAll("option[data-label]"), function (o) {
        o.textContent = o.getAttribute("data-label") + "（" + counts[o.value] + "）";
      });
      state.counts = counts;
    }

    /* every form of the workbench (popup or panel) submits here */
    document.addEventListener("submit", function (e) {
      var f = e.target.closest && e.target.closest("form[data-act]");
      if (!f) return;
      e.preventDefault();
      var box = f.closest("[data-wb]"), n = box && rowOf[box.getAttribute("data-wb")];
      if (!n) return;
      var values = {};
      Array.prototype.forEach.call(f.elements, function (el) { if (el.name) values[el.name] = el.value.trim(); });
      act(n, f.getAttribute("data-act"), values);
    });

    /* the list view: names filtered by status, town and flag; the chosen one is handled in the panel */
    var work = mq.$("mq-work"), chosen = null, workShown = 0, workRows = [];
    function show(n) {
      var m = markers[n.id];
      if (m && m.isPopupOpen()) m.getPopup().update();
      if (!work || !chosen || chosen.id !== n.id) return;
      mq.$("mq-work-detail").innerHTML = '<div class="mq-pop mq-pop-name"><h3>' + mq.esc(n.name) +
        (n.heritage ? ' <span class="mq-tag mq-tag-heritage">历史文化地名</span>' : "") + "</h3>" + signHtml(n.sign) +
        '<p class="mq-hint">' + mq.esc(n.status_zh) + (n.pending ? " · 待审批" : "") + " · " + mq.esc(n.category_zh) +
        (n.town ? " · " + mq.esc(n.town) : "") + " · 标志" + signStatus(n) + "</p>" + actionsHtml(n) +
        '<button class="mq-btn mq-btn-small" type="button" id="mq-work-locate">在地图上查看</button></div>';
      mq.$("mq-work-detail").hidden = false;
    }
    function wanted(n) {
      var st = mq.$("mq-work-status").value, town = mq.$("mq-work-town").value, flag = mq.$("mq-work-flag").value;
      if (st === "pending" ? !(n.pending && n.status !== "historical") : st && n.status !== st) return false;
      if (town && n.town !== town) return false;
      if (flag === "heritage") return n.heritage;
      if (flag === "sign") return n.sign_missing || (n.status === "historical" && n.sign_present);
      if (flag === "any") return n.findings.length > 0;
      if (flag) return n.findings.some(function (f) { return f.flag === flag; });
      return true;
    }
    function workRow(n) {
      return '<li data-id="' + mq.esc(n.id) + '"' + (chosen && chosen.id === n.id ? ' class="mq-chosen"' : "") + ">" +
        '<span class="mq-dot" style="background:' + colors[n.result].color + '"></span>' +
        '<span class="mq-review-name">' + mq.esc(n.name) + "</span>" + flagTags(n) +
        (n.heritage ? '<span class="mq-tag mq-tag-heritage">遗产</span>' : "") +
        '<span class="mq-review-why">' + mq.esc(n.status_zh) + (n.pending && n.status !== "historical" ? " · 待审批" : "") +
        (n.town ? " · " + mq.esc(n.town) : "") + "</span></li>";
    }
    function renderWork(count) {
      workShown = Math.min(workRows.length, count);
      work.innerHTML = workRows.slice(0, workShown).map(workRow).join("") || '<li class="mq-empty">没有符合条件的地名。</li>';
      mq.$("mq-work-count").textContent = workRows.length ?
        (workShown < workRows.length ? "显示前 " + workShown + " 条，共 " + workRows.length + " 条" : "共 " + workRows.length + " 条") : "";
      mq.$("mq-work-more").hidden = workShown >= workRows.length;
    }
    function fillWork() {
      if (!work) return;
      workRows = names.filter(wanted).sort(function (a, b) { return zh(a.name, b.name) || a.id - b.id; });
      renderWork(Math.max(PAGE, workShown));
      state.work = { shown: workShown, total: workRows.length };
    }
    if (work) {
      var townBox = mq.$("mq-work-town"), towns = {};
      names.forEach(function (n) { if (n.town) towns[n.town] = true; });
      Object.keys(towns).sort(function (a, b) { return zh(a, b); }).forEach(function (t) {
        var o = document.createElement("option");
        o.value = t;
        o.textContent = t;
        townBox.appendChild(o);
      });
      // The sign sheets follow the chosen 镇街 (the whole district when none is chosen).
      townBox.addEventListener("change", function () {
        var q = townBox.value ? "&town=" + encodeURIComponent(townBox.value) : "";
        mq.$("mq-work-pdf").href = "/placenames/signs?format=pdf" + q;
        mq.$("mq-work-xlsx").href = "/placenames/signs?format=xlsx" + q;
        mq.$("mq-work-scope").textContent = townBox.value || "全区";
      });
      mq.$("mq-work-pdf").addEventListener("click", function (e) {
        e.preventDefault();
        signSheets(townBox.value);
      });
      ["mq-work-status", "mq-work-town", "mq-work-flag"].forEach(function (id) {
        mq.$(id).addEventListener("change", function () { workShown = 0; fillWork(); work.scrollTop = 0; });
      });
      mq.$("mq-work-more").addEventListener("click", function () { renderWork(workShown + PAGE); });
      work.addEventListener("click", function (e) {
        var li = e.target.closest("li[data-id]");
        if (!li) return;
        chosen = rowOf[li.getAttribute("data-id")];
        Array.prototype.forEach.call(work.querySelectorAll(".mq-chosen"), function (x) { x.classList.remove("mq-chosen"); });
        li.classList.add("mq-chosen");
        state.chosen = chosen.id;
        show(chosen);
        if (!chosen.etag) {
          var n = chosen;
          reread(n).then(function () { show(n); }, function (err) { messages[n.id] = [err.message, "error"]; show(n); });
        }
      });
      mq.$("mq-work-detail").addEventListener("click", function (e) {
        if (e.target.id === "mq-work-locate" && chosen) openName(chosen.id);
      });
    }

    /* The printable sign sheets are drawn on the server's task queue (a whole district is about a hundred
     * pages): POST starts the job, its progress (pages drawn / total) fills the bar, then the PDF downloads. */
    var sheetsBusy = false;
    function signSheets(town) {
      var box = mq.$("mq-work-pdf-job"), bar = box.querySelector("progress"), text = box.querySelector(".mq-work-job-text");
      if (sheetsBusy) return;
      sheetsBusy = true;
      box.hidden = false;
      bar.removeAttribute("value");
      text.textContent = "正在提交生成任务…";
      state.sheets = { status: "posting" };
      function stop(message) {
        sheetsBusy = false;
        text.textContent = message;
      }
      function poll(job) {
        state.sheets = { status: job.status, progress: job.progress };
        if (job.status === "done") {
          bar.max = 1;
          bar.value = 1;
          var a = document.createElement("a");
          a.href = job.pdf;
          a.download = "";
          document.body.appendChild(a);
          a.click();
          a.remove();
          stop("标志工作单已生成，正在下载（" + (town || "全区") + "）");
          return;
        }
        if (job.status === "failed") return stop("标志工作单生成失败，请稍后重试");
        if (job.progress && job.progress.total) {
          bar.max = job.progress.total;
          bar.value = job.progress.done;
          text.textContent = "正在生成标志工作单：第 " + job.progress.done + " / " + job.progress.total + " 页";
        } else {
          text.textContent = "正在排队等待生成…";
        }
        setTimeout(function () {
          call("/placenames/signs/jobs/" + encodeURIComponent(job.job_id)).then(function (res) { poll(res.body); },
            function (err) { stop(err.message); });
        }, 1000);
      }
      call("/placenames/signs/jobs" + (town ? "?town=" + encodeURIComponent(town) : ""), { method: "POST" })
        .then(function (res) { poll(res.body); }, function (err) { stop(err.message); });
    }

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
      rows.sort(function (a, b) { return order.indexOf(a.result) - order.indexOf(b.result) || zh(a.name, b.name); });
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
    function refill() { collect(); render(Math.max(PAGE, shown)); }  // after an action: the rows shown stay
    filter.addEventListener("change", fill);
    more.addEventListener("click", function () { render(shown + PAGE); });
    recount();
    // The lists are filled when the panel shows them: at once on a wide screen, on a phone (panel folded
    // away at first) when it is opened; the map is ready without them.
    var listed = false;
    function fillLists() {
      if (listed) return;
      listed = true;
      fillWork();
      fill();
    }
    if (!mq.panelOpen || mq.panelOpen()) fillLists();
    var onPanel = mq.onPanel;
    mq.onPanel = function (open) {
      if (onPanel) onPanel(open);
      if (open) fillLists();
    };
    list.addEventListener("click", function (e) {
      var li = e.target.closest("li[data-row]");
      if (!li) return;
      var row = rows[Number(li.getAttribute("data-row"))];
      var id = row.ids[row.next % row.ids.length];
      row.next += 1;
      openName(id);
    });

    mq.search(map, { categories: data.placename_categories, onChoose: function (r) {
      var n = rowOf[r.name_id];
      if (!n) return false;
      openName(n.id);
      return byId[n.id];
    } });
    state.ready = true;
    document.body.classList.add("mq-ready");
  }
  }
})();
