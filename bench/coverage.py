"""Benchmark: full service-circle recompute against the usual peers, on the same data.

    python bench/coverage.py --scale 1        # default demo district
    python bench/coverage.py --scale 10       # 10x

Builds the demo (``data.demo.generate``) at the given scale, prepares our networks and snaps
(not timed: done once per data version), times our full recompute (every facility type, both
circles, aggregation; gap polygons reported apart), then runs the peers on the SAME street graph
of each profile (every node and edge, with the gated-compound layers, i.e.
``build_network(..., contract=False)``; our own chain contraction is part of our engine, like
pandana's contraction hierarchies are part of pandana) with the SAME facilities and residences:

* bare scipy ``dijkstra(min_only=True, limit=..., return_predecessors=True)`` per (type, profile):
  time and nearest facility of every node, sources at nearest nodes, residences read at theirs;
* networkx ``multi_source_dijkstra_path_length`` per (type, profile);
* the osmnx/networkx recipe ``nx.ego_graph(G, facility_node, radius, distance=...)`` per facility;
* pandana ``nearest_pois`` including its contraction-hierarchy preprocessing;
* pgRouting ``pgr_drivingDistance(..., equicost := true)`` in PostGIS via ``layers.db`` (skipped
  with a note when no database is reachable; runs inside a transaction that is rolled back).

Slow peers run under a time budget: jobs (or facilities) beyond it are extrapolated from measured
ones of the same profile and bound, and the output says so. Ends with one line per peer:
``ratio <peer> <peer_time / our_time>``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geo.coverage import prepare, run_coverage, service_tiers  # noqa: E402
from geo.crs import to_metric  # noqa: E402
from geo.network import build_network  # noqa: E402
from geo.profiles import load_profiles  # noqa: E402
from geo.snapping import with_lonlat  # noqa: E402


@dataclass
class Job:
    """One (facility type, profile) search: what every peer has to compute."""

    type_code: str
    profile: str
    limit_s: float
    tiers: list[tuple[str, float]]  # (circle, max seconds)
    fac_nodes: np.ndarray  # nearest graph node of each facility of the type


@dataclass
class Timing:
    seconds: float
    note: str = ""


# --- data ----------------------------------------------------------------------------------------


def load_demo(scale: float) -> tuple[dict, str]:
    """Frames of docs/CONTRACTS.md from the demo generator (``data.demo.generate``)."""
    try:
        from data.demo import generate
    except ImportError as exc:
        raise SystemExit(
            f"data.demo.generate is not available yet ({exc}): the demo generator must land first"
        ) from exc
    demo = generate(scale=scale)
    names = ["nodes", "edges", "facilities", "residences", "areas"]
    get = demo.get if isinstance(demo, dict) else (lambda k: getattr(demo, k, None))
    frames = {k: get(k) for k in names}
    missing = [k for k, v in frames.items() if v is None]
    if missing:
        raise SystemExit(f"the demo lacks frames {missing}")
    for k in ("facilities", "residences"):  # the demo carries point geometry; the peers want lon/lat
        frames[k] = with_lonlat(frames[k])
    types = get("facility_types")
    frames["facility_types"] = (
        types if types is not None else pd.read_csv(ROOT / "data" / "facility_types.csv")
    )
    return frames, f"data.demo.generate(scale={scale:g})"


# --- shared peer inputs --------------------------------------------------------------------------


def layer_xy(net) -> np.ndarray:
    """Metric coordinates of every layer node (private copies sit on their original node)."""
    xy = np.zeros((net.n_total, 2))
    xy[: net.n_nodes] = net.node_xy
    for copy in (net.s_copy, net.p_copy):
        has = copy >= 0
        xy[copy[has]] = net.node_xy[has]
    return xy


def routable_nodes(net) -> np.ndarray:
    """Original nodes that carry at least one arc of the profile."""
    deg = np.diff(net.forward.indptr)[: net.n_nodes] + np.diff(net.reverse.indptr)[: net.n_nodes]
    return np.flatnonzero(deg > 0)


def nearest_nodes(net, lon, lat) -> np.ndarray:
    """Peers' snapping: nearest routable node (the osmnx ``nearest_nodes`` recipe)."""
    nodes = routable_nodes(net)
    x, y, _ = to_metric((np.asarray(lon), np.asarray(lat)), crs=net.crs)
    _, k = cKDTree(net.node_xy[nodes]).query(np.column_stack([x, y]))
    return nodes[k]


def full_networks(frames, profiles, names) -> dict:
    """The peers' graphs: every street node and edge of each profile (no chain contraction)."""
    return {p: build_network(frames["nodes"], frames["edges"], profiles[p], contract=False) for p in names}


def build_jobs(networks, facilities, facility_types, statuses=("open",)) -> list[Job]:
    tiers = service_tiers(facility_types)
    fac = facilities[facilities.status.isin(statuses)]
    jobs = []
    for (code, profile), group in tiers.groupby(["type_code", "profile"], sort=True):
        of_type = fac[fac.type_code == code]
        nodes = (
            nearest_nodes(networks[profile], of_type.lon, of_type.lat) if len(of_type) else np.empty(0, int)
        )
        jobs.append(
            Job(
                code,
                profile,
                float(group.max_time_s.max()),
                list(zip(group.circle, group.max_time_s, strict=True)),
                np.unique(nodes),
            )
        )
    return jobs


def residence_nodes(prepared, networks) -> dict[str, np.ndarray]:
    res = prepared.residences
    return {p: nearest_nodes(net, res.lon, res.lat) for p, net in networks.items()}


def circle_rows(prepared) -> dict[str, np.ndarray]:
    urban = prepared.residences.urban.to_numpy()
    return {"urban": np.flatnonzero(urban), "rural": np.flatnonzero(~urban)}


# --- ours ----------------------------------------------------------------------------------------


def time_ours(frames, profiles, *, repeat: int) -> tuple[object, dict]:
    t0 = time.perf_counter()
    prepared = prepare(
        frames["nodes"],
        frames["edges"],
        frames["residences"],
        frames["areas"],
        profiles,
        facility_types=frames["facility_types"],
    )
    t_prep = time.perf_counter() - t0
    args = (None, None, frames["facilities"], None, None, frames["facility_types"], profiles)
    runs, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = run_coverage(*args, prepared=prepared, with_gaps=False)
        runs.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    with_gaps = run_coverage(*args, prepared=prepared, with_gaps=True)
    t_gaps = time.perf_counter() - t0
    return prepared, {
        "prepare": t_prep,
        "runs": runs,
        "with_gaps": t_gaps,
        "result": result,
        "gaps": with_gaps.gaps,
    }


# --- peers ---------------------------------------------------------------------------------------


def budgeted(jobs: list[Job], run_one, budget_s: float) -> Timing:
    """Run ``run_one(job)`` (returns seconds) in round-robin order over (profile, bound) groups
    until the budget is spent; extrapolate the rest from the measured jobs of the same group."""
    groups: dict[tuple, list[int]] = {}
    for i, job in enumerate(jobs):
        groups.setdefault((job.profile, job.limit_s), []).append(i)
    order = [
        g[k] for k in range(max(map(len, groups.values()), default=0)) for g in groups.values() if k < len(g)
    ]
    measured: dict[int, float] = {}
    spent = 0.0
    for i in order:
        if spent > budget_s and all(any(j in measured for j in g) for g in groups.values()):
            break
        measured[i] = run_one(jobs[i])
        spent += measured[i]
    total = 0.0
    for g in groups.values():
        got = [measured[j] for j in g if j in measured]
        total += sum(got) + (len(g) - len(got)) * (np.mean(got) if got else 0.0)
    note = (
        ""
        if len(measured) == len(jobs)
        else f"measured {len(measured)} of {len(jobs)} searches, rest extrapolated"
    )
    return Timing(total, note)


def peer_scipy(networks, jobs, res_nodes, rows) -> Timing:
    t0 = time.perf_counter()
    for job in jobs:
        if len(job.fac_nodes) == 0:
            continue
        net = networks[job.profile]
        # time AND nearest facility per node, as ours (catchments need the facility)
        dist, _, source = dijkstra(
            net.reverse, indices=job.fac_nodes, min_only=True, limit=job.limit_s, return_predecessors=True
        )
        for circle, max_s in job.tiers:
            at = res_nodes[job.profile][rows[circle]]
            _ = dist[at] <= max_s, source[at]
    return Timing(time.perf_counter() - t0)


def per_profile_nx(networks, jobs, budget_s, run) -> Timing:
    """Run ``run(graph, jobs_of_profile, budget)`` with one networkx graph in memory at a time
    (the reverse graph: residents travel to facilities). Graph building is not timed."""
    import networkx as nx

    total, notes, built = 0.0, [], 0.0
    profiles = sorted({j.profile for j in jobs})
    for p in profiles:
        t0 = time.perf_counter()
        graph = nx.from_scipy_sparse_array(networks[p].reverse, create_using=nx.DiGraph)
        built += time.perf_counter() - t0
        timing = run(graph, [j for j in jobs if j.profile == p], budget_s / len(profiles))
        total += timing.seconds
        notes += [f"{p}: {timing.note}"] if timing.note else []
        del graph
    return Timing(total, "; ".join([f"graphs built in {built:.1f} s (not timed)", *notes]))


def peer_networkx(graph, jobs, res_nodes, rows, budget_s) -> Timing:
    import networkx as nx

    def one(job):
        t0 = time.perf_counter()
        if len(job.fac_nodes):
            dist = nx.multi_source_dijkstra_path_length(
                graph, set(job.fac_nodes.tolist()), cutoff=job.limit_s, weight="weight"
            )
            for circle, max_s in job.tiers:
                _ = [dist.get(n, np.inf) <= max_s for n in res_nodes[job.profile][rows[circle]]]
        return time.perf_counter() - t0

    return budgeted(jobs, one, budget_s)


def peer_ego_graph(graph, jobs, res_nodes, rows, budget_s, per_job: int) -> Timing:
    """osmnx recipe: one ego graph per facility, union of reached nodes per type."""
    import networkx as nx

    sampled = measured_all = 0

    def one(job):
        nonlocal sampled, measured_all
        if len(job.fac_nodes) == 0:
            return 0.0
        take = job.fac_nodes[:: max(1, len(job.fac_nodes) // per_job)][:per_job]
        t0 = time.perf_counter()
        reached = set()
        for node in take:
            reached |= set(nx.ego_graph(graph, int(node), radius=job.limit_s, distance="weight").nodes)
        for circle, _max_s in job.tiers:
            _ = [n in reached for n in res_nodes[job.profile][rows[circle]]]
        sampled += len(take)
        measured_all += len(job.fac_nodes)
        return (time.perf_counter() - t0) * len(job.fac_nodes) / len(take)

    timing = budgeted(jobs, one, budget_s)
    note = f"timed {sampled} of {measured_all} per-facility ego graphs, extrapolated per type"
    return Timing(timing.seconds, "; ".join(x for x in (note, timing.note) if x))


@contextlib.contextmanager
def quiet_fd():
    """Silence C-level stdout/stderr (pandana prints its progress from C++)."""
    sys.stdout.flush()
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def peer_pandana(networks, jobs, frames) -> Timing:
    import pandana

    t0 = time.perf_counter()
    nets = {}
    with quiet_fd(), contextlib.redirect_stdout(io.StringIO()):
        for p, net in networks.items():
            coo = net.forward.tocoo()  # pandana searches from each node towards the POIs
            xy = layer_xy(net)
            nets[p] = pandana.Network(
                pd.Series(xy[:, 0]),
                pd.Series(xy[:, 1]),
                pd.Series(coo.row),
                pd.Series(coo.col),
                pd.DataFrame({"t": coo.data}),
                twoway=False,
            )
        t_pre = time.perf_counter() - t0
        fac = frames["facilities"][frames["facilities"].status == "open"]
        for job in jobs:
            of_type = fac[fac.type_code == job.type_code]
            if len(of_type) == 0:
                continue
            net = networks[job.profile]
            x, y, _ = to_metric((of_type.lon.to_numpy(), of_type.lat.to_numpy()), crs=net.crs)
            name = f"{job.type_code}"
            nets[job.profile].set_pois(name, job.limit_s, 1, pd.Series(x), pd.Series(y))
            nets[job.profile].nearest_pois(job.limit_s, name, num_pois=1)
    total = time.perf_counter() - t0
    return Timing(total, f"of which contraction-hierarchy preprocessing {t_pre:.2f} s")


def peer_pgrouting(networks, jobs, budget_s) -> Timing | None:
    try:
        from sqlalchemy import text

        from layers.db import engine

        eng = engine()
        conn = eng.connect()
    except Exception as exc:  # no database configured or reachable: a note, not a failure
        print(f"  pgRouting skipped: no database via layers.db ({type(exc).__name__}: {exc})")
        return None
    try:
        with conn.begin() as tx:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pgrouting"))
            for p, net in networks.items():
                _load_arcs(conn, f"bench_arcs_{p}", net.reverse)

            def one(job):
                if len(job.fac_nodes) == 0:
                    return 0.0
                sql = text(
                    "SELECT count(*) FROM pgr_drivingDistance("
                    "'SELECT id, source, target, cost, -1::float8 AS reverse_cost "
                    f"FROM bench_arcs_{job.profile}', :starts, :limit, directed := true, equicost := true)"
                )
                t0 = time.perf_counter()
                conn.execute(
                    sql, {"starts": [int(n) + 1 for n in job.fac_nodes], "limit": job.limit_s}
                ).scalar()
                return time.perf_counter() - t0

            timing = budgeted(jobs, one, budget_s)
            tx.rollback()  # leave the database exactly as found (extension and temp tables)
        return Timing(
            timing.seconds,
            "; ".join(x for x in ("arcs loaded into TEMP tables beforehand (not timed)", timing.note) if x),
        )
    except Exception as exc:
        print(f"  pgRouting skipped: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        return None
    finally:
        conn.close()


def _load_arcs(conn, table: str, graph: sp.csr_matrix) -> None:
    from sqlalchemy import text

    conn.execute(
        text(
            f"CREATE TEMP TABLE {table} (id bigint, source bigint, target bigint, cost float8) ON COMMIT DROP"
        )
    )
    coo = graph.tocoo()
    rows = pd.DataFrame(
        {"id": np.arange(1, coo.nnz + 1), "source": coo.row + 1, "target": coo.col + 1, "cost": coo.data}
    )
    raw = conn.connection.driver_connection
    with raw.cursor().copy(f"COPY {table} (id, source, target, cost) FROM STDIN WITH (FORMAT csv)") as copy:
        copy.write(rows.to_csv(index=False, header=False, float_format="%.17g"))


# --- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="demo scale (1 = default district)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of our recompute (best is reported)")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds per slow peer before extrapolating")
    ap.add_argument("--ego-per-type", type=int, default=3, help="facilities timed per type for ego_graph")
    ap.add_argument(
        "--skip", nargs="*", default=[], help="peers to skip: scipy networkx ego_graph pandana pgrouting"
    )
    args = ap.parse_args(argv)

    frames, source = load_demo(args.scale)
    profiles = load_profiles(ROOT / "data" / "profiles.csv")
    prepared, ours = time_ours(frames, profiles, repeat=args.repeat)
    our_time = min(ours["runs"])
    _describe(source, frames, prepared, ours, our_time)
    print(
        "  peak memory so far (demo generation + ours) "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared machine: figures are noisy)"
    )

    networks = full_networks(frames, profiles, sorted(prepared.networks))
    jobs = build_jobs(networks, frames["facilities"], frames["facility_types"])
    res_nodes, rows = residence_nodes(prepared, networks), circle_rows(prepared)
    peers: dict[str, Timing] = {}
    if "scipy" not in args.skip:
        peers["scipy_dijkstra"] = min(
            (peer_scipy(networks, jobs, res_nodes, rows) for _ in range(args.repeat)), key=lambda t: t.seconds
        )
        ours_graph = build_jobs(prepared.networks, frames["facilities"], frames["facility_types"])
        own = min(
            (
                peer_scipy(prepared.networks, ours_graph, residence_nodes(prepared, prepared.networks), rows)
                for _ in range(args.repeat)
            ),
            key=lambda t: t.seconds,
        )
        print(f"  (for reference: bare scipy on OUR contracted graph {own.seconds:.3f} s)")
    if "pandana" not in args.skip:
        try:
            import pandana  # noqa: F401
        except ImportError:
            print("  pandana skipped: not installed (make bench installs it: pip install -e '.[bench]')")
        else:
            peers["pandana"] = peer_pandana(networks, jobs, frames)
    if "networkx" not in args.skip:
        peers["networkx_multi_source"] = per_profile_nx(
            networks, jobs, args.budget, lambda g, js, b: peer_networkx(g, js, res_nodes, rows, b)
        )
    if "ego_graph" not in args.skip:
        peers["ego_graph"] = per_profile_nx(
            networks,
            jobs,
            args.budget,
            lambda g, js, b: peer_ego_graph(g, js, res_nodes, rows, b, args.ego_per_type),
        )
    if "pgrouting" not in args.skip:
        timing = peer_pgrouting(networks, jobs, args.budget)
        if timing is not None:
            peers["pgrouting"] = timing

    print(f"\n{len(jobs)} searches (type x profile); our full recompute {our_time:.3f} s")
    for name, t in peers.items():
        print(f"  {name:24s} {t.seconds:10.3f} s  {t.note}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (ru_maxrss, whole run incl. peers) {peak_mb:.0f} MB")
    for name, t in peers.items():
        print(f"ratio {name} {t.seconds / our_time:.2f}")


def _describe(source, frames, prepared, ours, our_time) -> None:
    res = frames["residences"]
    nets = prepared.networks
    print(f"data: {source}")
    print(
        f"  nodes {len(frames['nodes']):,}  edges {len(frames['edges']):,}  residence points {len(res):,}  "
        f"households {int(res.households.sum()):,}  residents {int(res.population.sum()):,}  "
        f"facilities {len(frames['facilities']):,}"
    )
    for p, net in nets.items():
        print(
            f"  profile {p:13s} layer nodes {net.n_total:,}  chains {len(net.chain_a):,}  arcs "
            f"{net.forward.nnz:,}  compounds {len(net.compound_hulls)}"
        )
    runs = ", ".join(f"{t:.3f}" for t in ours["runs"])
    print(f"ours: prepare {ours['prepare']:.2f} s (once per data version, not in the figure)")
    print(f"ours: full recompute, all types, both circles: best {our_time:.3f} s (runs {runs})")
    print(f"ours: same plus gap polygons: {ours['with_gaps']:.3f} s ({len(ours['gaps'])} gap areas)")
    pr = ours["result"].per_residence
    print(f"  per-residence rows {len(pr):,}, covered {pr.covered.mean():.1%}")


if __name__ == "__main__":
    main()
