// 我要反映: a resident's report (category, description, point, optional phone) and the tracking form.
// Text is set with textContent only; the point comes from ?lon=&lat= (a map click) or the browser.
(function () {
  "use strict";
  var root = document.getElementById("mq-report");
  var point = { lon: parseFloat(root.dataset.lon), lat: parseFloat(root.dataset.lat) };
  var place = document.getElementById("mq-report-place");
  var result = document.getElementById("mq-report-result");

  function problem(body, status) {
    var error = body && body.error;
    if (status === 429) { return "提交太频繁，请稍后再试。"; }
    return error && error.message ? error.message : "提交失败，请稍后再试。";
  }

  document.getElementById("mq-report-locate").addEventListener("click", function () {
    if (!navigator.geolocation) { place.textContent = "位置：此浏览器不能定位，请从地图上点选"; return; }
    navigator.geolocation.getCurrentPosition(function (pos) {
      point = { lon: pos.coords.longitude, lat: pos.coords.latitude };
      place.textContent = "位置：已使用当前位置";
    }, function () { place.textContent = "位置：定位失败，请从地图上点选"; });
  });

  document.getElementById("mq-report-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!isFinite(point.lon) || !isFinite(point.lat)) { result.textContent = "请先选定位置。"; return; }
    var form = event.target;
    if (form.photos.files.length > 3) { result.textContent = "最多上传 3 张照片，请重新选择。"; return; }
    var body = { category: form.category.value, description: form.description.value,
                 lon: point.lon, lat: point.lat };
    if (form.phone.value.trim()) { body.phone = form.phone.value.trim(); }
    if (form.website.value) { body.website = form.website.value; }
    fetch("/public/events", { method: "POST", headers: { "Content-Type": "application/json" },
                              body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, status: r.status, body: b }; }); })
      .then(function (r) {
        if (!r.ok) { result.textContent = problem(r.body, r.status); return; }
        var code = r.body.tracking_code;
        var files = Array.prototype.slice.call(form.photos.files, 0, 3);
        var done = "已收到您的反映，查询码：" + code + "（请保存）";
        document.getElementById("code").value = code;
        result.textContent = files.length ? done + "，正在上传照片…" : done;
        // each photo as the request body itself, one after another (at most 3, within 30 minutes)
        var chain = Promise.resolve(0);
        files.forEach(function (file) {
          chain = chain.then(function (sent) {
            return fetch("/public/events/" + encodeURIComponent(code) + "/photos", {
              method: "POST", headers: { "Content-Type": file.type || "image/jpeg" }, body: file
            }).then(function (p) { return p.ok ? sent + 1 : sent; }, function () { return sent; });
          });
        });
        chain.then(function (sent) {
          result.textContent = done + (files.length ? (sent === files.length ? "，照片 " + sent + " 张已上传"
            : "，有 " + (files.length - sent) + " 张照片未能上传（仅支持 JPEG、PNG、WebP，每张不超过 8MB）") : "");
          result.dataset.code = code;
          form.reset();
        });
      })
      .catch(function () { result.textContent = "网络错误，请稍后再试。"; });
  });

  document.getElementById("mq-track-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var out = document.getElementById("mq-track-result");
    var code = event.target.code.value.trim();
    fetch("/public/events/" + encodeURIComponent(code))
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (r) {
        if (!r.ok) { out.textContent = "没有这个查询码的反映，请核对。"; return; }
        var b = r.body;
        out.textContent = b.category_zh + "：" + b.status_zh + "（反映于 " + b.reported_at.slice(0, 10) +
          (b.resolved_at ? "，办结于 " + b.resolved_at.slice(0, 10) : "，办理期限 " + b.due_at.slice(0, 16).replace("T", " ")) + "）";
        var review = document.getElementById("mq-review-form");
        review.hidden = b.status !== "resolved";  // 回访评价: once, after 办结
        review.dataset.code = code;
      })
      .catch(function () { out.textContent = "网络错误，请稍后再试。"; });
  });

  document.getElementById("mq-review-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    var out = document.getElementById("mq-review-result");
    var chosen = form.querySelector("input[name=satisfaction]:checked");
    var note = form.note.value.trim();
    fetch("/public/events/" + encodeURIComponent(form.dataset.code) + "/review", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ satisfaction: Number(chosen.value), note: note || null })
    })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (r) {
        if (!r.ok) { out.textContent = (r.body.error && r.body.error.message) || "评价未能提交，请稍后再试。"; return; }
        out.textContent = "感谢您的评价！当前状态：" + r.body.status_zh + "。";
        form.hidden = true;
      })
      .catch(function () { out.textContent = "网络错误，请稍后再试。"; });
  });
})();
