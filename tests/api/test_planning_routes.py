"""Planner routes on the small fixture district: roles (anonymous 401, grid worker 403, planner 200)
and the shapes the planner map reads (docs/API_CONTRACT.md)."""

from __future__ import annotations

import io

import pyogrio
import pytest
from api_fixture import drain
from openpyxl import load_workbook

WHO = {None: 401, "gridworker": 403, "officer": 403}


@pytest.fixture(scope="module")
def run_id(client, auth, api_db):
    """A full run through the job: 202 queued, then computed by a real worker of the task queue."""
    r = client.post("/coverage/runs", json={"full": True}, headers=auth("planner"))
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued" and r.headers["location"] == f"/coverage/runs/{r.json()['run_id']}"
    drain(api_db)
    done = client.get(r.headers["location"], headers=auth("planner")).json()
    assert done["status"] == "done" and done["stale"] is False, done
    return done["run_id"]


@pytest.fixture(scope="module")
def scenario_id(client, auth):
    body = {
        "name": "新增日照",
        "changes": [
            {"op": "add", "type_code": "elderly_daycare", "lon": 113.21, "lat": 22.55, "name": "新日照"},
            {"op": "close", "facility_id": 3},
        ],
        "evaluate": True,
    }
    r = client.post("/scenarios", json=body, headers=auth("planner"))
    assert r.status_code == 201, r.text
    return r.json()["scenario_id"]


def _gets(run_id: int, scenario_id: int) -> list[str]:
    return [
        "/coverage/runs/latest",
        f"/coverage/runs/{run_id}",
        f"/coverage/runs/{run_id}/areas?level=grid_small&type=kindergarten",
        f"/coverage/runs/{run_id}/gaps?type=kindergarten",
        f"/coverage/runs/{run_id}/facilities?type=kindergarten",
        "/scenarios",
        f"/scenarios/{scenario_id}",
        f"/compliance?run_id={run_id}",
        f"/reports/{run_id}.xlsx",
        f"/reports/{run_id}/gaps/kindergarten.png",
        f"/exports/{run_id}/areas.geojson",
        f"/exports/{run_id}/areas.gpkg",
        f"/exports/{run_id}/areas.csv",
        f"/exports/{run_id}/gaps.geojson",
        f"/exports/{run_id}/gaps.gpkg",
        f"/exports/{run_id}/gaps.csv",
    ]


def test_reads_need_a_planner(client, auth, run_id, scenario_id):
    for url in _gets(run_id, scenario_id):
        for who, status in WHO.items():
            assert client.get(url, headers=auth(who)).status_code == status, (url, who)
        for who in ("planner", "admin"):
            r = client.get(url, headers=auth(who))
            assert r.status_code == 200, (url, who, r.text[:300])


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/coverage/runs", {}),
        ("/scenarios", {"name": "x", "changes": [{"op": "close", "facility_id": 1}]}),
        (
            "/siting",
            {
                "type_code": "kindergarten",
                "k": 1,
                "candidates": {"kind": "points", "points": [[113.22, 22.55]]},
            },
        ),
    ],
)
def test_writes_need_a_planner(client, auth, url, body):
    for who, status in WHO.items():
        assert client.post(url, json=body, headers=auth(who)).status_code == status, (url, who)
    assert client.post(url, json=body, headers=auth("planner")).status_code == (
        201 if url == "/scenarios" else 202
    )


def test_evaluate_needs_a_planner(client, auth, scenario_id):
    url = f"/scenarios/{scenario_id}/evaluate"
    for who, status in WHO.items():
        assert client.post(url, headers=auth(who)).status_code == status
    r = client.post(url, headers=auth("planner"))
    assert r.status_code == 200
    result = r.json()["result"]
    assert result["types"] == ["elderly_daycare"]
    district = next(a for a in result["areas"] if a["level"] == "district")
    assert {"before_share", "after_share", "before_population_covered", "population_gained"} <= set(district)
    assert "residence_id" not in r.text


def test_areas_geojson_has_the_map_properties(client, auth, run_id):
    r = client.get(
        f"/coverage/runs/{run_id}/areas?level=grid_small&type=kindergarten", headers=auth("planner")
    )
    assert r.headers["content-type"].startswith("application/geo+json")
    features = r.json()["features"]
    assert {f["properties"]["area_id"] for f in features} == {10001, 10002}
    props = features[0]["properties"]
    assert {"households", "population", "population_covered", "share", "target", "pass"} <= set(props)
    assert features[0]["geometry"]["type"] == "MultiPolygon"


@pytest.mark.parametrize(
    "path",
    ["areas?level=grid_small&type=kindergarten", "gaps?type=kindergarten"],  # (the fixture has no catchments)
)
def test_simplified_geometries_stay_within_the_tolerance(client, auth, run_id, path):
    import geopandas as gpd
    import shapely

    from geo.crs import to_metric

    tol = 3
    url = f"/coverage/runs/{run_id}/{path}"
    full = client.get(url, headers=auth("planner")).json()["features"]
    simple = client.get(f"{url}&simplify={tol}", headers=auth("planner")).json()["features"]
    assert full and [f["properties"] for f in simple] == [f["properties"] for f in full]
    shapes = [
        gpd.GeoSeries([shapely.geometry.shape(f["geometry"]) for f in fs], crs=4326) for fs in (full, simple)
    ]
    metric = [to_metric(g, crs=to_metric(shapes[0]).crs) for g in shapes]
    for a, b in zip(*metric, strict=True):
        # Douglas-Peucker moves no line more than the tolerance; rounding to 1e-5° adds at most about 1 m.
        assert a.hausdorff_distance(b) <= tol + 1.2
        assert shapely.get_num_coordinates(b) <= shapely.get_num_coordinates(a)
    if "areas" not in path:  # hulls buffered round: a coarse tolerance leaves fewer points
        coarse = client.get(f"{url}&simplify=100", headers=auth("planner")).json()["features"]
        points = [
            sum(shapely.get_num_coordinates(shapely.geometry.shape(f["geometry"])) for f in fs)
            for fs in (full, coarse)
        ]
        assert points[1] < points[0]
    bad = client.get(f"{url}&simplify=0", headers=auth("planner"))
    assert bad.status_code == 400 and "simplify" in bad.text  # the API answers bad parameters 400


def test_runs_404_and_bad_parameters(client, auth):
    planner = auth("planner")
    assert client.get("/coverage/runs/999999", headers=planner).status_code == 404
    assert client.get("/scenarios/999999", headers=planner).status_code == 404
    assert client.get("/compliance?run_id=999999", headers=planner).status_code == 404
    assert client.get("/exports/1/areas.shp", headers=planner).status_code in (400, 404, 422)
    r = client.post(
        "/scenarios",
        json={"name": "坏", "changes": [{"op": "close", "facility_id": 424242}]},
        headers=planner,
    )
    assert r.status_code == 422 and "424242" in r.json()["error"]["message"]
    r = client.post("/siting", json={"type_code": "no_such_type", "k": 1}, headers=planner)
    assert r.status_code == 422 and "kindergarten" in r.json()["error"]["message"]


def test_downloads_open(client, auth, run_id, scenario_id, tmp_path):
    planner = auth("planner")
    r = client.get(f"/reports/{run_id}.xlsx?scenario_id={scenario_id}", headers=planner)
    assert "attachment" in r.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(r.content), read_only=True)
    assert wb.sheetnames[0] == "摘要" and {"达标目标", "覆盖缺口", "情景对比"} <= set(wb.sheetnames)
    rows = list(wb["达标目标"].iter_rows(values_only=True))
    types = {r[rows[0].index("设施类型")] for r in rows[1:]}
    assert "老年人日间照料中心" in types and "全部应配建设施" in types  # Chinese names, not codes
    assert not any(t and t.isascii() for t in types), types
    assert {r[rows[0].index("指标")] for r in rows[1:]} <= {
        "设施覆盖社区比例",
        "设施覆盖行政村比例",
        "服务半径覆盖率",
        "步行可达覆盖率",
        "半小时可达覆盖率",
        "生活圈基本公共服务全覆盖率",
        "半小时生活圈基本公共服务全覆盖率",
    }
    path = tmp_path / "areas.gpkg"
    path.write_bytes(client.get(f"/exports/{run_id}/areas.gpkg", headers=planner).content)
    frame = pyogrio.read_dataframe(path)
    assert sorted(frame.area_id) == [1, 10, 100, 200, 1000, 10001, 10002]  # one polygon per area
    assert "kindergarten__share" in frame.columns
    png = client.get(f"/reports/{run_id}/gaps/kindergarten.png", headers=planner).content
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


# --- exports of every level and format -------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "csv"])
def test_area_exports_of_a_level_without_rows(client, auth, run_id, tmp_path, fmt):
    """The fixture district has no large grids: the export is empty, not a 500."""
    r = client.get(f"/exports/{run_id}/areas.{fmt}", params={"level": "grid_large"}, headers=auth("planner"))
    assert r.status_code == 200, r.text[:300]
    if fmt == "geojson":
        assert r.json()["features"] == []
    elif fmt == "gpkg":
        path = tmp_path / "empty.gpkg"
        path.write_bytes(r.content)
        assert len(pyogrio.read_dataframe(path)) == 0
    else:
        assert r.content.decode("utf-8-sig").splitlines()[0].startswith("run_id,area_id")
        assert len(r.content.decode("utf-8-sig").splitlines()) == 1


def test_area_export_of_one_level_holds_its_areas(client, auth, run_id):
    r = client.get(
        f"/exports/{run_id}/areas.geojson", params={"level": "grid_small"}, headers=auth("planner")
    )
    assert sorted(f["properties"]["area_id"] for f in r.json()["features"]) == [10001, 10002]


def test_gap_csv(client, auth, run_id):
    r = client.get(f"/exports/{run_id}/gaps.csv", headers=auth("planner"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="gaps_run' in r.headers["content-disposition"]
    lines = r.content.decode("utf-8-sig").splitlines()
    header = lines[0].split(",")
    assert {"type_code", "type_name", "rank", "households", "population", "wkt"} <= set(header)
    geojson = client.get(f"/exports/{run_id}/gaps.geojson", headers=auth("planner")).json()
    assert len(lines) - 1 == len(geojson["features"]) > 0
    first = dict(zip(header, lines[1].split(",", len(header) - 1), strict=True))
    assert first["wkt"].strip('"').startswith(("POLYGON", "MULTIPOLYGON"))


@pytest.mark.parametrize(
    "url",
    [
        "/coverage/runs/{run}/areas?type=nope",
        "/coverage/runs/{run}/gaps?type=nope",
        "/coverage/runs/{run}/facilities?type=nope",
        "/exports/{run}/areas.csv?type=nope",
        "/exports/{run}/gaps.geojson?type=nope",
        "/reports/{run}/gaps/nope.png",
    ],
)
def test_unknown_facility_type_is_422_naming_the_known_ones(client, auth, run_id, url):
    r = client.get(url.format(run=run_id), headers=auth("planner"))
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert "'nope'" in message and "kindergarten" in message and "elderly_daycare" in message


def test_unknown_type_in_a_run_request_is_422(client, auth):
    r = client.post("/coverage/runs", json={"types": ["nope"]}, headers=auth("planner"))
    assert r.status_code == 422 and "kindergarten" in r.json()["error"]["message"]


def test_a_circle_view_of_a_level_without_rows_is_empty_not_500(client, auth):
    """Found by the fuzzer: the fixture's run 1 holds no elderly_daycare rows."""
    r = client.get(
        "/coverage/runs/1/areas",
        params={"type": "elderly_daycare", "level": "district", "circle": "rural"},
        headers=auth("planner"),
    )
    assert r.status_code == 200, r.text[:300]
    assert r.json()["features"] == []


@pytest.mark.parametrize(
    "change",
    [
        {"op": "add", "type_code": "kindergarten", "lon": 120.0, "lat": 30.0},
        {"op": "move", "facility_id": 1, "lon": 113.5, "lat": 22.6},
    ],
)
def test_a_scenario_placing_a_facility_outside_the_district_is_422(client, auth, change):
    r = client.post("/scenarios", json={"name": "界外", "changes": [change]}, headers=auth("planner"))
    assert r.status_code == 422, r.text
    assert (
        "outside the district" in r.json()["error"]["message"] and "change 1" in r.json()["error"]["message"]
    )


def test_gaps_carry_the_place_where_they_lie(client, auth, run_id):
    """Each gap names its town, community and nearest road as /reverse does at the gap's label point."""
    import shapely

    from layers.labels import label_points, label_text

    feats = client.get(f"/coverage/runs/{run_id}/gaps", headers=auth("planner")).json()["features"]
    assert feats
    for f in feats:
        p = f["properties"]
        lon, lat = label_points([shapely.geometry.shape(f["geometry"])])
        reverse = client.get("/reverse", params={"lon": lon[0], "lat": lat[0]}).json()
        areas = {a["level"]: a["name"] for a in reverse["areas"]}
        assert (p["town"], p["community"]) == (areas.get("town"), areas.get("community"))
        assert p["road"] == (reverse["road"] or {}).get("name")
        assert p["place"].startswith(label_text(p["town"], p["community"], None, None))
        assert p["road"] is None or p["road"] in p["place"]
    assert {f["properties"]["town"] for f in feats} == {"测试街道"}
    csv_header = client.get(f"/exports/{run_id}/gaps.csv", headers=auth("planner")).content.decode(
        "utf-8-sig"
    )
    assert {"town", "community", "road", "place"} <= set(csv_header.splitlines()[0].split(","))


def test_csv_export_keeps_a_formula_looking_area_name_as_text(client, auth, run_id, api_db):
    """Issue 14 item 4: an area named like a formula comes out of the CSV export with a leading quote."""
    import csv

    from sqlalchemy import text

    from layers.db import session

    evil = '=HYPERLINK("http://evil.example","点我")'
    with session(api_db, actor="pytest") as s:
        old = s.execute(text("SELECT name FROM areas WHERE area_id = 10001")).scalar_one()
        s.execute(text("UPDATE areas SET name = :n WHERE area_id = 10001"), {"n": evil})
    try:
        r = client.get(
            f"/exports/{run_id}/areas.csv", params={"level": "grid_small"}, headers=auth("planner")
        )
    finally:
        with session(api_db, actor="pytest") as s:
            s.execute(text("UPDATE areas SET name = :n WHERE area_id = 10001"), {"n": old})
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))
    names = {row["name"] for row in rows if row["area_id"] == "10001"}
    assert names == {"'" + evil}
    assert not any(v.startswith(("=", "+", "@")) for row in rows for v in row.values() if v)


def _run_reads(run_id: int) -> list[str]:
    return [
        f"/coverage/runs/{run_id}/areas?level=community&type=kindergarten&simplify=3",
        f"/coverage/runs/{run_id}/areas?level=district",
        f"/coverage/runs/{run_id}/areas?level=community&type=kindergarten&circle=urban",
        f"/coverage/runs/{run_id}/gaps?type=kindergarten&simplify=3",
        f"/coverage/runs/{run_id}/facilities?type=kindergarten",
        f"/coverage/runs/{run_id}/catchments?type=kindergarten&simplify=3",
        f"/coverage/runs/{run_id}/targets",
        f"/compliance?run_id={run_id}",
    ]


def test_run_reads_serve_what_a_fresh_computation_gives(client, auth, api_db, run_id):
    """Issue 19: a run's responses are built once per run and data version and then served from the
    response cache; every one equals the pipeline's own computation of the same stored run."""
    import json

    from api.routes.planning import _geojson_bytes
    from layers import store
    from layers.db import session
    from pipeline import compliance as compliance_service
    from pipeline import reports
    from pipeline.circles import areas_in_circle
    from pipeline.coverage import target_table
    from pipeline.runs import catchments_table

    with session(api_db) as s:
        fresh = [
            _geojson_bytes(reports.areas_table(s, run_id, level="community", type_code="kindergarten"), 3),
            _geojson_bytes(reports.areas_wide(s, run_id, level="district")),
            _geojson_bytes(
                areas_in_circle(s, run_id, level="community", type_code="kindergarten", circle="urban")
            ),
            _geojson_bytes(reports.gaps_table(s, run_id, type_code="kindergarten"), 3),
            _geojson_bytes(store.facility_results(s, run_id, type_code="kindergarten")),
            _geojson_bytes(catchments_table(s, run_id, "kindergarten"), 3),
            json.dumps({"run_id": run_id, "targets": target_table(s, run_id)}, default=str),
            json.dumps(
                compliance_service.as_json(compliance_service.compliance(s, run_id=run_id)), default=str
            ),
        ]
    client.app.state.engines.responses.clear()
    for url, expected in zip(_run_reads(run_id), fresh, strict=True):
        first = client.get(url, headers=auth("planner"))
        again = client.get(url, headers=auth("admin"))
        assert first.status_code == again.status_code == 200, (url, first.text[:300])
        assert first.content == again.content, url
        assert first.headers["etag"] == again.headers["etag"], url
        assert json.loads(first.content) == json.loads(expected), url
        if "/gaps" in url or "/areas?level=district" in url:
            assert json.loads(first.content)["features"], url


def test_run_reads_answer_304_and_follow_a_data_edit(client, auth, api_db, run_id):
    """The ETag names the run and the data it is shown with: ``If-None-Match`` answers 304 to planners only;
    renaming a community changes the ETag and the name shows at once (no stale cached body)."""
    from sqlalchemy import text

    from layers.db import session

    url = f"/coverage/runs/{run_id}/areas?level=community&type=kindergarten"
    r = client.get(url, headers=auth("planner"))
    etag = r.headers["etag"]
    assert r.headers["cache-control"] == "private, no-cache"
    assert client.get(url, headers=auth("planner", **{"If-None-Match": etag})).status_code == 304
    for who, status in WHO.items():
        assert client.get(url, headers=auth(who, **{"If-None-Match": etag})).status_code == status, who
    with session(api_db, actor="pytest") as s:
        area_id, old = s.execute(
            text("SELECT area_id, name FROM areas WHERE level = 'community' ORDER BY area_id LIMIT 1")
        ).one()
        s.execute(text("UPDATE areas SET name = '改名社区' WHERE area_id = :a"), {"a": area_id})
    try:
        renamed = client.get(url, headers=auth("planner", **{"If-None-Match": etag}))
        assert renamed.status_code == 200 and renamed.headers["etag"] != etag
        names = {f["properties"]["area_id"]: f["properties"]["name"] for f in renamed.json()["features"]}
        assert names[area_id] == "改名社区"
    finally:
        with session(api_db, actor="pytest") as s:
            s.execute(text("UPDATE areas SET name = :n WHERE area_id = :a"), {"n": old, "a": area_id})
    back = client.get(url, headers=auth("planner"))
    assert {f["properties"]["area_id"]: f["properties"]["name"] for f in back.json()["features"]}[
        area_id
    ] == old


def test_gap_list_without_geometry_carries_each_polygons_bbox(client, auth, run_id):
    """The planner map lists the gaps from ``geometry=false`` (properties and bbox) and draws their shapes
    from the ``gaps`` vector tiles: same gaps, same properties, the bbox of each polygon."""
    import shapely

    url = f"/coverage/runs/{run_id}/gaps?type=elderly_daycare"
    full = client.get(url, headers=auth("planner")).json()["features"]
    listed = client.get(url + "&geometry=false", headers=auth("planner")).json()["features"]
    assert full and len(listed) == len(full)
    for f, g in zip(full, listed, strict=True):
        assert g["geometry"] is None and g["properties"] == f["properties"]
        west, south, east, north = shapely.geometry.shape(f["geometry"]).bounds
        assert g["bbox"] == pytest.approx([west, south, east, north], abs=1e-5)
    for who, status in WHO.items():
        assert client.get(url + "&geometry=false", headers=auth(who)).status_code == status


def test_run_responses_are_kept_compressed_and_decode_to_the_same_body(client, auth, run_id, monkeypatch):
    import api.compressed

    monkeypatch.setattr(api.compressed, "MIN_BYTES", 1)  # the fixture's responses are small
    url = f"/coverage/runs/{run_id}/areas?level=grid_small&type=kindergarten"
    plain = client.get(url, headers=auth("planner", **{"Accept-Encoding": "identity"}))
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    for _ in range(2):  # compressed once, then kept
        packed = client.get(url, headers=auth("planner", **{"Accept-Encoding": "gzip"}))
        assert packed.headers["content-encoding"] == "gzip" and "Accept-Encoding" in packed.headers["vary"]
        assert packed.json() == plain.json() and packed.content == plain.content
