"""The public map's resident questions in headless Chromium on the demo district: the nearest services
(against an independent networkx Dijkstra), one search box for facilities and places, no staff links
for anonymous visitors. Server, browser and ``Visit`` are in conftest.py."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "geo"))  # tests/geo/demo_truth.py

PHONE = {"width": 390, "height": 844, "mobile": True}
ISOCHRONE_MS = 90_000  # a first isochrone builds the server's walking network (slow on a busy machine)


def _sample_street_points(truth, n: int, seed: int) -> list[tuple[float, float]]:
    """``n`` (lat, lon) a few metres off public streets, spread over the district."""
    edges, nodes = truth["edges"], truth["nodes"].set_index("node_id")
    public = edges[
        edges["access"].isna()
        & edges["highway"].isin(["primary", "secondary", "tertiary", "residential", "unclassified"])
    ]
    rng = np.random.default_rng(seed)
    rows = public.iloc[rng.choice(len(public), size=n, replace=False)]
    a, b = nodes.loc[rows["u"]], nodes.loc[rows["v"]]
    t = rng.uniform(0.2, 0.8, size=n)
    lat = a["lat"].to_numpy() * (1 - t) + b["lat"].to_numpy() * t + 0.00005
    lon = a["lon"].to_numpy() * (1 - t) + b["lon"].to_numpy() * t
    return list(zip(lat.tolist(), lon.tolist(), strict=True))


def _nearest_listed(v) -> list[dict]:
    return v.js("""() => [...document.querySelectorAll('#mq-nearest-result li[data-fid]')].map(li => ({
        fid: Number(li.dataset.fid), type: li.dataset.type,
        walk: li.dataset.walk === 'null' ? null : Number(li.dataset.walk),
        ebike: li.dataset.ebike === 'null' ? null : Number(li.dataset.ebike), text: li.innerText}))""")


def test_nearest_services_equal_networkx(visit, truth, demo_db):
    """From sampled points: per facility type the listed facility is the nearest on foot by an independent
    networkx Dijkstra (no cut-off), with its walking and e-bike times to 0.1 s; every type reachable
    is listed; minutes shown are the seconds rounded up."""
    from demo_truth import DemoTruth, read_profiles

    from layers import lookup
    from layers.db import session

    with session(demo_db) as s:  # exact positions (the page's are rounded to 1e-6 degrees)
        fac = lookup.facility_points(s)
    where = {int(f.facility_id): (f.lon, f.lat) for f in fac.itertuples()}
    type_of = dict(zip(fac["facility_id"].astype(int), fac["type_code"], strict=True))
    v = visit()
    v.open("/")
    shown = []
    for k, (lat, lon) in enumerate(_sample_street_points(truth, 3, seed=18)):
        v.js(
            "([a, b]) => { window.minqing.state.nearest = null; "
            "window.minqing.state.computeIsochrone(a, b); }",
            [lat, lon],
        )
        v.page.wait_for_function("() => window.minqing.state.nearest", timeout=60_000)
        state = v.js("() => window.minqing.state.nearest")
        assert "error" not in state, state
        shown.append((state["origin"], _nearest_listed(v)))
        if k == 0:
            v.shot("public-nearest")
    # one truth graph per profile with every sampled origin attached (each origin's times are those
    # of a graph with it alone: attaching a point subdivides an edge without changing any path)
    origins = {k: (o["lon"], o["lat"]) for k, (o, _) in enumerate(shown)}
    truths = {
        profile: DemoTruth(
            truth["nodes"], truth["edges"], read_profiles()[profile], origins=origins, destinations=where
        )
        for profile in ("walk", "ebike")
    }
    compared = 0
    for k, (_, listed) in enumerate(shown):
        times = {profile: net.times_from(k, np.inf) for profile, net in truths.items()}
        reachable_types = {type_of[f] for p in times.values() for f in p}
        assert {r["type"] for r in listed} == reachable_types
        for r in listed:
            of_type = [f for f in where if type_of[f] == r["type"]]
            best = min((times["walk"][f] for f in of_type if f in times["walk"]), default=None)
            if best is None:
                assert r["walk"] is None
                continue
            assert r["walk"] == pytest.approx(times["walk"][r["fid"]], abs=0.051)
            assert r["walk"] == pytest.approx(best, abs=0.051), (r, best)
            if r["fid"] in times["ebike"]:
                assert r["ebike"] == pytest.approx(times["ebike"][r["fid"]], abs=0.051)
            else:
                assert r["ebike"] is None
            assert f"步行 {max(1, int(np.ceil(r['walk'] / 60 - 1e-9)))} 分钟" in r["text"]
            compared += 1
    assert compared >= 30
    v.assert_clean()


def test_elderly_walking_reaches_less_than_walking(visit, truth):
    """The 老年人步行 option recomputes the isochrone from the same point with the walk_elderly profile."""
    lat, lon = _sample_street_points(truth, 1, seed=5)[0]
    v = visit()
    v.open("/")
    v.js("([a, b]) => { window.minqing.state.computeIsochrone(a, b); }", [lat, lon])
    v.page.wait_for_function(
        "() => window.minqing.state.isochrone && window.minqing.state.isochrone.profile === 'walk'"
    )
    walk = v.js("() => window.minqing.state.isochrone")
    v.page.check("input[name='mq-iso-profile'][value='walk_elderly']")
    v.page.wait_for_function("() => (window.minqing.state.isochrone || {}).profile === 'walk_elderly'")
    elderly = v.js("() => window.minqing.state.isochrone")
    assert "error" not in walk and "error" not in elderly
    assert elderly["facilities"] <= walk["facilities"]
    assert "老年人步行" in v.page.inner_text("#mq-iso-result")
    v.assert_clean()


def _search(v, query: str) -> list[dict]:
    v.page.fill("#mq-search-input", "")
    v.page.type("#mq-search-input", query, delay=15)
    v.page.wait_for_function(
        "(q) => { const l = document.getElementById('mq-search-results');"
        " return !l.hidden && l.dataset.q === q; }",
        arg=query,
    )
    return v.js(
        "() => [...document.querySelectorAll('#mq-search-results li[data-i]')].map(li => li.innerText)"
    )


def test_search_finds_facilities_by_name_type_pinyin_and_initials(visit, truth):
    from pypinyin import lazy_pinyin

    fac = truth["facilities"][truth["facilities"]["status"] == "open"]
    v = visit()
    v.open("/")
    # A facility's own name: it comes first, and choosing it opens its popup.
    one = fac[~fac["name"].duplicated(keep=False)].iloc[len(fac) // 3]
    shown = _search(v, one["name"])
    assert shown and shown[0].startswith(one["name"]), shown
    v.page.click("#mq-search-results li[data-i='0']")
    v.page.wait_for_selector(".leaflet-popup .mq-pop")
    assert v.page.inner_text(".leaflet-popup h3") == one["name"]
    # Types, in Chinese, full pinyin and initials: the facilities of that type come first.
    for type_name in ("幼儿园", "卫生服务站", "养老"):
        for query in (
            type_name,
            "".join(lazy_pinyin(type_name)),
            "".join(s[0] for s in lazy_pinyin(type_name)),
        ):
            shown = _search(v, query)
            assert shown, query
            assert sum(type_name in s for s in shown[:5]) >= 3, (query, shown)
    v.assert_clean()


@pytest.mark.parametrize("size", [{}, PHONE], ids=["desktop", "phone"])
def test_no_staff_links_for_anonymous_visitors(visit, size):
    v = visit(**size)
    v.open("/")
    if size:
        v.page.click(".mq-menu-btn")
    links = v.js("() => [...document.querySelectorAll('a')].map(a => a.getAttribute('href'))")
    assert "/" in links and "/login" in links
    assert not {"/planner", "/placenames"} & set(links), links
    assert "规划分析" not in v.page.inner_text("header") and "地名管理" not in v.page.inner_text("header")
    v.assert_clean()


def _open_popup(v, fid: int) -> str:
    """Open a facility's popup as the search and the lists do: to its position, close enough for its own
    pin (facilities sharing a building are set around it), then the pin's popup."""
    return v.js(
        """(id) => { window.minqing.state.map.closePopup();
        return window.minqing.state.openFacility(id).then(m => m.getPopup().getElement().innerText); }""",
        fid,
    )


def test_facility_popup_answers_a_resident_and_hands_over_navigation(visit, demo_db, coverage_run):
    """Address, hours, phone, places with whether the facility takes new users (from the latest run's
    load), the published fees where known, a one-tap 15-minute reach, and 高德 / 百度 links with
    GCJ-02 / BD-09 positions."""
    from sqlalchemy import text

    from geo.chinacrs import wgs84_to_bd09, wgs84_to_gcj02
    from layers import lookup
    from layers.db import session

    with session(demo_db) as s:
        fac = lookup.facility_points(s)
        loads = lookup.facility_loads(s, coverage_run)
        fees = dict(s.execute(text("SELECT facility_id, fees FROM facilities WHERE status = 'open'")).all())
    kg = fac[fac["type_code"] == "kindergarten"].merge(loads, on="facility_id")
    v = visit()
    v.open("/")
    seen = set()
    for r in kg.itertuples():
        want = "不详" if r.load != r.load else ("已满" if r.load >= 1.0 else "可接收")
        if want in seen:
            continue
        seen.add(want)
        text = _open_popup(v, int(r.facility_id))
        assert "地址" in text and "开放时间" in text and "联系电话" in text and "学位" in text
        assert f"接收新用户\t{want}" in text, text
        assert "步行15分钟能到哪里" in text
        assert fees[r.facility_id] and f"收费标准\t{fees[r.facility_id]}" in text, text
        links = v.js(
            """(id) => [...window.minqing.state.markers[id].getPopup().getElement()
            .querySelectorAll('.mq-nav-out a')].map(a => a.href)""",
            int(r.facility_id),
        )
        assert len(links) == 2, links
        (glon,), (glat,) = wgs84_to_gcj02([r.lon], [r.lat])
        (blon,), (blat,) = wgs84_to_bd09([r.lon], [r.lat])
        amap = re.search(r"to=([0-9.]+),([0-9.]+),", links[0])
        baidu = re.search(r"latlng%3A([0-9.]+)%2C([0-9.]+)", links[1])
        assert links[0].startswith("https://uri.amap.com/navigation?") and links[1].startswith(
            "baidumap://map/direction?"
        )
        assert float(amap[1]) == pytest.approx(glon, abs=1e-6) and float(amap[2]) == pytest.approx(
            glat, abs=1e-6
        )
        assert float(baidu[2]) == pytest.approx(blon, abs=1e-6) and float(baidu[1]) == pytest.approx(
            blat, abs=1e-6
        )
        assert abs(glon - r.lon) > 1e-4  # the shift is real: not the WGS84 position passed through
    assert {"可接收", "已满"} & seen, seen
    unpriced = next(
        int(i) for i in fac.loc[fac["type_code"] == "police_station", "facility_id"] if fees[i] is None
    )
    assert "收费标准" not in _open_popup(v, unpriced)
    _open_popup(v, int(kg["facility_id"].iloc[0]))
    v.shot("public-facility-popup")
    v.page.click(".leaflet-popup button[data-iso-fid]")
    v.page.wait_for_function("() => window.minqing.state.isochrone", timeout=ISOCHRONE_MS)
    assert "error" not in v.js("() => window.minqing.state.isochrone")
    v.assert_clean()


def test_offline_hides_navigation_and_requests_nothing_outside(visit, truth):
    fac = truth["facilities"].iloc[7]
    v = visit()
    v.open("/")
    v.page.wait_for_function("() => !!window.minqing.state.facilities")  # read once the map is up
    v.context.set_offline(True)
    assert v.js("() => navigator.onLine") is False
    text = _open_popup(v, int(fac["facility_id"]))
    assert fac["name"] in text and "高德" not in text and "百度" not in text
    assert v.page.locator(".leaflet-popup .mq-nav-out").count() == 0
    v.idle()  # tiles of the new view cannot load: drawn empty, not left loading
    assert v.foreign == []
    v.context.set_offline(False)
    # The emulated offline cuts this server off too (a real one is on the intranet): its tiles fail.
    v.errors = [e for e in v.errors if "ERR_INTERNET_DISCONNECTED" not in e]
    v.assert_clean()


def test_grid_popup_and_found_place_name_the_grid_worker(visit, truth):
    import shapely

    grids = truth["grids"]
    v = visit()
    v.open("/")
    row = grids.iloc[3]
    inside = row.geometry.representative_point()  # a click there, on the grid drawn from its vector tile
    v.click_map(inside.y, inside.x)
    v.page.wait_for_selector(".leaflet-popup .mq-pop")
    text = v.page.inner_text(".leaflet-popup")
    assert (
        row["name"] in text and f"网格员\t{row['worker_name']}" in text and str(row["worker_phone"]) in text
    ), text
    assert not re.search(r"\d{12,}", text), text  # no long area code beside the worker
    v.js("() => { window.minqing.state.map.closePopup(); }")
    names = truth["names"]
    spots = names[names.geometry.geom_type.eq("Point") & names["status"].eq("standard")]
    spots = spots[~spots["name"].duplicated(keep=False)]
    for place in spots.itertuples():
        inside = grids[grids.geometry.contains(place.geometry.buffer(0.0003))]  # clear of simplified edges
        if len(inside) == 1:
            break
    shown = _search(v, place.name)
    i = next(k for k, s in enumerate(shown) if s.startswith(place.name))
    v.page.click(f"#mq-search-results li[data-i='{i}']")
    v.page.wait_for_selector(".leaflet-popup .mq-pop-grid")
    popup = v.page.inner_text(".leaflet-popup")
    grid = inside.iloc[0]
    assert f"所属网格\t{grid['name']}" in popup and grid["worker_name"] in popup, popup
    assert shapely.Point(place.geometry).within(grid.geometry)
    v.assert_clean()


def _resolved_this_month(url: str, community_id: int) -> tuple[int, int]:
    """Events resolved this month (Beijing time) in a community, counted straight from the table, and
    the community's households."""
    from sqlalchemy import text

    from layers.db import session

    with session(url) as s:
        return s.execute(
            text("""
            SELECT (SELECT count(*) FROM events
                    WHERE community_id = :c AND status IN ('resolved', 'reviewed', 'archived')
                      AND resolved_at >= date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai')
                                         AT TIME ZONE 'Asia/Shanghai'),
                   (SELECT households FROM areas WHERE area_id = :c)"""),
            {"c": community_id},
        ).one()


def test_grid_popup_shows_its_community_resolved_this_month(visit, truth, demo_db):
    """本月已办结 in the grid popup: the community's count rounded to 5, or withheld when small;
    never an event.
    """
    from sqlalchemy import text

    from layers.db import session

    grids = truth["grids"]
    picked = grids.iloc[5]
    with session(demo_db, actor="pytest") as s:
        community = s.execute(
            text("""
            WITH RECURSIVE up AS (SELECT area_id, parent_id, level FROM areas WHERE area_id = :g UNION ALL
                                  SELECT a.area_id, a.parent_id, a.level FROM areas a
                                  JOIN up ON a.area_id = up.parent_id)
            SELECT area_id FROM up WHERE level = 'community'"""),
            {"g": int(picked["area_id"])},
        ).scalar_one()
        spot = picked.geometry.representative_point()
        for i in range(12):  # resolved a minute ago: this month, whatever today is
            s.execute(
                text("""
                INSERT INTO events (tracking_code, category, description, status, level, source, community_id,
                                    reported_by, reported_at, due_at, resolved_at, geom)
                VALUES (:code, 'sanitation', '弹窗计数', 'resolved', '网格', 'staff', :c, 'pytest',
                        now() - interval '2 hours', now() + interval '1 day', now() - interval '1 minute',
                        ST_SetSRID(ST_MakePoint(:x, :y), 4326))"""),
                {"code": f"POP{i:09d}", "c": community, "x": spot.x, "y": spot.y},
            )
    others = grids[grids["community"] != picked["community"]]
    try:
        n, households = _resolved_this_month(demo_db, community)
        assert n >= 12 and households >= 5
        v = visit()
        v.open("/")
        v.click_map(spot.y, spot.x)
        v.page.wait_for_function(
            "() => { const td = document.querySelector('.leaflet-popup .mq-pop-resolved td');"
            " return td && td.textContent !== '…'; }"
        )
        text_shown = v.page.inner_text(".leaflet-popup")
        assert f"本月已办结\t约 {(n + 2) // 5 * 5} 件" in text_shown, text_shown
        assert "POP0" not in v.page.content() and "弹窗计数" not in v.page.content()
        # a community with fewer than 5 this month (or too few households) shows no figure
        for other in others.itertuples():
            with session(demo_db) as s:
                other_community = s.execute(
                    text(
                        "SELECT parent_id FROM areas WHERE area_id = (SELECT parent_id FROM "
                        "areas WHERE area_id = :g)"
                    ),
                    {"g": int(other.area_id)},
                ).scalar_one()
            if _resolved_this_month(demo_db, other_community)[0] < 5:
                break
        v.js("() => { window.minqing.state.map.closePopup(); }")
        inside = other.geometry.representative_point()
        v.click_map(inside.y, inside.x)
        v.page.wait_for_function(
            "() => { const td = document.querySelector('.leaflet-popup .mq-pop-resolved td');"
            " return td && td.textContent !== '…'; }"
        )
        assert "本月已办结\t件数较少，不单独公布" in v.page.inner_text(".leaflet-popup")
        v.assert_clean()
    finally:
        with session(demo_db, actor="pytest") as s:
            s.execute(text("DELETE FROM events WHERE tracking_code LIKE 'POP%'"))


def _label_boxes(v) -> list[dict]:
    return v.js("""() => { const c = window.minqing.state.map.getContainer().getBoundingClientRect();
        return [...document.querySelectorAll('.mq-label:not(.mq-label-hidden) span')].map(s => {
            const r = s.getBoundingClientRect();
            return {l: r.left, r: r.right, t: r.top, b: r.bottom, text: s.textContent,
            turn: s.style.transform}; }).filter(r =>
                r.r > c.left && r.l < c.right && r.b > c.top && r.t < c.bottom); }""")


def test_base_map_reads_as_a_map(visit, truth, demo_db):
    """The sea follows the coast (nothing drawn farther than the last band from the land), built-up
    blocks close in, street names along the streets, and no two visible labels overlap at any zoom."""
    import geopandas as gpd
    import shapely

    from geo.crs import to_metric
    from layers import queries
    from layers.db import session
    from maps.basemap import SEA_BANDS

    with session(demo_db) as s:
        district = queries.areas(s, levels=("district",))
    v = visit()
    v.open("/")
    sea = v.js("() => window.minqing.state.basemap.sea.toGeoJSON()")
    bands = [
        shapely.geometry.shape(f["geometry"]) for f in sea["features"] if f["properties"]["b"] != "coast"
    ]
    assert bands and any(f["properties"]["b"] == "coast" for f in sea["features"])
    drawn = to_metric(gpd.GeoSeries([shapely.union_all(bands)], crs=4326))
    land = to_metric(district.geometry).union_all()
    assert drawn.iloc[0].difference(land.buffer(SEA_BANDS[-1][0] + 50)).area < 1.0  # follows the coast
    assert drawn.iloc[0].area > 1e6
    lat, lon = _sample_street_points(truth, 1, seed=3)[0]
    for zoom in (12, 14, 16, 17):
        v.js(
            "([a, b, z]) => { window.minqing.state.map.setView([a, b], z, {animate: false}); }",
            [lat, lon, zoom],
        )
        v.idle()
        boxes = _label_boxes(v)
        assert boxes, zoom
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert a["r"] <= b["l"] or b["r"] <= a["l"] or a["b"] <= b["t"] or b["b"] <= a["t"], (
                    zoom,
                    a,
                    b,
                )
        if zoom == 12:
            v.shot("public-basemap-z12")
        if zoom >= 16:
            assert any("rotate" in b["turn"] and "rotate(0deg)" not in b["turn"] for b in boxes), zoom
            assert v.js("() => window.minqing.state.map.hasLayer(window.minqing.state.basemap.blocks)")
    v.shot("public-basemap-z17")
    v.assert_clean()


def test_buildings_are_drawn_close_in_from_our_own_tiles(visit, truth, demo_db):
    """Close in (z ≥ 16) the base map draws building footprints from our own vector tiles, at least as
    many as the buildings layer holds in view; farther out not one buildings tile is asked for."""
    from urllib.parse import urlsplit

    from sqlalchemy import text

    from layers.db import session

    lat, lon = _sample_street_points(truth, 1, seed=5)[0]
    v = visit()
    v.open("/")
    v.js("([a, b]) => { window.minqing.state.map.setView([a, b], 14, {animate: false}); }", [lat, lon])
    v.idle()
    assert not any(urlsplit(u).path.startswith("/tiles/buildings/") for u in v.requests)
    assert v.js("() => window.minqing.state.drawn.buildings") == 0
    v.js("([a, b]) => { window.minqing.state.map.setView([a, b], 17, {animate: false}); }", [lat, lon])
    v.idle()
    bounds = v.js("""() => { const b = window.minqing.state.map.getBounds();
        return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; }""")
    with session(demo_db) as s:
        inside = s.execute(
            text("SELECT count(*) FROM buildings WHERE geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)"),
            dict(zip("wsen", bounds, strict=True)),
        ).scalar_one()
    drawn = v.js("() => window.minqing.state.drawn.buildings")
    assert inside > 0 and drawn >= inside, (inside, drawn)
    assert any(urlsplit(u).path.startswith("/tiles/buildings/17/") for u in v.requests)
    # the legend names each kind of footprint in the colour the map fills it with
    legend = v.js("""() => ['house', 'public', 'grounds'].map(k => {
        const sw = document.querySelector('.mq-legend .mq-sw-' + k), probe = document.createElement('i');
        probe.style.color = window.minqing.BUILDING[k === 'house' ? 'residential' : k].fillColor;
        document.body.appendChild(probe); const want = getComputedStyle(probe).color; probe.remove();
        return [sw && sw.parentElement.textContent.trim(), sw && getComputedStyle(sw).backgroundColor,
                want]; })""")
    assert [row[0] for row in legend] == ["住宅建筑（放大后显示）", "学校、卫生站等公共建筑", "运动场、广场"]
    assert all(got == want for _, got, want in legend), legend
    v.shot("public-buildings-z17")
    v.assert_clean()
