"""The public map in headless Chromium against the demo district: one server and one browser per session.

Every page must load with zero console errors and zero requests to any host but the app; the
expected layers must be on the map. Screenshots go to tests/_artifacts/maps/ for a person to look at,
taken once the map stands still. The browser, the server and ``Visit`` are in conftest.py; the planner
and place-name maps have files of their own.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import numpy as np
import pytest

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844, "mobile": True}
ISOCHRONE_MS = 90_000  # a first isochrone builds the server's walking network (slow on a busy machine)
HEALTH_RED = "rgb(217, 48, 37)"  # 医疗卫生 (#d93025): clusters must not look like it


def _street_point_among_facilities(truth) -> tuple[float, float]:
    """A node on a public street next to the middle of the facilities (the town centre)."""
    edges, nodes, fac = truth["edges"], truth["nodes"].set_index("node_id"), truth["facilities"]
    public = edges[
        edges["access"].isna()
        & edges["highway"].isin(["primary", "secondary", "tertiary", "residential", "unclassified"])
    ]
    cand = nodes.loc[np.unique(public[["u", "v"]].to_numpy())]
    lon0, lat0 = fac["lon"].median(), fac["lat"].median()
    best = int(np.argmin(np.hypot((cand["lon"] - lon0).to_numpy(), (cand["lat"] - lat0).to_numpy())))
    return float(cand["lat"].iloc[best]), float(cand["lon"].iloc[best])


def _tap(v, lat: float, lon: float, *, zoom: int = 16) -> None:
    """Show (lat, lon) at ``zoom`` and click it on screen, like a person would."""
    v.js(
        "([lat, lon, z]) => { window.minqing.state.map.setView([lat, lon], z, {animate: false}); }",
        [lat, lon, zoom],
    )
    v.idle()
    x, y = v.js(
        """([lat, lon]) => { const m = window.minqing.state.map, p = m.latLngToContainerPoint([lat, lon]),
        r = m.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""",
        [lat, lon],
    )
    v.page.mouse.click(x, y)


def _isochrone_box(v) -> dict:
    """Screen box of the drawn isochrone polygons, of the map and of the panel (bottom sheet on phones)."""
    return v.js("""() => { const s = window.minqing.state, m = s.map; let b = null;
        s.layers.isochrones.eachLayer(l => { if (l.getBounds) b = b ? b.extend(l.getBounds()) :
            L.latLngBounds(
            l.getBounds().getSouthWest(), l.getBounds().getNorthEast()); });
        const c = m.getContainer().getBoundingClientRect(),
            p = document.getElementById('mq-panel').getBoundingClientRect();
        const nw = m.latLngToContainerPoint(b.getNorthWest()),
            se = m.latLngToContainerPoint(b.getSouthEast());
        return {top: c.top + nw.y, bottom: c.top + se.y, left: c.left + nw.x, right: c.left + se.x,
                mapTop: c.top, mapBottom: c.bottom, mapLeft: c.left, mapRight: c.right,
                panelTop: p.top, panelRight: p.right, collapsed: document.getElementById('mq-panel')
                    .classList.contains('mq-collapsed')}; }""")


# ---------------------------------------------------------------- the page and its layers


def test_public_map_offline_with_all_layers(visit, truth):
    v = visit()
    response = v.open("/")
    assert response.status == 200
    # the facility rows (popups, search, lists) are read once the map is up
    v.page.wait_for_function("() => !!window.minqing.state.facilities")
    state = v.js("""() => {
        const s = window.minqing.state, b = s.basemap;
        const roads = s.drawn.roads;  // road features drawn from the vector tiles in view
        const cluster = document.querySelector('.mq-cluster');
        const grids = new Set();  // small grids drawn from the vector tiles in view (the whole district)
        Object.values(s.grids._vectorTiles).forEach(t =>
            Object.keys(t._features).forEach(id => grids.add(id)));
        return {markers: Object.keys(s.facilities).length, grids: grids.size,
                water: b.water.getLayers().length, roads: roads,
                onMap: document.querySelectorAll('.mq-pin, .mq-cluster').length,
                clusterColour: cluster && getComputedStyle(cluster).backgroundColor,
                demo: document.querySelector('.mq-demo').textContent,
                title: document.title, lang: document.documentElement.lang};
    }""")
    assert state["markers"] == len(truth["facilities"])
    assert state["grids"] == len(truth["grids"])
    assert state["roads"] > 0 and state["water"] > 0
    assert state["onMap"] > 0, "no facility marker or cluster drawn"
    # the first view's pins and bubbles (from the clustered tiles) count every facility in view once
    drawn = v.js("""() => { const s = window.minqing.state, m = s.map, t = s.facilityTiles; let n = 0;
        m.eachLayer(l => { const icon = l.options && l.options.icon && l.options.icon.options;
            if (icon && icon.className === 'mq-cluster-wrap') n += Number(icon.html.match(/>(\\d+)</)[1]);
            else if (l.mqFacility) n += 1; });
        const inTiles = Object.values(s.facilities).filter(f => {
            const z = m.getZoom(), p = m.project([f.lat, f.lon], z).divideBy(512).floor();
            return !!t._mqTiles[t._tileCoordsToKey({x: p.x, y: p.y, z: z})]; }).length;
        return [n, inTiles]; }""")
    assert drawn[0] == drawn[1] and drawn[0] > 0, drawn
    # Clusters are neutral: they must not read as 医疗卫生 (red) or any category colour.
    r, g, b = (int(c) for c in re.findall(r"\d+", state["clusterColour"])[:3])
    assert max(r, g, b) - min(r, g, b) < 60 and r < 120, state["clusterColour"]
    assert state["demo"] == "演示数据(虚构)"
    assert state["lang"] == "zh-CN" and "民情地图" in state["title"]
    # Only our own app was asked for anything: the page, its assets, the base map's data and vector tiles.
    assert all(
        urlsplit(u).path in ("/", "/basemap.json")
        or urlsplit(u).path.startswith(("/assets/", "/tiles/", "/map-data/facilities/"))
        for u in v.requests
    ), v.requests
    assert any(urlsplit(u).path == "/basemap.json" for u in v.requests)
    assert any(urlsplit(u).path.startswith("/tiles/roads/") for u in v.requests)
    v.shot("public")
    v.assert_clean()


def test_every_interaction_stays_on_our_host(visit, truth):
    """The default offline map asks no other host for anything, whatever the user does."""
    v = visit()
    v.open("/")
    lat, lon = _street_point_among_facilities(truth)
    steps = {
        "zoom in": lambda: v.js("() => { window.minqing.state.map.setZoom(17); }"),
        "pan": lambda: v.js(f"() => {{ window.minqing.state.map.panTo([{lat}, {lon}]); }}"),
        "grids off": lambda: (
            v.page.locator(".leaflet-control-layers-overlays label", has_text="网格与网格员")
            .locator("input")
            .uncheck()
        ),
        "grids on": lambda: (
            v.page.locator(".leaflet-control-layers-overlays label", has_text="网格与网格员")
            .locator("input")
            .check()
        ),
        "popup": lambda: v.js("""() => window.minqing.state.openFacility(
            Object.keys(window.minqing.state.facilities)[0]).then(() => true)"""),
        "search": lambda: (
            v.page.fill("#mq-search-input", ""),
            v.page.type("#mq-search-input", "lu", delay=20),
            v.page.wait_for_selector("#mq-search-results li"),
        ),
        "zoom out": lambda: v.js("() => { window.minqing.state.map.setZoom(11); }"),
        "isochrone": lambda: (
            v.js("([a, b]) => { window.minqing.state.computeIsochrone(a, b); }", [lat, lon]),
            v.page.wait_for_function("() => window.minqing.state.isochrone", timeout=ISOCHRONE_MS),
        ),
    }
    for name, step in steps.items():
        step()
        v.idle()
        assert v.foreign == [], f"after {name}: {v.foreign}"
    assert {urlsplit(u).netloc for u in v.requests} == {v.host}
    v.assert_clean()


def test_public_popups_are_chinese_and_public(visit, truth):
    v = visit()
    v.open("/")
    fac = truth["facilities"].dropna(subset=["phone"]).iloc[0]
    html = v.js(
        """(id) => window.minqing.state.openFacility(id).then(m => m.getPopup().getElement().innerText)""",
        int(fac["facility_id"]),
    )
    assert fac["name"] in html and "开放时间" in html and "联系电话" in html and "地址" in html
    v.shot("public-popup")
    # a click inside a small grid (drawn from its vector tile) opens the grid's popup
    g = truth["grids"].iloc[0]
    inside = g.geometry.representative_point()
    v.js(
        """([lat, lon]) => { window.minqing.state.map.closePopup();
        window.minqing.state.map.setView([lat, lon], 17, {animate: false}); }""",
        [inside.y, inside.x],
    )
    v.idle()
    x, y = v.js(
        """([lat, lon]) => { const m = window.minqing.state.map, p = m.latLngToContainerPoint([lat, lon]),
        r = m.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""",
        [inside.y, inside.x],
    )
    v.page.mouse.click(x, y)
    v.page.wait_for_selector(".leaflet-popup .mq-pop")
    grid = v.page.inner_text(".leaflet-popup")
    assert g["name"] in grid and "网格员" in grid and "工作电话" in grid and g["worker_phone"] in grid, grid
    v.shot("public-grid-popup")
    v.assert_clean()


# ---------------------------------------------------------------- phones


def test_public_map_on_a_phone(visit):
    v = visit(**PHONE)
    v.open("/")
    layout = v.js("""() => { const p = document.getElementById('mq-panel').getBoundingClientRect(),
        f = document.getElementById('mq-iso-fab').getBoundingClientRect();
        return {panelBottom: p.bottom, panelWidth: p.width, vw: window.innerWidth, vh: window.innerHeight,
                search: document.getElementById('mq-search-input').getBoundingClientRect().width,
                fab: [f.top, f.bottom, f.width],
                fabText: document.getElementById('mq-iso-fab').innerText}; }""")
    assert layout["panelWidth"] == layout["vw"] and layout["panelBottom"] >= 840  # a bottom sheet
    assert layout["search"] > 300
    # The first view says what the map can do: a button for 15分钟内能到哪里, on screen.
    top, bottom, width = layout["fab"]
    assert width > 0 and 0 < top < bottom < layout["vh"] and "15分钟内能到哪里" in layout["fabText"]
    v.shot("public-phone")
    v.page.click("#mq-panel-toggle")
    v.shot("public-phone-panel")
    v.assert_clean()


def test_phone_isochrone_lands_above_the_sheet(visit, truth):
    lat, lon = _street_point_among_facilities(truth)
    v = visit(**PHONE)
    v.open("/")
    v.page.click("#mq-panel-toggle")  # a user who opened the sheet first
    v.page.click("#mq-iso-pick")
    # Picking folds the sheet away and says what to do.
    assert v.js("() => document.getElementById('mq-panel').classList.contains('mq-collapsed')")
    assert v.page.is_visible("#mq-pick-hint") and not v.page.is_visible("#mq-iso-fab")
    _tap(v, lat, lon)
    v.page.wait_for_function("() => window.minqing.state.isochrone", timeout=ISOCHRONE_MS)
    iso = v.js("() => window.minqing.state.isochrone")
    assert "error" not in iso and iso["features"] == 3
    v.idle()
    box = _isochrone_box(v)
    assert not box["collapsed"]  # the sheet is open with the list of services
    assert (
        box["top"] >= box["mapTop"] and box["left"] >= box["mapLeft"] and box["right"] <= box["mapRight"]
    ), box
    assert box["bottom"] <= box["panelTop"], f"the isochrone reaches under the sheet: {box}"
    assert not v.page.is_visible("#mq-pick-hint")
    v.shot("public-phone-isochrone")
    # The floating button starts a new pick.
    v.page.click("#mq-panel-toggle")
    v.page.click("#mq-iso-fab")
    assert v.js("() => window.minqing.state.picking") is True
    v.assert_clean()


def test_staff_pages_keep_their_navigation_on_a_phone(visit, users):
    v = visit(**PHONE)
    v.signed_in("/planner", "maps_planner", users["maps_planner"])
    assert not v.page.is_visible(".mq-nav-links a[href='/placenames']")
    v.page.click(".mq-menu-btn")
    for href, text in (("/", "公众地图"), ("/planner", "规划分析"), ("/placenames", "地名管理")):
        link = v.page.locator(f".mq-nav-links a[href='{href}']")
        assert link.is_visible() and link.inner_text() == text
        r = link.bounding_box()
        # on screen, big enough to tap
        assert r["x"] >= 0 and r["x"] + r["width"] <= 390 and r["height"] >= 30
    v.shot("planner-phone-menu")
    with v.page.expect_navigation():
        v.page.click(".mq-nav-links a[href='/']")
    v.page.wait_for_function(v.READY)
    assert urlsplit(v.page.url).path == "/"
    v.assert_clean()


# ---------------------------------------------------------------- search


def test_pinyin_search_finds_a_demo_road(visit, truth):
    from pypinyin import lazy_pinyin

    names = truth["names"]
    road = names[names["category"].isin(["road", "trunk_road"]) & (names["status"] == "standard")].iloc[0][
        "name"
    ]
    full = "".join(lazy_pinyin(road))
    initials = "".join(s[0] for s in lazy_pinyin(road))
    v = visit()
    v.open("/")
    for query in (full, initials, road):
        v.page.fill("#mq-search-input", "")
        v.page.type("#mq-search-input", query, delay=20)
        v.page.wait_for_selector("#mq-search-results li[data-i]", timeout=10_000)
        assert road in v.page.inner_text("#mq-search-results"), query
    v.page.click("#mq-search-results li[data-i]")
    v.page.wait_for_function("() => !!window.minqing.state.searchMarker")
    v.page.wait_for_selector(".leaflet-popup .mq-pop-hit")
    assert not v.page.is_visible("#mq-search-results")
    v.shot("public-search")
    v.assert_clean()


def _search(v, query: str) -> list[dict]:
    v.page.fill("#mq-search-input", "")
    v.page.type("#mq-search-input", query, delay=15)
    v.page.wait_for_function(
        "(q) => { const l = document.getElementById('mq-search-results');"
        " return !l.hidden && l.dataset.q === q; }",
        arg=query,
    )
    return v.js("""() => [...document.querySelectorAll('#mq-search-results li[data-i]')].map(li =>
        ({cls: li.className, text: li.innerText}))""")


def test_search_marks_names_that_are_not_standard(visit, truth, api_as):
    """Public maps use standard names: irregular ones are marked, a former name reads 原名 → 现名."""
    names = truth["names"]
    irregular = names[names["status"] == "irregular"]["name"].iloc[0]
    historical = names[names["status"] == "historical"]["name"].iloc[0]
    v = visit()
    v.open("/")
    api = api_as("maps_officer")
    for query, cls, tag in (
        (irregular, "mq-hit-irregular", "非标准名称"),
        (historical, "mq-hit-historical", "历史地名"),
    ):
        hits = api.get("/placenames/search", params={"q": query, "limit": 8}).json()
        row = next(h for h in hits if h["name"] == query)
        assert row["status"] in ("irregular", "historical")
        shown = _search(v, query)
        mine = [h for h in shown if h["text"].split("\n")[0] == query and "mq-hit-facility" not in h["cls"]]
        assert mine and all(cls in h["cls"] and tag in h["text"] for h in mine), shown
        standard = [h for h in shown if "mq-hit-standard" in h["cls"]]
        assert shown[: len(standard)] == standard  # standard names first
    # A renamed name is found by its old name and shown as 原名 → 现名 (renamed back afterwards).
    road = names[(names["status"] == "standard") & (names["category"] == "road")].iloc[0]
    new_name = road["name"].replace("路", "大街") if "路" in road["name"] else road["name"] + "新街"
    rid = int(road["name_id"])
    r = api.post(f"/placenames/{rid}/rename", json={"new_name": new_name, "approval": "测试〔2026〕1号"})
    assert r.status_code == 200, r.text
    try:
        shown = _search(v, road["name"])
        former = [h for h in shown if "mq-hit-former" in h["cls"]]
        assert former and re.search(f"原名 {road['name']}\\s*→\\s*{new_name}", former[0]["text"]), shown
        v.page.locator("#mq-search-results li.mq-hit-former").first.click()
        v.page.wait_for_selector(".leaflet-popup .mq-pop-hit")
        popup = v.page.inner_text(".leaflet-popup")
        assert popup.startswith(new_name) and f"“{road['name']}”为原名" in popup
        assert v.page.input_value("#mq-search-input") == new_name
    finally:
        back = api.post(
            f"/placenames/{rid}/rename", json={"new_name": road["name"], "approval": "测试〔2026〕2号"}
        )
        assert back.status_code == 200, back.text
    v.assert_clean()


# ---------------------------------------------------------------- 15分钟内能到哪里


def test_click_draws_isochrones_and_lists_facilities(visit, truth):
    lat, lon = _street_point_among_facilities(truth)
    v = visit()
    v.open("/")
    v.js(
        "([lat, lon]) => { window.minqing.state.map.setView([lat, lon], 17, {animate: false}); }", [lat, lon]
    )
    v.idle()
    v.page.click("#mq-iso-pick")
    _tap(v, lat, lon, zoom=17)
    v.page.wait_for_function("() => window.minqing.state.isochrone", timeout=ISOCHRONE_MS)
    iso = v.js("() => window.minqing.state.isochrone")
    assert "error" not in iso, iso
    assert iso["features"] == 3
    drawn = v.js("() => window.minqing.state.layers.isochrones.getLayers().length")
    assert drawn == 4  # three polygons and the 起点 marker
    listed = v.page.locator("#mq-iso-result li[data-fid]").count()
    assert listed == iso["facilities"] > 0, (lat, lon, v.page.inner_text("#mq-iso-status"))
    # Bands are (lo, hi]: each facility in exactly one, its minutes (rounded up) inside the band's label.
    bands = v.js("""() => [...document.querySelectorAll('#mq-iso-result ol[data-band]')].map(ol =>
        [Number(ol.dataset.band), [...ol.querySelectorAll('li')].map(li => [Number(li.dataset.time),
         Number(li.querySelector('.mq-fac-time').textContent.replace(/\\D/g, ''))])])""")
    minutes = [5, 10, 15]
    seen = 0
    for band, items in bands:
        lo, hi = (minutes[band - 1] if band else 0), minutes[band]
        for time_s, shown in items:
            assert lo * 60 < time_s <= hi * 60 + 1e-6 or (band == 0 and time_s == 0), (band, time_s)
            assert lo < shown <= hi or (band == 0 and shown == 1), (band, time_s, shown)
            seen += 1
    assert seen == listed
    box = _isochrone_box(v)
    # clear of the side panel
    assert box["left"] >= box["panelRight"] - 1 and box["top"] >= box["mapTop"], box
    assert "出发点：地图上所选位置" in v.page.inner_text("#mq-iso-status")
    v.shot("public-isochrone")
    v.assert_clean()


def test_isochrone_from_a_facility_names_it(visit, truth):
    v = visit()
    v.open("/")
    lat, lon = _street_point_among_facilities(truth)
    fac = (
        truth["facilities"]
        .assign(d=np.hypot(truth["facilities"]["lat"] - lat, truth["facilities"]["lon"] - lon))
        .sort_values("d")
        .iloc[0]
    )
    v.js(
        """(id) => window.minqing.state.openFacility(id).then(() => true)""",
        int(fac["facility_id"]),
    )
    v.page.click(".leaflet-popup [data-iso-fid]")
    v.page.wait_for_function("() => window.minqing.state.isochrone", timeout=ISOCHRONE_MS)
    iso = v.js("() => window.minqing.state.isochrone")
    assert iso["from"] == fac["name"]
    status = v.page.inner_text("#mq-iso-status")
    assert f"出发点：{fac['name']}" in status and not re.search(r"\d+\.\d{4}", status)  # no raw coordinates
    assert fac["name"] in v.page.inner_text(".mq-origin")
    v.shot("public-isochrone-facility")
    v.assert_clean()


def test_isochrone_outside_the_district_says_so_in_chinese(visit, truth):
    v = visit()
    v.open("/")
    lat, lon = _street_point_among_facilities(truth)
    v.js("([a, b]) => { window.minqing.state.computeIsochrone(a, b); }", [lat + 0.5, lon + 0.5])  # out at sea
    v.page.wait_for_function("() => window.minqing.state.isochrone && window.minqing.state.isochrone.error")
    text = v.page.inner_text("#mq-iso-status")
    assert "不在本区范围内" in text and "重新选点" in text
    assert not re.search(r"[A-Za-z]{2,}", text), text  # no "the point (...) lies outside the district"
    # The browser logs the refused request itself; that one is expected, nothing else.
    v.errors = [e for e in v.errors if "status of 422" not in e]
    v.assert_clean()


# ---------------------------------------------------------------- API docs and the CSP


@pytest.mark.parametrize(
    ("path", "operation", "shown"),
    [
        ("/docs", "#swagger-ui .opblock", "#swagger-ui .opblock .opblock-summary-path"),
        (
            "/redoc",
            "li[data-item-id*='/operation/']",
            "[data-section-id*='/operation/'] h2",
        ),  # menu, then the text
    ],
)
def test_api_docs_render_offline(visit, server, path, operation, shown):
    import httpx

    spec = httpx.get(server + "/openapi.json", timeout=60).json()
    # Both list an operation under each of its tags.
    count = sum(len(op.get("tags") or [None]) for ops in spec["paths"].values() for op in ops.values())
    v = visit()
    assert v.open(path, ready=False).status == 200
    v.page.wait_for_selector(operation, state="attached", timeout=60_000)
    # Swagger UI renders a long list lazily (virtualised) as it scrolls into view: scroll down the page
    # and collect every operation that appears, until all are seen or the page ends (Redoc's menu
    # holds them all at once).
    seen = v.page.evaluate(
        """async ([sel, count]) => {
        const ids = new Set(), pause = () => new Promise(r => setTimeout(r, 60));
        let still = 0;
        for (let i = 0; i < 2000 && still < 5; i++) {
            document.querySelectorAll(sel).forEach(e => ids.add(e.id || e.getAttribute('data-item-id')));
            if (ids.size >= count) break;
            const y = window.scrollY;
            window.scrollBy(0, Math.max(200, window.innerHeight / 2));
            await pause();
            still = window.scrollY === y ? still + 1 : 0;
        }
        window.scrollTo(0, 0);
        return ids.size; }""",
        [operation, count],
    )
    assert seen == count
    # Swagger UI may still be drawing its list again after the scroll back to the top: the locator finds
    # the operation anew until it is shown
    first = v.page.locator(shown).first
    first.wait_for(state="visible", timeout=30_000)
    assert first.inner_text().strip()
    if path == "/redoc":  # the search index runs in a web worker
        v.page.fill("input[role=search], input[placeholder^='Search']", "collections")
        v.page.wait_for_selector("[data-role='search:results'], [role='search'] ~ div li", timeout=15_000)
    v.shot(path.strip("/"))
    assert {urlsplit(u).netloc for u in v.requests} == {v.host}
    v.assert_clean()


def test_csp_blocks_injected_inline_script(visit):
    """The policy is in force: markup injected into a map page cannot run script (and is reported)."""
    v = visit()
    v.open("/")
    v.js("""() => { window.__mqViolations = [];
        document.addEventListener('securitypolicyviolation',
            e => window.__mqViolations.push(e.effectiveDirective));
        const d = document.createElement('div');
        d.innerHTML = '<img src="/assets/static/none.png" onerror="window.__xss = 1">';
        document.body.appendChild(d);
        const s = document.createElement('script'); s.textContent = 'window.__xss = 2';
        document.body.appendChild(s); }""")
    v.page.wait_for_function("() => window.__mqViolations.length >= 2", timeout=10_000)
    assert v.js("() => window.__xss") is None
    assert set(v.js("() => window.__mqViolations")) == {"script-src-attr", "script-src-elem"}
