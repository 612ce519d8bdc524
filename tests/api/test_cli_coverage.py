"""``minqing coverage`` on the demo district: runs limited with --type, incremental runs, --if-stale."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app
from layers import store
from layers.db import session


@pytest.fixture(scope="module")
def cli(demo_db):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", demo_db)
        runner = CliRunner()

        def invoke(*args: str) -> str:
            result = runner.invoke(app, ["coverage", *args])
            assert result.exit_code == 0, result.output
            return result.stdout

        yield invoke


def run_json(cli, *args: str) -> dict:
    return json.loads(cli("run", "--format", "json", *args))


def stored(s, run_id: int) -> dict[str, pd.DataFrame]:
    """Every result row of a run, sorted (ids of gaps and runs left out)."""
    area = store.area_results(s, run_id).drop(columns=["run_id"]).sort_values(["area_id", "type_code"])
    res = store.residence_results(s, run_id).sort_values(["residence_id", "type_code"])
    fac = store.facility_results(s, run_id).drop(columns=["run_id"]).sort_values("facility_id")
    gaps = store.gap_results(s, run_id).drop(columns=["gap_id"]).sort_values(["type_code", "rank"])
    fac = pd.DataFrame(fac.assign(wkt=fac.geometry.to_wkt()).drop(columns="geometry"))
    gaps = pd.DataFrame(gaps.assign(wkt=gaps.geometry.normalize().to_wkt()).drop(columns="geometry"))
    stamps = ["created_at", "updated_at"]  # when the row was written, not what it says
    return {
        name: f.drop(columns=[c for c in stamps if c in f]).reset_index(drop=True)
        for name, f in {"area": area, "residence": res, "facility": fac, "gaps": gaps}.items()
    }


def assert_same_results(demo_db, run_a: int, run_b: int) -> None:
    with session(demo_db) as s:
        a, b = stored(s, run_a), stored(s, run_b)
    for name in a:
        assert len(a[name]) > 0, name
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


def test_a_run_limited_to_one_type_is_never_taken_for_a_whole_run(cli, demo_db):
    full = run_json(cli, "--full")
    every = sorted(full["types"])
    assert len(every) >= 25 and full["missing_types"] == []
    # a --type run from scratch holds only that type ...
    partial = run_json(cli, "--type", "kindergarten", "--full")
    assert partial["held_types"] == ["kindergarten"] and sorted(partial["types"]) == ["kindergarten"]
    assert set(partial["missing_types"]) == set(every) - {"kindergarten"}
    with session(demo_db) as s:
        row = store.run(s, partial["run_id"])
    assert set(row["params"]["fingerprints"]) == {"kindergarten"}  # fingerprints only of what it holds
    # ... so neither --if-stale nor a plain run takes it for a whole run
    assert "up to date" not in cli("run", "--if-stale")
    assert "PARTIAL" not in cli("status")
    with session(demo_db) as s:
        after = store.latest_run(s)
    summary = after["summary"]
    assert sorted(summary["types"]) == every and summary["missing_types"] == []
    assert summary["reused_types"] == ["kindergarten"]  # from the partial run; the others computed
    assert sorted(summary["recomputed_types"]) == sorted(set(every) - {"kindergarten"})
    assert all(t["value"] is not None for t in summary["targets"])
    assert_same_results(demo_db, after["run_id"], full["run_id"])
    assert json.loads(cli("run", "--if-stale", "--format", "json")) == {
        "run_id": after["run_id"],
        "up_to_date": True,
    }


def test_a_type_run_after_a_whole_run_reuses_and_a_plain_run_completes_again(cli, demo_db):
    full = run_json(cli)
    partial = run_json(cli, "--type", "elderly_daycare", "--type", "kindergarten")
    assert partial["held_types"] == ["elderly_daycare", "kindergarten"]
    assert partial["recomputed_types"] == [] and partial["reused_types"] == [
        "elderly_daycare",
        "kindergarten",
    ]
    assert "PARTIAL" in cli("status")
    again = run_json(cli)
    assert sorted(again["types"]) == sorted(full["types"]) and again["missing_types"] == []
    assert again["reused_types"] == ["elderly_daycare", "kindergarten"]
    assert_same_results(demo_db, again["run_id"], full["run_id"])


def test_table_output_and_errors(cli, demo_db):
    out = cli("run", "--type", "kindergarten")
    assert "partial run" in out and "kindergarten" in out
    bad = CliRunner().invoke(app, ["coverage", "run", "--type", "spaceport"])
    assert bad.exit_code == 2 and "spaceport" in bad.output
    run_json(cli)  # leave a whole run as the latest for later tests


def test_snap_distance_option_is_recorded_and_unreachable_homes_are_reported(cli, demo_db, monkeypatch):
    from settings import coverage_settings

    out = cli("run", "--type", "kindergarten", "--full")
    assert "不可达 unreachable (> 500 m" in out and "2 homes (4 residents)" in out
    # the public map's isochrones at another distance are not what this checks (their own tests:
    # tests/pipeline/test_facility_isochrones.py); the next run copies those of the 500 m runs
    with monkeypatch.context() as env:
        env.setenv("MINQING_STORE_ISOCHRONES", "false")
        coverage_settings.cache_clear()
        near = run_json(cli, "--type", "kindergarten", "--snap-max-m", "1000")
    coverage_settings.cache_clear()
    assert near["unreachable"]["residences"] == 0 and near["unreachable"]["snap_max_m"] == 1000.0
    with session(demo_db) as s:
        assert store.run(s, near["run_id"])["params"]["snap_max_m"] == 1000.0
    assert "up to date" not in cli("run", "--if-stale")  # the configured 500 m differs: stale
    assert "up to date" in cli("run", "--if-stale")


def test_targets_per_town_in_the_run_output_and_the_targets_command(cli, demo_db):
    out = cli("run")
    assert "镇街 towns:" in out
    listed = json.loads(cli("targets", "--level", "town", "--format", "json"))
    with session(demo_db) as s:
        latest = store.latest_run(s)
        stored = store.target_results(s, latest["run_id"], level="town")
    assert listed["run_id"] == latest["run_id"] and len(listed["targets"]) == len(stored) > 0
    assert {t["level"] for t in listed["targets"]} == {"town"}
    day = [t for t in listed["targets"] if t["target_code"] == "complex_presence_rural"]
    assert day and all(
        t["communities"] > 0 and 0 <= t["communities_reached"] <= t["communities"] for t in day
    )
    table = cli("targets", "--level", "community", "--code", "kindergarten_radius")
    assert "kindergarten_radius" in table and "communities)" not in table and "服务半径覆盖率" in table


def test_progress_bar_advances_per_type_and_profile(cli, monkeypatch):
    import api.cli.coverage as command

    bars = []

    class Bar:  # stands in for tqdm (which draws nothing without a terminal)
        def __init__(self, *, total, **_):
            self.total, self.labels = total, []
            bars.append(self)

        def set_postfix_str(self, label):
            self.labels.append(label)

        def update(self, n):
            assert n == 1

        def close(self):
            pass

    monkeypatch.setattr(command, "tqdm", Bar)
    cli("run", "--type", "nursing_home", "--type", "police_station", "--full")
    (bar,) = bars
    assert bar.labels == [
        "read",
        "nursing_home/ebike",
        "nursing_home/walk_elderly",
        "police_station/car",
        "police_station/walk",
        "areas",
        "gaps",
        "stored",
    ]
    assert bar.total == len(bar.labels)
    run_json(cli)  # a whole run again as the latest
