"""Province benchmark: partitioned coverage on Dask vs the single-machine run (FICTIONAL data).

Builds a synthetic province (``province.synthetic.synthetic_province``: real Guangdong counties
with their real towns and villages, each a demo district at ``--scale``, offshore), loads it into
the database of DATABASE_URL (REPLACES its layers: use a scratch database), then prints in one run:
per-partition time, CPU time and peak memory; total time with each worker count; where the time
of a partitioned run goes (cluster start, reads, compute, storing, and how much network the
partitions' buffers read more than once); the largest province run here; the extrapolation to
Guangdong's 127M residents with the cluster it implies; ``identical_to_single_machine``.

    python bench/province.py --counties 3 --scale 0.3 --workers 1,2,N
    python bench/province.py --city 4415 --scale 0.3 --workers 2 --no-single

The extrapolation model (printed with its inputs): a partition's CPU time and memory grow linearly
with the street edges it reads (fitted on the partitions measured here); a Guangdong county is a
square of the province's mean county area, its partition that square grown by the network buffer
on every side, holding the synthetic province's edges per km²; 124 partitions (the division list's
county-level units); workers per machine as many as fit in 80 % of its memory.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

# bench/api.py would shadow the api package: drop this script's folder from the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

GUANGDONG_RESIDENTS = 127_000_000
GUANGDONG_KM2 = 179_800
GUANGDONG_PARTITIONS = 124  # county-level units of the NBS list (122 counties + 东莞, 中山)


def _workers(spec: str) -> list[int]:
    n = os.cpu_count() or 1
    return list(dict.fromkeys(n if w.strip().upper() == "N" else int(w) for w in spec.split(",")))


def _land_km2(areas) -> float:
    d = areas[areas.level == "district"]
    return float(d.to_crs(d.estimate_utm_crs()).area.sum()) / 1e6


def _identical(full, part) -> bool:
    a = (
        full.assign(type_code=full.type_code.astype(str), circle=full.circle.astype(str))
        .set_index(["type_code", "circle", "residence_id"])
        .sort_index()
    )
    b = part.set_index(["type_code", "circle", "residence_id"]).sort_index()
    if not a.index.equals(b.index):
        return False
    ta, tb = a.time_s.to_numpy(float), b.time_s.to_numpy(float)
    return bool(
        np.array_equal(np.isnan(ta), np.isnan(tb))
        and np.nanmax(np.abs(ta - tb), initial=0.0) <= 1e-6
        and (
            a.facility_id.astype("Int64").fillna(-1).to_numpy()
            == b.facility_id.astype("Int64").fillna(-1).to_numpy()
        ).all()
        and (a.covered.to_numpy(bool) == b.covered.to_numpy(bool)).all()
    )


def _fit(edges: np.ndarray, values: np.ndarray) -> tuple[float, float, str]:
    """``values ≈ intercept + slope · edges``: least squares when the partitions differ in size
    (> 5 %), else a line through the origin (overstates the slope: conservative)."""
    if len(edges) > 1 and edges.std() > 0.05 * edges.mean():
        slope, intercept = np.polyfit(edges, values, 1)
        if slope > 0 and intercept >= 0:
            return float(intercept), float(slope), "least squares over the partitions"
    return 0.0, float(values.sum() / edges.sum()), "through the origin (partitions of one size)"


def _extrapolate(label: str, buffer_m: float, edges_per_km2: float, fits, args) -> None:
    (t0, t_slope, t_how), (m0, m_slope, m_how) = fits
    county_km2 = GUANGDONG_KM2 / GUANGDONG_PARTITIONS
    side = math.sqrt(county_km2) + 2 * buffer_m / 1000
    part_km2 = min(side * side, GUANGDONG_KM2)
    part_edges = edges_per_km2 * part_km2
    cpu_s = t0 + t_slope * part_edges
    mem_mb = m0 + m_slope * part_edges
    worker_hours = GUANGDONG_PARTITIONS * cpu_s / 3600
    per_machine = min(args.machine_cores, int(args.machine_gb * 1024 * 0.8 // mem_mb))
    print(
        f"  {label}: buffer {buffer_m / 1000:.1f} km → partition {part_km2:,.0f} km² ≈ {part_edges:,.0f} "
        f"edges; {cpu_s / 60:.1f} CPU min and {mem_mb / 1024:.1f} GB per partition; "
        f"{worker_hours:.1f} worker-hours per run"
    )
    if per_machine < 1:
        print(
            f"    one partition does not fit a {args.machine_gb} GB machine: needs machines of "
            f"{math.ceil(mem_mb / 1024 / 0.8)} GB, or a smaller buffer"
        )
        return
    machines = math.ceil(worker_hours / (per_machine * args.target_hours))
    print(
        f"    {per_machine} workers per {args.machine_gb} GB / {args.machine_cores}-core machine → "
        f"{machines} machines for a full run in {args.target_hours:g} h "
        f"(one machine: {worker_hours / per_machine:.1f} h)"
    )


class _Discard(Exception):
    """Raised to roll a measuring transaction back."""


def _timed(fn) -> tuple[float, float]:
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def _before_after(url: str, run_id: int, bufs: dict, config) -> None:
    """The overheads fixed in the partitioned run, the old way and the new way on the same
    partition in this process: networks of every profile (each projecting the edge geometry, vs
    projecting it once) and storing a county's rows (cell by cell, vs one CSV COPY)."""
    from geo.coverage import service_tiers
    from geo.crs import utm_crs_for
    from geo.network import build_network, with_metric_geometry
    from geo.profiles import get_profile, load_profiles
    from layers import province as store
    from layers import queries
    from layers.db import session
    from layers.load.bulk import copy_frame, copy_plain
    from pipeline.coverage import with_capacity_basis

    with session(url) as s:
        county = store.counties(s).iloc[0]
        frames = store.partition_inputs(
            s, int(county.area_id), network_m=bufs["network_m"], facility_m=bufs["facility_m"]
        )
        types = with_capacity_basis(queries.facility_types(s), config.facility_types_csv)
        rows = store.residence_rows(s, run_id)
    code = str(county.code)[:6]
    rows = rows[rows.county_code == code].drop(columns="county_code").astype({"facility_id": "Int64"})
    profiles = load_profiles(config.profiles_csv)
    names = sorted(set(service_tiers(types).profile))
    nodes, edges = frames["nodes"], frames["edges"]

    def per_profile():
        for name in names:
            build_network(nodes, edges, get_profile(profiles, name))

    def shared():
        crs = utm_crs_for(float(nodes.lon.median()), float(nodes.lat.median()))
        metric = with_metric_geometry(edges, crs)
        for name in names:
            build_network(nodes, metric, get_profile(profiles, name), crs=crs)

    stored = {}
    for label, copy in (("before", copy_frame), ("after", copy_plain)):
        try:
            with session(url, actor="bench") as s:
                run = store.start_run(s, {"bench": label})
                store.ensure_partition(s, code)
                frame = rows.assign(county_code=code, run_id=run)
                stored[label] = _timed(
                    lambda c=copy, f=frame, s=s: c(s, "province_residence", f, columns=store.RESIDENCE_COLS)
                )
                raise _Discard
        except _Discard:
            pass
    nets = {"before": _timed(per_profile), "after": _timed(shared)}
    print(
        f"overhead fixes, before → after (one partition, {len(edges):,} edges, {len(rows):,} rows; "
        "wall s / CPU s):"
    )
    print(
        f"  networks of {len(names)} profiles: {nets['before'][0]:.2f} / {nets['before'][1]:.2f} → "
        f"{nets['after'][0]:.2f} / {nets['after'][1]:.2f} (edge geometry projected once, not per profile)"
    )
    print(
        f"  storing the county's rows: {stored['before'][0]:.2f} / {stored['before'][1]:.2f} → "
        f"{stored['after'][0]:.2f} / {stored['after'][1]:.2f} (one CSV COPY, not cell by cell)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counties", type=int, default=3, help="real counties, taken in turn from each city")
    ap.add_argument(
        "--city", action="append", help="4-digit city code (repeat): every county of these cities"
    )
    ap.add_argument("--scale", type=float, default=0.3)
    ap.add_argument("--workers", default="1,2,N", help="worker counts to run, N = this machine's cores")
    ap.add_argument(
        "--no-single", action="store_true", help="skip the single-machine run (and the comparison)"
    )
    ap.add_argument("--machine-gb", type=float, default=24)
    ap.add_argument("--machine-cores", type=int, default=8)
    ap.add_argument("--target-hours", type=float, default=1.0)
    args = ap.parse_args()

    from geo.coverage import run_coverage
    from geo.profiles import load_profiles
    from layers import province as store
    from layers import queries
    from layers.db import database_url, session
    from layers.load.demo import load_district
    from pipeline.coverage import RunConfig, read_inputs, with_capacity_basis
    from province.partition import buffers
    from province.run import PeakMemory, run_province
    from province.synthetic import synthetic_province

    url = database_url()
    t0 = time.perf_counter()
    region, table = synthetic_province(None if args.city else args.counties, args.scale, cities=args.city)
    with session(url, actor="bench") as s:
        load_district(s, region)
    residents = int(region.residences.population.sum())
    land = _land_km2(region.areas)
    print(
        f"province: {len(table)} counties of {table.city_code.nunique()} cities × scale {args.scale} "
        f"(real {table.towns.sum()} towns, {table.villages.sum()} villages): "
        f"{len(region.residences):,} homes, {residents:,} residents, {len(region.edges):,} edges, "
        f"{land:,.0f} km² land (fictional; generated and loaded in {time.perf_counter() - t0:.0f} s)"
    )
    config = RunConfig()
    full = None
    if not args.no_single:
        t0, cpu0 = time.perf_counter(), time.process_time()
        with PeakMemory() as mem:
            with session(url) as s:
                inp = read_inputs(s, config=config)
            full = run_coverage(
                inp.nodes,
                inp.edges,
                inp.facilities,
                inp.residences,
                inp.areas,
                inp.facility_types,
                inp.profiles,
                max_distance_m=config.snap_max_m,
                with_gaps=False,
            ).per_residence
        single_s = time.perf_counter() - t0
        print(
            f"single machine (read + coverage, no gaps): {single_s:.1f} s, "
            f"{time.process_time() - cpu0:.1f} CPU s, peak {mem.peak_mb:.0f} MB"
        )
    runs = {}
    for n in _workers(args.workers):
        runs[n] = run_province(url, scheduler=f"local:{n}", config=config)
        out = runs[n]
        tasks = sum(f["seconds"] for f in out["counties"].values())
        print(
            f"workers {n}: total {out['seconds']:.1f} s, status {out['status']} (sum of partition times "
            f"{tasks:.1f} s)"
        )
    first = runs[min(runs)]
    print(f"per partition (workers {min(runs)}):")
    names = dict(zip(table.county_code, table.city_name + table.county_name, strict=True))
    for code, f in sorted(first["counties"].items()):
        print(
            f"  {names.get(code, code)} {code}: {f['seconds']:.1f} s (read {f['read_seconds']:.1f} s, "
            f"CPU {f['cpu_seconds']:.1f} s), homes {f['homes']:,}, edges {f['edges']:,}, "
            f"peak memory {f['peak_rss_mb']:.0f} MB"
        )
    ph, figs = first["phases"], first["counties"].values()
    read = sum(f["read_seconds"] for f in figs)
    compute = sum(f["seconds"] - f["read_seconds"] for f in figs)
    other = first["seconds"] - sum(ph.values()) - read - compute
    rest = (
        f", other (worker start-up, transfer, waiting) {other:.1f} s"
        if min(runs) == 1
        else f" (partition sums over {min(runs)} workers in parallel)"
    )
    dup = sum(f["edges"] for f in figs) / len(region.edges)
    print(
        f"where the time goes (workers {min(runs)}, {first['seconds']:.1f} s): "
        f"setup {ph['prepare_s']:.1f} s, cluster start {ph['cluster_start_s']:.1f} s, "
        f"partition reads {read:.1f} s, compute {compute:.1f} s, storing rows {ph['store_s']:.1f} s, "
        f"roll-up {ph['rollup_s']:.1f} s{rest}; the partitions read {dup:.1f}× the province's edges "
        f"(buffer {first['buffers']['network_m'] / 1000:.1f} km around counties "
        f"~{math.sqrt(land / len(table)):.0f} km wide)"
    )
    most = runs[max(runs)]
    print(
        f"largest province run here: {len(table)} counties ({', '.join(sorted(set(table.city_name)))}), "
        f"{table.towns.sum()} towns, {table.villages.sum()} villages, {len(region.residences):,} homes, "
        f"{residents:,} residents, {len(region.edges):,} edges: "
        f"{most['seconds']:.1f} s on {max(runs)} workers"
    )

    with session(url) as s:
        facility_types = with_capacity_basis(queries.facility_types(s), config.facility_types_csv)
    profiles = load_profiles(config.profiles_csv)
    no_car = facility_types[
        (facility_types.urban_profile.fillna("") != "car")
        & (facility_types.rural_profile.fillna("") != "car")
    ]
    edges = np.array([f["edges"] for f in figs], float)
    start = np.array([f["start_rss_mb"] for f in figs], float)
    peak = np.array([f["peak_rss_mb"] for f in figs], float)
    memory = _fit(edges, peak)
    if memory[0] == 0.0:  # partitions of one size: the worker at rest + the growth per edge
        memory = (
            float(start.mean()),
            float((peak - start).sum() / edges.sum()),
            "worker at rest + growth per edge (partitions of one size)",
        )
    fits = (_fit(edges, np.array([f["cpu_seconds"] for f in figs], float)), memory)
    density = len(region.edges) / land
    print(
        f"extrapolation to {GUANGDONG_RESIDENTS:,} residents ({GUANGDONG_PARTITIONS} county partitions of "
        f"{GUANGDONG_KM2 / GUANGDONG_PARTITIONS:,.0f} km²; synthetic {density:,.0f} edges and "
        f"{residents / land:,.0f} residents per km², Guangdong {GUANGDONG_RESIDENTS / GUANGDONG_KM2:,.0f}):"
    )
    print(
        f"  per partition CPU s = {fits[0][0]:.2f} + {fits[0][1] * 1e3:.3f} per 1,000 edges ({fits[0][2]}); "
        f"MB = {fits[1][0]:.0f} + {fits[1][1] * 1e3:.2f} per 1,000 edges ({fits[1][2]})"
    )
    _extrapolate("all tiers (car half hour)", first["buffers"]["network_m"], density, fits, args)
    walk_bike = buffers(no_car, profiles, config.snap_max_m).network_m
    _extrapolate("without the car tiers (walk, e-bike)", walk_bike, density, fits, args)
    homes_gd = GUANGDONG_RESIDENTS / (residents / len(region.residences))
    print(
        f"  per run ≈ {homes_gd / 1e6:.1f}M home points × the tiers that apply ≈ "
        f"{homes_gd * len(facility_types) / 1e6:.0f}M rows of province_residence"
    )
    _before_after(url, first["run_id"], first["buffers"], config)
    if full is not None:
        with session(url) as s:
            part = store.residence_rows(s, most["run_id"])
        print(f"identical_to_single_machine {'true' if _identical(full, part) else 'false'}")
    else:
        print("identical_to_single_machine not checked (--no-single)")


if __name__ == "__main__":
    main()
