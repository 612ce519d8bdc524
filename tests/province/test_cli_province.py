"""``minqing coverage run --partition county --scheduler local:2``: a real Dask LocalCluster of two
worker processes on the three-county region (``conftest.region_db``, real PostGIS).

Planted faults around the real task: one county fails its first attempt and is retried; another
fails every attempt. The run reports it
and stores no row of it; the two others are stored whole and equal the single-machine run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sqlalchemy import text
from typer.testing import CliRunner

import province.run
from api.cli import app

_REAL_TASK = province.run.county_task
ATTEMPTS_ENV = "MINQING_TEST_ATTEMPTS_DIR"
TYPE = "kindergarten"  # one type with a walking tier: a short run


def _flaky_task(database_url, county, code, *args):
    """Worker side: note the attempt in a file (workers are other processes); fail the first attempt
    of the flaky county and every attempt of the broken one, else run the real task."""
    folder = Path(os.environ[ATTEMPTS_ENV])
    mark = folder / f"{code}.{len(list(folder.glob(f'{code}.*')))}"
    mark.touch()
    if code == os.environ["MINQING_TEST_FLAKY_COUNTY"] and mark.suffix == ".0":
        raise ConnectionError(f"planted transient fault in county {code}")
    if code == os.environ["MINQING_TEST_BROKEN_COUNTY"]:
        raise RuntimeError(f"planted lasting fault in county {code}")
    return _REAL_TASK(database_url, county, code, *args)


def test_cli_runs_counties_on_worker_processes_retries_and_reports_a_failure(
    region_db, region_codes, tmp_path, monkeypatch
):
    from geo.coverage import run_coverage
    from layers import province as store
    from layers.db import session
    from pipeline.coverage import RunConfig, read_inputs
    from province.synthetic import ID_STEP

    flaky, broken_county = region_codes[0], region_codes[-1]
    monkeypatch.setenv("DATABASE_URL", region_db)
    monkeypatch.setenv(ATTEMPTS_ENV, str(tmp_path))
    monkeypatch.setenv("MINQING_TEST_FLAKY_COUNTY", flaky)
    monkeypatch.setattr(province.run, "county_task", _flaky_task)
    monkeypatch.setenv("MINQING_TEST_BROKEN_COUNTY", broken_county)
    result = CliRunner().invoke(
        app, ["coverage", "run", "--partition", "county", "--scheduler", "local:2", "--type", TYPE]
    )
    assert result.exit_code == 1, result.output
    # progress: one line per county (no terminal here), the broken one marked failed
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("分县覆盖分析 counties")]
    assert [ln.split(":")[0] for ln in lines] == [f"分县覆盖分析 counties {k}/3" for k in (1, 2, 3)]
    assert sum(broken_county in ln and "失败" in ln for ln in lines) == 1
    assert sum("失败" in ln for ln in lines) == 1
    # reported, after its retries (RETRIES = 2: three attempts); the transient fault retried once
    assert f"失败 FAILED 丙县 {broken_county}" in result.stdout and "planted lasting fault" in result.stdout
    attempts = {code: len(list(tmp_path.glob(f"{code}.*"))) for code in region_codes}
    assert attempts == {flaky: 2, region_codes[1]: 1, broken_county: province.run.RETRIES + 1}

    with session(region_db) as s:
        run_id = int(s.execute(text("SELECT max(run_id) FROM province_runs")).scalar_one())
        run = store.run_row(s, run_id)
        rows = store.residence_rows(s, run_id)
        roll = store.rollup(s, run_id)
        partitions = set(
            s.execute(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'province_residence'"
                )
            ).scalars()
        )
        inp = read_inputs(s, config=RunConfig())
    assert run["status"] == "failed" and [f["code"] for f in run["failed"]] == [broken_county]
    assert roll.empty  # no roll-up of an incomplete run
    assert broken_county not in set(rows.county_code)  # nothing of the failed county
    assert {f"province_residence_c{c}" for c in region_codes[:2]} <= partitions
    # the counties that succeeded are stored whole: equal to the single-machine run of their homes
    single = run_coverage(
        inp.nodes,
        inp.edges,
        inp.facilities,
        inp.residences,
        inp.areas,
        inp.facility_types,
        inp.profiles,
        types=[TYPE],
        with_gaps=False,
    ).per_residence
    county = single.residence_id.to_numpy() // ID_STEP
    for k, code in enumerate(region_codes[:2]):
        want = single[county == k]
        want = want.assign(circle=want.circle.astype(str)).set_index(["circle", "residence_id"]).sort_index()
        got = rows[rows.county_code == code].set_index(["circle", "residence_id"]).sort_index()
        assert len(got) == len(want) > 0 and got.index.equals(want.index)
        t_want, t_got = want.time_s.to_numpy(float), got.time_s.to_numpy(float)
        assert np.array_equal(np.isnan(t_want), np.isnan(t_got))
        assert np.nanmax(np.abs(t_want - t_got), initial=0.0) <= 1e-6
