"""``minqing plan`` on the small fixture district (fast, hand-checkable): scenario flags --add, --move,
--set and --close, and exports of a level without rows (clean output, never a traceback)."""

from __future__ import annotations

import pyogrio
import pytest
from api_fixture import fresh_database, load_fixture_district
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from api.cli import app
from layers.db import session


@pytest.fixture(scope="module")
def small_db(db_url):
    url = fresh_database(db_url, make_url(db_url).database + "_cli_small")
    load_fixture_district(url)
    return url


@pytest.fixture(scope="module")
def plan(small_db):
    runner = CliRunner()

    def invoke(*args: str, code: int = 0):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DATABASE_URL", small_db)
            mp.delenv("MINQING_DEBUG", raising=False)
            from layers.db import engine

            engine.cache_clear()
            result = runner.invoke(app, ["plan", *args])
        assert result.exit_code == code, result.output
        return result.output

    return invoke


def _stored_changes(url: str, scenario_id: int) -> list[dict]:
    with session(url) as s:
        return s.execute(
            text("SELECT changes FROM scenarios WHERE scenario_id = :i"), {"i": scenario_id}
        ).scalar_one()


def _scenario_id(output: str) -> int:
    return int(output.split("saved scenario ")[1].split(":")[0])


def test_scenario_flags_add_move_set_close(plan, small_db):
    out = plan(
        "scenario",
        "create",
        "--name",
        "四种变更",
        "--add",
        "elderly_daycare,113.215,22.545,新日照,40",
        "--move",
        "1,113.235,22.645",
        "--set",
        "4,capacity=250",
        "--set",
        "1,type=kindergarten",
        "--close",
        "3",
    )
    assert "(5 changes)" in out
    changes = _stored_changes(small_db, _scenario_id(out))
    by_op = {}
    for c in changes:
        by_op.setdefault(c["op"], []).append(c)
    [add] = by_op["add"]
    assert (add["type_code"], add["lon"], add["lat"], add["name"], add["capacity"]) == (
        "elderly_daycare",
        113.215,
        22.545,
        "新日照",
        40,
    )
    [move] = by_op["move"]
    assert (move["facility_id"], move["lon"], move["lat"]) == (1, 113.235, 22.645)
    capacity, retype = by_op["change"]
    assert (capacity["facility_id"], capacity["capacity"]) == (4, 250) and capacity.get("type_code") is None
    assert (retype["facility_id"], retype["type_code"]) == (1, "kindergarten")
    assert by_op["close"] == [{"op": "close", "facility_id": 3}]


@pytest.mark.parametrize(
    "bad",
    [
        ["--add", "elderly_daycare,113.2"],
        ["--move", "1,113.2"],
        ["--set", "1,colour=red"],
        ["--add", "elderly_daycare,120.0,30.0"],
        ["--set", "999,capacity=3"],
    ],
)
def test_bad_scenario_flags_are_one_clear_line(plan, bad):
    out = plan("scenario", "create", "--name", "坏", *bad, code=2)
    assert "错误 error:" in out and "Traceback" not in out


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "csv"])
def test_export_of_a_level_without_rows(plan, tmp_path, fmt):
    """The reviewer's crash: `plan export --format gpkg --level grid_large`
    on a district without large grids.
    """
    out = plan("export", "--format", fmt, "--level", "grid_large", "--out", str(tmp_path))
    assert "Traceback" not in out
    [areas] = tmp_path.glob(f"areas_run*_grid_large.{fmt}")
    if fmt == "csv":
        assert len(areas.read_text(encoding="utf-8-sig").splitlines()) == 1  # the header only
    else:
        assert len(pyogrio.read_dataframe(areas)) == 0


def test_export_errors_are_clean(plan, tmp_path):
    out = plan("export", "--format", "shp", "--out", str(tmp_path), code=2)
    assert (
        "错误 error:" in out
        and "'shp'" in out
        and "use geojson, gpkg or csv" in out
        and "Traceback" not in out
    )
    out = plan("export", "--format", "csv", "--type", "nope", "--out", str(tmp_path), code=2)
    assert "'nope'" in out and "kindergarten" in out
