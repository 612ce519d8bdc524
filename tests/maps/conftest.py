"""Fixtures of the map tests: a tiny hand-made district (no DB) and, for the browser tests, one
uvicorn server on the demo database plus one headless Chromium for the whole session."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box

ROOT = Path(__file__).resolve().parents[2]


def _ensure_real_package(name: str) -> None:
    """pytest puts ``tests/`` on sys.path and ``tests/geo/placenames`` (no ``__init__.py``) then shadows
    ``geo.placenames`` as a namespace package; load the real one. (``pythonpath = ["."]`` in the pytest
    settings would make this unnecessary.)"""
    try:
        current = importlib.import_module(name)
    except ImportError:
        current = None
    if current is not None and getattr(current, "__file__", None):
        return
    folder = ROOT.joinpath(*name.split("."))
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_ensure_real_package("geo.placenames")
os.environ.setdefault("MINQING_SECRET_KEY", "test-secret-key-for-minqing-maps-tests")
PASSWORD = "maps-test-password"
USERS = {
    "maps_planner": "planner",
    "maps_officer": "placename_officer",
    "maps_worker": "grid_worker",
    "maps_admin": "admin",
}

LON0, LAT0 = 113.30, 22.60
D = 0.01  # ≈ 1 km


@pytest.fixture(scope="session")
def tiny() -> dict:
    """A 2 km × 1 km district: 2 towns, 2 communities, 2 small grids, 3 roads, a river, 3 facilities."""

    def sq(i: int, j: int, w: float = D, h: float = D):
        return box(LON0 + i * w, LAT0 + j * h, LON0 + (i + 1) * w, LAT0 + (j + 1) * h)

    areas = gpd.GeoDataFrame(
        {
            "area_id": [1, 2, 3, 4, 5, 6, 7, 8, 9],
            "parent_id": pd.array([None, 1, 1, 2, 3, 4, 5, 6, 7], dtype="Int64"),
            "level": [
                "district",
                "town",
                "town",
                "community",
                "community",
                "grid_middle",
                "grid_middle",
                "grid_small",
                "grid_small",
            ],
            "code": [f"{i:012d}" for i in range(1, 10)],
            "name": [
                "澄湾区",
                "东涌街道",
                "西岭镇",
                "东涌社区",
                "西岭村",
                "东涌中网格",
                "西岭中网格",
                "东涌第一网格",
                "西岭第一网格",
            ],
            "worker_name": [None] * 7 + ["李网格员", "王网格员"],
            "worker_phone": [None] * 7 + ["0750-1234567", "0750-7654321"],
        },
        geometry=[
            box(LON0, LAT0, LON0 + 2 * D, LAT0 + D),
            sq(0, 0),
            sq(1, 0),
            sq(0, 0),
            sq(1, 0),
            sq(0, 0),
            sq(1, 0),
            sq(0, 0),
            sq(1, 0),
        ],
        crs=4326,
    )
    edges = gpd.GeoDataFrame(
        {
            "highway": ["primary", "residential", "footway"],
            "name": ["滨海大道", "东涌路", None],
        },
        geometry=[
            LineString([(LON0, LAT0 + D / 2), (LON0 + 2 * D, LAT0 + D / 2)]),
            LineString([(LON0 + D / 2, LAT0), (LON0 + D / 2, LAT0 + D)]),
            LineString([(LON0 + 1.5 * D, LAT0), (LON0 + 1.5 * D, LAT0 + D)]),
        ],
        crs=4326,
    )
    water = gpd.GeoDataFrame(
        {"kind": ["river"], "name": ["澄江"]},
        geometry=[box(LON0, LAT0 + 0.8 * D, LON0 + 2 * D, LAT0 + 0.9 * D)],
        crs=4326,
    )
    facilities = pd.DataFrame(
        {
            "facility_id": [11, 12, 13],
            "type_code": ["kindergarten", "health_center", "elderly_daycare"],
            "name": ["东涌幼儿园", "东涌社区卫生服务中心", "西岭日间照料中心"],
            "lon": [LON0 + 0.3 * D, LON0 + 0.6 * D, LON0 + 1.4 * D],
            "lat": [LAT0 + 0.3 * D] * 3,
            "address": ["东涌路1号", None, "西岭村2号"],
            "opening_hours": ["08:00-17:30", None, "周一至周五"],
            "phone": ["0750-1111111", None, None],
            "status": ["open"] * 3,
        }
    )
    types = pd.DataFrame(
        {
            "code": ["kindergarten", "health_center", "elderly_daycare"],
            "name_zh": ["幼儿园", "社区卫生服务中心", "老年人日间照料中心"],
            "category": ["education", "health", "elderly"],
            "urban_tier": ["5min", "15min", "5min"],
            "rural_tier": ["village", "township", "village"],
            "required": [True, True, True],
        }
    )
    names = gpd.GeoDataFrame(
        {
            "name_id": [21, 22, 23, 24, 25],
            "name": ["东涌路", "滨海大道", "曼哈顿花园", "东涌路", "古榕村"],
            "category": ["road", "trunk_road", "estate", "road", "natural_village"],
            "area_id": [4, 4, 5, 5, 9],
            "proper": [None] * 5,
            "generic": [None] * 5,
            "pinyin": [None] * 5,
            "status": ["standard"] * 5,
            "heritage": [False, False, False, False, True],
            "sign_present": [True, False, True, True, True],
            "approval": ["澄府〔2020〕1号", None, None, None, None],
            "meaning": [None, None, None, None, "村口古榕树得名"],
        },
        geometry=[
            edges.geometry[1],
            edges.geometry[0],
            Point(LON0 + 1.2 * D, LAT0 + 0.2 * D),
            Point(LON0 + 1.7 * D, LAT0 + 0.5 * D),
            Point(LON0 + 1.8 * D, LAT0 + 0.2 * D),
        ],
        crs=4326,
    )
    return {
        "areas": areas,
        "edges": edges,
        "water": water,
        "facilities": facilities,
        "types": types,
        "names": names,
        "district": {"name": "澄湾区", "bounds": [[LAT0, LON0], [LAT0 + D, LON0 + 2 * D]], "demo": True},
    }


# ---------------------------------------------------------------- the app on a loopback port (session)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_on(database_url: str):
    """The service on ``database_url``, as the browser tests use it."""
    from api.main import create_app
    from settings import ApiSettings

    # Many sign-ins from one address in one session: the login throttle would refuse them.
    settings = ApiSettings(
        secret_key=os.environ["MINQING_SECRET_KEY"],
        bcrypt_rounds=4,
        rate_limit_per_second=0,
        login_burst=10_000,
        database_url=database_url,
    )
    return create_app(settings, database_url=database_url)


@pytest.fixture(scope="session")
def app(demo_db):
    return app_on(demo_db)


@pytest.fixture(scope="session")
def users(demo_db) -> dict[str, str]:
    """Test accounts, one per role: username → password."""
    from api.security import hash_password
    from layers import users as accounts
    from layers.db import session

    with session(demo_db, actor="pytest") as s:
        for name, role in USERS.items():
            if accounts.by_username(s, name) is None:
                accounts.create(s, username=name, password_hash=hash_password(PASSWORD, rounds=4), role=role)
    return dict.fromkeys(USERS, PASSWORD)


@contextmanager
def serving(app) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free loopback port (in a thread); yields its base URL."""
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def server(app, demo_db) -> Iterator[str]:
    """The app, and a real worker of the task queue beside it (siting and coverage runs are jobs)."""
    from worker_fixture import worker_process

    with worker_process(demo_db), serving(app) as base:
        yield base


# ---------------------------------------------------------------- headless Chromium (session)

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Every host but the test server's loopback address fails to resolve: nothing leaves the machine.
    # (Blocking by page.route would send every request through Python and turn Chromium's HTTP cache off.)
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts" / "maps"
READY = (
    "() => window.minqing && window.minqing.state && window.minqing.state.ready === true"
    " && !window.minqing.state.tilesPending"
)
"""Our scripts have drawn every layer, and every vector tile in view has arrived and been drawn."""
# The map has stopped: no pan or zoom under way, no marker-cluster animation, no popup fading in —
# seen still at three polls in a row (Leaflet starts its animations a frame after the call). A plain
# function: wait_for_function takes a returned Promise itself for a truthy answer.
IDLE = """() => {
    const s = window.minqing && window.minqing.state, m = s && s.map;
    const cluster = s && s.layers && s.layers.cluster;
    const fading = [...document.querySelectorAll('.leaflet-popup, .leaflet-tooltip')]
        .some(e => getComputedStyle(e).opacity !== '1' && getComputedStyle(e).opacity !== '0.9');
    const busy = !m || s.moving || m._animatingZoom || (m._panAnim && m._panAnim._inProgress)
        || (cluster && cluster._inZoomAnimation > 0) || fading || s.tilesPending > 0;
    window.__mqStill = busy ? 0 : (window.__mqStill || 0) + 1;
    return window.__mqStill >= 3;
}"""


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "Debian chromium missing: `apt-get install -y chromium chromium-driver` (or `make setup`)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Visit:
    """A browser context that records console errors and every request, and blocks other hosts."""

    READY = READY

    def __init__(self, browser, base: str, *, width: int = 1280, height: int = 800, mobile: bool = False):
        from urllib.parse import urlsplit

        self.base = base
        self.host = urlsplit(base).netloc
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.foreign: list[str] = []
        self.context = browser.new_context(
            viewport={"width": width, "height": height},
            locale="zh-CN",
            is_mobile=mobile,
            has_touch=mobile,
            device_scale_factor=1,
        )
        self.page = self.context.new_page()
        self.page.on("request", self._request)
        self.page.on(
            "console",
            lambda m: (
                self.errors.append(f"console.{m.type}: {m.text}") if m.type in ("error", "warning") else None
            ),
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on(
            "requestfailed",
            lambda r: (
                self.errors.append(f"request failed: {r.url} {r.failure}")
                if urlsplit(r.url).netloc == self.host
                else None
            ),
        )

    def _request(self, request):
        """Record every request that goes on the wire; one to another host is a failure (Chromium cannot
        resolve it: ``ARGS``)."""
        from urllib.parse import urlsplit

        url = request.url
        if url.startswith(("data:", "blob:")):  # made in the page, nothing on the wire
            return
        self.requests.append(url)
        if urlsplit(url).netloc != self.host:
            self.foreign.append(url)

    def open(self, path: str, *, ready: bool = True):
        response = self.page.goto(self.base + path, wait_until="load")
        if ready:
            self.page.wait_for_function(READY, timeout=30_000)
        return response

    def js(self, expression: str, arg=None):
        return self.page.evaluate(expression, arg)

    def click_map(self, lat: float, lon: float, zoom: int = 17) -> None:
        """Centre the map on a point at ``zoom``, wait until it is drawn, and click there as a person
        would (layers drawn from vector tiles have no Leaflet layer per feature to open)."""
        self.js(
            """([lat, lon, z]) => { window.minqing.state.map.setView([lat, lon], z, {animate: false}); }""",
            [lat, lon, zoom],
        )
        self.idle()
        x, y = self.js(
            """([lat, lon]) => { const m = window.minqing.state.map, p = m.latLngToContainerPoint([lat, lon]),
            r = m.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""",
            [lat, lon],
        )
        self.page.mouse.click(x, y)

    def idle(self) -> None:
        """Wait until the map has finished moving and drawn (never a fixed sleep)."""
        self.page.evaluate("() => { window.__mqStill = 0; }")
        self.page.wait_for_function(IDLE, timeout=15_000, polling=50)

    def shot(self, name: str) -> Path:
        """Screenshot for a person to look at, taken once the map is still (pages without a map at once)."""
        if self.page.query_selector(".leaflet-container"):
            self.idle()
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

    def signed_in(self, path: str, username: str, password: str) -> None:
        """Open ``path`` through the login form and wait for the map."""
        self.open(f"/login?next={path}", ready=False)
        self.login(username, password)
        self.page.wait_for_function(READY, timeout=60_000)

    def assert_clean(self):
        assert self.foreign == [], f"requests to other hosts: {self.foreign}"
        assert self.errors == [], "\n".join(self.errors)

    def close(self):
        self.context.close()


@pytest.fixture
def visit_at(browser):
    """``visit_at(base_url, **kwargs)`` → a ``Visit`` of the server at ``base_url``
    (closed after the test).
    """
    opened: list[Visit] = []

    def make(base: str, **kwargs) -> Visit:
        v = Visit(browser, base, **kwargs)
        opened.append(v)
        return v

    yield make
    for v in opened:
        v.close()


@pytest.fixture
def visit(visit_at, server):
    return lambda **kwargs: visit_at(server, **kwargs)


@pytest.fixture(scope="session")
def serve_database():
    """``with serve_database(url) as base:`` runs the service on the database ``url`` (another server),
    with a real worker of the task queue beside it, as ``server`` has."""
    from worker_fixture import worker_process

    @contextmanager
    def serve(url: str) -> Iterator[str]:
        with worker_process(url), serving(app_on(url)) as base:
            yield base

    return serve


@pytest.fixture
def api_as(server, users):
    """``api_as(username)`` → an httpx client signed in through POST /auth/login (closed after the test)."""
    import httpx

    opened: list[httpx.Client] = []

    def make(username: str) -> httpx.Client:
        c = httpx.Client(base_url=server, timeout=180)
        r = c.post("/auth/login", data={"username": username, "password": users[username], "next": "/"})
        assert r.status_code in (200, 303), r.text
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.close()


@pytest.fixture(scope="session")
def truth(demo_db) -> dict:
    """What the maps should show, read from the database without the maps' code paths."""
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


# ---------------------------------------------------------------- planner data (session)


@pytest.fixture(scope="session")
def coverage_run(demo_db) -> int:
    """The demo district's coverage, computed once for the planner tests (the run the page shows)."""
    from layers import store
    from layers.db import session
    from pipeline import coverage as service

    with session(demo_db, actor="pytest") as s:
        run = store.latest_run(s)
        if run is None or service.is_stale(s, run):
            service.run_and_store(s, incremental=False)
            run = store.latest_run(s)
        return int(run["run_id"])


@pytest.fixture(scope="session")
def demo_scenarios(demo_db, demo_district, coverage_run) -> dict[str, int]:
    """The demo's what-if scenarios, saved and evaluated as `minqing demo load` does: name → id."""
    from api.cli.demo import save_demo_scenarios
    from layers.db import session

    with session(demo_db, actor="pytest") as s:
        rows = save_demo_scenarios(s, demo_district)
    return {r["name"]: int(r["scenario_id"]) for r in rows}
