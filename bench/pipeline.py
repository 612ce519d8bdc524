"""The whole coverage pipeline at city scale: PostGIS → read → prepare → compute → store.

    .venv/bin/python bench/pipeline.py --scale 10            # loads the demo ×10 first
    .venv/bin/python bench/pipeline.py --scale 10 --no-load  # the layers are loaded already

Uses ``DATABASE_URL`` (give it a database of its own: it replaces every layer). Steps, one run:

1. ``minqing demo load --scale S`` as a subprocess, timed as a user runs it (generate, load, and the
   demo's what-if scenarios, which the command evaluates at the end);
2. one full coverage run in a fresh state of this process, timed per phase: read (layers from
   PostGIS), prepare (networks and residence snaps), compute (every facility type), store (results,
   measures, targets, summary; one transaction) — twice: first with nothing kept (as after a change
   of the street network, homes or areas: prepared from scratch, ``full_run_cold_s``), then as a new
   process after that (nothing in memory; the prepared networks read from the file the first run
   kept, ``pipeline.prepared_files``: ``full_run_s``, the ratio's numerator). The public map's facility
   isochrones stored with the run (``pipeline.isochrones``) are a product of their own: printed on a
   line of their own and left out of ``full_run_s``, the ratio and ``incremental_s`` (a first run
   computes one per open facility and profile; later runs copy those no edit can have changed;
   ``MINQING_STORE_ISOCHRONES=false`` skips them);
3. the engine alone: ``geo.coverage.run_coverage`` on the prepared networks, best of 3 — the
   denominator of ``ratio pipeline_vs_engine``;
4. one facility moved 200 m, then an incremental run (the other types' rows reused) as the job and
   the CLI run it: ``incremental_s`` until the run is committed and shown, then its facility
   isochrones stored in a second transaction (``store_run_isochrones``, printed apart);
5. one scenario evaluation (the demo's first scenario) in this process.

Prints one figure per line; the last lines are ``ratio pipeline_vs_engine <x>``, ``incremental_s``,
``scenario_s`` and ``demo_load_s``. Targets (issue 19): ratio ≤ 8, incremental < 2 s,
scenario < 2 s, demo load < 30 s. The machine is shared: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _load(scale: float) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", "demo", "load", "--scale", str(scale)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - t0, done.stdout


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--no-load", action="store_true", help="use the layers already loaded")
    args = parser.parse_args()

    from sqlalchemy import text

    from layers.db import session
    from pipeline import coverage as runs
    from pipeline import prepared_files, scenarios
    from settings import coverage_settings

    print(
        f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared machine)",
        flush=True,
    )
    demo_s = None
    if not args.no_load:
        demo_s, out = _load(args.scale)
        for line in out.splitlines():
            if re.search(r"loaded in|demo scenarios", line):
                print("  " + line.strip()[:160])
        print(f"demo_load_s {demo_s:.2f}", flush=True)

    kept = tempfile.mkdtemp(prefix="bench-prepared-")
    os.environ["MINQING_PREPARED_DIR"] = kept  # empty: the first run prepares from scratch
    coverage_settings.cache_clear()
    full = {}
    for label in ("full_run_cold_s", "full_run_s"):
        runs.clear_cache()
        t0, c0 = time.perf_counter(), _cpu()
        with session(actor="bench") as s:
            row = runs.run_and_store(s, incremental=False)
        full_s, full_cpu = time.perf_counter() - t0, _cpu() - c0
        phases = row["summary"]["phases_s"]
        for name, seconds in phases.items():
            print(f"  {name:<10} {seconds:7.2f} s")
        iso_s = phases.get("isochrones", 0.0)
        coverage_s = full_s - iso_s
        full[label] = coverage_s
        print(_isochrones("full run", row["summary"].get("isochrones")))
        print(
            f"{label} {coverage_s:.2f} without the facility isochrones ({full_s:.2f} with them; this "
            f"process's CPU {full_cpu:.2f} s; residences {row['summary']['residences']}, facilities "
            f"{row['summary']['facilities']}; load {os.getloadavg()[0]:.1f})",
            flush=True,
        )
        prepared_files.wait()  # the first run's file is written before the second starts
    shutil.rmtree(kept, ignore_errors=True)
    full_s = full["full_run_s"]

    with session(actor="bench") as s:
        inputs = runs.read_inputs(s)
    runs.prepared_for(inputs)
    engine = []
    for _ in range(3):
        t = time.perf_counter()
        runs.compute(inputs, with_gaps=False)
        engine.append(time.perf_counter() - t)
    engine_s = min(engine)
    t = time.perf_counter()
    runs.compute(inputs, with_gaps=True)
    print(f"engine_s {engine_s:.3f} (with gap polygons {time.perf_counter() - t:.2f} s)", flush=True)

    with session(actor="bench") as s:
        fid = s.execute(
            text("SELECT facility_id FROM facilities WHERE status = 'open' ORDER BY facility_id LIMIT 1")
        ).scalar_one()
        s.execute(
            text(
                "UPDATE facilities SET geom = ST_SetSRID(ST_Project(geom::geography, 200, "
                "radians(45))::geometry, 4326) WHERE facility_id = :f"
            ),
            {"f": fid},
        )
    # as the job and the CLI run it: the run committed (planners see it), then its isochrones stored
    t0, c0 = time.perf_counter(), _cpu()
    with session(actor="bench") as s:
        inc = runs.run_and_store(s, incremental=True, isochrones=False)
    incremental_s = time.perf_counter() - t0
    print(
        f"  incremental: recomputed {inc['summary']['recomputed_types']}, "
        f"phases {inc['summary']['phases_s']}, CPU {_cpu() - c0:.2f} s, load {os.getloadavg()[0]:.1f}"
    )
    with session(actor="bench") as s:
        held = runs.store_run_isochrones(s, inc["run_id"])
    incremental_all_s = time.perf_counter() - t0
    print(_isochrones("incremental, after the run was committed", held))

    scenario_s = None
    with session(actor="bench") as s:
        sid = s.execute(text("SELECT scenario_id FROM scenarios ORDER BY scenario_id LIMIT 1")).scalar()
    if sid is not None:
        t0, c0 = time.perf_counter(), _cpu()
        with session(actor="bench") as s:
            scenarios.evaluate(s, sid, actor="bench")
        scenario_s = time.perf_counter() - t0
        print(f"  scenario {sid}: CPU {_cpu() - c0:.2f} s, load {os.getloadavg()[0]:.1f}")

    print(f"load average at end {os.getloadavg()[0]:.1f}")
    print(
        f"ratio pipeline_vs_engine {full_s / engine_s:.1f} (prepared networks kept; "
        f"{full['full_run_cold_s'] / engine_s:.1f} when prepared from scratch)"
    )
    print(
        f"incremental_s {incremental_s:.2f} (the run committed and shown; its facility isochrones stored "
        f"{incremental_all_s - incremental_s:.2f} s later)"
    )
    print(f"scenario_s {scenario_s:.2f}" if scenario_s is not None else "scenario_s none (no saved scenario)")
    print(f"demo_load_s {demo_s:.2f}" if demo_s is not None else "demo_load_s not measured (--no-load)")


def _isochrones(which: str, summary: dict | None) -> str:
    """The facility isochrones stored with a run: their own product, timed apart from coverage."""
    if not summary:
        return f"  isochrones ({which}) none stored"
    return (
        f"  isochrones ({which}) {summary['seconds']:.2f} s (CPU {summary['cpu_seconds']:.2f} s): "
        f"computed {summary['computed']}, copied {summary['copied']}"
    )


if __name__ == "__main__":
    main()
