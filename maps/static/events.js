/* 民情事件 pages: 网格员工作台 (/grid, phone-first) and 联勤指挥中心 (/command, large screens).
 * Everything comes from the events API, which already limits each role to its own events; live
 * changes arrive over server-sent events (GET /events/stream). Text is escaped (mq.esc) or set with
 * textContent; no inline scripts (strict CSP). */
(function () {
  "use strict";
  var mq = window.minqing;
  var root = mq.$("mq-ev");
  var page = root.dataset.page, role = root.dataset.role, area = root.dataset.area;
  var state = mq.state;
  state.page = page;
  state.refreshes = 0;

  var STATUS_ZH = { reported: "已上报", accepted: "已受理", escalated: "待分拨", assigned: "已分拨", handling: "处置中",
                    resolved: "已办结", reviewed: "已回访", archived: "已归档", merged: "已合并" };
  var STATUS_COLOR = { reported: "#e53935", accepted: "#fb8c00", escalated: "#8e24aa", assigned: "#3949ab",
                       handling: "#1e88e5", resolved: "#43a047", reviewed: "#00897b", archived: "#757575",
                       merged: "#9e9e9e" };
  var OPEN = ["reported", "accepted", "escalated", "assigned", "handling"];
  var ACTION_ZH = { accept: "受理", escalate: "上报指挥中心", resolve: "办结", assign: "分拨", handle: "签收处置",
                    "return": "退回指挥中心", review: "回访评价", archive: "归档", merge: "合并" };
  var NOTE_NEEDED = { resolve: "办结结果（必填）", "return": "退回原因（必填）", review: "回访记录" };
  var categories = {}, departments = [];

  /* ---------- small helpers ---------- */
  function fmt(iso) {
    if (!iso) return "—";
    var d = new Date(iso);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return (d.getMonth() + 1) + "月" + d.getDate() + "日 " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
  function late(e) { return e.overdue || (OPEN.indexOf(e.status) >= 0 && new Date(e.due_at) < new Date()); }
  function catName(code) { return categories[code] ? categories[code].name_zh : code; }
  function problem(err) {
    if (err.status === 412) return "该事件刚被他人更新，已重新载入，请再操作一次";
    if (err.status === 409) return "该事件的状态已变化，不能执行此操作，已重新载入";
    if (err.status === 422) return err.detail && /[\u4e00-\u9fff]/.test(err.detail) ? mq.zhMessage(err.detail, 422)
      : "请填写必填项（办结结果、退回原因、分拨部门或满意度）";
    return err.message;
  }
  function say(el, text, kind) { mq.status(el, text, kind); }

  /* ---------- map ---------- */
  var bounds = JSON.parse(root.dataset.bounds || "null");
  var map = L.map("mq-ev-map", { preferCanvas: true, zoomSnap: 0.5, minZoom: 8, maxZoom: 19 });
  state.map = map;
  if (bounds) map.fitBounds(bounds); else map.setView([22.6, 113.3], 12);
  var base = L.featureGroup().addTo(map);
  mq.fetchJSON("/basemap.json").then(function (data) { mq.basemap(map, base, data); state.basemap = true; })
    .catch(function () { state.basemap = false; /* no base map: the events still show */ });

  function dot(e) {
    return L.circleMarker([e.lat, e.lon], {
      radius: 7, weight: late(e) ? 3 : 1.5, color: late(e) ? "#b71c1c" : "#ffffff",
      fillColor: STATUS_COLOR[e.status] || "#555", fillOpacity: 0.9
    });
  }

  /* ---------- event card (detail) ---------- */
  var detail = mq.$("mq-ev-detail"), detailBody = mq.$("mq-ev-detail-body"), detailTitle = mq.$("mq-ev-detail-title");
  mq.$("mq-ev-detail-close").addEventListener("click", function () { detail.hidden = true; state.openEvent = null; });

  function actionForm(e, etag) {
    var form = document.createElement("form");
    form.className = "mq-ev-actions";
    if (!e.actions.length) { form.innerHTML = '<p class="mq-ev-note">当前没有需要您办理的操作。</p>'; return form; }
    var html = "";
    var needsNote = e.actions.some(function (a) { return NOTE_NEEDED[a]; });
    if (needsNote) html += '<label>办理说明<textarea name="note" rows="2" maxlength="2000" placeholder="办结结果、退回原因或回访记录"></textarea></label>';
    if (e.actions.indexOf("assign") >= 0) {
      html += '<label>分拨至职能部门<select name="department"><option value="">请选择</option>' + departments.map(function (d) {
        var suggested = categories[e.category] && categories[e.category].department === d;
        return '<option value="' + mq.esc(d) + '"' + (suggested ? " selected" : "") + ">" + mq.esc(d) + (suggested ? "（事项清单）" : "") + "</option>";
      }).join("") + "</select></label>";
    }
    if (e.actions.indexOf("merge") >= 0) {
      html += '<label>重复反映：并入事件编号（仅“合并”时填写）<input name="into" type="number" min="1" inputmode="numeric"></label>';
    }
    if (e.actions.indexOf("review") >= 0) {
      html += '<label>群众满意度<select name="satisfaction"><option value="">请选择</option><option value="5">5 非常满意</option>' +
        '<option value="4">4 满意</option><option value="3">3 基本满意</option><option value="2">2 不满意</option><option value="1">1 很不满意</option></select></label>';
    }
    html += '<div class="mq-ev-buttons">' + e.actions.map(function (a) {
      var label = a === "resolve" && e.status === "accepted" ? "就地办结" : ACTION_ZH[a];
      return '<button type="submit" class="mq-btn' + (a === "escalate" || a === "return" || a === "merge" ? "" : " mq-btn-primary") +
        '" data-action="' + mq.esc(a) + '">' + mq.esc(label) + "</button>";
    }).join("") + "</div>" + '<p class="mq-status" role="status"></p>';
    form.innerHTML = html;
    var out = form.querySelector(".mq-status");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var action = ev.submitter ? ev.submitter.dataset.action : e.actions[0];
      var body = { action: action };
      if (form.note && form.note.value.trim()) body.note = form.note.value.trim();
      if (action === "assign") body.department = form.department.value;
      if (action === "review" && form.satisfaction.value) body.satisfaction = parseInt(form.satisfaction.value, 10);
      if ((action === "resolve" || action === "return") && !body.note) { say(out, "请先填写" + NOTE_NEEDED[action].replace("（必填）", ""), "error"); return; }
      if (action === "assign" && !body.department) { say(out, "请选择分拨的职能部门", "error"); return; }
      if (action === "merge") {
        body.into = parseInt(form.into.value, 10);
        if (!body.into) { say(out, "请填写要并入的事件编号", "error"); return; }
      }
      if (action === "review" && !body.satisfaction) { say(out, "请选择群众满意度", "error"); return; }
      say(out, "正在提交…");
      mq.fetchJSON("/events/" + e.event_id + "/transitions", {
        method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json", "If-Match": etag },
        body: JSON.stringify(body)
      }).then(function (updated) {
        state.lastDone = { event_id: e.event_id, action: action, status: updated.status };
        openEvent(e.event_id, ACTION_ZH[action] + "：已完成，当前状态 " + updated.status_zh);
        refresh();
      }).catch(function (err) {
        say(out, problem(err), "error");
        if (err.status === 412 || err.status === 409) openEvent(e.event_id, problem(err));
      });
    });
    return form;
  }

  function photoBlock(e, photos) {
    var box = document.createElement("div");
    box.className = "mq-ev-photos";
    box.innerHTML = photos.map(function (p) {
      var url = "/events/" + e.event_id + "/photos/" + encodeURIComponent(p.sha256);
      return '<a href="' + url + '" target="_blank" rel="noopener"><img alt="事件照片" loading="lazy" src="' + url + '?thumb=true"></a>';
    }).join("") + '<label class="mq-btn mq-btn-small mq-ev-photo-add">添加照片<input type="file" accept="image/jpeg,image/png,image/webp" capture="environment" hidden></label>' +
      '<span class="mq-status" role="status"></span>';
    var input = box.querySelector("input"), out = box.querySelector(".mq-status");
    input.addEventListener("change", function () {
      if (!input.files.length) return;
      var data = new FormData();
      data.append("file", input.files[0]);
      say(out, "正在上传…");
      mq.fetchJSON("/events/" + e.event_id + "/photos", { method: "POST", body: data })
        .then(function () { openEvent(e.event_id, "照片已上传"); })
        .catch(function (err) { say(out, err.status === 413 ? "照片太大，请压缩后再传" : problem(err), "error"); });
    });
    return box;
  }

  /* Only the latest opening draws (a slower, older answer must not replace a newer card), and a
   * redraw of the same event keeps what the user has typed or chosen so far. */
  var opening = 0;
  function typed() {
    var form = detailBody.querySelector("form.mq-ev-actions"), kept = {};
    if (!form) return kept;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name && el.value) kept[el.name] = el.value;
    });
    return kept;
  }
  function keep(form, kept) {
    Object.keys(kept).forEach(function (name) {
      var el = form.elements.namedItem(name);
      if (el && !el.value) el.value = kept[name];
    });
  }
  function openEvent(id, message) {
    var etag = null, mine = ++opening;
    state.openEvent = id;
    return fetch("/events/" + id, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        etag = r.headers.get("ETag");
        if (!r.ok) { var err = new Error(mq.httpMessage(r.status)); err.status = r.status; throw err; }
        return r.json();
      })
      .then(function (e) {
        return mq.fetchJSON("/events/" + id + "/photos").then(function (photos) { return [e, photos]; });
      })
      .then(function (pair) {
        if (mine !== opening) return;
        var e = pair[0], photos = pair[1];
        var kept = !message && detail.dataset.eventId === String(e.event_id) ? typed() : {};
        detailTitle.textContent = catName(e.category) + " · " + e.status_zh;
        var rows = [["事件编号", e.event_id], ["情况描述", e.description], ["地址", e.address || "地图点位"],
                    ["上报时间", fmt(e.reported_at)], ["办理期限", fmt(e.due_at) + (late(e) ? "（超时）" : "")],
                    ["处置层级", e.level], ["职能部门", e.department || "—"], ["反映人电话", e.reporter_phone || "未留"],
                    ["办结结果", e.result_note || "—"]];
        detailBody.innerHTML = (message ? '<p class="mq-status mq-status-ok" role="status">' + mq.esc(message) + "</p>" : "") +
          '<table class="mq-pop-table">' + rows.map(function (r) {
            return "<tr><th>" + mq.esc(r[0]) + "</th><td>" + mq.esc(r[1]) + "</td></tr>";
          }).join("") + "</table>";
        detailBody.appendChild(photoBlock(e, photos));
        var form = actionForm(e, etag);
        keep(form, kept);
        detailBody.appendChild(form);
        var hist = document.createElement("ol");
        hist.className = "mq-ev-history";
        hist.innerHTML = (e.history || []).map(function (h) {
          return "<li><b>" + mq.esc(ACTION_ZH[h.action] || (h.action === "report" ? "上报" : h.action === "overdue" ? "超时升级" : h.action)) +
            "</b> " + mq.esc(fmt(h.at)) + " · " + mq.esc(h.actor === "system" ? "系统" : h.actor === "public" ? "群众" : h.actor) +
            (h.department ? " → " + mq.esc(h.department) : "") + (h.note ? "<br><small>" + mq.esc(h.note) + "</small>" : "") + "</li>";
        }).join("");
        detailBody.appendChild(hist);
        detail.hidden = false;
        detail.dataset.eventId = String(e.event_id);
        detail.dataset.status = e.status;
      })
      .catch(function (err) {
        if (mine !== opening) return;
        detailTitle.textContent = "无法打开该事件"; detailBody.textContent = problem(err); detail.hidden = false; });
  }
  state.openEventCard = openEvent;

  function item(e) {
    var li = document.createElement("li");
    li.className = "mq-ev-item" + (late(e) ? " mq-ev-late" : "");
    li.dataset.eventId = String(e.event_id);
    li.innerHTML = '<button type="button" class="mq-ev-open">' +
      '<span class="mq-ev-tag" style="background:' + mq.esc(STATUS_COLOR[e.status]) + '">' + mq.esc(STATUS_ZH[e.status]) + "</span>" +
      (late(e) ? '<span class="mq-ev-tag mq-ev-tag-late">超时</span>' : "") +
      "<b>" + mq.esc(catName(e.category)) + "</b> <span class=\"mq-ev-desc\">" + mq.esc(e.description || "") + "</span>" +
      '<small>期限 ' + mq.esc(fmt(e.due_at)) + (e.department ? " · " + mq.esc(e.department) : "") + "</small></button>";
    li.querySelector("button").addEventListener("click", function () {
      openEvent(e.event_id);
      if (e.lat && e.lon) map.setView([e.lat, e.lon], Math.max(map.getZoom(), 15));
    });
    return li;
  }

  function byDeadline(a, b) {
    if (late(a) !== late(b)) return late(a) ? -1 : 1;
    return new Date(a.due_at) - new Date(b.due_at);
  }

  function fillList(id, events) {
    var ul = mq.$(id);
    if (!ul) return;
    ul.innerHTML = "";
    if (!events.length) { ul.innerHTML = '<li class="mq-ev-empty">暂无待办事件</li>'; return; }
    events.forEach(function (e) { ul.appendChild(item(e)); });
  }

  function listOpen(statuses) {
    var q = statuses.map(function (s) { return "status=" + s; }).join("&");
    return mq.fetchJSON("/events?" + q + "&limit=1000").then(function (b) { return b.items; });
  }

  /* ---------- 网格员工作台 ---------- */
  var mineLayer = L.featureGroup().addTo(map);
  function refreshGrid() {
    return listOpen(OPEN).then(function (events) {
      events.sort(byDeadline);
      state.events = events;
      fillList("mq-ev-mine", events);
      mq.$("mq-ev-mine-count").textContent = "（" + events.length + " 件" +
        (events.filter(late).length ? "，超时 " + events.filter(late).length + " 件" : "") + "）";
      mineLayer.clearLayers();
      events.forEach(function (e) {
        dot(e).bindTooltip(catName(e.category) + " · " + STATUS_ZH[e.status]).on("click", function () { openEvent(e.event_id); })
          .addTo(mineLayer);
      });
    });
  }
  function drawMyGrid() {
    if (!area) return;
    mq.fetchJSON("/collections/grids/items/" + encodeURIComponent(area)).then(function (f) {
      var outline = L.geoJSON(f, { style: { color: "#7e57c2", weight: 3, dashArray: "6 4", fillOpacity: 0.04 }, interactive: false }).addTo(map);
      map.fitBounds(outline.getBounds(), { padding: [10, 10] });
      state.grid = f.properties && f.properties.name;
    }).catch(function () { /* an admin without a grid: the whole district */ });
  }

  /* ---------- 我的重点户 and 走访 (grid page; GET /households, POST /visits) ---------- */
  var homes = mq.$("mq-ev-visits"), homeLayer = L.featureGroup();
  /* Visits recorded without a connection stay on the phone (localStorage, per grid) as 待同步 until the
   * server has them: each carries a random client_id, so sending one again never stores it twice. */
  var OUTBOX = "mq-visit-outbox:" + (area || "");
  function outbox() {
    try { return JSON.parse(window.localStorage.getItem(OUTBOX) || "[]"); } catch (e) { return []; }
  }
  function saveOutbox(list) {
    window.localStorage.setItem(OUTBOX, JSON.stringify(list));
    state.pendingVisits = list.length;
    markPending();
  }
  function dropFromOutbox(id) { saveOutbox(outbox().filter(function (x) { return x.client_id !== id; })); }
  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  function markPending() {
    var waiting = outbox(), note = mq.$("mq-ev-pending");
    if (note) {
      note.hidden = !waiting.length;
      note.textContent = waiting.length ? "待同步 " + waiting.length + " 条走访：已保存在本机，联网后自动上传" : "";
    }
    Array.prototype.forEach.call(document.querySelectorAll("#mq-ev-homes li[data-household-id]"), function (li) {
      var n = waiting.filter(function (x) { return String(x.household_id) === li.dataset.householdId; }).length;
      var tag = li.querySelector(".mq-ev-tag-pending");
      if (n && !tag) li.querySelector("button").insertAdjacentHTML("afterbegin", '<span class="mq-ev-tag mq-ev-tag-pending">待同步</span>');
      if (!n && tag) tag.parentNode.removeChild(tag);
    });
  }
  /* POST one visit; a refusal (4xx: too far, no longer followed ...) takes it off the phone, a lost
   * connection (no answer) keeps it for the next try. */
  function sendVisit(body) {
    return mq.fetchJSON("/visits", { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
                                     body: JSON.stringify(body) })
      .then(function (v) { dropFromOutbox(body.client_id); return v; }, function (err) {
        if (err.status && err.status < 500 && [401, 408, 429].indexOf(err.status) < 0) dropFromOutbox(body.client_id);
        throw err;
      });
  }
  var syncing = null;
  function flushVisits() {
    if (syncing) return syncing;
    var waiting = outbox();
    if (!waiting.length || !navigator.onLine) return Promise.resolve();
    var sent = 0, refused = [];
    syncing = waiting.reduce(function (p, body) {
      return p.then(function (go) {
        if (!go) return false;
        return sendVisit(body).then(function () { sent += 1; return true; }, function (err) {
          if (!err.status) return false;  // the connection went again: the rest wait
          refused.push(err);
          return true;
        });
      });
    }, Promise.resolve(true)).then(function () {
      syncing = null;
      state.syncedVisits = (state.syncedVisits || 0) + sent;
      if (sent || refused.length) {
        say(live, (sent ? "离线走访已同步 " + sent + " 条" : "") + (refused.length ? (sent ? "；" : "") + refused.length +
          " 条未被接受：" + problem(refused[0]) : ""), refused.length ? "error" : "ok");
        refreshHomes();
      }
    });
    return syncing;
  }
  state.flushVisits = flushVisits;
  window.addEventListener("online", flushVisits);
  window.setInterval(flushVisits, 30000);

  function homeItem(h) {
    var li = document.createElement("li");
    li.className = "mq-ev-item" + (h.overdue ? " mq-ev-late" : "");
    li.dataset.householdId = String(h.household_id);
    li.innerHTML = '<button type="button" class="mq-ev-open">' + (h.overdue ? '<span class="mq-ev-tag mq-ev-tag-late">走访逾期</span>' : "") +
      "<b>" + mq.esc(h.head_name) + "</b> " + mq.esc((h.groups_zh || []).join("、")) +
      "<small>" + mq.esc(h.address || "") + " · 每 " + mq.esc(h.every_days) + " 天走访 · 下次 " + mq.esc(fmt(h.next_due_at)) +
      (h.last_visit_at ? " · 上次 " + mq.esc(fmt(h.last_visit_at)) : " · 尚未走访") + "</small></button>";
    li.querySelector("button").addEventListener("click", function () { visitForm(h); });
    return li;
  }
  function visitForm(h) {
    detailTitle.textContent = "走访：" + h.head_name;
    detailBody.innerHTML = '<p class="mq-ev-note">' + mq.esc((h.groups_zh || []).join("、")) + " · " + mq.esc(h.address || "") + "</p>" +
      '<form class="mq-ev-actions" id="mq-ev-visit-form"><label>走访记录<textarea name="notes" rows="2" maxlength="2000"></textarea></label>' +
      '<label>发现的需求<textarea name="needs" rows="2" maxlength="2000" placeholder="如：需要助餐服务"></textarea></label>' +
      '<label>需求转事件的类别<select name="category">' + Object.keys(categories).map(function (k) {
        return '<option value="' + mq.esc(k) + '"' + (k === "elderly_care" ? " selected" : "") + ">" + mq.esc(categories[k].name_zh) + "</option>";
      }).join("") + "</select></label>" +
      '<div class="mq-ev-buttons"><button type="submit" class="mq-btn mq-btn-primary" data-kind="visit">定位并登记走访</button>' +
      '<button type="submit" class="mq-btn" data-kind="event">发现需求 → 生成事件</button></div>' +
      '<p class="mq-status" role="status"></p><p class="mq-ev-note">登记时使用本机定位，须在该户附近。</p></form>';
    detail.hidden = false;
    detail.dataset.householdId = String(h.household_id);
    delete detail.dataset.eventId;
    state.openEvent = null;
    var form = mq.$("mq-ev-visit-form"), out = form.querySelector(".mq-status");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var kind = ev.submitter ? ev.submitter.dataset.kind : "visit";
      var body = { household_id: h.household_id };
      if (form.notes.value.trim()) body.notes = form.notes.value.trim();
      if (form.needs.value.trim()) body.needs = form.needs.value.trim();
      if (kind === "event") {
        if (!body.needs) { say(out, "请先填写发现的需求", "error"); return; }
        body.event_category = form.category.value;
      }
      if (!navigator.geolocation) { say(out, "此设备不能定位，无法登记走访", "error"); return; }
      say(out, "正在定位…");
      navigator.geolocation.getCurrentPosition(function (pos) {
        body.lon = pos.coords.longitude;
        body.lat = pos.coords.latitude;
        body.client_id = newId();
        body.visited_at = new Date().toISOString();  // the time of the visit, however late it is sent
        saveOutbox(outbox().concat([body]));  // kept on the phone until the server has it
        if (!navigator.onLine) {
          say(out, "当前无网络：走访已保存在本机（待同步），联网后自动上传", "ok");
          form.reset();
          return;
        }
        say(out, "正在登记…");
        sendVisit(body)
          .then(function (v) {
            state.lastVisit = v;
            say(out, "走访已登记（距该户 " + mq.num(v.distance_m) + " 米）" + (v.event ? "，已生成事件：" + v.event.category_zh : ""), "ok");
            form.reset();
            refresh();
          })
          .catch(function (err) {
            if (!err.status) { say(out, "网络不通：走访已保存在本机（待同步），联网后自动上传", "ok"); form.reset(); return; }
            say(out, err.status === 422 && /米|距离|附近/.test(err.detail || "") ? mq.zhMessage(err.detail, 422) || "定位离该户太远，请到户后再登记"
              : err.status === 422 ? "定位离该户太远或信息不全，请到户后再登记" : problem(err), "error");
          });
      }, function () { say(out, "定位失败：请允许本页使用位置信息后重试", "error"); },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    });
  }
  function refreshHomes() {
    if (!homes) return Promise.resolve();
    return mq.fetchJSON("/households?limit=500").then(function (b) {
      state.households = b.items;
      homes.hidden = false;
      homes.innerHTML = "<h2>我的重点户 <span>（" + b.numberMatched + " 户" +
        (b.items.filter(function (h) { return h.overdue; }).length ? "，逾期 " + b.items.filter(function (h) { return h.overdue; }).length + " 户" : "") +
        '）</span></h2><p class="mq-ev-note">走访逾期的排在最前。仅工作人员可见。</p>' +
        '<p class="mq-ev-note mq-ev-pending" id="mq-ev-pending" role="status" hidden></p><ul class="mq-ev-list" id="mq-ev-homes"></ul>';
      var ul = mq.$("mq-ev-homes");
      if (!b.items.length) ul.innerHTML = '<li class="mq-ev-empty">暂无重点户</li>';
      b.items.forEach(function (h) { ul.appendChild(homeItem(h)); });
      homeLayer.clearLayers();
      b.items.forEach(function (h) {
        L.circleMarker([h.lat, h.lon], { radius: 6, color: "#fff", weight: 1.5, fillColor: h.overdue ? "#b71c1c" : "#6d4c41", fillOpacity: 0.9 })
          .bindTooltip("重点户：" + h.head_name + (h.overdue ? "（走访逾期）" : "")).on("click", function () { visitForm(h); }).addTo(homeLayer);
      });
      if (!map.hasLayer(homeLayer)) homeLayer.addTo(map);
      markPending();
    }).catch(function (err) {
      if (err.status) homes.hidden = true;  // no households for this account: the section stays away
      else markPending();  // offline: the list stays as it was, with what waits to be sent
    });
  }

  /* ---------- 联勤指挥中心 ---------- */
  var cluster = page === "command" ? L.markerClusterGroup({ chunkedLoading: true, maxClusterRadius: 50, showCoverageOnHover: false }) : null;
  var heat = page === "command" ? L.heatLayer([], { radius: 22, blur: 18, minOpacity: 0.25 }) : null;
  var points = [], view = "points";
  if (cluster) { state.layers = { cluster: cluster }; map.addLayer(cluster); }

  function filtered() {
    var st = mq.$("mq-ev-filter-status").value, cat = mq.$("mq-ev-filter-category").value;
    return points.filter(function (e) { return (!st || e.status === st || (st === "late" && late(e))) && (!cat || e.category === cat); });
  }
  function drawPoints() {
    var shown = filtered();
    cluster.clearLayers();
    cluster.addLayers(shown.map(function (e) {
      return dot(e).bindTooltip(catName(e.category) + " · " + STATUS_ZH[e.status] + (late(e) ? " · 超时" : ""))
        .on("click", function () { openEvent(e.event_id); });
    }));
    heat.setLatLngs(shown.map(function (e) { return [e.lat, e.lon, 1]; }));
    if (view === "heat") { if (map.hasLayer(cluster)) map.removeLayer(cluster); if (!map.hasLayer(heat)) map.addLayer(heat); }
    else { if (map.hasLayer(heat)) map.removeLayer(heat); if (!map.hasLayer(cluster)) map.addLayer(cluster); }
    state.shown = shown.length;
  }
  function countsHtml(c) {
    function card(label, t, m, cls) {
      return '<div class="mq-ev-card ' + (cls || "") + '"><span>' + label + "</span><b>" + mq.num(t) + "</b><small>本月 " + mq.num(m) + "</small></div>";
    }
    return card("今日上报", c.today.reported, c.month.reported) + card("今日办结", c.today.resolved, c.month.resolved) +
      '<div class="mq-ev-card"><span>未办结</span><b>' + mq.num(c.today.open) + "</b><small>当前</small></div>" +
      '<div class="mq-ev-card mq-ev-card-late"><span>超时</span><b>' + mq.num(c.today.overdue) + "</b><small>当前未办结</small></div>" +
      '<div class="mq-ev-card"><span>待分拨</span><b>' + mq.num(c.today.waiting) + "</b><small>当前</small></div>";
  }
  var kpiBy = mq.$("mq-ev-kpi-by");
  function refreshKpi() {
    if (!kpiBy) return Promise.resolve();
    var now = new Date();
    var since = new Date(now.getFullYear(), now.getMonth(), 1);
    var url = "/events/kpis?by=" + kpiBy.value + "&since=" + encodeURIComponent(since.toISOString()) +
      "&until=" + encodeURIComponent(new Date(now.getTime() + 60000).toISOString());
    return mq.fetchJSON(url).then(function (rows) {
      var visits = rows.some(function (r) { return r.visit_rate !== undefined; });
      var head = "<thead><tr><th>名次</th><th>名称</th><th>事件数</th><th>按期处置率</th><th>结案率</th><th>平均办结时长</th><th>群众满意率</th>" +
        (visits ? "<th>走访完成率</th>" : "") + "</tr></thead>";
      mq.$("mq-ev-kpi").innerHTML = head + "<tbody>" + (rows.length ? rows.map(function (r, i) {
        return "<tr><td>" + (i + 1) + "</td><td>" + mq.esc(r.name) + "</td><td>" + mq.num(r.events) + "</td><td>" + mq.pct(r.on_time_rate) +
          "</td><td>" + mq.pct(r.closed_rate) + "</td><td>" + (r.mean_hours_to_resolve === null ? "—" : mq.num(r.mean_hours_to_resolve, 1) + " 小时") +
          "</td><td>" + mq.pct(r.satisfied_rate) + "</td>" + (visits ? "<td>" + mq.pct(r.visit_rate) + "</td>" : "") + "</tr>";
      }).join("") : '<tr><td colspan="7">本月暂无事件</td></tr>') + "</tbody>";
    });
  }
  /* A change from the stream moves its point at once (no reload of every point). */
  function applyChange(c) {
    var i = -1;
    points.some(function (e, k) { if (e.event_id === c.event_id) { i = k; return true; } return false; });
    var e = { event_id: c.event_id, lon: c.lon, lat: c.lat, status: c.status, category: c.category, overdue: c.overdue,
              level: c.level, department: c.department, grid_id: c.grid_id, due_at: c.due_at,
              reported_at: i >= 0 ? points[i].reported_at : new Date().toISOString() };
    if (i >= 0) points[i] = e; else points.unshift(e);
    drawPoints();
  }
  function refreshCommand(withPoints) {
    var jobs = [
      withPoints === false ? Promise.resolve() : mq.fetchJSON("/events/points?days=31").then(function (b) {
        var C = b.columns;
        points = b.rows.map(function (r) { var e = {}; C.forEach(function (k, i) { e[k] = r[i]; }); return e; });
        state.events = points;
        drawPoints();
      }),
      mq.fetchJSON("/events/counts").then(function (c) { mq.$("mq-ev-counts").innerHTML = countsHtml(c); state.counts = c; })
    ];
    if (role === "department") {
      jobs.push(listOpen(["assigned", "handling"]).then(function (events) { events.sort(byDeadline); state.mine = events; fillList("mq-ev-mine", events); }));
    } else {
      jobs.push(listOpen(["escalated"]).then(function (events) { events.sort(byDeadline); state.waiting = events; fillList("mq-ev-waiting", events); }));
      jobs.push(refreshKpi());
    }
    return Promise.all(jobs);
  }
  function commandControls() {
    var st = mq.$("mq-ev-filter-status"), cat = mq.$("mq-ev-filter-category");
    st.insertAdjacentHTML("beforeend", '<option value="late">超时</option>' + Object.keys(STATUS_ZH).map(function (k) {
      return '<option value="' + k + '">' + STATUS_ZH[k] + "</option>";
    }).join(""));
    cat.insertAdjacentHTML("beforeend", Object.keys(categories).map(function (k) {
      return '<option value="' + mq.esc(k) + '">' + mq.esc(categories[k].name_zh) + "</option>";
    }).join(""));
    st.addEventListener("change", drawPoints);
    cat.addEventListener("change", drawPoints);
    Array.prototype.forEach.call(document.querySelectorAll('input[name="mq-ev-view"]'), function (el) {
      el.addEventListener("change", function () { if (el.checked) { view = el.value; drawPoints(); } });
    });
    if (kpiBy) kpiBy.addEventListener("change", refreshKpi);
    mq.$("mq-ev-legend").innerHTML = Object.keys(STATUS_ZH).map(function (k) {
      return '<span><i style="background:' + STATUS_COLOR[k] + '"></i>' + STATUS_ZH[k] + "</span>";
    }).join("") + '<span><i class="mq-ev-legend-late"></i>超时（红圈）</span>';
  }

  /* ---------- refresh and live updates ---------- */
  var live = mq.$("mq-ev-live");
  var pending = null;
  function refresh(withPoints) {
    return (page === "grid" ? Promise.all([refreshGrid(), refreshHomes()]) : refreshCommand(withPoints)).then(function () {
      state.refreshes += 1;
      state.ready = true;
      document.body.classList.add("mq-ready");
      if (state.openEvent && !detail.hidden && !detail.contains(document.activeElement)) openEvent(state.openEvent);
    }).catch(function (err) { say(live, err.message, "error"); });
  }
  // lists and counts after changes: at most one reload in flight, the next one after it (a burst of
  // changes costs two reloads, not one per change); the map's points follow each change directly
  var loading = false, again = false;
  function soon() {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      if (loading) { again = true; return; }
      loading = true;
      refresh(false).then(function () { loading = false; if (again) { again = false; soon(); } });
    }, 300);
  }
  var toast = mq.$("mq-ev-toast");
  function connect() {
    if (!window.EventSource) { say(live, "此浏览器不支持实时更新，请手动刷新"); return; }
    var source = new EventSource("/events/stream");
    state.stream = source;
    source.addEventListener("ready", function () { say(live, "实时更新已连接", "ok"); state.live = true; refresh(); });
    source.addEventListener("change", function (m) {
      var c = JSON.parse(m.data);
      state.lastChange = c;
      state.changes = (state.changes || 0) + 1;
      if (toast && c.action === "report") {
        toast.textContent = "新上报：" + catName(c.category) + "（" + (STATUS_ZH[c.status] || "") + "）";
        toast.classList.add("mq-ev-toast-on");
        setTimeout(function () { toast.classList.remove("mq-ev-toast-on"); }, 6000);
      }
      if (page === "command") applyChange(c);
      soon();
    });
    source.onerror = function () {
      state.live = false;
      // CLOSED: the server refused the stream (login expired or role changed): EventSource will not retry
      say(live, source.readyState === 2 ? "实时更新已停止：登录可能已过期，请刷新页面或重新登录"
        : "实时更新中断，正在重新连接…", "error");
    };
  }

  mq.fetchJSON("/events/categories").then(function (cats) {
    cats.forEach(function (c) { categories[c.code] = c; if (departments.indexOf(c.department) < 0) departments.push(c.department); });
    departments.sort();
    if (page === "command") commandControls(); else drawMyGrid();
    return refresh();
  }).then(connect).then(function () { if (page === "grid") flushVisits(); });  // what an earlier visit left waiting
})();
