"""How far the demo district's boundaries follow streets and the river, and how long generating it takes.

Real community (社区/村) and town boundaries run along streets, roads and rivers wherever one runs near
the planned line; so do grid lines inside a community. For the generated district this prints, per
level, the length of the boundaries inside the district (the coastline left out) and the share of
that length within 8 m of a public street or road (``data.demo.network.BOUNDARY_CLASSES``, not
private compound roads) or of the river, plus the generation time (wall and CPU).

Usage: ``.venv/bin/python bench/demo_boundaries.py [--scale 1] [--seed 20261122]``. A figure, not a
test: no assertion.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

import shapely  # noqa: E402

from data.demo import generate  # noqa: E402
from data.demo.network import BOUNDARY_CLASSES  # noqa: E402
from geo.crs import to_metric  # noqa: E402

NEAR_M = 8.0


def shares(d) -> dict[str, tuple[float, float]]:
    """Per level: (km of boundary inside the district, share of it along a street or the river).

    Grid lines are counted inside their community (its own outline left out), community lines inside
    their town, town lines inside the district."""
    a = d.areas
    metric = to_metric(a.geometry)
    crs = metric.crs
    streets = d.edges[d.edges["highway"].isin(list(BOUNDARY_CLASSES)) & d.edges["access"].isna()]
    near = shapely.union_all(to_metric(streets.geometry, crs=crs).buffer(NEAR_M).to_numpy())
    river = to_metric(d.water[d.water["kind"] == "river"].geometry, crs=crs).buffer(NEAR_M).union_all()
    along = shapely.union(near, river)
    out = {}
    for level, outer in (("town", "district"), ("community", "town"), ("grid_small", "community")):

        def lines(lv: str):
            return shapely.union_all(shapely.boundary(metric[a["level"] == lv].to_numpy()))

        inner = shapely.difference(lines(level), lines(outer).buffer(1.0))
        length = max(inner.length, 1e-9)
        out[level] = (inner.length / 1000, shapely.intersection(inner, along).length / length)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=20261122)
    args = p.parse_args()
    t, cpu = time.perf_counter(), time.process_time()
    d = generate(scale=args.scale, seed=args.seed)
    print(
        f"generate(scale={args.scale}): {time.perf_counter() - t:.1f} s wall, "
        f"{time.process_time() - cpu:.1f} s CPU (this process; a busy machine stretches the wall time)"
    )
    for level, (km, share) in shares(d).items():
        print(
            f"{level:>11}: {km:7.1f} km of boundary inside its parent, "
            f"{share:5.1%} along a street or the river"
        )


if __name__ == "__main__":
    main()
