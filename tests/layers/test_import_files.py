"""Government file imports against a real PostGIS: every format and coordinate system, row-level
problems with fixes, and all-or-nothing writes (a rejected or dry-run import changes nothing)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyproj
import pytest
import shapely
from sqlalchemy import text

from geo import chinacrs
from geo.chinacrs import UnknownCRSError
from layers.db import session
from layers.load.divisions import import_divisions
from layers.load.files import import_file
from layers.load.reference import read_facility_types, upsert_facility_types
from settings import divisions_dir

GEOD = pyproj.Geod(ellps="WGS84")
DISTRICT = shapely.box(115.30, 22.75, 115.40, 22.85)  # a square "district" near 汕尾
TABLES = {
    "facilities": "facility_id",
    "residences": "residence_id",
    "areas": "area_id",
    "place_names": "name_id",
    "audit_log": "audit_id",
}


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def snapshot(url: str) -> dict[str, str]:
    """A digest of every row of the layers an import may touch."""
    with session(url) as s:
        return {
            t: s.execute(
                text(
                    f"SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY {pk})), '') "
                    f"FROM {t} x"
                )
            ).scalar_one()
            for t, pk in TABLES.items()
        }


@pytest.fixture(scope="module")
def own_db(fresh_db):
    """A database of this module's own: imports replace whole layers (the shared demo DB stays intact)."""
    return fresh_db("import_files")


@pytest.fixture()
def db(own_db, monkeypatch):
    """Facility types, a one-branch area tree over DISTRICT, one place name and one address."""
    monkeypatch.setenv("DATABASE_URL", own_db)  # for the CLI
    with session(own_db) as s:
        s.execute(
            text(
                "TRUNCATE coverage_area_rows, coverage_area_circle_rows, place_name_history, place_names, "
                "facilities, visits, key_households, residences, audit_log"
            )
        )
        s.execute(text("UPDATE users SET area_id = NULL"))
        s.execute(text("DELETE FROM areas"))
        upsert_facility_types(s, read_facility_types())
        tree = [
            (1, None, "district", "441502000000"),
            (2, 1, "town", "441502001000"),
            (3, 2, "community", "441502001001"),
            (4, 3, "grid_middle", "44150200100101"),
            (5, 4, "grid_small", "4415020010010101"),
        ]
        for area_id, parent, level, code in tree:
            s.execute(
                text(
                    "INSERT INTO areas (area_id, parent_id, level, code, name, geom) VALUES "
                    "(:a, :p, :l, :c, :n, ST_Multi(ST_GeomFromText(:g, 4326)))"
                ),
                {"a": area_id, "p": parent, "l": level, "c": code, "n": f"测试{level}", "g": DISTRICT.wkt},
            )
        s.execute(
            text(
                "INSERT INTO place_names (name_id, name, category, geom) VALUES "
                "(1, '东风大厦', 'building', ST_SetSRID(ST_MakePoint(115.351, 22.801), 4326))"
            )
        )
        s.execute(
            text(
                "INSERT INTO residences (residence_id, address, households, population, geom) VALUES "
                "(1, '城东街道人民路8号', 10, 26, ST_SetSRID(ST_MakePoint(115.352, 22.802), 4326))"
            )
        )
    return own_db


def run(url: str, layer: str, path: Path, **options):
    with session(url, actor="pytest") as s:
        return import_file(s, layer, path, **options)


def write_csv(path: Path, rows: list[dict], *, encoding: str = "utf-8-sig") -> Path:
    pd.DataFrame(rows).to_csv(path, index=False, encoding=encoding)
    return path


def write_xlsx(path: Path, rows: list[dict]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(rows[0]))
    for row in rows:
        sheet.append(list(row.values()))
    book.save(path)
    return path


TRUTH = [(115.3512, 22.8021), (115.3620, 22.8105), (115.3755, 22.7903)]  # WGS84 positions


def facility_rows(lon, lat) -> list[dict]:
    names = ["阳光幼儿园", "人民路小学", "城东社区卫生服务站"]
    types = ["幼儿园", "primary_school", "社区卫生服务站"]
    return [
        {
            "名称": n,
            "类型": t,
            "地址": f"人民路{i}号",
            "经度": x,
            "纬度": y,
            "电话": "0660-3300000",
            "开放时间": "08:00-17:30",
            "建筑面积（㎡）": "1,200",
            "状态": "开放",
            "收费标准": f"保教费 {800 + i}元/月" if i == 0 else "",
        }
        for i, (n, t, x, y) in enumerate(zip(names, types, lon, lat, strict=True))
    ]


def stored_facilities(url: str) -> pd.DataFrame:
    with session(url) as s:
        rows = s.execute(
            text(
                "SELECT name, type_code, address, phone, opening_hours, fees, floor_area_m2, status, "
                "ST_X(geom), ST_Y(geom) FROM facilities ORDER BY facility_id"
            )
        ).all()
    return pd.DataFrame(
        rows,
        columns=[
            "name",
            "type_code",
            "address",
            "phone",
            "opening_hours",
            "fees",
            "floor_area_m2",
            "status",
            "lon",
            "lat",
        ],
    )


def assert_at_truth(frame: pd.DataFrame) -> None:
    lon, lat = np.array(TRUTH).T
    assert metres(frame["lon"], frame["lat"], lon, lat).max() < 0.5


# ---------------------------------------------------------------------------------------------
# facilities: formats and coordinate systems


def test_facilities_csv_wgs84_with_chinese_headers(db, tmp_path):
    lon, lat = np.array(TRUTH).T
    report = run(db, "facilities", write_csv(tmp_path / "设施.csv", facility_rows(lon, lat)))
    assert report.ok, report.problems
    assert (report.rows, report.written) == (3, 3)
    stored = stored_facilities(db)
    assert stored["type_code"].tolist() == ["kindergarten", "primary_school", "health_station"]
    assert stored["floor_area_m2"].tolist() == [1200.0] * 3 and set(stored["status"]) == {"open"}
    assert stored["phone"].iat[0] == "0660-3300000" and stored["opening_hours"].iat[0] == "08:00-17:30"
    assert stored["fees"].iat[0] == "保教费 800元/月" and stored["fees"].iloc[1:].isna().all()
    assert_at_truth(stored)


@pytest.mark.parametrize("crs", ["gcj02", "bd09", "GCJ-02", "BD09"])
def test_facilities_xlsx_in_shifted_systems_are_stored_as_wgs84(db, tmp_path, crs):
    lon, lat = chinacrs.from_wgs84(*np.array(TRUTH).T, crs=crs)
    shift = metres(lon, lat, *np.array(TRUTH).T)
    assert shift.min() > 100  # the input really is hundreds of metres off
    report = run(db, "facilities", write_xlsx(tmp_path / "设施.xlsx", facility_rows(lon, lat)), crs=crs)
    assert report.ok, report.problems
    assert_at_truth(stored_facilities(db))


def test_facilities_gb18030_csv_in_cgcs2000(db, tmp_path):
    lon, lat = np.array(TRUTH).T
    path = write_csv(tmp_path / "gbk.csv", facility_rows(lon, lat), encoding="gb18030")
    report = run(db, "facilities", path, crs="cgcs2000")
    assert report.ok, report.problems
    assert_at_truth(stored_facilities(db))


def test_facilities_geojson_with_declared_crs(db, tmp_path):
    rows = pd.DataFrame(facility_rows(*np.array(TRUTH).T)).drop(columns=["经度", "纬度"])
    gdf = gpd.GeoDataFrame(rows, geometry=[shapely.Point(p) for p in TRUTH], crs=4490)
    gdf.to_file(tmp_path / "设施.geojson", driver="GeoJSON")
    report = run(db, "facilities", tmp_path / "设施.geojson")
    assert report.ok, report.problems
    assert_at_truth(stored_facilities(db))


def test_facilities_projected_metres_with_an_epsg_code(db, tmp_path):
    x, y = pyproj.Transformer.from_crs(4326, 4547, always_xy=True).transform(*np.array(TRUTH).T)
    path = write_csv(tmp_path / "gk.csv", facility_rows(x, y))
    wrong = run(db, "facilities", path)
    assert not wrong.ok and "not degrees" in wrong.problems[0]["problem"]
    assert "epsg" in wrong.problems[0]["fix"]
    right = run(db, "facilities", path, crs="epsg:4547")
    assert right.ok, right.problems
    assert_at_truth(stored_facilities(db))


def test_facilities_wkt_column_and_address_matching(db, tmp_path):
    rows = [
        {"名称": "东风托儿所", "类型": "托儿所", "WKT": f"POINT ({TRUTH[0][0]} {TRUTH[0][1]})"},
        {"名称": "东风长者饭堂", "类型": "长者饭堂", "地址": "东风大厦"},
        {"名称": "人民路公厕", "类型": "公共厕所", "地址": "城东街道 人民路 8号"},
    ]
    report = run(db, "facilities", write_csv(tmp_path / "mixed.csv", rows))
    assert report.ok, report.problems
    stored = stored_facilities(db)
    assert (
        metres(
            stored["lon"], stored["lat"], [TRUTH[0][0], 115.351, 115.352], [TRUTH[0][1], 22.801, 22.802]
        ).max()
        < 0.01
    )


def test_column_map_option(db, tmp_path):
    rows = [{"机构": "阳光幼儿园", "种类": "幼儿园", "经度": TRUTH[0][0], "纬度": TRUTH[0][1]}]
    path = write_csv(tmp_path / "custom.csv", rows)
    before = snapshot(db)
    missing = run(db, "facilities", path)
    assert not missing.ok and {p["column"] for p in missing.problems} == {"name", "type_code"}
    assert "名称" in missing.problems[0]["problem"] and "--map" in missing.problems[0]["fix"]
    assert snapshot(db) == before
    report = run(db, "facilities", path, column_map={"机构": "name", "种类": "type_code"})
    assert report.ok and report.written == 1


# ---------------------------------------------------------------------------------------------
# facilities: bad files change nothing


def rejected(url: str, layer: str, path: Path, **options):
    """Run an import that must be rejected; check nothing changed; return the report."""
    before = snapshot(url)
    report = run(url, layer, path, **options)
    assert not report.ok and report.written == 0
    assert snapshot(url) == before
    return report


def test_one_bad_row_changes_nothing(db, tmp_path):
    rows = facility_rows(*np.array(TRUTH).T)
    rows[1]["经度"], rows[1]["纬度"] = rows[1]["纬度"], rows[1]["经度"]
    report = rejected(db, "facilities", write_csv(tmp_path / "swap.csv", rows))
    (problem,) = report.problems
    assert problem["row"] == 3  # spreadsheet line: header is line 1
    assert "look swapped" in problem["problem"] and "经度 22.8105 / 纬度 115.362" in problem["problem"]
    assert "swap the columns" in problem["fix"]


def test_swapped_rows_in_helsinki_style_bbox(db, tmp_path):
    rows = [{"名称": "Kirjasto", "类型": "culture_station", "经度": 60.17, "纬度": 24.94}]
    report = rejected(db, "facilities", write_csv(tmp_path / "fi.csv", rows), bbox=(24.9, 60.1, 25.0, 60.2))
    assert "look swapped for the given bbox" in report.problems[0]["problem"]


def test_unknown_type_lists_valid_codes_and_names(db, tmp_path):
    rows = facility_rows(*np.array(TRUTH).T)
    rows[0]["类型"] = "幼儿圆"
    problem = rejected(db, "facilities", write_csv(tmp_path / "t.csv", rows)).problems[0]
    assert problem["row"] == 2 and "幼儿圆" in problem["problem"] and "kindergarten" in problem["problem"]
    for code, name in [("kindergarten", "幼儿园"), ("nursing_home", "养老院"), ("public_toilet", "公共厕所")]:
        assert f"{code} {name}" in problem["fix"]


def test_unmatched_address_is_reported_with_the_closest(db, tmp_path):
    rows = [{"名称": "东风长者饭堂", "类型": "长者饭堂", "地址": "东风大夏"}]
    problem = rejected(db, "facilities", write_csv(tmp_path / "a.csv", rows)).problems[0]
    assert "matches no standard address" in problem["problem"] and "东风大厦" in problem["problem"]


def test_bad_numbers_status_and_missing_location(db, tmp_path):
    rows = [
        {"名称": "甲", "类型": "幼儿园", "经度": "东经115", "纬度": 22.8, "状态": "开放"},
        {"名称": "乙", "类型": "幼儿园", "经度": 115.35, "纬度": 22.8, "状态": "装修中"},
        {"名称": "", "类型": "幼儿园", "经度": "", "纬度": ""},
    ]
    report = rejected(db, "facilities", write_csv(tmp_path / "bad.csv", rows))
    by_row = {(p["row"], p["column"]) for p in report.problems}
    assert (2, "lon") in by_row and (3, "状态 status") in by_row and (4, "name") in by_row
    assert any(p["row"] == 4 and "no coordinates" in p["problem"] for p in report.problems)


def test_unknown_crs_is_refused_before_reading(db, tmp_path):
    path = write_csv(tmp_path / "x.csv", facility_rows(*np.array(TRUTH).T))
    before = snapshot(db)
    with pytest.raises(UnknownCRSError, match="unknown coordinate system 'mars'.*gcj02.*bd09"):
        run(db, "facilities", path, crs="mars")
    assert snapshot(db) == before


def test_empty_file(db, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("名称,类型,经度,纬度\n", encoding="utf-8")
    assert "no data rows" in rejected(db, "facilities", path).problems[0]["problem"]


def test_not_a_spreadsheet(db, tmp_path):
    path = tmp_path / "photo.xlsx"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    problem = rejected(db, "facilities", path).problems[0]
    assert "cannot read photo.xlsx as a spreadsheet" in problem["problem"] and ".xlsx" in problem["fix"]


def test_unknown_file_type(db, tmp_path):
    path = tmp_path / "data.docx"
    path.write_bytes(b"PK")
    assert "unknown file type" in rejected(db, "facilities", path).problems[0]["problem"]


def test_dry_run_writes_nothing(db, tmp_path):
    path = write_csv(tmp_path / "ok.csv", facility_rows(*np.array(TRUTH).T))
    before = snapshot(db)
    report = run(db, "facilities", path, dry_run=True)
    assert report.ok and report.written == 0 and report.summary["would_write"] == 3
    assert snapshot(db) == before


def test_reimport_warns_about_duplicates(db, tmp_path):
    path = write_csv(tmp_path / "ok.csv", facility_rows(*np.array(TRUTH).T))
    run(db, "facilities", path)
    again = run(db, "facilities", path, dry_run=True)
    assert again.ok and len(again.warnings) == 3 and "already stored" in again.warnings[0]["problem"]


# ---------------------------------------------------------------------------------------------
# areas (grids)

CODE_C = "441502001002"  # a second community (statistics-code suffix 002: 居委会 → urban)
CODE_V = "441502001201"  # a village (suffix 201: 村委会 → rural)
WEST, EAST = shapely.box(115.30, 22.75, 115.35, 22.85), shapely.box(115.35, 22.75, 115.40, 22.85)


@pytest.fixture()
def town(db):
    """Only the district and the town are stored (the file brings communities and grids)."""
    with session(db) as s:
        s.execute(text("DELETE FROM areas WHERE level NOT IN ('district', 'town')"))
    return db


def grid_frame(rows: list[tuple], crs=4326) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(rows, columns=["编码", "名称", "层级", "上级编码", "geometry"])
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=crs)


def grid_rows() -> list[tuple]:
    return [
        (CODE_C, "东风社区", "社区", "441502001000", WEST),
        (CODE_V, "西坑村", "村", "441502001000", EAST),
        (CODE_C + "01", "东风社区第一网格", "中网格", CODE_C, WEST),
        (CODE_C + "0101", "东风社区第一小网格", "小网格", "", shapely.box(115.30, 22.75, 115.35, 22.80)),
        (CODE_C + "0102", "东风社区第二小网格", "小网格", "", shapely.box(115.30, 22.80, 115.35, 22.85)),
    ]


def stored_areas(url: str) -> pd.DataFrame:
    with session(url) as s:
        rows = s.execute(
            text(
                "SELECT a.code, a.name, a.level, p.code, a.urban, a.version, ST_AsText(a.geom), "
                "GeometryType(a.geom) FROM areas a LEFT JOIN areas p ON p.area_id = a.parent_id "
                "ORDER BY a.code"
            )
        ).all()
    return pd.DataFrame(
        rows, columns=["code", "name", "level", "parent", "urban", "version", "wkt", "type"]
    ).set_index("code")


def write_vector(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    if path.suffix == ".zip":
        shp = path.with_suffix(".shp")
        gdf.to_file(shp, driver="ESRI Shapefile", encoding="GBK")  # what Chinese GIS desktops write
        with zipfile.ZipFile(path, "w") as z:
            for part in shp.parent.glob(shp.stem + ".*"):
                if part.suffix != ".zip":
                    z.write(part, part.name)
        return path
    gdf.to_file(path)
    return path


@pytest.mark.parametrize("name", ["grids.geojson", "grids.gpkg", "grids.zip"])
def test_grids_in_every_format_with_parents_by_code_and_by_location(town, tmp_path, name):
    report = run(town, "grids", write_vector(grid_frame(grid_rows()), tmp_path / name))
    assert report.ok, report.problems
    assert report.written == 5 and report.summary["topology_problems"] == 0, report.warnings
    areas = stored_areas(town)
    assert areas.loc[CODE_C, ["level", "parent", "urban"]].tolist() == ["community", "441502001000", True]
    assert areas.loc[CODE_V, ["level", "urban"]].tolist() == ["community", False]
    assert areas.loc[CODE_C + "0102", ["level", "parent"]].tolist() == ["grid_small", CODE_C + "01"]
    assert set(areas["type"]) == {"MULTIPOLYGON"}


def test_grids_in_gcj02_are_stored_as_wgs84(town, tmp_path):
    def shifted(g):
        return shapely.transform(g, lambda xy: np.column_stack(chinacrs.wgs84_to_gcj02(xy[:, 0], xy[:, 1])))

    rows = [(c, n, lvl, p, shifted(g)) for c, n, lvl, p, g in grid_rows()]
    report = run(town, "grids", write_vector(grid_frame(rows), tmp_path / "gcj.geojson"), crs="gcj02")
    assert report.ok, report.problems
    stored = shapely.from_wkt(stored_areas(town).loc[CODE_C, "wkt"])
    coords = shapely.get_coordinates(stored)
    truth = shapely.get_coordinates(shapely.MultiPolygon([WEST]))
    assert metres(coords[:, 0], coords[:, 1], truth[:, 0], truth[:, 1]).max() < 0.5


def test_invalid_geometry_is_rejected_unless_repaired(town, tmp_path):
    bowtie = shapely.Polygon([(115.30, 22.75), (115.35, 22.85), (115.35, 22.75), (115.30, 22.85)])
    rows = grid_rows()[:1] + [(CODE_V, "西坑村", "村", "441502001000", bowtie)]
    path = write_vector(grid_frame(rows), tmp_path / "bad.geojson")
    problem = rejected(town, "grids", path).problems[0]
    assert (
        problem["row"] == 2 and "invalid polygon" in problem["problem"] and "--make-valid" in problem["fix"]
    )
    repaired = run(town, "grids", path, make_valid=True)
    assert repaired.ok and any("repaired" in w["problem"] for w in repaired.warnings)


def test_grid_problems_wrong_level_missing_parent_duplicate_code_swapped(town, tmp_path):
    swapped = shapely.Polygon([(y, x) for x, y in WEST.exterior.coords])
    rows = [
        (CODE_C, "东风社区", "片区", "441502001000", WEST),
        (CODE_V, "西坑村", "村", "441599999000", EAST),
        (CODE_V, "西坑村二", "村", "441502001000", EAST),
        ("441502001003", "北社区", "社区", "441502001000", swapped),
    ]
    report = rejected(town, "grids", write_vector(grid_frame(rows), tmp_path / "bad.gpkg"))
    found = {(p["row"], p["column"]): p for p in report.problems}
    assert "unknown level '片区'" in found[(1, "层级 level")]["problem"]
    assert "小网格" in found[(1, "层级 level")]["fix"]
    assert "441599999000" in found[(2, "上级编码 parent_code")]["problem"]
    assert "repeats row 2" in found[(3, "编码 code")]["problem"]
    assert "look swapped" in found[(4, "x/y")]["problem"]


def test_topology_warnings_strict_mode_and_sliver_absorption(town, tmp_path):
    sliver = 0.00001  # the village overlaps the community by ~1 m along 11 km
    rows = [
        (CODE_C, "东风社区", "社区", "441502001000", WEST),
        (CODE_V, "西坑村", "村", "441502001000", shapely.box(115.35 - sliver, 22.75, 115.40, 22.85)),
    ]
    path = write_vector(grid_frame(rows), tmp_path / "overlap.geojson")
    warned = run(town, "grids", path, dry_run=True)
    assert warned.ok and warned.summary["topology_problems"] == 1
    assert "overlaps" in warned.warnings[0]["problem"] and "--absorb-slivers" in warned.warnings[0]["fix"]
    rejected(town, "grids", path, strict_topology=True)
    absorbed = run(town, "grids", path, sliver_m2=20_000, strict_topology=True)
    assert absorbed.ok and absorbed.summary["slivers_absorbed"] == 1
    village = shapely.from_wkt(stored_areas(town).loc[CODE_V, "wkt"])
    assert village.intersection(WEST).area < 1e-12


def test_reimport_updates_in_place_and_replace_removes_the_rest(town, tmp_path):
    run(town, "grids", write_vector(grid_frame(grid_rows()), tmp_path / "a.geojson"))
    with session(town) as s:
        s.execute(
            text("UPDATE residences SET area_id = (SELECT area_id FROM areas WHERE code = :c)"),
            {"c": CODE_C + "0102"},
        )
        before_id = s.execute(text("SELECT area_id FROM areas WHERE code = :c"), {"c": CODE_C}).scalar_one()
    renamed = [(c, n + "（新）" if c == CODE_C else n, lvl, p, g) for c, n, lvl, p, g in grid_rows()]
    run(town, "grids", write_vector(grid_frame(renamed), tmp_path / "b.geojson"))
    areas = stored_areas(town)
    assert areas.loc[CODE_C, ["name", "version"]].tolist() == ["东风社区（新）", 2]
    with session(town) as s:
        assert (
            s.execute(text("SELECT area_id FROM areas WHERE code = :c"), {"c": CODE_C}).scalar_one()
            == before_id
        )
    only = [(c, n, lvl, p, g) for c, n, lvl, p, g in grid_rows() if c != CODE_C + "0102"]
    only = [(c, n, lvl, "441502001000" if lvl == "社区" else p, g) for c, n, lvl, p, g in only]
    full = [
        ("441502000000", "测试区", "区", "", DISTRICT),
        ("441502001000", "测试镇", "镇", "441502000000", DISTRICT),
    ]
    report = run(town, "grids", write_vector(grid_frame(full + only), tmp_path / "c.geojson"), replace=True)
    assert report.ok, report.problems
    assert set(stored_areas(town).index) == {c for c, *_ in full + only}
    with session(town) as s:
        assert s.execute(text("SELECT area_id FROM residences")).scalar_one() is None


# ---------------------------------------------------------------------------------------------
# 一标三实 addresses → residences


def test_addresses_with_grid_codes_and_locations(db, tmp_path):
    rows = [
        {
            "标准地址": "人民路1号",
            "户数": 12,
            "实有人口": 30,
            "60岁以上": 6,
            "0-14岁": 5,
            "经度": 115.31,
            "纬度": 22.76,
            "网格编码": "4415020010010101",
        },
        {
            "标准地址": "人民路2号",
            "户数": 8,
            "实有人口": 20,
            "60岁以上": 4,
            "0-14岁": 2,
            "经度": 115.32,
            "纬度": 22.77,
            "网格编码": "",
        },
        {"标准地址": "东风大厦", "户数": 40, "实有人口": 100, "60岁以上": 10, "0-14岁": 20},
    ]
    report = run(db, "addresses", write_xlsx(tmp_path / "一标三实.xlsx", rows), replace=True)
    assert report.ok, report.problems
    with session(db) as s:
        stored = s.execute(
            text(
                "SELECT address, households, population, elderly, children, area_id, estimated, "
                "ST_X(geom), ST_Y(geom) FROM residences ORDER BY residence_id"
            )
        ).all()
    assert [r[:7] for r in stored] == [
        ("人民路1号", 12, 30, 6, 5, 5, False),
        ("人民路2号", 8, 20, 4, 2, 5, False),
        ("东风大厦", 40, 100, 10, 20, 5, False),
    ]
    assert stored[2][7:] == pytest.approx((115.351, 22.801))


def test_addresses_population_estimated_when_missing_and_counts_checked(db, tmp_path):
    ok = run(
        db,
        "addresses",
        write_csv(tmp_path / "h.csv", [{"地址": "人民路1号", "户数": 10, "经度": 115.31, "纬度": 22.76}]),
    )
    assert ok.ok and "estimated" in ok.warnings[0]["problem"]
    with session(db) as s:
        assert s.execute(
            text("SELECT population, estimated FROM residences WHERE address = '人民路1号'")
        ).one() == (26, True)
    bad = [
        {
            "地址": "人民路3号",
            "户数": 5,
            "人口": 10,
            "60岁以上": 8,
            "0-14岁": 5,
            "经度": 115.31,
            "纬度": 22.76,
        },
        {
            "地址": "人民路4号",
            "户数": "五",
            "人口": 10,
            "60岁以上": 1,
            "0-14岁": 1,
            "经度": 115.31,
            "纬度": 22.76,
        },
        {
            "地址": "人民路5号",
            "户数": 5,
            "人口": 10,
            "60岁以上": 1,
            "0-14岁": 1,
            "经度": 115.31,
            "纬度": 22.76,
            "网格编码": "nope",
        },
    ]
    report = rejected(db, "addresses", write_csv(tmp_path / "bad.csv", bad))
    problems = {p["row"]: p["problem"] for p in report.problems}
    assert "exceed" in problems[2] and "not a number" in problems[3] and "not a stored area" in problems[4]


# ---------------------------------------------------------------------------------------------
# division gazetteer


@pytest.mark.skipif(not divisions_dir().is_dir(), reason="shared division data not present")
def test_divisions_gazetteer(db, tmp_path):
    with session(db) as s:
        dry = import_divisions(s, divisions_dir(), dry_run=True)
        assert dry.ok and dry.written == 0
        assert s.execute(text("SELECT count(*) FROM divisions")).scalar_one() == 0
    with session(db) as s:
        report = import_divisions(s, divisions_dir())
    assert report.ok and report.summary["town"] == 1757 and report.summary["village"] == 26842
    with session(db) as s:
        shanwei = s.execute(
            text("SELECT count(*) FROM divisions WHERE city_name = '汕尾市' AND level = 'village'")
        )
        assert shanwei.scalar_one() == 907
        row = s.execute(
            text("SELECT name, level, parent_code FROM divisions WHERE code = '441502001000'")
        ).one()
        assert row.level == "town" and row.parent_code == "441502000000"
        assert (
            s.execute(text("SELECT name FROM divisions WHERE code = '441500000000'")).scalar_one() == "汕尾市"
        )
    missing = tmp_path / "nothing"
    missing.mkdir()
    with session(db) as s:
        bad = import_divisions(s, missing)
        assert not bad.ok and "missing" in bad.problems[0]["problem"]
        assert s.execute(text("SELECT count(*) FROM divisions")).scalar_one() == report.written
    with session(db) as s:
        s.execute(text("DELETE FROM divisions"))


# ---------------------------------------------------------------------------------------------
# the CLI: `minqing import ...`


def cli(*args: str):
    from typer.testing import CliRunner

    from api.cli.imports import app

    return CliRunner().invoke(app, list(args))


def test_cli_prints_the_report_and_exits_1_when_rejected(db, tmp_path):
    rows = facility_rows(*np.array(TRUTH).T)
    rows[1]["经度"], rows[1]["纬度"] = rows[1]["纬度"], rows[1]["经度"]
    path = write_csv(tmp_path / "swap.csv", rows)
    before = snapshot(db)
    result = cli("facilities", str(path), "--report", str(tmp_path / "report.csv"))
    assert result.exit_code == 1 and "rejected" in result.output and "look swapped" in result.output
    saved = pd.read_csv(tmp_path / "report.csv", encoding="utf-8-sig")
    assert saved["行 row"].tolist() == [3] and snapshot(db) == before


def test_cli_dry_run_map_and_errors(db, tmp_path):
    rows = [{"机构": "阳光幼儿园", "类型": "幼儿园", "经度": TRUTH[0][0], "纬度": TRUTH[0][1]}]
    path = write_csv(tmp_path / "m.csv", rows)
    before = snapshot(db)
    dry = cli("facilities", str(path), "--map", "机构=name", "--dry-run")
    assert dry.exit_code == 0 and "would write 1" in dry.output and snapshot(db) == before
    assert "unknown coordinate system 'mars'" in cli("facilities", str(path), "--crs", "mars").output
    bad_box = cli("facilities", str(path), "--bbox", "1,2,3")
    assert bad_box.exit_code == 2 and "lon_min,lat_min,lon_max,lat_max" in bad_box.output
    done = cli("facilities", str(path), "--map", "机构=name")
    assert done.exit_code == 0 and "written 1" in done.output


# ---------------------------------------------------------------------------------------------
# place names


def test_place_names_from_geojson_lines_in_gcj02_and_csv_points(db, tmp_path):
    road = shapely.LineString([(115.33, 22.80), (115.36, 22.80)])
    shifted = shapely.transform(road, lambda xy: np.column_stack(chinacrs.wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
    frame = gpd.GeoDataFrame(
        {"地名": ["海滨大道"], "类别": ["主干道（大道）"], "拼音": ["Haibin Dadao"]},
        geometry=[shifted],
        crs=4326,
    )
    frame.to_file(tmp_path / "roads.geojson")
    lines = run(db, "place_names", tmp_path / "roads.geojson", crs="gcj02")
    assert lines.ok and lines.written == 1, lines.problems
    points = write_csv(
        tmp_path / "p.csv",
        [
            {
                "名称": "东坑村",
                "类别": "village",
                "经度": 115.34,
                "纬度": 22.79,
                "状态": "标准",
                "批准文号": "汕府〔2020〕1号",
            }
        ],
    )
    assert run(db, "place_names", points).written == 1
    with session(db) as s:
        rows = s.execute(
            text(
                "SELECT name, category, pinyin, status, approval, area_id, ST_AsText(geom), "
                "proper, generic FROM place_names WHERE name_id > 1 ORDER BY name_id"
            )
        ).all()
        history = s.execute(
            text("SELECT count(*) FROM place_name_history WHERE action = 'create'")
        ).scalar_one()
    # sign text: the file's pinyin kept (海滨大道), computed where the file gives none (东坑村)
    assert [r[:6] for r in rows] == [
        ("海滨大道", "trunk_road", "Haibin Dadao", "standard", None, 5),
        ("东坑村", "village", "Dongkeng Cun", "standard", "汕府〔2020〕1号", 5),
    ]
    assert [r[7:] for r in rows] == [("海滨", "大道"), ("东坑", "村")]
    coords = shapely.get_coordinates(shapely.from_wkt(rows[0][6]))
    assert metres(coords[:, 0], coords[:, 1], *shapely.get_coordinates(road).T).max() < 0.5
    assert history == 2
    again = run(db, "place_names", points)
    assert again.ok and again.written == 0 and "already registered" in again.warnings[0]["problem"]


def test_place_names_take_every_category_spelling_names_check_takes(db, tmp_path):
    """One category lookup for the import and ``names check`` (geo.placenames.tables.category_code)."""
    from geo.placenames.tables import category_code

    spellings = ["道路", "道路（路、街）", "ROAD", "road"]
    assert {category_code(v) for v in spellings} == {"road"}
    rows = [
        {"名称": f"兴业{i}路", "类别": v, "经度": 115.34 + i / 1000, "纬度": 22.79}
        for i, v in enumerate(spellings)
    ]
    report = run(db, "place_names", write_csv(tmp_path / "p.csv", rows))
    assert report.ok and report.written == 4, report.problems
    with session(db) as s:
        stored = (
            s.execute(text("SELECT DISTINCT category FROM place_names WHERE name LIKE '兴业_路'"))
            .scalars()
            .all()
        )
    assert stored == ["road"]


def test_place_names_unknown_category_changes_nothing(db, tmp_path):
    path = write_csv(tmp_path / "p.csv", [{"名称": "东坑村", "类别": "小村", "经度": 115.34, "纬度": 22.79}])
    problem = rejected(db, "place_names", path).problems[0]
    assert (
        "unknown category '小村'" in problem["problem"] and "village 村（村民委员会驻地）" in problem["fix"]
    )
