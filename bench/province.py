"""Province benchmark: partitioned coverage on Dask vs the single-machine run (FICTIONAL data).

Builds ``--counties`` fictional counties (copies of the demo district at ``--scale``, joined by
roads across borders: ``province.synthetic``), loads them into the database of DATABASE_URL
(REPLACES its layers: use a scratch database), then prints per-county time and peak memory,
total time with 1, 2 and N workers, the extrapolation to 127M residents and
``identical_to_single_machine true|false``.

    python bench/province.py --counties 3 --scale 0.3 --workers 1,2
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

# bench/api.py would shadow the api package: drop this script's folder from the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

GUANGDONG_RESIDENTS = 127_000_000
MACHINE_GB = 24


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counties", type=int, default=3)
    ap.add_argument("--scale", type=float, default=0.3)
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()

    from data.demo import generate
    from geo.coverage import run_coverage
    from layers import province as store
    from layers.db import database_url, session
    from layers.load.demo import load_district
    from pipeline.coverage import RunConfig, read_inputs
    from province.run import run_province
    from province.synthetic import join_counties

    url = database_url()
    codes = [f"4415{90 + k:02d}" for k in range(args.counties)]
    region = join_counties(generate(scale=args.scale), codes)
    with session(url, actor="bench") as s:
        load_district(s, region)
    residents = int(region.residences.population.sum())
    print(f"region: {args.counties} counties × scale {args.scale}: {len(region.residences)} homes, "
          f"{residents} residents, {len(region.edges)} edges (fictional)")
    config = RunConfig()
    t0 = time.perf_counter()
    with session(url) as s:
        inp = read_inputs(s, config=config)
    full = run_coverage(inp.nodes, inp.edges, inp.facilities, inp.residences, inp.areas, inp.facility_types,
                        inp.profiles, max_distance_m=config.snap_max_m, with_gaps=False).per_residence
    single_s = time.perf_counter() - t0
    print(f"single machine (read + coverage, no gaps): {single_s:.1f} s")
    totals, last = {}, None
    for n in [int(w) for w in args.workers.split(",")]:
        out = run_province(url, scheduler=f"local:{n}", config=config)
        totals[n] = out["seconds"]
        last = out
        print(f"workers {n}: total {out['seconds']:.1f} s, status {out['status']}")
    for code, f in sorted(last["counties"].items()):
        print(f"  county {code}: {f['seconds']:.1f} s (read {f['read_seconds']:.1f} s), homes {f['homes']}, "
              f"edges {f['edges']}, peak memory {f['peak_rss_mb']:.0f} MB")
    with session(url) as s:
        part = store.residence_rows(s, last["run_id"])
    a = full.assign(type_code=full.type_code.astype(str), circle=full.circle.astype(str)) \
        .set_index(["type_code", "circle", "residence_id"]).sort_index()
    b = part.set_index(["type_code", "circle", "residence_id"]).sort_index()
    same = a.index.equals(b.index)
    if same:
        ta, tb = a.time_s.to_numpy(float), b.time_s.to_numpy(float)
        same = bool(np.array_equal(np.isnan(ta), np.isnan(tb))
                    and np.nanmax(np.abs(ta - tb), initial=0.0) <= 1e-6
                    and (a.facility_id.astype("Int64").fillna(-1).to_numpy() ==
                         b.facility_id.astype("Int64").fillna(-1).to_numpy()).all())
    per_county = np.array([f["seconds"] for f in last["counties"].values()])
    peak = max(f["peak_rss_mb"] for f in last["counties"].values())
    county_res = residents / args.counties
    n_county = GUANGDONG_RESIDENTS / county_res
    cpu_hours = n_county * per_county.mean() / 3600
    workers_per_machine = max(1, int(MACHINE_GB * 1024 * 0.8 // max(peak, 1)))
    print(f"largest province run here: {args.counties} counties, {residents} residents")
    print(f"extrapolation to {GUANGDONG_RESIDENTS:,} residents: {n_county:.0f} partitions of this size, "
          f"{cpu_hours:.1f} worker-hours; {workers_per_machine} workers per {MACHINE_GB} GB machine "
          f"(peak {peak:.0f} MB each); one hour needs {math.ceil(cpu_hours)} workers = "
          f"{math.ceil(math.ceil(cpu_hours) / workers_per_machine)} machines")
    print(f"identical_to_single_machine {'true' if same else 'false'}")


if __name__ == "__main__":
    main()
