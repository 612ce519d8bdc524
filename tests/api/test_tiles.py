"""Vector tiles (/tiles/{layer}/{z}/{x}/{y}.mvt) decoded against the GeoJSON of the same layer.

Ground truth is the collection's GeoJSON for the same viewer: every feature of the layer inside the
tiles is in them once, with exactly the GeoJSON's properties (those the tile layer carries; a null
property is absent from an MVT feature), positions within a tile unit. Anonymous viewers get the
privacy-filtered values, staff the stored ones; staff layers need the role; residences have no tiles.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from contextlib import contextmanager

import mapbox_vector_tile
import psycopg
import pytest
from api_fixture import (  # noqa: F401
    COMMUNITY1,
    DISTRICT,
    GRID_A,
    GRID_B,
    asgi_client,
    insert_fixture_run,
    load_fixture_district,
    make_settings,
)
from sqlalchemy import create_engine, event, text

from layers.db import engine, session
from layers.live import libpq_url
from layers.tiles import (
    BLOCK_CATEGORIES,
    ROAD_ALL_ZOOM,
    ROAD_MAJOR,
    SHAPES_MIN_ZOOM,
    TILE_LAYERS,
    tolerance_m,
)
from layers.versions import watch

BBOX = (113.2, 22.5, 113.4, 22.7)
"""The fixture district (api_fixture.py)."""
COLLECTION_FILTERS = {"coverage": {"type_code": "kindergarten"}}


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """XYZ tile holding a point (the slippy-map formula, written out independently of PostGIS)."""
    n = 2**z
    x = int((lon + 180) / 360 * n)
    lat_r = math.radians(lat)
    y = int((1 - math.asinh(math.tan(lat_r)) / math.pi) / 2 * n)
    return x, y


def tiles_over(bbox, z: int) -> list[tuple[int, int]]:
    x0, y1 = tile_of(bbox[0], bbox[1], z)
    x1, y0 = tile_of(bbox[2], bbox[3], z)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def lonlat(z: int, x: int, y: int, px: float, py: float, extent: int = 4096) -> tuple[float, float]:
    """A tile coordinate (y up, as mapbox_vector_tile decodes it) back to lon/lat."""
    n = 2**z
    fx = (x + px / extent) / n
    fy = (y + 1 - py / extent) / n
    return fx * 360 - 180, math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * fy))))


def decoded(client, auth, who, layer: str, z: int, params=None) -> dict[int, list[tuple[int, int, dict]]]:
    """Feature id → [(x, y, feature)] over the tiles covering the fixture district."""
    out: dict[int, list] = {}
    for x, y in tiles_over(BBOX, z):
        r = client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", params=params or {}, headers=auth(who))
        assert r.status_code in (200, 204), r.text
        if r.status_code == 204:
            assert r.content == b""
            continue
        assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        tile = mapbox_vector_tile.decode(r.content)
        assert set(tile) == {layer}
        for f in tile[layer]["features"]:
            out.setdefault(f["id"], []).append((x, y, f))
    return out


def geojson(client, auth, who, collection: str, params=None) -> dict[int, dict]:
    r = client.get(
        f"/collections/{collection}/items", params={"limit": 5000, **(params or {})}, headers=auth(who)
    )
    assert r.status_code == 200, r.text
    return {f["id"]: f for f in r.json()["features"]}


def expected_properties(feature: dict, layer: str) -> dict:
    """The GeoJSON properties a tile carries (the ``extra`` ones, not in the GeoJSON, are tested apart)."""
    wanted = set(TILE_LAYERS[layer].properties) | {"suppressed"}
    return {k: v for k, v in feature["properties"].items() if k in wanted and v is not None}


def _mvt_id(layer: str, fid) -> int:
    return int(str(fid).split(":")[0]) if layer == "coverage" else int(fid)


PUBLIC_LAYERS = ["grids", "areas", "facilities", "place_names", "water", "coverage"]


@pytest.mark.parametrize("who", [None, "planner", "officer"])
@pytest.mark.parametrize("layer", PUBLIC_LAYERS)
def test_tiles_hold_the_features_and_properties_of_the_geojson(client, auth, layer, who):
    params = COLLECTION_FILTERS.get(layer, {})
    truth = geojson(client, auth, who, layer, params)
    assert truth, f"the fixture has no {layer}"
    got = decoded(client, auth, who, layer, 12, params)
    assert set(got) == {_mvt_id(layer, fid) for fid in truth}
    for fid, feature in truth.items():
        for _x, _y, f in got[_mvt_id(layer, fid)]:  # the same properties in every tile it crosses
            own = {k: v for k, v in f["properties"].items() if k not in TILE_LAYERS[layer].extra}
            assert own == pytest.approx(expected_properties(feature, layer))


def test_grid_tiles_name_the_grid_community_and_town(client, auth):
    got = decoded(client, auth, None, "grids", 12)
    props = got[GRID_A][0][2]["properties"]
    # api_fixture: grid_small → middle → 一社区
    assert (props["community"], props["town"]) == (
        "一社区",
        "测试街道",
    )
    assert props["community_id"] == COMMUNITY1  # the key of its 本月已办结 in GET /public/resolved-counts


def test_anonymous_grid_tiles_suppress_small_counts_and_round_the_rest(client, auth):
    public = decoded(client, auth, None, "grids", 12)
    staff = decoded(client, auth, "planner", "grids", 12)
    small = public[GRID_B][0][2]["properties"]
    assert small["suppressed"] is True and "households" not in small  # 3 households: suppressed (null)
    assert staff[GRID_B][0][2]["properties"]["households"] == 3
    assert public[GRID_A][0][2]["properties"]["households"] == 595  # 597 to the nearest 5
    assert staff[GRID_A][0][2]["properties"]["households"] == 597


@pytest.fixture
def fixture_run(api_db):
    """The fixture's hand-set run as the latest one (other test files may have left newer runs)."""
    engine = create_engine(api_db)
    with engine.begin() as c:
        run = insert_fixture_run(c)
    yield run
    with engine.begin() as c:
        c.execute(text("DELETE FROM coverage_runs WHERE run_id = :r"), {"r": run})
    engine.dispose()


def test_anonymous_coverage_tiles_share_is_that_of_the_rounded_counts(client, auth, fixture_run):
    got = decoded(client, auth, None, "coverage", 12, {"type_code": "kindergarten"})
    a = got[GRID_A][0][2]["properties"]
    assert (a["population"], a["population_covered"]) == (1620, 1500)
    assert a["share"] == round(1500 / 1620, 2)
    assert "share" not in got[GRID_B][0][2]["properties"]  # suppressed


def test_points_land_where_the_geojson_puts_them(client, auth):
    z = 14
    truth = geojson(client, auth, None, "facilities")
    got = decoded(client, auth, None, "facilities", z)
    unit = 360 / 2**z / 4096
    for fid, feature in truth.items():
        x, y, f = got[fid][0]
        lon, lat = lonlat(z, x, y, *f["geometry"]["coordinates"])
        want_lon, want_lat = feature["geometry"]["coordinates"]
        assert abs(lon - want_lon) <= unit and abs(lat - want_lat) <= unit


def test_roads_thin_out_below_the_street_zoom(client, auth):
    truth = geojson(client, auth, None, "roads")
    everything = decoded(client, auth, None, "roads", ROAD_ALL_ZOOM - 1 + 1)
    assert set(everything) == set(truth)
    main = decoded(client, auth, None, "roads", 12)
    assert set(main) == {fid for fid, f in truth.items() if f["properties"]["highway"] in ROAD_MAJOR}
    assert set(main) and set(main) != set(truth)  # the fixture has a main road and a street


def test_polygons_are_simplified_for_the_zoom():
    assert tolerance_m(10) == pytest.approx(4 * tolerance_m(12))
    assert tolerance_m(0) == pytest.approx(40075016.68557849 / 512)


def test_there_are_no_residence_tiles(client, auth):
    for who in (None, "planner", "admin"):
        r = client.get("/tiles/residences/12/3336/1785.mvt", headers=auth(who))
        assert r.status_code == 404
        assert "residences" not in r.json()["error"]["message"].split("use one of")[1]


def test_etag_and_cache_headers_and_304(client, auth):
    x, y = tile_of(113.22, 22.55, 12)
    url = f"/tiles/facilities/12/{x}/{y}.mvt"
    r = client.get(url)
    assert r.status_code == 200
    etag = r.headers["etag"]
    assert "facilities" in etag and f"12-{x}-{y}" in etag and "public" in etag
    assert r.headers["cache-control"].startswith("public, max-age=")
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    staff = client.get(url, headers=auth("planner"))
    assert staff.headers["etag"] != etag and staff.headers["cache-control"].startswith("private")
    assert client.get(url, headers=auth("planner", **{"If-None-Match": etag})).status_code == 200
    other = client.get(f"/tiles/facilities/12/{x + 1}/{y}.mvt")
    assert other.headers["etag"] != etag


def test_tiles_are_kept_compressed_and_decode_to_the_same_tile(client, auth, monkeypatch):
    import api.compressed

    monkeypatch.setattr(api.compressed, "MIN_BYTES", 1)  # the fixture's tiles are small
    x, y = tile_of(113.22, 22.55, 12)
    url = f"/tiles/roads/12/{x}/{y}.mvt"
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "content-encoding" not in plain.headers and plain.content
    for _ in range(2):  # built, then kept
        packed = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert packed.headers["content-encoding"] == "gzip" and "Accept-Encoding" in packed.headers["vary"]
        assert packed.content == plain.content  # decoded by the client
        assert packed.headers["etag"] == plain.headers["etag"]


def test_etag_changes_when_the_layer_changes(client, auth, api_db):
    x, y = tile_of(113.22, 22.55, 12)
    url = f"/tiles/facilities/12/{x}/{y}.mvt"
    before = client.get(url)
    r = client.get("/collections/facilities/items/1", headers=auth("planner"))
    patched = client.patch(
        "/collections/facilities/items/1",
        json={"properties": {"phone": "0755-7654321"}},
        headers=auth("planner", **{"If-Match": r.headers["etag"]}),
    )
    assert patched.status_code == 200, patched.text
    after = client.get(url, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
    props = {
        f["id"]: f["properties"] for f in mapbox_vector_tile.decode(after.content)["facilities"]["features"]
    }
    assert props[1]["phone"] == "0755-7654321"


def test_versioned_urls_may_be_kept_longer(client):
    x, y = tile_of(113.22, 22.55, 12)
    url = f"/tiles/facilities/12/{x}/{y}.mvt"
    plain = client.get(url)
    version = plain.headers["etag"].strip('"').split("-")[2]
    kept = client.get(url, params={"v": version})
    stale = client.get(url, params={"v": "0" * 16})
    assert int(kept.headers["cache-control"].split("=")[1]) > int(
        plain.headers["cache-control"].split("=")[1]
    )
    assert stale.headers["cache-control"] == plain.headers["cache-control"]


def test_a_tile_outside_the_data_is_204(client):
    # far away; below the roads' first zoom
    for url in (
        "/tiles/grids/12/0/0.mvt",
        "/tiles/roads/5/26/14.mvt",
    ):
        r = client.get(url)
        assert r.status_code == 204 and r.content == b"" and r.headers["etag"]


@pytest.mark.parametrize(
    "url, status, words",
    [
        ("/tiles/nope/1/0/0.mvt", 404, "use one of"),
        ("/tiles/grids/3/8/0.mvt", 400, "x and y run from 0 to 7"),
        ("/tiles/grids/23/0/0.mvt", 400, "path.z"),
        ("/tiles/grids/3/a/0.mvt", 400, "path.x"),
        ("/tiles/coverage/12/0/0.mvt", 400, "type_code"),
        ("/tiles/grids/12/0/0.mvt?colour=red", 400, "cannot be filtered by 'colour'"),
    ],
)
def test_bad_requests_say_what_is_wrong(client, url, status, words):
    r = client.get(url)
    assert r.status_code == status, r.text
    assert words in r.text


def test_filters_select_rows(client, auth):
    got = decoded(client, auth, None, "grids", 12, {"level": "grid_small"})
    small = geojson(client, auth, None, "grids", {"level": "grid_small"})
    every = geojson(client, auth, None, "grids")
    assert {GRID_A, GRID_B} <= set(got) == set(small)  # other test files may add small grids of their own
    assert set(small) < set(every)  # the fixture's middle grid is left out


@pytest.mark.parametrize(
    "layer, params",
    [("gaps", {"type_code": "kindergarten"}), ("province", {"type_code": "kindergarten", "circle": "15min"})],
)
def test_staff_layers_need_a_planner(client, auth, layer, params):
    x, y = tile_of(113.22, 22.55, 12)
    url = f"/tiles/{layer}/12/{x}/{y}.mvt"
    assert client.get(url, params=params).status_code == 401
    for who in ("gridworker", "officer", "dispatcher"):
        assert client.get(url, params=params, headers=auth(who)).status_code == 403
    for who in ("planner", "admin"):
        assert client.get(url, params=params, headers=auth(who)).status_code in (200, 204)


@pytest.fixture
def results(api_db):
    """A new coverage run with one gap and a finished province run rolled up to the fixture county and
    city (removed afterwards)."""
    engine = create_engine(api_db)
    with engine.begin() as c:
        run = c.execute(
            text("INSERT INTO coverage_runs (status, finished_at) VALUES ('done', now()) RETURNING run_id")
        ).scalar_one()
        gap = c.execute(
            text(
                "INSERT INTO coverage_gaps_rows (run_id, type_code, rank, households, population, elderly, "
                "children, residences, geom) VALUES (:r, 'kindergarten', 1, 3, 7, 2, 1, 1, "
                "ST_Multi(ST_Buffer(ST_Point(113.26, 22.58, 4326), 0.005))) RETURNING gap_id"
            ),
            {"r": run},
        ).scalar_one()
        c.execute(
            text(
                "INSERT INTO coverage_run_types (run_id, type_code, source_run_id) "
                "VALUES (:r, 'kindergarten', :r)"
            ),
            {"r": run},
        )
        prun = c.execute(
            text("INSERT INTO province_runs (status, finished_at) VALUES ('done', now()) RETURNING run_id")
        ).scalar_one()
        c.execute(
            text(
                "INSERT INTO province_rollup (run_id, level, code, type_code, circle, homes, population, "
                "population_covered, share) VALUES (:r, 'county', '440000', 'kindergarten', '15min', 4, "
                "2727, 1500, 1500.0 / 2727), (:r, 'city', '4400', 'kindergarten', '15min', 4, 2727, 1500, "
                "1500.0 / 2727)"
            ),
            {"r": prun},
        )
    yield {"gap": gap, "run": run}
    with engine.begin() as c:
        c.execute(text("DELETE FROM coverage_runs WHERE run_id = :r"), {"r": run})
        c.execute(text("DELETE FROM province_runs WHERE run_id = :r"), {"r": prun})
    engine.dispose()


def test_gap_tiles_hold_the_stored_gaps(client, auth, results):
    got = decoded(client, auth, "planner", "gaps", 12, {"type_code": "kindergarten"})
    r = client.get(
        f"/coverage/runs/{results['run']}/gaps", params={"type": "kindergarten"}, headers=auth("planner")
    )
    assert r.status_code == 200, r.text
    truth = {f["properties"]["gap_id"]: f["properties"] for f in r.json()["features"]}
    assert set(got) == set(truth) == {results["gap"]}
    props = got[results["gap"]][0][2]["properties"]
    assert props == {
        "gap_id": results["gap"],
        "type_code": "kindergarten",
        "rank": 1,
        "households": 3,
        "population": 7,
        "elderly": 2,
        "children": 1,
        "residences": 1,
    }
    assert {k: truth[results["gap"]][k] for k in props} == props  # the planner's GeoJSON of the same run


def test_province_tiles_show_cities_low_and_counties_high(client, auth, results):
    params = {"type_code": "kindergarten", "circle": "15min"}
    low = decoded(client, auth, "planner", "province", 6, params)
    high = decoded(client, auth, "planner", "province", 9, params)
    (city,) = [f["properties"] for parts in low.values() for _x, _y, f in parts][:1]
    assert city["level"] == "city" and city["code"] == "4400" and city["share"] == pytest.approx(1500 / 2727)
    county = [f["properties"] for parts in high.values() for _x, _y, f in parts]
    assert {c["level"] for c in county} == {"county"} and county[0]["name"] == "测试区"
    assert county[0]["population"] == 2727 and county[0]["homes"] == 4


@pytest.fixture
def estate(api_db):
    """An estate polygon in the place-name registry (removed afterwards)."""
    engine = create_engine(api_db)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO place_names (name_id, name, category, area_id, geom) VALUES (900, '滨河小区', "
                "'estate', 100, ST_GeomFromText('POLYGON((113.21 22.56,113.22 22.56,113.22 22.57,"
                "113.21 22.57,113.21 22.56))', 4326))"
            )
        )
    yield 900
    with engine.begin() as c:
        c.execute(text("DELETE FROM place_names WHERE name_id = 900"))
    engine.dispose()


@pytest.mark.parametrize("who", [None, "officer"])
def test_block_tiles_hold_the_estate_zone_and_park_polygons_of_the_place_names(client, auth, who, estate):
    truth = {
        fid: f
        for fid, f in geojson(client, auth, who, "place_names").items()
        if f["properties"]["category"] in BLOCK_CATEGORIES
        and f["geometry"]["type"] in ("Polygon", "MultiPolygon")
    }
    assert set(truth) == {estate}  # the park of the fixture is a point: not a block
    got = decoded(client, auth, who, "blocks", 13)
    assert set(got) == set(truth)
    for fid, feature in truth.items():
        assert got[fid][0][2]["properties"] == expected_properties(feature, "blocks")
    assert decoded(client, auth, who, "blocks", 12) == {}  # below the blocks' first zoom


@pytest.mark.parametrize("who", [None, "officer"])
def test_shape_tiles_hold_the_lines_and_polygons_of_the_place_names(client, auth, who, estate):
    truth = {
        fid: f
        for fid, f in geojson(client, auth, who, "place_names").items()
        if f["geometry"]["type"] != "Point"
    }
    assert set(truth) == {1, estate}  # the road and the estate; the village and the park are points
    near = (113.205, 22.545, 113.295, 22.575)  # around both, so zoom 15 stays a few dozen tiles
    z = SHAPES_MIN_ZOOM
    got: dict[int, list] = {}
    for x, y in tiles_over(near, z):
        r = client.get(f"/tiles/place_name_shapes/{z}/{x}/{y}.mvt", headers=auth(who))
        assert r.status_code in (200, 204), r.text
        if r.status_code == 200:
            for f in mapbox_vector_tile.decode(r.content)["place_name_shapes"]["features"]:
                got.setdefault(f["id"], []).append(f)
    assert set(got) == set(truth)
    for fid, feature in truth.items():
        for f in got[fid]:
            assert f["properties"] == expected_properties(feature, "place_name_shapes")
    x, y = tile_of(113.25, 22.55, z - 1)
    below = client.get(f"/tiles/place_name_shapes/{z - 1}/{x}/{y}.mvt", headers=auth(who))
    assert below.status_code == 204  # below the shapes' first zoom


# ---------------------------------------------------------------- clustered facilities


CLUSTER_CELLS = 8  # cells per side of a clustered tile (64 px of 512), as the layer states it


def _tile_position(lon: float, lat: float, z: int) -> tuple[float, float]:
    """Fractional XYZ tile column and row of a point (the slippy-map formula, not PostGIS)."""
    n = 2**z
    return (lon + 180) / 360 * n, (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n


def _hand_clusters(features: dict[int, dict], z: int, below: int) -> dict[tuple[int, int], dict]:
    """Per tile, worked out in Python from the GeoJSON: the ids of the points shown alone and, per cell of
    more than one point, (count, bounds, counts per category)."""
    cells: dict[tuple[int, int], dict[tuple, list[dict]]] = {}
    for fid, f in features.items():
        lon, lat = f["geometry"]["coordinates"]
        fx, fy = _tile_position(lon, lat, z)
        x, y = int(fx), int(fy)
        cell = (int((fx - x) * CLUSTER_CELLS), int((fy - y) * CLUSTER_CELLS)) if z < below else (fid,)
        cells.setdefault((x, y), {}).setdefault(cell, []).append(f)
    out = {}
    for tile, by_cell in cells.items():
        singles = {m[0]["id"] for m in by_cell.values() if len(m) == 1}
        clusters = []
        for members in by_cell.values():
            if len(members) == 1:
                continue
            lons = [m["geometry"]["coordinates"][0] for m in members]
            lats = [m["geometry"]["coordinates"][1] for m in members]
            cats: dict[str, int] = {}
            for m in members:
                key = "n_" + (m["properties"].get("category") or "other")
                cats[key] = cats.get(key, 0) + 1
            clusters.append((len(members), (min(lons), min(lats), max(lons), max(lats)), cats))
        out[tile] = {"singles": singles, "clusters": sorted(clusters, key=repr)}
    return out


@pytest.fixture
def crowd(api_db):
    """36 more facilities (removed afterwards): 24 within a few hundred metres of each other around
    滨河路 (a school beside a market, daycare centres), 12 spread over the district, some planned."""
    rows = []
    kinds = ["kindergarten", "food_market", "elderly_daycare", "primary_school"]
    for i in range(24):
        lon, lat = 113.300 + (i % 6) * 0.0007, 22.620 + (i // 6) * 0.0006
        rows.append((2000 + i, kinds[i % 4], f"密集设施{i}", "planned" if i % 5 == 0 else "open", lon, lat))
    for i in range(12):
        lon, lat = 113.205 + (i % 4) * 0.047, 22.515 + (i // 4) * 0.061
        rows.append((2100 + i, kinds[(i + 1) % 4], f"分散设施{i}", "open", lon, lat))
    engine = create_engine(api_db)
    with engine.begin() as c:
        for r in rows:
            c.execute(
                text(
                    "INSERT INTO facilities (facility_id, type_code, name, status, capacity, phone, geom) "
                    "VALUES (:i, :t, :n, :s, 50, '0755-1234567', ST_Point(:x, :y, 4326))"
                ),
                dict(zip(("i", "t", "n", "s", "x", "y"), r, strict=True)),
            )
    yield [r[0] for r in rows]
    with engine.begin() as c:
        c.execute(text("DELETE FROM facilities WHERE facility_id >= 2000"))
    engine.dispose()


def _cluster_tiles(client, auth, who, z: int, params=None) -> dict[tuple[int, int], list[dict]]:
    out = {}
    for x, y in tiles_over(BBOX, z):
        r = client.get(f"/tiles/facility_clusters/{z}/{x}/{y}.mvt", params=params or {}, headers=auth(who))
        assert r.status_code in (200, 204), r.text
        if r.status_code == 200:
            out[(x, y)] = mapbox_vector_tile.decode(r.content)["facility_clusters"]["features"]
    return out


@pytest.mark.parametrize("who", [None, "planner"])
@pytest.mark.parametrize("params", [{}, {"status": "open"}])
@pytest.mark.parametrize("z", [9, 12, 14, 15])
def test_facility_clusters_count_the_facilities_of_their_tile(client, auth, crowd, who, params, z):
    truth = geojson(client, auth, who, "facilities", params)
    assert set(crowd) & set(truth)
    below = TILE_LAYERS["facility_clusters"].cluster_below
    want = _hand_clusters(truth, z, below)
    got = _cluster_tiles(client, auth, who, z, params)
    assert set(got) == set(want)
    # every facility is counted once, in the tile its position falls in
    assert sum(f["properties"].get("count", 1) for fs in got.values() for f in fs) == len(truth)
    for tile, feats in got.items():
        clusters = [f for f in feats if "count" in f["properties"]]
        singles = {f["id"] for f in feats if "count" not in f["properties"]}
        assert singles == want[tile]["singles"]
        for f in feats:
            if "count" not in f["properties"]:  # a point alone: the same properties as the plain tiles
                assert f["properties"] == pytest.approx(
                    expected_properties(truth[f["id"]], "facility_clusters")
                )
        shown = []
        for f in clusters:
            p = f["properties"]
            assert "id" not in f or f["id"] in (None, 0)
            assert set(p) - {"count", "west", "south", "east", "north"} == {
                k for k in p if k.startswith("n_")
            }
            bounds = (p["west"], p["south"], p["east"], p["north"])
            shown.append((p["count"], bounds, {k: v for k, v in p.items() if k.startswith("n_")}))
            # the cluster's point lies within its members' bounds
            lon, lat = lonlat(z, *tile, *f["geometry"]["coordinates"])
            unit = 360 / 2**z / 4096
            assert (
                p["west"] - unit <= lon <= p["east"] + unit and p["south"] - unit <= lat <= p["north"] + unit
            )
        shown.sort(key=repr)
        assert [(n, c) for n, _b, c in shown] == [(n, c) for n, _b, c in want[tile]["clusters"]]
        for (_n, b, _c), (_wn, wb, _wc) in zip(shown, want[tile]["clusters"], strict=True):
            assert b == pytest.approx(wb, abs=1e-9)


def test_facility_clusters_sum_to_a_plain_sql_count_and_group_the_crowd(client, api_db, crowd):
    z = 12
    got = _cluster_tiles(client, lambda who: {}, None, z, {"status": "open"})
    engine = create_engine(api_db)
    with engine.connect() as c:
        for x, y in tiles_over(BBOX, z):
            n = c.execute(
                text(
                    "SELECT count(*) FROM facilities WHERE status = 'open' AND "
                    "ST_Intersects(ST_Transform(geom, 3857), ST_TileEnvelope(:z, :x, :y))"
                ),
                {"z": z, "x": x, "y": y},
            ).scalar_one()
            assert sum(f["properties"].get("count", 1) for f in got.get((x, y), [])) == n
    engine.dispose()
    # the crowd around 滨河路 (19 open of 24) is one bubble, or a few where cell edges cut it
    counts = sorted(f["properties"]["count"] for fs in got.values() for f in fs if "count" in f["properties"])
    assert counts and sum(counts) >= 19 and len(counts) <= 4


@pytest.mark.parametrize("who", [None, "planner"])
def test_facility_clusters_close_in_are_the_facilities_themselves(client, auth, crowd, who):
    truth = geojson(client, auth, who, "facilities")
    z = TILE_LAYERS["facility_clusters"].cluster_below
    seen: dict[int, tuple] = {}
    for feature in truth.values():
        x, y = tile_of(*feature["geometry"]["coordinates"], z)
        if (x, y) in {t for t, _f in seen.values()}:
            continue
        r = client.get(f"/tiles/facility_clusters/{z}/{x}/{y}.mvt", headers=auth(who))
        assert r.status_code == 200, r.text
        for f in mapbox_vector_tile.decode(r.content)["facility_clusters"]["features"]:
            assert "count" not in f["properties"] and f["id"] not in seen
            seen[f["id"]] = ((x, y), f)
    assert set(seen) == set(truth)
    unit = 360 / 2**z / 4096
    for fid, ((x, y), f) in seen.items():
        assert f["properties"] == pytest.approx(expected_properties(truth[fid], "facility_clusters"))
        lon, lat = lonlat(z, x, y, *f["geometry"]["coordinates"])
        want_lon, want_lat = truth[fid]["geometry"]["coordinates"]
        assert abs(lon - want_lon) <= unit and abs(lat - want_lat) <= unit


def test_facility_cluster_tiles_have_etag_and_cache_headers(client, auth):
    x, y = tile_of(113.22, 22.55, 12)
    url = f"/tiles/facility_clusters/12/{x}/{y}.mvt?status=open"
    r = client.get(url)
    assert r.status_code == 200
    etag = r.headers["etag"]
    assert "facility_clusters" in etag and "public" in etag and f"12-{x}-{y}" in etag
    assert r.headers["cache-control"].startswith("public, max-age=")
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    staff = client.get(url, headers=auth("planner"))
    assert staff.headers["etag"] != etag and staff.headers["cache-control"].startswith("private")


# ---------- data versions kept per process (layers.versions: LISTEN/NOTIFY) ----------


def _until(ok, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ok():
            return True
        time.sleep(0.01)
    return ok()


@contextmanager
def _database_work(url: str):
    """Counts what the app's engine does with the database inside the block: connections taken from the
    pool and statements sent."""
    done: list[str] = []
    made = engine(url)

    def checkout(*_a) -> None:
        done.append("checkout")

    def statement(_conn, _cur, sql, *_a) -> None:
        done.append(sql)

    event.listen(made, "checkout", checkout)
    event.listen(made, "before_cursor_execute", statement)
    try:
        yield done
    finally:
        event.remove(made, "checkout", checkout)
        event.remove(made, "before_cursor_execute", statement)


def _elsewhere(url: str, sql: str, params: dict) -> None:
    """A write over a connection of its own, as another server process or the CLI would make it."""
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute(sql, params)


def _name(r) -> str:
    return {f["id"]: f["properties"] for f in mapbox_vector_tile.decode(r.content)["facilities"]["features"]}[
        1
    ]["name"]


@pytest.fixture(scope="module")
def unlimited(api_db):
    """A client of an app without the anonymous rate limit (its allowance is counted in the database, by
    design shared by every server process): the tile route's own work alone."""
    from api.main import create_app

    with asgi_client(create_app(make_settings(rate_limit_per_second=0), database_url=api_db)) as c:
        yield c


@pytest.mark.parametrize("who", [None, "planner"])
def test_a_warm_tile_takes_no_database_work(unlimited, auth, api_db, who):
    x, y = tile_of(113.22, 22.55, 12)
    url = f"/tiles/facilities/12/{x}/{y}.mvt"
    assert _until(lambda: unlimited.get(url) is not None and watch(api_db).listening)
    first = unlimited.get(url, headers=auth(who))
    with _database_work(api_db) as done:
        again = unlimited.get(url, headers=auth(who))
        not_modified = unlimited.get(url, headers=auth(who, **{"If-None-Match": first.headers["etag"]}))
    assert again.status_code == 200 and again.content == first.content
    assert again.headers["etag"] == first.headers["etag"] and not_modified.status_code == 304
    assert done == [], done


def test_a_change_made_elsewhere_reaches_the_next_tile_once_heard(client, api_db):
    x, y = tile_of(113.22, 22.55, 12)
    url = f"/tiles/facilities/12/{x}/{y}.mvt"
    w = watch(api_db)
    assert _until(lambda: client.get(url) is not None and w.peek() is not None)
    before = client.get(url)
    was = _name(before)
    try:
        _elsewhere(api_db, "UPDATE facilities SET name = %(p)s WHERE facility_id = 1", {"p": "测试设施甲"})
        assert _until(lambda: w.peek() is None), "the NOTIFY of the change never arrived"
        after = client.get(url)
        assert after.headers["etag"] != before.headers["etag"] and _name(after) == "测试设施甲"
    finally:
        _elsewhere(api_db, "UPDATE facilities SET name = %(p)s WHERE facility_id = 1", {"p": was})


def test_a_change_in_this_process_reaches_the_very_next_tile(client, api_db):
    x, y = tile_of(113.22, 22.55, 12)
    url = f"/tiles/facilities/12/{x}/{y}.mvt"
    w = watch(api_db)
    assert _until(lambda: client.get(url) is not None and w.peek() is not None)
    before = client.get(url)
    was = _name(before)
    try:
        with session(api_db) as s:
            s.execute(text("UPDATE facilities SET name = '测试设施乙' WHERE facility_id = 1"))
        after = client.get(url)  # no waiting for the NOTIFY
        assert after.headers["etag"] != before.headers["etag"] and _name(after) == "测试设施乙"
    finally:
        _elsewhere(api_db, "UPDATE facilities SET name = %(p)s WHERE facility_id = 1", {"p": was})


def test_without_a_listener_every_tile_reads_the_versions(client, api_db):
    x, y = tile_of(113.22, 22.55, 12)
    url = f"/tiles/facilities/12/{x}/{y}.mvt"
    w = watch(api_db)
    assert _until(lambda: client.get(url) is not None and w.peek() is not None)
    before = client.get(url)
    was = _name(before)
    _elsewhere(
        api_db,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'minqing-versions' AND datname = current_database()",
        {},
    )
    assert _until(lambda: not w.listening)
    try:
        # the change's NOTIFY has no one to reach here: the tile must read the versions itself
        _elsewhere(api_db, "UPDATE facilities SET name = %(p)s WHERE facility_id = 1", {"p": "测试设施丙"})
        after = client.get(url)
        assert after.headers["etag"] != before.headers["etag"] and _name(after) == "测试设施丙"
    finally:
        _elsewhere(api_db, "UPDATE facilities SET name = %(p)s WHERE facility_id = 1", {"p": was})
    assert _until(lambda: client.get(url) is not None and w.listening), "the listener never came back"


def test_a_login_kept_for_tiles_follows_a_deactivation_made_elsewhere(client, auth, api_db):
    x, y = tile_of(113.22, 22.55, 12)
    url = f"/tiles/grids/12/{x}/{y}.mvt"
    w = watch(api_db)
    assert _until(lambda: client.get(url) is not None and w.peek() is not None)
    client.get(url, headers=auth("planner"))
    staff = client.get(url, headers=auth("planner"))
    assert "-full-" in staff.headers["etag"]
    try:
        _elsewhere(api_db, "UPDATE users SET active = false WHERE username = 'planner'", {})
        assert _until(lambda: w.peek() is None), "the NOTIFY of the change never arrived"
        gone = client.get(url, headers=auth("planner"))
        assert "-public-" in gone.headers["etag"]  # the token reads as anonymous, as OptionalUser does
        assert (
            client.get("/tiles/gaps/12/0/0.mvt?type_code=kindergarten", headers=auth("planner")).status_code
            == 401
        )
    finally:
        _elsewhere(api_db, "UPDATE users SET active = true WHERE username = 'planner'", {})
    assert _until(lambda: "-full-" in client.get(url, headers=auth("planner")).headers["etag"])


# ---------- place-name clusters: counts per stored check result ----------


@pytest.fixture(scope="module")
def name_crowd(api_db):
    """Names of every kind of check result, some crowded (clusters), some alone: duplicates far apart,
    a 洋 estate name, retired names, names of a category that needs a sign, without one."""
    rows = []
    for i in range(6):  # one village name six times, each far from the others: duplicates
        rows.append((3000 + i, "和平村", "village", "standard", 113.22 + i * 0.03, 22.52 + (i % 2) * 0.1))
    for i in range(8):  # a crowd within a few hundred metres
        rows.append((3100 + i, f"曼哈顿花园{i}期", "estate", "standard", 113.30 + i * 0.0005, 22.60))
        rows.append((3200 + i, f"新安{i}巷", "road", "standard", 113.30 + i * 0.0005, 22.601))
        rows.append((3300 + i, f"旧名{i}里", "road", "historical", 113.30 + i * 0.0005, 22.602))
    engine = create_engine(api_db)
    with engine.begin() as c:
        for r in rows:
            c.execute(
                text(
                    "INSERT INTO place_names (name_id, name, category, status, geom) "
                    "VALUES (:i, :n, :c, :s, ST_Point(:x, :y, 4326))"
                ),
                dict(zip(("i", "n", "c", "s", "x", "y"), r, strict=True)),
            )
    yield [r[0] for r in rows]
    with engine.begin() as c:
        c.execute(text("DELETE FROM place_name_history WHERE name_id >= 3000"))
        c.execute(text("DELETE FROM place_names WHERE name_id >= 3000"))
    engine.dispose()


def _page_results(client, auth) -> dict[int, str]:
    """Each name's check result as the place-name map's own rows give it (computed in Python from the
    registry's findings: ``maps.placenames.name_parts``), the independent truth of the clusters."""
    out: dict[int, str] = {}
    part = 0
    while True:
        r = client.get(f"/map-data/placenames/{part}.json", headers=auth("officer"))
        if r.status_code == 404:
            return out
        assert r.status_code == 200, r.text
        body = r.json()
        cols = body["columns"]
        out.update({row[cols.index("id")]: row[cols.index("result")] for row in body["rows"]})
        part += 1


def _name_clusters(client, auth, z: int, who: str = "officer") -> dict[tuple[int, int], list[dict]]:
    out = {}
    for x, y in tiles_over(BBOX, z):
        r = client.get(f"/tiles/place_name_clusters/{z}/{x}/{y}.mvt", headers=auth(who))
        assert r.status_code in (200, 204), r.text
        if r.status_code == 200:
            out[(x, y)] = mapbox_vector_tile.decode(r.content)["place_name_clusters"]["features"]
    return out


def _per_result(tiles: dict) -> Counter:
    counts: Counter = Counter()
    for feats in tiles.values():
        for f in feats:
            p = f["properties"]
            if "count" in p:
                assert sum(v for k, v in p.items() if k.startswith("n_")) == p["count"]
                counts.update({k[2:]: v for k, v in p.items() if k.startswith("n_")})
            else:
                counts[p["result"]] += 1
    return counts


@pytest.mark.parametrize("z", [10, 12, 15])
def test_place_name_clusters_count_each_result_as_the_page_does(client, auth, api_db, name_crowd, z):
    truth = _page_results(client, auth)
    assert set(name_crowd) <= set(truth) and len(set(truth.values())) >= 4
    tiles = _name_clusters(client, auth, z)
    assert _per_result(tiles) == Counter(truth.values())
    with create_engine(api_db).connect() as c:  # every name once, in one tile
        assert (
            sum(_per_result(tiles).values()) == c.execute(text("SELECT count(*) FROM place_names")).scalar()
        )
    singles = [f for feats in tiles.values() for f in feats if "count" not in f["properties"]]
    for f in singles:  # a name alone in its cell: its own result and fields
        assert f["properties"]["result"] == truth[f["id"]]
    if z == 12:
        assert singles and any("count" in f["properties"] for feats in tiles.values() for f in feats)


def test_place_name_clusters_follow_a_retirement(client, auth, name_crowd):
    name_id = 3200  # 新安0巷: current
    before = _per_result(_name_clusters(client, auth, 12))
    was = _page_results(client, auth)[name_id]
    assert was != "historical"
    r = client.post(
        f"/placenames/{name_id}/retire", json={"approval": "澄府地〔2026〕21号"}, headers=auth("officer")
    )
    assert r.status_code == 200, r.text
    truth = _page_results(client, auth)
    assert truth[name_id] == "historical"
    after = _per_result(_name_clusters(client, auth, 12))
    assert after == Counter(truth.values())
    assert after["historical"] == before["historical"] + 1


@pytest.mark.parametrize(("who", "status"), [(None, 401), ("planner", 403), ("officer", 200), ("admin", 200)])
def test_place_name_clusters_are_for_the_place_name_officers(client, auth, who, status):
    x, y = tile_of(113.26, 22.58, 12)
    r = client.get(f"/tiles/place_name_clusters/12/{x}/{y}.mvt", headers=auth(who))
    assert r.status_code == status, r.text


def test_the_place_name_page_keeps_the_results_it_computed(client, auth, api_db, name_crowd):
    from pipeline import placename_results

    flip = "UPDATE place_names SET sign_present = NOT sign_present WHERE name_id = 3201"
    _elsewhere(api_db, flip, {})
    try:
        truth = _page_results(client, auth)  # the page is built again for the new data
        with session(api_db) as s:
            assert placename_results.ensure(s) is False  # what it computed was kept: nothing to do
        assert _per_result(_name_clusters(client, auth, 12)) == Counter(truth.values())
    finally:
        _elsewhere(api_db, flip, {})
