"""File imports through the API: every file format and coordinate system, dry run, all-or-nothing
commit, roles, and the per-row audit of an import.

The module writes into a database of its own (the fixture district again): committed imports
must not change the counts other API tests read.
"""

from __future__ import annotations

import io
import itertools
import math
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from api_fixture import (
    AREAS,
    GRID_A,
    GRID_B,
    PASSWORD,
    ROLES,
    asgi_client,
    fresh_database,
    load_fixture_district,
    make_settings,
)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from geo import chinacrs

GOOD = "名称,类型,经度,纬度,状态\n导入幼儿园甲,kindergarten,113.331,22.611,开放\n导入幼儿园乙,kindergarten,113.341,22.621,开放\n"
BAD = GOOD + "坏行,no_such_type,113.351,22.631,开放\n"
ADDRESSES = "标准地址,户数,人口,经度,纬度\n二社区导入5号,12,30,113.352,22.612\n"
WHO = (None, "gridworker", "planner", "officer", "admin")
IMPORTERS = {
    "facilities": {"planner", "admin"},
    "residences": {"planner", "admin"},
    "addresses": {"planner", "admin"},  # 一标三实 addresses ARE residences (households, population)
    "place_names": {"officer", "admin"},
    "grids": {"admin"},
}


@pytest.fixture(scope="module")
def import_db(db_url) -> str:
    url = fresh_database(db_url, make_url(db_url).database + "_imports")
    load_fixture_district(url)
    return url


@pytest.fixture(scope="module")
def client(import_db):
    from api.main import create_app

    with asgi_client(create_app(make_settings(), database_url=import_db)) as c:
        yield c


@pytest.fixture(scope="module")
def auth(client):
    tokens = {
        u: client.post("/auth/token", data={"username": u, "password": PASSWORD}).json()["access_token"]
        for u in ROLES
    }

    def headers(username: str | None, **extra: str) -> dict[str, str]:
        return {**({} if username is None else {"Authorization": f"Bearer {tokens[username]}"}), **extra}

    return headers


@pytest.fixture(scope="module")
def db(import_db):
    engine = create_engine(import_db)

    def scalar(sql: str, **params):
        with engine.connect() as con:
            return con.execute(text(sql), params).scalar_one()

    yield scalar
    engine.dispose()


def upload(
    client,
    auth,
    content: str | bytes,
    *,
    who="planner",
    layer="facilities",
    name="设施.csv",
    media="text/csv",
    **params,
):
    data = content.encode("utf-8") if isinstance(content, str) else content
    return client.post(
        f"/imports/{layer}", files={"file": (name, data, media)}, params=params, headers=auth(who)
    )


def metres(lon0: float, lat0: float, lon1: float, lat1: float) -> float:
    """Distance on the sphere (m), plenty for sub-metre checks."""
    dy = math.radians(lat1 - lat0) * 6_371_008.8
    dx = math.radians(lon1 - lon0) * 6_371_008.8 * math.cos(math.radians((lat0 + lat1) / 2))
    return math.hypot(dx, dy)


def stored_position(client, name: str) -> tuple[float, float]:
    features = client.get("/collections/facilities/items", params={"name": name}).json()["features"]
    assert len(features) == 1, f"{name}: {len(features)} stored features"
    lon, lat = features[0]["geometry"]["coordinates"]
    return lon, lat


# --- dry run and all-or-nothing ---------------------------------------------------------------------


def test_dry_run_reports_problems_and_writes_nothing(client, auth, db):
    before = db("SELECT count(*) FROM facilities")
    r = upload(client, auth, BAD, dry_run="true")
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["dry_run"] is True and report["ok"] is False and report["written"] == 0
    assert report["rows"] == 3
    [problem] = report["problems"]
    assert problem["row"] == 4 and "type_code" in problem["column"] and problem["fix"]
    assert db("SELECT count(*) FROM facilities") == before


def test_one_bad_row_changes_nothing(client, auth, db):
    before = db("SELECT count(*) FROM facilities")
    r = upload(client, auth, BAD)
    assert r.status_code == 422
    err = r.json()["error"]
    assert "nothing was written" in err["message"]
    assert err["details"][0]["row"] == 4
    assert db("SELECT count(*) FROM facilities") == before


def test_clean_file_is_written_and_audited_per_row(client, auth, db):
    before = db("SELECT count(*) FROM facilities")
    r = upload(client, auth, GOOD, crs="wgs84")
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True and r.json()["written"] == 2
    assert db("SELECT count(*) FROM facilities") == before + 2
    names = {
        f["properties"]["name"]
        for f in client.get("/collections/facilities/items", params={"limit": 1000}).json()["features"]
    }
    assert {"导入幼儿园甲", "导入幼儿园乙"} <= names
    audit = client.get(
        "/audit",
        params={"actor": "planner", "layer": "facilities", "action": "insert"},
        headers=auth("admin"),
    ).json()
    # not the summaries
    inserted = {e["after"]["name"]: e for e in audit["items"] if e["object_id"] is not None}
    assert {"导入幼儿园甲", "导入幼儿园乙"} <= set(inserted)
    entry = inserted["导入幼儿园甲"]
    assert entry["before"] is None and entry["object_id"] == str(entry["after"]["facility_id"])
    summary = client.get(
        "/audit",
        params={"actor": "planner", "layer": "facilities", "action": "import"},
        headers=auth("admin"),
    ).json()
    assert summary["items"][0]["after"]["rows"] == 2


def test_an_import_updating_grids_is_audited_with_before_and_after_per_row(client, auth):
    """The reviewer's case: an admin import renaming two grids left one summary row {"rows": 2}."""
    rows = [a for a in AREAS if a[0] in (GRID_A, GRID_B)]
    frame = gpd.GeoDataFrame(
        {
            "编码": [a[3] for a in rows],
            "名称": [f"{a[4]}(更名)" for a in rows],
            "层级": ["grid_small"] * 2,
            "网格员": [a[6] for a in rows],
            "网格员电话": [a[7] for a in rows],
        },
        geometry=shapely.from_wkt([a[8] for a in rows]),
        crs=4326,
    )
    r = upload(
        client,
        auth,
        frame.to_json(ensure_ascii=False),
        who="admin",
        layer="grids",
        name="网格.geojson",
        media="application/geo+json",
    )
    assert r.status_code == 200, r.text
    assert r.json()["written"] == 2
    audit = client.get(
        "/audit", params={"layer": "areas", "action": "update", "actor": "admin"}, headers=auth("admin")
    ).json()
    by_id = {e["object_id"]: e for e in audit["items"]}
    for area_id, *_rest in rows:
        entry = by_id[str(area_id)]
        assert entry["before"]["name"] + "(更名)" == entry["after"]["name"]
        assert entry["before"]["area_id"] == entry["after"]["area_id"] == area_id


def test_a_file_over_the_row_limit_is_refused_with_the_limit_and_the_fix(client, auth, db, monkeypatch):
    monkeypatch.setenv("MINQING_IMPORT_MAX_ROWS", "1")
    before = db("SELECT count(*) FROM facilities")
    dry = upload(client, auth, GOOD, dry_run="true")
    assert dry.status_code == 200 and dry.json()["ok"] is False
    [problem] = dry.json()["problems"]
    assert "more than 1 data rows" in problem["problem"] and "MINQING_IMPORT_MAX_ROWS" in problem["fix"]
    r = upload(client, auth, GOOD)
    assert r.status_code == 422
    assert "more than 1 data rows" in r.json()["error"]["details"][0]["problem"]
    assert db("SELECT count(*) FROM facilities") == before


def test_a_create_while_an_import_is_open_gets_its_own_key(client, auth, import_db, tmp_path):
    """The attack of issue 14: a create during an import got 409 (both had taken max(id)+1). Now the
    import holds its rows uncommitted while the create is sent; the create may wait for the import
    to commit (both bump the layer's data version), then both rows are stored under distinct keys."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from layers.db import session
    from layers.load.files import import_file

    path = tmp_path / "设施.csv"
    path.write_text(
        "名称,类型,经度,纬度\n" + "".join(f"并发幼儿园{i},kindergarten,113.33{i},22.61\n" for i in range(5)),
        encoding="utf-8",
    )
    written, go, imported = threading.Event(), threading.Event(), {}

    def importer():
        with session(import_db, actor="planner") as s:
            report = import_file(s, "facilities", path, actor="planner")
            imported["ok"] = report.ok
            imported["ids"] = set(
                s.execute(text("SELECT facility_id FROM facilities WHERE name LIKE '并发幼儿园%'")).scalars()
            )
            written.set()
            go.wait(timeout=30)  # commit only once the create is under way

    def waiting_on_a_lock() -> int:
        with session(import_db) as s:
            return s.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            ).scalar_one()

    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [113.335, 22.615]},
        "properties": {"type_code": "public_toilet", "name": "并发公厕"},
    }
    thread = threading.Thread(target=importer)
    thread.start()
    with ThreadPoolExecutor(1) as pool:
        try:
            assert written.wait(timeout=60)
            create = pool.submit(
                client.post, "/collections/facilities/items", json=body, headers=auth("planner")
            )
            deadline = time.monotonic() + 10
            while not create.done() and not waiting_on_a_lock() and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            go.set()
            thread.join(timeout=60)
        r = create.result(timeout=60)
    assert r.status_code == 201, r.text
    assert imported["ok"] and len(imported["ids"]) == 5
    created = r.json()["id"]
    assert created not in imported["ids"]
    with session(import_db) as s:
        stored = set(s.execute(text("SELECT facility_id FROM facilities WHERE name LIKE '并发%'")).scalars())
    assert stored == imported["ids"] | {created}


# --- roles ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("layer", "who"), list(itertools.product(IMPORTERS, WHO)))
def test_import_roles(client, auth, layer, who):
    r = upload(client, auth, GOOD, who=who, layer=layer, dry_run="true")
    expected = 200 if who in IMPORTERS[layer] else (401 if who is None else 403)
    assert r.status_code == expected, r.text


def test_officer_cannot_write_residences_through_the_addresses_import(client, auth, db):
    before = db("SELECT count(*) FROM residences")
    r = upload(client, auth, ADDRESSES, who="officer", layer="addresses", name="一标三实.csv")
    assert r.status_code == 403
    assert "planner" in r.json()["error"]["message"]
    assert db("SELECT count(*) FROM residences") == before


@pytest.mark.parametrize("who", ["planner", "admin"])
def test_planner_and_admin_import_addresses(client, auth, db, who):
    before = db("SELECT count(*) FROM residences")
    content = ADDRESSES.replace("导入5号", f"导入5号{who}")
    assert (
        upload(client, auth, content, who=who, layer="addresses", name="一标三实.csv", dry_run="true").json()[
            "summary"
        ]["would_write"]
        == 1
    )
    assert db("SELECT count(*) FROM residences") == before
    r = upload(client, auth, content, who=who, layer="addresses", name="一标三实.csv")
    assert r.status_code == 200, r.text
    assert db("SELECT count(*) FROM residences") == before + 1
    assert db("SELECT households FROM residences WHERE address = :a", a=f"二社区导入5号{who}") == 12


def test_officer_and_admin_import_place_names(client, auth, db):
    for who in ("officer", "admin"):
        name = f"导入{'甲' if who == 'officer' else '乙'}巷"
        content = f"名称,类别,经度,纬度\n{name},lane,113.345,22.615\n"
        r = upload(client, auth, content, who=who, layer="place_names", name="地名.csv")
        assert r.status_code == 200, r.text
        assert r.json()["written"] == 1
        assert db("SELECT count(*) FROM place_names WHERE name = :n", n=name) == 1


def test_unsupported_file_type_and_crs(client, auth):
    assert upload(client, auth, GOOD, name="设施.txt").status_code == 400
    assert upload(client, auth, GOOD, crs="mars").status_code == 400
    bad_map = client.post(
        "/imports/facilities",
        files={"file": ("a.csv", GOOD.encode(), "text/csv")},
        data={"column_map": "[1,2]"},
        headers=auth("planner"),
    )
    assert bad_map.status_code == 400


# --- formats and coordinate systems ---------------------------------------------------------------------

TRUE_LON, TRUE_LAT = 113.3372, 22.6145
"""Where the test facilities really are (WGS84), inside community 2 of the fixture district."""


def _facility_frame(name: str, lon: float, lat: float, *, crs: str | int | None) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"名称": [name], "类型": ["kindergarten"]}, geometry=[shapely.Point(lon, lat)], crs=crs
    )


def _gpkg(frame: gpd.GeoDataFrame, tmp_path: Path) -> bytes:
    path = tmp_path / "设施.gpkg"
    frame.to_file(path, driver="GPKG", engine="pyogrio")
    return path.read_bytes()


def _zipped_shapefile(frame: gpd.GeoDataFrame, tmp_path: Path) -> bytes:
    frame = frame.rename(columns={"名称": "name", "类型": "type"})  # DBF field names: ASCII is safest
    frame.to_file(tmp_path / "facilities.shp", driver="ESRI Shapefile", engine="pyogrio", encoding="utf-8")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for part in sorted(tmp_path.glob("facilities.*")):
            z.write(part, part.name)
    return out.getvalue()


def _xlsx_wkt(name: str, lon: float, lat: float) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["名称", "类型", "WKT"])
    wb.active.append([name, "幼儿园", f"POINT ({lon:.9f} {lat:.9f})"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _cgcs2000(lon: float, lat: float) -> tuple[float, float]:
    import pyproj

    x, y = pyproj.Transformer.from_crs(4326, 4490, always_xy=True).transform(lon, lat)
    return float(x), float(y)


def _point(convert, lon: float, lat: float) -> tuple[float, float]:
    x, y = convert(np.array([lon]), np.array([lat]))
    return float(x[0]), float(y[0])


def _case(kind: str, name: str, tmp_path: Path) -> tuple[bytes, str, str, str]:
    """(file content, file name, media type, crs parameter) of one facility at TRUE_LON/TRUE_LAT."""
    gcj = _point(chinacrs.wgs84_to_gcj02, TRUE_LON, TRUE_LAT)
    bd = _point(chinacrs.wgs84_to_bd09, TRUE_LON, TRUE_LAT)
    if kind == "geojson_bd09":
        text = _facility_frame(name, *bd, crs=None).to_json(ensure_ascii=False)
        return text.encode(), "设施.geojson", "application/geo+json", "bd09"
    if kind == "gpkg_cgcs2000":
        return (
            _gpkg(_facility_frame(name, *_cgcs2000(TRUE_LON, TRUE_LAT), crs=4490), tmp_path),
            "设施.gpkg",
            "application/geopackage+sqlite3",
            "wgs84",
        )
    if kind == "shp_gcj02":
        return (
            _zipped_shapefile(_facility_frame(name, *gcj, crs=4326), tmp_path),
            "设施.zip",
            "application/zip",
            "gcj02",
        )
    if kind == "xlsx_wkt_gcj02":
        return (
            _xlsx_wkt(name, *gcj),
            "设施.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "gcj02",
        )
    if kind == "csv_cgcs2000":
        lon, lat = _cgcs2000(TRUE_LON, TRUE_LAT)
        return (
            f"名称,类型,经度,纬度\n{name},kindergarten,{lon:.9f},{lat:.9f}\n".encode(),
            "设施.csv",
            "text/csv",
            "cgcs2000",
        )
    if kind == "csv_bd09":
        return (
            f"名称,类型,经度,纬度\n{name},kindergarten,{bd[0]:.9f},{bd[1]:.9f}\n".encode(),
            "设施.csv",
            "text/csv",
            "bd09",
        )
    if kind == "csv_gcj02":
        return (
            f"名称,类型,经度,纬度\n{name},kindergarten,{gcj[0]:.9f},{gcj[1]:.9f}\n".encode(),
            "设施.csv",
            "text/csv",
            "gcj02",
        )
    raise AssertionError(kind)


CASES = [
    "geojson_bd09",
    "gpkg_cgcs2000",
    "shp_gcj02",
    "xlsx_wkt_gcj02",
    "csv_cgcs2000",
    "csv_bd09",
    "csv_gcj02",
]


@pytest.mark.parametrize("kind", CASES)
def test_every_format_and_coordinate_system_through_http(client, auth, db, tmp_path, kind):
    """Dry run writes nothing; the commit stores the point within 0.5 m of where it really is (the exact
    inverse of the web-map shift, not just 'somewhere a few hundred metres away')."""
    name = f"格式测试幼儿园_{kind}"
    content, filename, media, crs = _case(kind, name, tmp_path)
    before = db("SELECT count(*) FROM facilities")
    dry = upload(client, auth, content, name=filename, media=media, crs=crs, dry_run="true")
    assert dry.status_code == 200, dry.text
    assert dry.json()["ok"] is True, dry.json()["problems"]
    assert dry.json()["summary"]["would_write"] == 1
    assert db("SELECT count(*) FROM facilities") == before
    r = upload(client, auth, content, name=filename, media=media, crs=crs)
    assert r.status_code == 200, r.text
    assert r.json()["written"] == 1
    lon, lat = stored_position(client, name)
    assert metres(lon, lat, TRUE_LON, TRUE_LAT) < 0.5


def test_the_shifted_systems_really_move_points(tmp_path):
    """Guard for the test above: reading the GCJ-02 / BD-09 input as WGS84 would be ~300-900 m off."""
    for convert in (chinacrs.wgs84_to_gcj02, chinacrs.wgs84_to_bd09):
        lon, lat = _point(convert, TRUE_LON, TRUE_LAT)
        assert metres(lon, lat, TRUE_LON, TRUE_LAT) > 200
    back = _point(chinacrs.gcj02_to_wgs84, *_point(chinacrs.wgs84_to_gcj02, TRUE_LON, TRUE_LAT))
    assert metres(*back, TRUE_LON, TRUE_LAT) < 0.01


# --- database refusals: a clear message, never the server's text ---------------------------------------


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        (
            "INSERT INTO areas (area_id, level, code, name, urban, geom) SELECT 999001, 'town', code, 'x', true, geom "
            "FROM areas WHERE area_id = 1",
            "must be unique",
        ),
        (
            "INSERT INTO users (username, password_hash, role) VALUES ('x', 'y', 'mayor')",
            "not one of those allowed",
        ),
        (
            "INSERT INTO facilities (facility_id, type_code, name, geom) VALUES (999001, 'no_such_type', 'x', "
            "ST_Point(113.3, 22.6, 4326))",
            "refers to something that does not exist",
        ),
        (
            "INSERT INTO facilities (facility_id, type_code) VALUES (999002, 'kindergarten')",
            "required value is empty",
        ),
    ],
)
def test_database_refusals_are_described_not_quoted(import_db, sql, says):
    from sqlalchemy.exc import DBAPIError

    from layers.db import session
    from layers.errors import describe_database_error

    with pytest.raises(DBAPIError) as caught, session(import_db) as s:
        s.execute(text(sql))
    problem, fix = describe_database_error(caught.value)
    assert says in problem and fix
    raw = str(caught.value.orig)
    assert "violates" in raw  # the server's own words …
    assert "violates" not in problem and "constraint" not in problem and '"' not in problem  # … are not shown


def test_an_import_refused_by_the_database_reports_it_in_words(client, auth, monkeypatch):
    """A refusal the row checks did not foresee (here: a duplicate key forced into the write)."""
    import layers.load.facilities as files

    write = files._write_facilities

    def clashing(s, rows, **kwargs):
        n = write(s, rows, **kwargs)
        s.execute(
            text(
                "INSERT INTO facilities (facility_id, type_code, name, geom) SELECT facility_id, type_code, "
                "name, geom FROM facilities ORDER BY facility_id DESC LIMIT 1"
            )
        )
        return n

    monkeypatch.setattr(files, "_write_facilities", clashing)
    r = upload(client, auth, GOOD)
    assert r.status_code == 422, r.text
    [problem] = r.json()["error"]["details"]
    assert "must be unique" in problem["problem"] and "facility_id" in problem["problem"]
    assert "violates" not in r.text and "pkey" not in r.text
