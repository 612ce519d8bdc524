"""The maps in headless Chromium against the demo district: one server and one browser per session.

Every page must load with zero console errors and zero requests to any host but the app; the
expected layers must be on the map. Screenshots go to tests/_artifacts/maps/ for a person to look at.
Tests that need an API endpoint written elsewhere skip, naming the endpoint, until it is registered.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts" / "maps"
READY = "() => window.minqing && window.minqing.state && window.minqing.state.ready === true"


# ---------------------------------------------------------------- browser (session)

@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium missing: `apt-get install -y chromium chromium-driver` (or `make setup`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Visit:
    """A browser context that records console errors and every request, and blocks other hosts."""

    def __init__(self, browser, base: str, *, width: int = 1280, height: int = 800, mobile: bool = False):
        self.base = base
        self.host = urlsplit(base).netloc
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.foreign: list[str] = []
        self.context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN",
                                           is_mobile=mobile, has_touch=mobile, device_scale_factor=1)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url} {r.failure}")
                     if urlsplit(r.url).netloc == self.host else None)

    def _route(self, route):
        url = route.request.url
        self.requests.append(url)
        if urlsplit(url).netloc == self.host or url.startswith("data:"):
            route.continue_()
        else:
            self.foreign.append(url)
            route.abort()

    def open(self, path: str, *, ready: bool = True):
        response = self.page.goto(self.base + path, wait_until="load")
        if ready:
            self.page.wait_for_function(READY, timeout=20_000)
        return response

    def js(self, expression: str, arg=None):
        return self.page.evaluate(expression, arg)

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def login(self, username: str, password: str):
        """Log in through the Chinese form, like a person would."""
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        with self.page.expect_navigation():
            self.page.click("button[type=submit]")

    def assert_clean(self):
        assert self.foreign == [], f"requests to other hosts: {self.foreign}"
        assert self.errors == [], "\n".join(self.errors)

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, server):
    opened: list[Visit] = []

    def make(**kwargs) -> Visit:
        v = Visit(browser, server, **kwargs)
        opened.append(v)
        return v

    yield make
    for v in opened:
        v.close()


def _needs(app, method: str, path: str) -> None:
    """Skip (naming the endpoint) until the API serves ``method path`` (written by another module)."""
    def norm(p: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", p)

    paths = {norm(p): ops for p, ops in app.openapi().get("paths", {}).items()}
    if method.lower() not in paths.get(norm(path), {}):
        pytest.skip(f"waiting for the endpoint {method} {path} of docs/API_CONTRACT.md")


# ---------------------------------------------------------------- ground truth from the database

@pytest.fixture(scope="session")
def truth(demo_db) -> dict:
    from layers import queries
    from layers.db import session
    from maps import sources

    with session(demo_db) as s:
        facilities = sources.public_facilities(s)
        grids = sources.small_grids(s)
        names = sources.place_names(s)
        nodes = queries.nodes(s)
        edges = queries.edges(s, with_geometry=False)
    return {"facilities": facilities, "grids": grids, "names": names, "nodes": nodes, "edges": edges}


def _street_point_among_facilities(truth) -> tuple[float, float]:
    """A node on a public street next to the middle of the facilities (the town centre)."""
    import numpy as np

    edges, nodes, fac = truth["edges"], truth["nodes"].set_index("node_id"), truth["facilities"]
    public = edges[edges["access"].isna() & edges["highway"].isin(["primary", "secondary", "tertiary",
                                                                   "residential", "unclassified"])]
    cand = nodes.loc[np.unique(public[["u", "v"]].to_numpy())]
    lon0, lat0 = fac["lon"].median(), fac["lat"].median()
    best = int(np.argmin(np.hypot((cand["lon"] - lon0).to_numpy(), (cand["lat"] - lat0).to_numpy())))
    return float(cand["lat"].iloc[best]), float(cand["lon"].iloc[best])


# ---------------------------------------------------------------- public map

def test_public_map_offline_with_all_layers(visit, truth):
    v = visit()
    response = v.open("/")
    assert response.status == 200
    state = v.js("""() => {
        const s = window.minqing.state, b = s.basemap;
        let roads = 0; Object.values(b.roads).forEach(p => roads += p.fill.getLayers().length);
        return {markers: Object.keys(s.markers).length, grids: s.grids.getLayers().length,
                water: b.water.getLayers().length, roads: roads,
                onMap: document.querySelectorAll('.mq-pin, .mq-cluster').length,
                demo: document.querySelector('.mq-demo').textContent,
                title: document.title, lang: document.documentElement.lang};
    }""")
    assert state["markers"] == len(truth["facilities"])
    assert state["grids"] == len(truth["grids"])
    assert state["roads"] > 0 and state["water"] > 0
    assert state["onMap"] > 0, "no facility marker or cluster drawn"
    assert state["demo"] == "演示数据(虚构)"
    assert state["lang"] == "zh-CN" and "民情地图" in state["title"]
    # Only our own app was asked for anything: the page, its assets, nothing else.
    assert all(urlsplit(u).path == "/" or urlsplit(u).path.startswith("/assets/") for u in v.requests), v.requests
    v.shot("public")
    v.assert_clean()


def test_public_popups_are_chinese_and_public(visit, truth):
    v = visit()
    v.open("/")
    fac = truth["facilities"].dropna(subset=["phone"]).iloc[0]
    html = v.js("""(id) => { const m = window.minqing.state.markers[id];
        window.minqing.state.map.setView(m.getLatLng(), 18, {animate: false});
        m.openPopup(); return m.getPopup().getElement().innerText; }""", int(fac["facility_id"]))
    assert fac["name"] in html and "开放时间" in html and "联系电话" in html and "地址" in html
    v.page.wait_for_timeout(300)  # the popup's auto-pan
    v.shot("public-popup")
    grid = v.js("""() => { const g = window.minqing.state.grids.getLayers()[0];
        g.openPopup(g.getBounds().getCenter()); return g.getPopup().getElement().innerText; }""")
    assert "网格员" in grid and "工作电话" in grid
    v.page.wait_for_timeout(300)
    v.shot("public-grid-popup")
    v.assert_clean()


def test_public_map_on_a_phone(visit):
    v = visit(width=390, height=844, mobile=True)
    v.open("/")
    layout = v.js("""() => { const p = document.getElementById('mq-panel').getBoundingClientRect();
        return {panelBottom: p.bottom, panelWidth: p.width, vw: window.innerWidth,
                search: document.getElementById('mq-search-input').getBoundingClientRect().width}; }""")
    assert layout["panelWidth"] == layout["vw"] and layout["panelBottom"] >= 840  # a bottom sheet
    assert layout["search"] > 300
    v.shot("public-phone")
    v.page.click("#mq-panel-toggle")
    v.shot("public-phone-panel")
    v.assert_clean()


def test_pinyin_search_finds_a_demo_road(app, visit, truth):
    _needs(app, "GET", "/placenames/search")
    from pypinyin import lazy_pinyin

    names = truth["names"]
    road = names[names["category"].isin(["road", "trunk_road"])].iloc[0]["name"]
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
    v.page.wait_for_timeout(700)  # the zoom animation to the place
    v.shot("public-search")
    v.assert_clean()


def test_click_draws_isochrones_and_lists_facilities(app, visit, truth):
    _needs(app, "GET", "/isochrones")
    lat, lon = _street_point_among_facilities(truth)
    v = visit()
    v.open("/")
    v.js("([lat, lon]) => { window.minqing.state.map.setView([lat, lon], 17, {animate: false}); }", [lat, lon])
    v.page.wait_for_timeout(500)  # the marker clusters split with a short animation
    v.page.click("#mq-iso-pick")
    box = v.page.locator(".folium-map").bounding_box()
    v.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    v.page.wait_for_function("() => window.minqing.state.isochrone", timeout=20_000)
    iso = v.js("() => window.minqing.state.isochrone")
    assert "error" not in iso, iso
    assert iso["features"] == 3
    drawn = v.js("() => window.minqing.state.layers.isochrones.getLayers().length")
    assert drawn == 4  # three polygons and the 起点 marker
    listed = v.page.locator("#mq-iso-result li[data-fid]").count()
    v.shot("public-isochrone")
    assert listed == iso["facilities"] > 0, (lat, lon, v.page.inner_text("#mq-iso-status"))  # the town centre has services within 15 minutes on foot
    v.shot("public-isochrone")
    v.assert_clean()


# ---------------------------------------------------------------- planner map

def test_planner_refuses_anonymous_users(app, server):
    import httpx

    r = httpx.get(server + "/planner", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/planner"
    r = httpx.get(server + "/placenames", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/placenames"


PLANNER_ENDPOINTS = ("/coverage/runs/{run_id}/areas", "/coverage/runs/{run_id}/gaps",
                     "/coverage/runs/{run_id}/facilities", "/scenarios", "/compliance")


def test_planner_login_then_map(visit, users, app, demo_db):
    from layers import store
    from layers.db import session

    with session(demo_db) as s:
        if store.latest_run(s) is not None:  # then the page fetches the planner endpoints
            for path in PLANNER_ENDPOINTS:
                _needs(app, "GET", path)
    v = visit()
    v.open("/planner", ready=False)
    assert v.page.url.endswith("/login?next=/planner")
    assert "工作人员登录" in v.page.inner_text("h1")
    v.shot("login")
    v.login("maps_planner", users["maps_planner"])
    assert v.page.url.endswith("/planner")
    v.page.wait_for_function(READY, timeout=20_000)
    state = v.js("""() => ({types: document.querySelectorAll('#mq-type option').length,
                           levels: document.querySelectorAll('#mq-level option').length,
                           user: document.querySelector('.mq-user').textContent,
                           loaded: window.minqing.state.loaded || null})""")
    assert state["types"] > 5 and state["levels"] == 5 and state["user"] == "maps_planner"
    v.shot("planner")
    v.assert_clean()


def test_planner_coverage_layers(visit, users, app, demo_db):
    for path in PLANNER_ENDPOINTS:
        _needs(app, "GET", path)
    from layers import store
    from layers.db import session

    with session(demo_db) as s:
        if store.latest_run(s) is None:  # run alone: compute the coverage the planner map shows
            from api.services import coverage as service

            service.run_and_store(s, incremental=False)
    v = visit()
    v.open("/login?next=/planner", ready=False)
    v.login("maps_planner", users["maps_planner"])
    v.page.wait_for_function(READY, timeout=30_000)
    loaded = v.js("() => window.minqing.state.loaded")
    assert "error" not in loaded, loaded
    assert loaded["areas"] > 0
    for level in ("community", "town"):
        v.page.select_option("#mq-level", level)
        v.page.wait_for_function(f"() => window.minqing.state.loaded.level === '{level}'", timeout=20_000)
    v.shot("planner-coverage")
    v.assert_clean()


# ---------------------------------------------------------------- place-name map

def test_placenames_roles(visit, users):
    v = visit()
    v.open("/login?next=/placenames", ready=False)
    v.login("maps_worker", users["maps_worker"])
    assert "无权访问" in v.page.inner_text("h1")  # a grid worker may not see it


def test_placename_map_for_the_officer(visit, users, truth):
    v = visit()
    v.open("/login?next=/placenames", ready=False)
    v.login("maps_officer", users["maps_officer"])
    v.page.wait_for_function(READY, timeout=30_000)
    counts = v.js("""() => { const out = {}; Object.entries(window.minqing.state.layers).forEach(([k, g]) =>
        out[k] = g.getLayers().length); out.names = Object.keys(window.minqing.state.names).length; return out; }""")
    assert counts["names"] == len(truth["names"])
    assert counts["heritage"] == int(truth["names"]["heritage"].sum())
    review = v.page.locator("#mq-review li[data-id]").count()
    assert review > 0, "the demo has flagged names; none listed for review"
    v.shot("placenames")
    v.assert_clean()


def test_placename_popup_with_sign_and_history(app, visit, users):
    _needs(app, "GET", "/placenames/{name_id}/history")
    v = visit()
    v.open("/login?next=/placenames", ready=False)
    v.login("maps_officer", users["maps_officer"])
    v.page.wait_for_function(READY, timeout=30_000)
    v.page.locator("#mq-review li[data-id]").first.click()
    v.page.wait_for_selector(".leaflet-popup .mq-sign")
    sign = v.page.inner_text(".leaflet-popup .mq-sign")
    assert re.search(r"[A-Z][a-z]", sign), sign  # the pinyin line
    v.page.wait_for_function("() => !/正在读取/.test(document.querySelector('.leaflet-popup [data-history]').innerText)",
                             timeout=10_000)
    assert "沿革" in v.page.inner_text(".leaflet-popup [data-history]")
    v.shot("placenames-popup")
    v.assert_clean()
