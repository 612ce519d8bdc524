"""The whole pipeline once at city scale: the demo ×10 (354k street nodes, 1.8M residents) generated,
loaded into PostGIS, a coverage run computed and stored, and sampled homes' stored results checked
against an independent networkx truth (tests/geo/demo_truth.py). Correctness only: timings are
printed by bench/pipeline.py, never asserted.

The truth graph is cut to the streets near the sampled homes: a trip of at most T seconds at most
v m/s, plus the two access legs (each at most the snapping distance s), never leaves the disc of
radius v·T + 2s around its home, so every street within that radius plus a margin (whole gated
compounds, long edges) gives the same times as the whole city.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "geo"))

SCALE = 10
SNAP_M = 500.0
MARGIN_M = 1500.0


@pytest.fixture(scope="module")
def city(fresh_db):
    from data.demo import generate
    from layers.db import session
    from layers.load.demo import load_district
    from pipeline import coverage as runs

    url = fresh_db("scale10")
    district = generate(scale=SCALE)
    with session(url, actor="pytest") as s:
        load_district(s, district)
    runs.clear_cache()
    with session(url, actor="pytest") as s:
        # the facility isochrones stored with a run are checked in tests/pipeline/test_facility_isochrones.py
        row = runs.run_and_store(
            s, incremental=False, config=runs.RunConfig(snap_max_m=SNAP_M, store_isochrones=False)
        )
    runs.clear_cache()  # the next test module prepares its own district
    return url, district, row


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    denom = (ab**2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.clip(np.where(denom > 0, ((p - a) * ab).sum(axis=1) / denom, 0.0), 0.0, 1.0)
    return np.hypot(*(a + t[:, None] * ab - p).T)


@pytest.mark.slow
def test_city_scale_run_equals_networkx_on_sampled_homes(city):
    from demo_truth import DemoTruth, nearest, read_profiles, utm
    from sqlalchemy import text

    from data.demo.frames import ID_STRIDE
    from geo.coverage import service_tiers
    from layers.db import session

    url, d, row = city
    assert row["status"] == "done"
    assert len(d.nodes) >= 300_000 and d.residences.population.sum() >= 1_500_000
    with session(url) as s:
        circle = s.execute(
            text("SELECT DISTINCT residence_id, circle FROM coverage_residence WHERE run_id = :r"),
            {"r": row["run_id"]},
        ).all()
    circle_of = dict(circle)
    types = pd.read_csv(Path(__file__).resolve().parents[2] / "data" / "facility_types.csv")
    tiers = service_tiers(types)
    modes = read_profiles()
    res = d.residences.assign(lon=d.residences.geometry.x, lat=d.residences.geometry.y)
    fac = d.facilities.assign(lon=d.facilities.geometry.x, lat=d.facilities.geometry.y)
    open_fac = fac[fac.status == "open"]
    node_xy = utm(d.nodes.lon, d.nodes.lat)
    at = dict(zip(d.nodes.node_id, range(len(d.nodes)), strict=True))
    ea = node_xy[[at[u] for u in d.edges.u]]
    eb = node_xy[[at[v] for v in d.edges.v]]
    rng = np.random.default_rng(19)
    # homes of two copies far apart (the first and the last), both circles
    copy_of = pd.Series(res.residence_id.to_numpy() // ID_STRIDE, index=res.index)
    assert copy_of.nunique() == SCALE
    compared = covered = 0
    seen_circles, seen_types = set(), set()
    for profile in ("walk", "walk_elderly", "ebike"):
        mine = tiers[tiers.profile == profile]
        mode = modes[profile]
        v_max = max(k for h, k in mode.speed_kmh.items() if mode.usable.get(h, True)) / 3.6
        reach = v_max * mine.max_time_s.max() + 2 * SNAP_M + MARGIN_M
        for circle in sorted(set(mine.circle)):
            pool = res[res.residence_id.map(circle_of).eq(circle).to_numpy()]
            for part in (pool[copy_of[pool.index] == 0], pool[copy_of[pool.index] == SCALE - 1]):
                if part.empty:
                    continue
                homes = part.iloc[
                    rng.choice(len(part), size=min(4 if profile == "ebike" else 6, len(part)), replace=False)
                ]
                homes_xy = utm(homes.lon, homes.lat)
                near = np.zeros(len(d.edges), bool)
                for p in homes_xy:
                    near |= _segment_distance(p, ea, eb) <= reach
                fxy = utm(open_fac.lon, open_fac.lat)
                close = (
                    np.min(np.hypot(*(fxy[:, None, :] - homes_xy[None, :, :]).transpose(2, 0, 1)), axis=1)
                    <= reach
                )
                codes = sorted(set(mine.type_code[mine.circle == circle]))
                dest = open_fac[close & open_fac.type_code.isin(codes).to_numpy()]
                nodes = d.nodes[d.nodes.node_id.isin(set(d.edges.u[near]) | set(d.edges.v[near]))]
                truth = DemoTruth(
                    nodes,
                    d.edges[near],
                    mode,
                    origins={int(h.residence_id): (h.lon, h.lat) for h in homes.itertuples()},
                    destinations={int(f.facility_id): (f.lon, f.lat) for f in dest.itertuples()},
                )
                of_type = {c: sorted(dest.facility_id[dest.type_code == c].astype(int)) for c in codes}
                cutoff = mine.max_time_s.max() + 1.0
                with session(url) as s:
                    rows = pd.DataFrame(
                        s.execute(
                            text(
                                "SELECT residence_id, type_code, time_s, facility_id, covered, unreachable "
                                "FROM coverage_residence WHERE run_id = :r AND residence_id = ANY(:ids) "
                                "AND type_code = ANY(:t)"
                            ),
                            {"r": row["run_id"], "ids": homes.residence_id.astype(int).tolist(), "t": codes},
                        )
                        .mappings()
                        .all()
                    )
                for rid, theirs in rows.groupby("residence_id"):
                    times = truth.times_from(int(rid), cutoff)
                    snapped = truth.snaps[("o", int(rid))] is not None
                    for r in theirs.itertuples():
                        limit = float(
                            mine.max_time_s[(mine.type_code == r.type_code) & (mine.circle == circle)].iloc[0]
                        )
                        assert bool(r.unreachable) == (not snapped), (profile, rid, r.type_code)
                        t, f = nearest(times, of_type[r.type_code])
                        assert bool(r.covered) == (t <= limit + 1e-6), (
                            profile,
                            rid,
                            r.type_code,
                            t,
                            r.time_s,
                        )
                        if r.covered:
                            assert abs(r.time_s - t) < 1e-6, (profile, rid, r.type_code, t, r.time_s)
                            assert r.facility_id == f, (profile, rid, r.type_code, f, r.facility_id)
                            covered += 1
                        compared += 1
                        seen_types.add(r.type_code)
                    seen_circles.add(circle)
    assert seen_circles == {"urban", "rural"} and len(seen_types) >= 20
    assert compared > 300 and covered > 100


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """XYZ tile holding a point (the slippy-map formula, independent of PostGIS)."""
    n = 2**z
    lat_r = np.radians(lat)
    return int((lon + 180) / 360 * n), int((1 - np.arcsinh(np.tan(lat_r)) / np.pi) / 2 * n)


@pytest.mark.slow
def test_city_scale_coverage_tiles_hold_the_runs_figures(city):
    import mapbox_vector_tile
    from sqlalchemy import text

    from layers import tiles
    from layers.db import session
    from pipeline.tiles import render

    url, d, row = city
    home = d.residences.iloc[len(d.residences) // 2]
    z = 14
    x, y = _tile_of(home.geometry.x, home.geometry.y, z)
    with session(url) as s:
        mvt = render(
            s,
            tiles.tile_layer("coverage"),
            z,
            x,
            y,
            filters={"type_code": "kindergarten"},
            visible=lambda props: props,
        )
        stored = {
            int(a): (int(p), int(c))
            for a, p, c in s.execute(
                text(
                    "SELECT area_id, population, population_covered FROM coverage_area WHERE run_id = :r "
                    "AND type_code = 'kindergarten'"
                ),
                {"r": row["run_id"]},
            )
        }
    features = mapbox_vector_tile.decode(mvt)["coverage"]["features"]
    assert features
    for f in features:
        p = f["properties"]
        assert (p["population"], p["population_covered"]) == stored[int(p["area_id"])]
    assert int(home.area_id) in {int(f["properties"]["area_id"]) for f in features}
