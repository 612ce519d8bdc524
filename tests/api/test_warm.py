"""The background builder (``api.warm``): after a start, an edit or a run, the map pages and the planner's
first view of the latest run are built before anyone asks, and a 民情 report rebuilds no page.

"Built" is counted at the builders themselves (the page builders, the run queries behind each planner
response): a request the warmer prepared must build nothing. The URLs are those the planner page's
script asks for first (maps/static/planner.js ``load``), made from the page's own data.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter

import pytest
from api_fixture import PASSWORD, asgi_client, drain, fresh_database, load_fixture_district, make_settings
from sqlalchemy import text
from sqlalchemy.engine import make_url

from layers.db import session

SETTLE_S = 90.0


@pytest.fixture(scope="module")
def warm_db(db_url) -> str:
    url = fresh_database(db_url, make_url(db_url).database + "_warm")
    load_fixture_district(url)
    return url


@pytest.fixture(scope="module")
def built(monkeypatch_module) -> Counter:
    """Calls of each builder, from any thread."""
    import api.routes.maps as maps_routes
    import api.routes.planning as planning
    import api.routes.tiles as tiles

    counts: Counter = Counter()

    def counting(owner, name: str) -> None:
        real = getattr(owner, name)

        def wrapped(*args, **kwargs):
            counts[name] += 1
            return real(*args, **kwargs)

        monkeypatch_module.setattr(owner, name, wrapped)

    for name in ("build_public_map", "build_planner_map", "build_placenames_map"):
        counting(maps_routes, name)
    for name in ("areas_table", "gaps_table"):
        counting(planning.reports, name)
    counting(planning.store, "facility_results")
    counting(planning, "catchments_table")
    counting(planning.compliance_service, "compliance")
    counting(tiles.tile_pipeline, "render")
    return counts


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def warm_app(warm_db, built):
    from api.main import create_app

    app = create_app(make_settings(warm_caches=True), database_url=warm_db)
    with asgi_client(app) as client:  # the lifespan starts the warmer
        yield app, client


def _settled(app) -> None:
    """Wait until the warmer has built on the data as they are now."""
    assert app.state.warmer.caught_up(SETTLE_S), (
        f"the warmer did not catch up ({app.state.warmer.failures} failures)"
    )


def _login(client, username: str) -> dict[str, str]:
    r = client.post("/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _first_view(client, planner: dict[str, str]) -> list[str]:
    """What the planner page asks for first, from the page's own data (as planner.js's ``load`` does)."""
    page = client.get("/planner", headers=planner)
    assert page.status_code == 200
    data = json.loads(_page_data(page.text))
    run, kind, level, simplify = (
        data["run"]["run_id"],
        data["default_type"],
        data["default_level"],
        data["simplify_m"],
    )
    assert (
        data["gap_tiles"] and data["circles"][0]["class"] is None
    )  # gaps listed without geometry; all circles
    base = f"/coverage/runs/{run}"
    return [
        f"{base}/areas?level={level}&type={kind}&simplify={simplify:g}",
        f"{base}/gaps?type={kind}&geometry=false",
        f"{base}/facilities?type={kind}",
        f"{base}/catchments?type={kind}&simplify={simplify:g}",
        f"/compliance?run_id={run}",
    ]


def _page_data(html: str) -> str:
    """The JSON the page hands to ``minqing.planner`` (its ``data`` argument)."""
    start = html.index('{"district"')
    depth, i, in_str = 0, start, False
    while True:
        c = html[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return html[start : i + 1]
        i += 1


def test_pages_and_first_view_are_built_before_the_first_visitor(warm_app, warm_db, built):
    app, client = warm_app
    _settled(app)
    assert app.state.warmer.rounds >= 1 and app.state.warmer.failures == 0
    before = Counter(built)
    assert before["build_public_map"] == before["build_planner_map"] == before["build_placenames_map"] == 1
    planner, officer = _login(client, "planner"), _login(client, "officer")
    assert client.get("/").status_code == 200
    assert client.get("/placenames", headers=officer).status_code == 200
    urls = _first_view(client, planner)
    for url in urls:
        r = client.get(url, headers=planner)
        assert r.status_code == 200, (url, r.text)
    assert built == before, f"built on request: {built - before}"
    # and they were built: each planner response once, by the warmer
    assert all(
        before[n] >= 1
        for n in ("areas_table", "gaps_table", "facility_results", "catchments_table", "compliance")
    )


def test_a_report_rebuilds_nothing_an_edit_rebuilds_the_pages_once(warm_app, warm_db, built):
    app, client = warm_app
    _settled(app)
    before = Counter(built)
    body = {"category": "facility_damage", "description": "路灯不亮", "lon": 113.23, "lat": 22.62}
    assert client.post("/events", json=body, headers=_login(client, "gridworker")).status_code == 201
    _settled(app)
    assert client.get("/").status_code == 200
    assert built == before, f"a 民情 report rebuilt {built - before}"

    with session(warm_db, actor="tester") as s:
        fid, name = s.execute(
            text(
                "SELECT facility_id, name FROM facilities WHERE status = 'open' ORDER BY facility_id LIMIT 1"
            )
        ).one()
        s.execute(
            text("UPDATE facilities SET name = :n WHERE facility_id = :f"), {"n": name + "（新址）", "f": fid}
        )
    _settled(app)
    after_edit = Counter(built)
    assert after_edit["build_public_map"] == before["build_public_map"] + 1  # by the warmer, once
    page = client.get("/")
    v = re.search(r"/map-data/facilities/\{part\}\.json\?v=(\w+)", page.text)
    assert v is not None
    rows = "".join(
        r.text
        for r in (client.get(f"/map-data/facilities/{i}.json?v={v.group(1)}") for i in range(20))
        if r.status_code == 200
    )
    assert name + "（新址）" in rows  # the edit shows
    assert built == after_edit, f"built on request after the edit: {built - after_edit}"


def test_a_new_run_is_warmed_for_the_planner(warm_app, warm_db, built):
    app, client = warm_app
    planner = _login(client, "planner")
    _settled(app)
    pages = Counter(built)
    r = client.post("/coverage/runs", json={"full": True}, headers=planner)
    assert r.status_code == 202, r.text
    drain(warm_db)
    assert client.get(r.headers["location"], headers=planner).json()["status"] == "done"
    _settled(app)
    before = Counter(built)
    # the pages showing the run were built again for it, the place-name page (no run on it) was not
    assert before["build_planner_map"] == pages["build_planner_map"] + 1
    assert before["build_public_map"] == pages["build_public_map"] + 1
    assert before["build_placenames_map"] == pages["build_placenames_map"]
    urls = _first_view(client, planner)
    assert f"/coverage/runs/{r.json()['run_id']}/" in urls[0]  # the new run's
    for url in urls:
        assert client.get(url, headers=planner).status_code == 200, url
    assert built == before, f"built on request after the run: {built - before}"


def _screen_tiles(bounds, width: int, height: int) -> list[tuple[int, int, int]]:
    """The 256-pixel tiles a screen of ``width`` × ``height`` shows with the district fitted in it (as
    Leaflet's ``fitBounds`` picks the zoom), and at one zoom out (a page's panels take room)."""
    (south, west), (north, east) = bounds

    def world(lon, lat):  # Web Mercator, 0..1
        return (lon + 180) / 360, (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2

    (x0, y0), (x1, y1) = world(west, north), world(east, south)
    fit = math.floor(math.log2(min(width / ((x1 - x0) * 256), height / ((y1 - y0) * 256))))
    out = []
    for z in (fit - 1, fit):
        px, py = (x0 + x1) / 2 * 256 * 2**z, (y0 + y1) / 2 * 256 * 2**z
        for x in range(int((px - width / 2) // 256), int((px + width / 2) // 256) + 1):
            for y in range(int((py - height / 2) // 256), int((py + height / 2) // 256) + 1):
                out.append((z, x, y))
    return out


def test_first_view_tiles_are_built_before_the_first_visitor(warm_app, warm_db, built):
    app, client = warm_app
    _settled(app)
    before = Counter(built)
    planner, officer = _login(client, "planner"), _login(client, "officer")
    page = json.loads(_page_data(client.get("/planner", headers=planner).text))
    bounds, kind = page["district"]["bounds"], page["default_type"]
    asked = 0
    for width, height in ((1280, 800), (390, 844)):
        for z, x, y in _screen_tiles(bounds, width, height):
            for url, who in (
                (f"/tiles/roads/{z}/{x}/{y}.mvt", {}),  # anonymous, on the public map
                (f"/tiles/areas/{z}/{x}/{y}.mvt", planner),
                (f"/tiles/grids/{z}/{x}/{y}.mvt?level=grid_small", {}),
                (f"/tiles/gaps/{z}/{x}/{y}.mvt?type_code={kind}", planner),
                (f"/tiles/place_name_clusters/{z - 1}/{x // 2}/{y // 2}.mvt", officer),  # 512-pixel tiles
                (f"/tiles/facility_clusters/{z - 1}/{x // 2}/{y // 2}.mvt?status=open", {}),
            ):
                r = client.get(url, headers=who)
                assert r.status_code in (200, 204), (url, r.text)
                asked += 1
    assert asked > 50
    assert built == before, f"tiles built on request: {built - before}"
