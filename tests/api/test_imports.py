"""File imports through the API: every file format and coordinate system, dry run, all-or-nothing
commit, roles, and the per-row audit of an import; the import as a job of the task queue (202, poll
the job, a real worker imports: in this process with ``drain``, or ``minqing worker``), surviving a
worker that stopped, retried without importing twice, its upload dropped when it ends, and who may
read it.

The module writes into a database of its own (the fixture district again): committed imports
must not change the counts other API tests read.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import time
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
    drain,
    fresh_database,
    load_fixture_district,
    make_settings,
    worker_process,
)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from geo import chinacrs
from layers.db import session

GOOD = (
    "名称,类型,经度,纬度,状态\n"
    "导入幼儿园甲,kindergarten,113.331,22.611,开放\n"
    "导入幼儿园乙,kindergarten,113.341,22.621,开放\n"
)
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
    """POST the file: 202 with the queued job, or the refusal of the form."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    return client.post(
        f"/imports/{layer}", files={"file": (name, data, media)}, params=params, headers=auth(who)
    )


def imported(client, auth, import_db, content: str | bytes, *, who="planner", **kwargs) -> dict:
    """Upload, let a real worker of the task queue import it, and read the job that ended as its
    uploader sees it."""
    r = upload(client, auth, content, who=who, **kwargs)
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert r.json()["status"] == "queued" and r.json()["status_zh"] == "排队中"
    assert r.headers["location"] == r.json()["url"] == f"/imports/jobs/{job_id}"
    drain(import_db)
    got = client.get(r.headers["location"], headers=auth(who))
    assert got.status_code == 200, got.text
    job = got.json()
    assert job["status"] in ("done", "failed") and job["finished_at"], job
    return job


def done(job: dict) -> dict:
    """The report of a job that ended well (a clean import, or any dry run)."""
    assert job["status"] == "done" and job["status_zh"] == "已完成" and job["error"] is None, job
    return job["result"]


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


def test_dry_run_reports_problems_and_writes_nothing(client, auth, db, import_db):
    before = db("SELECT count(*) FROM facilities")
    report = done(imported(client, auth, import_db, BAD, dry_run="true"))
    assert report["dry_run"] is True and report["ok"] is False and report["written"] == 0
    assert report["rows"] == 3
    [problem] = report["problems"]
    assert problem["row"] == 4 and "type_code" in problem["column"] and problem["fix"]
    assert db("SELECT count(*) FROM facilities") == before


def test_one_bad_row_changes_nothing(client, auth, db, import_db):
    before = db("SELECT count(*) FROM facilities")
    job = imported(client, auth, import_db, BAD)
    assert job["status"] == "failed" and job["status_zh"] == "失败"
    assert "nothing was written" in job["error"] and "未写入任何数据" in job["error"]
    assert job["result"]["problems"][0]["row"] == 4
    assert job["result"]["ok"] is False and job["result"]["written"] == 0
    assert db("SELECT count(*) FROM facilities") == before


def test_clean_file_is_written_and_audited_per_row(client, auth, db, import_db):
    before = db("SELECT count(*) FROM facilities")
    report = done(imported(client, auth, import_db, GOOD, crs="wgs84"))
    assert report["ok"] is True and report["written"] == 2
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


def test_an_import_updating_grids_is_audited_with_before_and_after_per_row(client, auth, import_db):
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
    job = imported(
        client,
        auth,
        import_db,
        frame.to_json(ensure_ascii=False),
        who="admin",
        layer="grids",
        name="网格.geojson",
        media="application/geo+json",
    )
    assert done(job)["written"] == 2
    audit = client.get(
        "/audit", params={"layer": "areas", "action": "update", "actor": "admin"}, headers=auth("admin")
    ).json()
    by_id = {e["object_id"]: e for e in audit["items"]}
    for area_id, *_rest in rows:
        entry = by_id[str(area_id)]
        assert entry["before"]["name"] + "(更名)" == entry["after"]["name"]
        assert entry["before"]["area_id"] == entry["after"]["area_id"] == area_id


def test_a_file_over_the_row_limit_is_refused_with_the_limit_and_the_fix(
    client, auth, db, import_db, monkeypatch
):
    monkeypatch.setenv("MINQING_IMPORT_MAX_ROWS", "1")  # read by the worker (``drain``: this process)
    before = db("SELECT count(*) FROM facilities")
    dry = done(imported(client, auth, import_db, GOOD, dry_run="true"))
    assert dry["ok"] is False
    [problem] = dry["problems"]
    assert "more than 1 data rows" in problem["problem"] and "MINQING_IMPORT_MAX_ROWS" in problem["fix"]
    job = imported(client, auth, import_db, GOOD)
    assert job["status"] == "failed"
    assert "more than 1 data rows" in job["result"]["problems"][0]["problem"]
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
def test_import_roles(client, auth, import_db, layer, who):
    r = upload(client, auth, GOOD, who=who, layer=layer, dry_run="true")
    expected = 202 if who in IMPORTERS[layer] else (401 if who is None else 403)
    assert r.status_code == expected, r.text
    if expected == 202:
        drain(import_db)
        assert client.get(r.headers["location"], headers=auth(who)).json()["status"] == "done"


def test_officer_cannot_write_residences_through_the_addresses_import(client, auth, db):
    before = db("SELECT count(*) FROM residences")
    r = upload(client, auth, ADDRESSES, who="officer", layer="addresses", name="一标三实.csv")
    assert r.status_code == 403
    assert "planner" in r.json()["error"]["message"]
    assert db("SELECT count(*) FROM residences") == before


@pytest.mark.parametrize("who", ["planner", "admin"])
def test_planner_and_admin_import_addresses(client, auth, db, import_db, who):
    before = db("SELECT count(*) FROM residences")
    content = ADDRESSES.replace("导入5号", f"导入5号{who}")
    dry = imported(
        client, auth, import_db, content, who=who, layer="addresses", name="一标三实.csv", dry_run="true"
    )
    assert done(dry)["summary"]["would_write"] == 1
    assert db("SELECT count(*) FROM residences") == before
    job = imported(client, auth, import_db, content, who=who, layer="addresses", name="一标三实.csv")
    assert done(job)["written"] == 1
    assert db("SELECT count(*) FROM residences") == before + 1
    assert db("SELECT households FROM residences WHERE address = :a", a=f"二社区导入5号{who}") == 12


def test_officer_and_admin_import_place_names(client, auth, db, import_db):
    for who in ("officer", "admin"):
        name = f"导入{'甲' if who == 'officer' else '乙'}巷"
        content = f"名称,类别,经度,纬度\n{name},lane,113.345,22.615\n"
        job = imported(client, auth, import_db, content, who=who, layer="place_names", name="地名.csv")
        assert done(job)["written"] == 1
        assert db("SELECT count(*) FROM place_names WHERE name = :n", n=name) == 1


def test_unsupported_file_type_and_crs(client, auth, db):
    """Refused at once, before anything is queued."""
    before = db("SELECT count(*) FROM jobs")
    assert upload(client, auth, GOOD, name="设施.txt").status_code == 400
    assert upload(client, auth, GOOD, crs="mars").status_code == 400
    unknown_epsg = upload(client, auth, GOOD, crs="epsg:99999")
    assert unknown_epsg.status_code == 422 and "epsg:99999" in unknown_epsg.text
    bad_map = client.post(
        "/imports/facilities",
        files={"file": ("a.csv", GOOD.encode(), "text/csv")},
        data={"column_map": "[1,2]"},
        headers=auth("planner"),
    )
    assert bad_map.status_code == 400
    assert db("SELECT count(*) FROM jobs") == before


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
def test_every_format_and_coordinate_system_through_http(client, auth, db, import_db, tmp_path, kind):
    """Dry run writes nothing; the commit stores the point within 0.5 m of where it really is (the exact
    inverse of the web-map shift, not just 'somewhere a few hundred metres away')."""
    name = f"格式测试幼儿园_{kind}"
    content, filename, media, crs = _case(kind, name, tmp_path)
    before = db("SELECT count(*) FROM facilities")
    dry = done(
        imported(client, auth, import_db, content, name=filename, media=media, crs=crs, dry_run="true")
    )
    assert dry["ok"] is True, dry["problems"]
    assert dry["summary"]["would_write"] == 1
    assert db("SELECT count(*) FROM facilities") == before
    report = done(imported(client, auth, import_db, content, name=filename, media=media, crs=crs))
    assert report["written"] == 1
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
            "INSERT INTO areas (area_id, level, code, name, urban, geom) "
            "SELECT 999001, 'town', code, 'x', true, geom FROM areas WHERE area_id = 1",
            "must be unique",
        ),
        (
            "INSERT INTO users (username, password_hash, role) VALUES ('x', 'y', 'mayor')",
            "not one of those allowed",
        ),
        (
            "INSERT INTO facilities (facility_id, type_code, name, geom) "
            "VALUES (999001, 'no_such_type', 'x', ST_Point(113.3, 22.6, 4326))",
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


def test_an_import_refused_by_the_database_reports_it_in_words(client, auth, import_db, monkeypatch):
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

    monkeypatch.setattr(files, "_write_facilities", clashing)  # the worker (``drain``) runs in this process
    job = imported(client, auth, import_db, GOOD)
    assert job["status"] == "failed", job
    [problem] = job["result"]["problems"]
    assert "must be unique" in problem["problem"] and "facility_id" in problem["problem"]
    text_of_job = json.dumps(job, ensure_ascii=False)
    assert "violates" not in text_of_job and "pkey" not in text_of_job


# --- the import as a job of the task queue ---------------------------------------------------------------


def _post(client, auth, content: str, **kwargs) -> int:
    r = upload(client, auth, content, **kwargs)
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def test_the_upload_waits_with_its_job_and_is_dropped_when_the_job_ends(client, auth, db, import_db):
    """Stored with the job while it waits; gone once it is done or failed, dry run or not."""
    ids = {
        "import": _post(client, auth, GOOD.replace("导入幼儿园", "存放幼儿园")),
        "dry run": _post(client, auth, GOOD, dry_run="true"),
        "refused": _post(client, auth, BAD),
    }
    for job_id in ids.values():
        assert db("SELECT status FROM jobs WHERE job_id = :j", j=job_id) == "queued"
    assert db("SELECT length(upload) FROM jobs WHERE job_id = :j", j=ids["import"]) == len(
        GOOD.replace("导入幼儿园", "存放幼儿园").encode()
    )
    drain(import_db)
    statuses = {k: db("SELECT status FROM jobs WHERE job_id = :j", j=j) for k, j in ids.items()}
    assert statuses == {"import": "done", "dry run": "done", "refused": "failed"}
    for job_id in ids.values():
        assert db("SELECT upload IS NULL FROM jobs WHERE job_id = :j", j=job_id) is True


def test_progress_and_state_are_written_as_the_import_goes(client, auth, db, import_db):
    job_id = _post(client, auth, GOOD.replace("导入幼儿园", "进度幼儿园"))
    queued = client.get(f"/imports/jobs/{job_id}", headers=auth("planner")).json()
    assert (queued["status"], queued["status_zh"], queued["progress"], queued["result"]) == (
        "queued",
        "排队中",
        None,
        None,
    )
    assert queued["layer"] == "facilities" and queued["filename"] == "设施.csv" and queued["dry_run"] is False
    drain(import_db)
    job = client.get(f"/imports/jobs/{job_id}", headers=auth("planner")).json()
    assert job["progress"] == {"stage": "写入 writing", "done": 2, "total": 2, "unit": "行"}
    assert done(job)["written"] == 2 and job["actor"] == "planner"
    # the audit log names the uploader: the start of the job, and every row the worker wrote
    assert db(
        "SELECT actor FROM audit_log WHERE layer = 'jobs' AND action = 'start' AND object_id = :j",
        j=str(job_id),
    ) == ("planner")
    assert (
        db(
            "SELECT count(*) FROM audit_log WHERE layer = 'facilities' AND action = 'insert' "
            "AND actor = 'planner' AND after ->> 'name' LIKE '进度幼儿园%'"
        )
        == 2
    )


def test_a_failing_import_writes_nothing_and_says_why_without_server_details(
    client, auth, db, import_db, monkeypatch
):
    import pipeline.file_imports as file_imports

    before = db("SELECT count(*) FROM facilities")

    def broken(s, *args, **kwargs):
        s.execute(
            text(
                "INSERT INTO facilities (type_code, name, geom) VALUES "
                "('kindergarten', '半途', ST_Point(113.33, 22.61, 4326))"
            )
        )
        raise ZeroDivisionError("secret detail /srv/minqing")

    monkeypatch.setattr(file_imports, "import_file", broken)
    job = imported(client, auth, import_db, GOOD)
    assert job["status"] == "failed" and job["status_zh"] == "失败" and job["result"] is None
    assert "导入失败, 未写入任何数据" in job["error"] and "internal error (ZeroDivisionError)" in job["error"]
    assert "secret" not in job["error"] and "/srv" not in job["error"]
    assert db("SELECT count(*) FROM facilities") == before
    assert db("SELECT upload IS NULL FROM jobs WHERE job_id = :j", j=job["job_id"]) is True


def test_an_unreadable_file_is_reported_without_the_servers_temporary_path(client, auth, db, import_db):
    before = db("SELECT count(*) FROM facilities")
    job = imported(client, auth, import_db, b"PK\x03\x04 not really a workbook", name="坏表.xlsx")
    assert job["status"] == "failed" and "nothing was written" in job["error"]
    [problem] = job["result"]["problems"]
    assert "坏表.xlsx" in problem["problem"], problem
    text_of_job = json.dumps(job, ensure_ascii=False)
    assert (
        "minqing-import" not in text_of_job and "/tmp" not in text_of_job and "upload.xlsx" not in text_of_job
    )
    assert db("SELECT count(*) FROM facilities") == before


def _rows_named(db, prefix: str) -> int:
    return db("SELECT count(*) FROM facilities WHERE name LIKE :p", p=f"{prefix}%")


def _rows_in_transaction(s) -> int:
    return s.execute(text("SELECT count(*) FROM facilities WHERE name LIKE '断线幼儿园%'")).scalar_one()


def test_a_job_whose_worker_stopped_is_imported_once_by_the_next_worker_process(client, auth, db, import_db):
    """Queued while no worker runs; a worker took it (running, with progress) and stopped without a word;
    a ``minqing worker`` process started later takes it up again and imports the file once."""
    content = GOOD.replace("导入幼儿园", "重启幼儿园")
    job_id = _post(client, auth, content)
    with session(import_db) as s:
        dead = s.execute(
            text(
                "INSERT INTO procrastinate.procrastinate_workers (last_heartbeat) "
                "VALUES (now() - interval '1 hour') RETURNING id"
            )
        ).scalar_one()
        s.execute(
            text(
                "UPDATE procrastinate.procrastinate_jobs SET status = 'doing', worker_id = :w, attempts = 0 "
                "WHERE id = (SELECT queue_job_id FROM jobs WHERE job_id = :j)"
            ),
            {"w": dead, "j": job_id},
        )
        s.execute(
            text(
                "UPDATE jobs SET status = 'running', started_at = now(), "
                'progress = \'{"stage": "读取 reading", "done": 0, "total": 0, "unit": "行"}\' '
                "WHERE job_id = :j"
            ),
            {"j": job_id},
        )
    assert client.get(f"/imports/jobs/{job_id}", headers=auth("planner")).json()["status_zh"] == "进行中"
    with worker_process(import_db) as proc:
        deadline = time.monotonic() + 120
        while db("SELECT status FROM jobs WHERE job_id = :j", j=job_id) == "running":
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
    job = client.get(f"/imports/jobs/{job_id}", headers=auth("planner")).json()
    assert done(job)["written"] == 2
    assert _rows_named(db, "重启幼儿园") == 2
    assert (
        db(
            "SELECT q.status::text FROM jobs j JOIN procrastinate.procrastinate_jobs q "
            "ON q.id = j.queue_job_id WHERE j.job_id = :j",
            j=job_id,
        )
        == "succeeded"
    )


def test_a_job_run_again_after_it_committed_imports_nothing_more(client, auth, db, import_db):
    """The worker stopped after the import committed, before the queue heard of it: the queue runs the
    job again, which finds it done."""
    content = GOOD.replace("导入幼儿园", "重试幼儿园")
    job = imported(client, auth, import_db, content)
    assert done(job)["written"] == 2 and _rows_named(db, "重试幼儿园") == 2
    with session(import_db) as s:
        s.execute(
            text(
                "UPDATE procrastinate.procrastinate_jobs SET status = 'todo' "
                "WHERE id = (SELECT queue_job_id FROM jobs WHERE job_id = :j)"
            ),
            {"j": job["job_id"]},
        )
    drain(import_db)
    again = client.get(f"/imports/jobs/{job['job_id']}", headers=auth("planner")).json()
    assert again == job
    assert _rows_named(db, "重试幼儿园") == 2


def test_a_transient_failure_after_writing_is_retried_and_imports_once(
    client, auth, db, import_db, monkeypatch
):
    """The connection is lost after the rows were written, as the job is marked done (before the
    commit): the attempt rolls back, the queue tries the job again later, and the file is imported once."""
    from sqlalchemy import exc as sa_exc

    from layers import jobs as job_table

    finish = job_table.finish_job
    calls = []

    def lost_once(s, job_id, result, **kwargs):
        calls.append(result["written"])
        if len(calls) == 1:
            assert _rows_in_transaction(s) == 2  # written, not committed
            raise sa_exc.OperationalError("COMMIT", {}, Exception("server closed the connection"))
        return finish(s, job_id, result, **kwargs)

    monkeypatch.setattr(job_table, "finish_job", lost_once)
    job_id = _post(client, auth, GOOD.replace("导入幼儿园", "断线幼儿园"))
    drain(import_db)
    assert calls == [2]
    assert db("SELECT status FROM jobs WHERE job_id = :j", j=job_id) == "queued"  # waits for its retry
    assert db("SELECT upload IS NOT NULL FROM jobs WHERE job_id = :j", j=job_id) is True
    assert _rows_named(db, "断线幼儿园") == 0
    with session(import_db) as s:  # the retry's wait (5 s) is over
        s.execute(
            text(
                "UPDATE procrastinate.procrastinate_jobs SET scheduled_at = now() "
                "WHERE id = (SELECT queue_job_id FROM jobs WHERE job_id = :j)"
            ),
            {"j": job_id},
        )
    drain(import_db)
    assert calls == [2, 2]
    job = client.get(f"/imports/jobs/{job_id}", headers=auth("planner")).json()
    assert done(job)["written"] == 2
    assert _rows_named(db, "断线幼儿园") == 2
    assert (
        db(
            "SELECT q.attempts FROM jobs j JOIN procrastinate.procrastinate_jobs q ON q.id = j.queue_job_id "
            "WHERE j.job_id = :j",
            j=job_id,
        )
        == 2
    )


def test_too_many_waiting_imports_is_503(client, auth, import_db):
    from pipeline.file_imports import MAX_IMPORT_QUEUE

    for _ in range(MAX_IMPORT_QUEUE):
        _post(client, auth, GOOD, dry_run="true")
    r = upload(client, auth, GOOD, dry_run="true")
    assert r.status_code == 503 and r.headers["retry-after"] == "30", r.text
    assert "/imports/jobs/" in r.json()["error"]["fix"]
    drain(import_db)
    assert upload(client, auth, GOOD, dry_run="true").status_code == 202
    drain(import_db)


@pytest.fixture(scope="module")
def second_planner(import_db, client) -> dict[str, str]:
    """Another planner's headers: a planner, but not the one who uploaded."""
    from api.security import hash_password
    from layers import users

    with session(import_db, actor="fixture") as s:
        users.create(s, username="planner2", password_hash=hash_password(PASSWORD, rounds=4), role="planner")
    token = client.post("/auth/token", data={"username": "planner2", "password": PASSWORD}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


JOB_READERS = {None: 401, "planner": 200, "admin": 200, "second planner": 403}
JOB_READERS.update({who: 403 for who in ROLES if who not in JOB_READERS})


@pytest.fixture(scope="module")
def planners_job(client, auth, import_db) -> int:
    job_id = _post(client, auth, GOOD, dry_run="true")
    drain(import_db)
    return job_id


@pytest.mark.parametrize(("who", "status"), list(JOB_READERS.items()))
def test_only_the_uploader_and_admins_read_an_import_job(
    client, auth, second_planner, planners_job, who, status
):
    headers = second_planner if who == "second planner" else auth(who)
    r = client.get(f"/imports/jobs/{planners_job}", headers=headers)
    assert r.status_code == status, r.text
    if status == 200:
        assert r.json()["result"]["rows"] == 2 and r.json()["actor"] == "planner"
    else:
        assert "result" not in r.json() and "rows" not in r.text


def test_an_officers_import_job_is_read_by_the_officer_and_admins_only(client, auth, import_db):
    content = "名称,类别,经度,纬度\n读取巷,lane,113.345,22.615\n"
    job_id = _post(client, auth, content, who="officer", layer="place_names", name="地名.csv", dry_run="true")
    drain(import_db)
    for who, status in {"officer": 200, "admin": 200, "planner": 403, "gridworker": 403}.items():
        assert client.get(f"/imports/jobs/{job_id}", headers=auth(who)).status_code == status, who


def test_unknown_import_jobs_and_jobs_of_another_kind_are_404(client, auth, import_db):
    from pipeline import jobs

    with session(import_db, actor="planner") as s:
        siting = jobs.queue_siting(s, params={"type_code": "kindergarten"}, actor="planner")["job_id"]
        s.execute(text("UPDATE jobs SET status = 'failed' WHERE job_id = :j"), {"j": siting})
    for job_id in (siting, 999_999):
        r = client.get(f"/imports/jobs/{job_id}", headers=auth("admin"))
        assert r.status_code == 404 and "POST /imports/{layer}" in r.json()["error"]["message"]
    drain(import_db)
