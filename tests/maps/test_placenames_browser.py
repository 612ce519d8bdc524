"""The place-name officer's map in headless Chromium against the demo district.

What each name is coloured as is checked against the API's own findings (GET /placenames/checks,
GET /placenames/signs/missing), fetched independently of the page, with the 大/洋/怪/重 flag of each
finding code read straight from data/placenames/rules.csv.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

RULES = Path(__file__).resolve().parents[2] / "data" / "placenames" / "rules.csv"
OFFICER = "maps_officer"
COLOURS = {
    "duplicate": "#7b1fa2",
    "dayangguai": "#d32f2f",
    "other": "#ef6c00",
    "missing_sign": "#1565c0",
    "historical": "#8d8d8d",
    "ok": "#2e7d32",
}
# Names the audit found filed under 其他待审核 although 民发〔2018〕146号 calls them 大 or 怪.
DAYANGGUAI_DEMO = ["EE新城", "8号公馆", "澄灣花园", "金龙大道", "𣒍坑", "世界城", "曼哈顿广场", "皇庭御府"]


def _rgb(css: str) -> str:
    """``rgb(123, 31, 162)`` as ``#7b1fa2``."""
    r, g, b = (int(x) for x in re.findall(r"\d+", css)[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def _flags() -> dict[str, str]:
    with RULES.open(encoding="utf-8") as f:
        return {r["code"]: r["flag"] for r in csv.DictReader(f)}


@pytest.fixture
def expected(api_as, truth) -> dict[int, str]:
    """name_id → the class it must be drawn in, from the API's findings and sign work list."""
    api = api_as(OFFICER)
    checks = api.get("/placenames/checks")
    signs = api.get("/placenames/signs/missing")
    assert checks.status_code == signs.status_code == 200
    flags = _flags()
    found = {c["name_id"]: {flags[f["code"]] for f in c["findings"]} for c in checks.json()}
    missing = {s["name_id"] for s in signs.json()}
    out = {}
    for name_id, status in zip(truth["names"]["name_id"], truth["names"]["status"], strict=True):
        fl = found.get(int(name_id), set())
        if "重" in fl:
            out[int(name_id)] = "duplicate"
        elif fl & {"大", "洋", "怪"}:
            out[int(name_id)] = "dayangguai"
        elif fl:
            out[int(name_id)] = "other"
        elif int(name_id) in missing:
            out[int(name_id)] = "missing_sign"
        else:
            out[int(name_id)] = "historical" if status == "historical" else "ok"
    return out


@pytest.fixture
def officer(visit, users):
    v = visit()
    v.signed_in("/placenames", OFFICER, users[OFFICER])
    return v


def test_placenames_roles(visit, users):
    v = visit()
    v.open("/login?next=/placenames", ready=False)
    v.login("maps_worker", users["maps_worker"])
    assert "无权访问" in v.page.inner_text("h1")  # a grid worker may not see it


def test_every_name_has_the_class_of_its_findings(officer, expected, truth):
    v = officer
    results = v.js("""() => { const out = {}; Object.entries(window.minqing.state.names).forEach(([id, m]) =>
        out[id] = m.mqName.result); return out; }""")
    assert len(results) == len(truth["names"]) == len(expected)
    wrong = {i: (results[str(i)], want) for i, want in expected.items() if results[str(i)] != want}
    assert not wrong, f"name_id: (drawn, expected) {wrong}"
    # Each dot drawn (close in: every name on its own) has its result's colour and pane.
    v.js("""() => { const s = window.minqing.state, n = s.data.find(n => n.result === 'dayangguai');
        s.map.setView([n.lat, n.lon], 16, {animate: false}); }""")
    v.idle()
    drawn = v.js("""() => Object.values(window.minqing.state.markers).filter(m => m._map).map(m =>
        [m.mqName.id, m.mqName.result, m.options.fillColor, m.options.pane])""")
    assert len(drawn) > 5
    for name_id, result, colour, pane in drawn:
        assert result == expected[name_id] and colour == COLOURS[result] and pane == f"mq-pn-{result}"
    # The legend counts are those of the API, class by class.
    legend = v.js("""() => Object.fromEntries([...document.querySelectorAll('#mq-results input[data-result]')]
        .map(b => [b.dataset.result, Number(b.closest('label').querySelector('.mq-count').textContent)]))""")
    want = Counter(expected.values())
    assert {k: legend[k] for k in COLOURS} == {k: want.get(k, 0) for k in COLOURS}
    assert legend["heritage"] == int(truth["names"]["heritage"].sum())
    # The audit's names: flagged 大/洋/怪 (民发〔2018〕146号), drawn red.
    by_name = v.js(
        """(names) => names.map(n => Object.values(window.minqing.state.names)
        .filter(m => m.mqName.name === n).map(m => m.mqName.result))""",
        DAYANGGUAI_DEMO,
    )
    for name, marks in zip(DAYANGGUAI_DEMO, by_name, strict=True):
        assert marks and all(m == "dayangguai" for m in marks), (name, marks)
    v.shot("placenames")
    v.assert_clean()


def test_flagged_names_are_drawn_above_the_standard_ones(officer, expected):
    v = officer
    order = v.js("""() => { const m = window.minqing.state.map;
        return window.minqing.state.panes.map(code =>
            [code, Number(m.getPane('mq-pn-' + code).style.zIndex)]); }""")
    z = dict(order)
    assert z["duplicate"] > z["dayangguai"] > z["other"] > z["missing_sign"] > z["historical"] > z["ok"]
    # Clustered (tiles made in PostGIS), a bubble shows the most serious result of the names it counts, and
    # the names it counts are the names of the API inside its bounds (results from the API).
    v.idle()
    clusters = v.js("""() => { const out = [];
        window.minqing.state.nameTiles._mqGroup.eachLayer(l => { if (l.mqCluster && l._icon)
            out.push([l._icon.querySelector('.mq-pn-cluster').dataset.result,
                      l._icon.querySelector('.mq-pn-cluster').style.borderColor, l.mqCluster]); });
        return out; }""")
    assert clusters, "the first view draws no cluster"
    rank = list(COLOURS)
    rows = v.js("() => window.minqing.state.data.map(n => [n.id, n.lat, n.lon])")
    for shown, border, p in clusters:
        counts = {k[2:]: n for k, n in p.items() if k.startswith("n_")}
        assert shown == min(counts, key=rank.index) and sum(counts.values()) == p["count"], (shown, p)
        assert _rgb(border) == COLOURS[shown]
        inside = [
            i
            for i, lat, lon in rows
            if p["south"] - 1e-4 <= lat <= p["north"] + 1e-4 and p["west"] - 1e-4 <= lon <= p["east"] + 1e-4
        ]
        assert p["count"] <= len(inside)  # its bounds hold its names (and maybe others, of other cells)
        assert shown == min((expected[i] for i in inside), key=rank.index) or len(inside) > p["count"]
    # Close up (every name on its own from zoom 16) each flagged dot shows its own colour: no green 规范
    # dot over it.
    name_id = v.js("""() => Object.values(window.minqing.state.names).filter(m =>
        m.mqName.result === 'dayangguai')
        .map(m => m.mqName.id).sort((a, b) => a - b)[0]""")
    v.js(
        """(i) => { const s = window.minqing.state, n = s.names[i].mqName;
        s.map.setView([n.lat, n.lon], 16, {animate: false}); }""",
        name_id,
    )
    v.idle()
    points = v.js("""() => { const s = window.minqing.state,
            box = s.map.getContainer().getBoundingClientRect();
        return Object.values(s.markers).filter(m => m.mqName.result === 'dayangguai' && m._map).map(m => {
            const p = s.map.latLngToContainerPoint(m.getLatLng());
            return [m.mqName.name, Math.round(box.left + p.x), Math.round(box.top + p.y)]; }); }""")
    from io import BytesIO

    from PIL import Image

    image = Image.open(BytesIO(v.page.screenshot())).convert("RGB")
    panel = v.js("() => document.getElementById('mq-panel').getBoundingClientRect().right")
    visible = [(n, x, y) for n, x, y in points if panel + 8 < x < image.width and 0 < y < image.height]
    assert visible, "no 大/洋/怪 dot in view"
    for name, x, y in visible:
        r, g, b = image.getpixel((x, y))
        # its own red, a purple 重 dot or a gold heritage ring over it — never a green 规范 or blue dot
        assert r > 110 and not (g > r or b > r + 40), (name, (r, g, b))


def test_clusters_render_and_a_clustered_names_popup_opens(officer):
    v = officer
    v.idle()
    n_clusters = v.js("() => document.querySelectorAll('.leaflet-marker-icon .mq-pn-cluster').length")
    assert n_clusters > 0
    # The first view draws clusters, not every name one by one.
    singles = v.js("() => Object.values(window.minqing.state.markers).filter(m => m._map).length")
    total = v.js("() => Object.keys(window.minqing.state.names).length")
    assert singles < total
    # Clicking a cluster zooms in until its names are drawn one by one; a name's dot opens its popup.
    for _ in range(8):
        if v.js("() => window.minqing.state.map.getZoom()") >= 16:
            break
        box = v.js("""() => { const r = document.querySelector('.leaflet-marker-icon .mq-pn-cluster')
            .getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }""")
        v.page.mouse.click(*box)
        v.idle()
    assert v.js("() => window.minqing.state.map.getZoom()") >= 16, "the clusters never let their names go"
    name_id, name = v.js("""() => { const s = window.minqing.state;
        const b = s.map.getBounds().pad(-0.2);
        const m = Object.values(s.markers).find(m => m._map && b.contains(m.getLatLng()));
        return [m.mqName.id, m.mqName.name]; }""")
    v.js(
        "(i) => { const s = window.minqing.state; s.map.panTo(s.markers[i].getLatLng(), {animate: false}); }",
        name_id,
    )
    v.idle()
    x, y = v.js(
        """(i) => { const s = window.minqing.state, b = s.map.getContainer().getBoundingClientRect(),
        p = s.map.latLngToContainerPoint(s.markers[i].getLatLng()); return [b.left + p.x, b.top + p.y]; }""",
        name_id,
    )
    v.page.mouse.click(x, y)
    v.page.wait_for_selector(".leaflet-popup h3")
    v.idle()
    assert v.page.inner_text(".leaflet-popup h3").startswith(name), name
    v.assert_clean()


def test_review_list_shows_every_flagged_name(officer, expected, truth):
    v = officer
    names = dict(zip(truth["names"]["name_id"].astype(int), truth["names"]["name"], strict=True))
    rows = {(r, names[i]) for i, r in expected.items() if r not in ("ok", "historical")}
    count = v.page.inner_text("#mq-review-count")
    assert f"共 {len(rows)} 条" in count
    _show_all(v)
    listed = v.js("""() => [...document.querySelectorAll('#mq-review li[data-row]')].map(li =>
        [li.dataset.result, li.querySelector('.mq-review-name').textContent])""")
    assert len(listed) == len(rows) and {tuple(r) for r in listed} == rows
    assert v.page.inner_text("#mq-review-count") == f"共 {len(rows)} 条"
    # The filter narrows the list to one class, with its own total.
    v.page.select_option("#mq-review-filter", "dayangguai")
    flagged = {n for r, n in rows if r == "dayangguai"}
    assert f"共 {len(flagged)} 条" in v.page.inner_text("#mq-review-count")
    assert {li for li in v.page.locator("#mq-review .mq-review-name").all_inner_texts()} == flagged
    v.assert_clean()


def _show_all(v) -> None:
    for _ in range(100):
        if not v.page.locator("#mq-review-more").is_visible():
            return
        v.page.click("#mq-review-more")
    raise AssertionError("the review list never ends")


def _open_from_review(v, name: str) -> None:
    v.page.select_option("#mq-review-filter", "")
    _show_all(v)
    v.page.locator(
        "#mq-review li[data-row]", has=v.page.locator(".mq-review-name", has_text=re.compile(f"^{name}$"))
    ).first.click()
    v.page.wait_for_function(
        "(n) => window.minqing.state.opened && document.querySelector('.leaflet-popup h3')"
        " && document.querySelector('.leaflet-popup h3').textContent.startsWith(n)",
        arg=name,
    )
    v.page.wait_for_function(
        "() => !/正在读取/.test(document.querySelector('.leaflet-popup [data-history]').innerText)"
    )
    v.idle()


def _popup_in_view(v) -> None:
    box = v.js("""() => { const pop = document.querySelector('.leaflet-popup').getBoundingClientRect(),
        map = document.querySelector('.folium-map').getBoundingClientRect(),
        head = document.querySelector('.mq-header').getBoundingClientRect(),
        panel = document.getElementById('mq-panel').getBoundingClientRect();
        return {top: pop.top, bottom: pop.bottom, left: pop.left, right: pop.right, mapTop: map.top,
                mapBottom: map.bottom, mapRight: map.right, header: head.bottom, panel: panel.right}; }""")
    assert box["top"] >= max(box["header"], box["mapTop"]), box  # not cut off under the header
    assert box["bottom"] <= box["mapBottom"] and box["right"] <= box["mapRight"], box
    assert box["left"] >= box["panel"], box  # not behind the side panel
    _clear_of_the_layer_control(v)


def _clear_of_the_layer_control(v) -> None:
    """The popup (and its close button) is not under the layer control, which is drawn above popups."""
    a, b = v.js("""() => [document.querySelector('.leaflet-popup'),
                       document.querySelector('.leaflet-control-layers')]
        .map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })""")
    assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


def test_popup_reads_chinese_once_and_stays_in_view(officer, api_as, truth):
    v = officer
    _open_from_review(v, "曼哈顿广场")
    text = v.page.inner_text(".leaflet-popup .mq-findings")
    assert "曼哈顿" in text and "广场" in text
    assert not re.search(r"[A-Za-z]{3,}", text), text  # no "foreign place name (Manhattan)", no "(square) ∉"
    result = v.page.inner_text(".leaflet-popup .mq-result")
    assert "大/洋/怪" in result and "洋" in result and "大" in result
    _popup_in_view(v)
    v.shot("placenames-popup")
    # A name whose only problem is its missing sign says so once.
    names = truth["names"]
    missing = names[~names["sign_present"].astype(bool) & (names["category"] == "road")]
    name_id = v.js(
        """(ids) => ids.find(i => window.minqing.state.names[i]
        && window.minqing.state.names[i].mqName.result === 'missing_sign')""",
        missing["name_id"].astype(int).tolist(),
    )
    name = v.js("(i) => window.minqing.state.names[i].mqName.name", name_id)
    _open_from_review(v, name)
    assert v.page.inner_text(".leaflet-popup .mq-pop-name").count("缺少地名标志") == 1
    _popup_in_view(v)
    v.assert_clean()


def test_popup_shows_the_names_history(officer, api_as):
    v = officer
    _open_from_review(v, "皇庭御府")
    name_id = v.js("() => window.minqing.state.opened")
    history = api_as(OFFICER).get(f"/placenames/{name_id}/history").json()
    assert history, "the demo records every name's creation"
    box = v.page.locator(".leaflet-popup [data-history]")
    assert box.locator(".mq-history-error").count() == 0, box.inner_text()
    items = box.locator("ol.mq-history-list li").all_inner_texts()
    assert len(items) == len(history)
    first = history[0]
    assert str(first["changed_at"])[:10] in items[0] and "命名" in items[0] and "皇庭御府" in items[0]
    sign = v.page.inner_text(".leaflet-popup .mq-sign")
    assert "皇庭御府" in sign and re.search(r"[A-Z][a-z]", sign)  # Chinese and its pinyin line
    _popup_in_view(v)
    v.assert_clean()


def test_search_opens_the_names_own_popup(officer):
    from pypinyin import lazy_pinyin

    v = officer
    for query in ("".join(lazy_pinyin("威尼斯花园")), "威尼斯"):
        v.page.fill("#mq-search-input", "")
        v.page.type("#mq-search-input", query, delay=15)
        v.page.wait_for_selector("#mq-search-results li[data-i]")
        assert "威尼斯花园" in v.page.inner_text("#mq-search-results"), query
    v.js("() => { window.minqing.state.opened = null; }")
    v.page.click("#mq-search-results li[data-i]")
    v.page.wait_for_function("() => window.minqing.state.opened")
    v.idle()
    assert v.page.inner_text(".leaflet-popup h3").startswith("威尼斯花园")
    assert "大/洋/怪" in v.page.inner_text(".leaflet-popup .mq-result")
    assert v.js("() => window.minqing.state.map.getZoom()") >= 16
    _popup_in_view(v)
    v.shot("placenames-search")
    v.assert_clean()


def test_popup_in_view_on_a_phone(visit, users):
    v = visit(width=390, height=844, mobile=True)
    v.signed_in("/placenames", OFFICER, users[OFFICER])
    v.page.type("#mq-search-input", "曼哈顿", delay=15)
    v.page.wait_for_selector("#mq-search-results li[data-i]")
    v.page.click("#mq-search-results li[data-i]")
    v.page.wait_for_function("() => window.minqing.state.opened")
    v.page.wait_for_function(
        "() => !/正在读取/.test(document.querySelector('.leaflet-popup [data-history]').innerText)"
    )
    v.idle()
    box = v.js("""() => { const pop = document.querySelector('.leaflet-popup').getBoundingClientRect(),
        map = document.querySelector('.folium-map').getBoundingClientRect(),
        sheet = document.getElementById('mq-panel').getBoundingClientRect();
        return {top: pop.top, bottom: pop.bottom, left: pop.left, right: pop.right, mapTop: map.top,
                sheetTop: sheet.top, width: window.innerWidth}; }""")
    assert box["top"] >= box["mapTop"] and box["bottom"] <= box["sheetTop"], box
    assert box["left"] >= 0 and box["right"] <= box["width"], box
    _clear_of_the_layer_control(v)
    v.shot("placenames-phone-popup")
    # The lists of the folded panel are filled when it is opened (the map was ready without them).
    assert v.js("() => document.querySelectorAll('#mq-review li[data-row]').length") == 0
    v.page.click("#mq-panel-toggle")
    v.page.wait_for_selector("#mq-review li[data-row]")
    flagged = v.js(
        "() => window.minqing.state.data.filter(n => !['ok', 'historical'].includes(n.result)).length"
    )
    assert 0 < v.js("() => window.minqing.state.review.shown") <= flagged
    assert v.js("() => window.minqing.state.work.total") == len(v.js("() => window.minqing.state.data"))
    v.assert_clean()
