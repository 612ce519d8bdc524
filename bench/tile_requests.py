"""Benchmark of warm vector-tile requests: what one tile costs when it is already in the response cache.

Runs the app with uvicorn on a free loopback port against the configured database (a district loaded,
e.g. ``minqing demo load --scale 10``), asks once for every tile the public map's first view needs (the
base map's roads, areas and blocks, grids, facility clusters: zoom 13 over the district) so they are
cached, then asks for them again ``--passes`` times, one after another, anonymous and signed in, and
prints per warm request: the wall time, the CPU seconds of this process (server and client threads)
and the statements the app sent to the database (SQLAlchemy ``before_cursor_execute``) and the
connections it took from the pool (``checkout``).

Usage: ``.venv/bin/python bench/tile_requests.py [--passes 5]``. A figure, not a test: no assertion.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

from bench.maps import _admin_cookie, _serve  # noqa: E402

LAYERS = (
    ("roads", ""),
    ("areas", ""),
    ("blocks", ""),
    ("grids", "level=grid_small"),
    ("facility_clusters", "status=open"),
)


def _tiles(bounds, z: int) -> list[tuple[int, int]]:
    (south, west), (north, east) = bounds

    def xy(lon: float, lat: float) -> tuple[int, int]:
        n = 2**z
        return int((lon + 180) / 360 * n), int(
            (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
        )

    x0, y1 = xy(west, south)
    x1, y0 = xy(east, north)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=5, help="warm passes over the tiles")
    parser.add_argument("--zoom", type=int, default=13)
    args = parser.parse_args()

    import httpx
    from sqlalchemy import event

    from layers.db import engine, session
    from maps import sources

    with session() as s:
        bounds = sources.district(s)["bounds"]
    tiles = _tiles(bounds, args.zoom)
    srv, base = _serve()
    try:
        cookies = _admin_cookie(base)
        urls = [
            f"/tiles/{layer}/{args.zoom}/{x}/{y}.mvt" + (f"?{q}" if q else "")
            for layer, q in LAYERS
            for x, y in tiles
        ]
        done = {"statements": 0, "checkouts": 0}

        def statement(*_a) -> None:
            done["statements"] += 1

        def checkout(*_a) -> None:
            done["checkouts"] += 1

        made = engine()
        event.listen(made, "before_cursor_execute", statement)
        event.listen(made, "checkout", checkout)
        print(f"{len(urls)} tiles ({len(tiles)} per layer × {len(LAYERS)} layers, zoom {args.zoom})")
        for who, jar in (("anonymous", {}), ("signed in", cookies)):
            with httpx.Client(base_url=base, cookies=jar, timeout=600) as c:
                for u in urls:  # cold: built and cached
                    c.get(u)
                walls, cpus = [], []
                done.update(statements=0, checkouts=0)
                for _ in range(args.passes):
                    w0, c0 = time.perf_counter(), time.process_time()
                    for u in urls:
                        r = c.get(u)
                        assert r.status_code in (200, 204), (u, r.status_code)
                    walls.append((time.perf_counter() - w0) / len(urls))
                    cpus.append((time.process_time() - c0) / len(urls))
                n = args.passes * len(urls)
                print(
                    f"{who:<10} warm tile: {statistics.median(walls) * 1000:.1f} ms wall, "
                    f"{statistics.median(cpus) * 1000:.1f} ms CPU (median of {args.passes} passes); "
                    f"{done['statements'] / n:.2f} statements and {done['checkouts'] / n:.2f} pool checkouts "
                    "per request"
                )
    finally:
        srv.should_exit = True


if __name__ == "__main__":
    main()
