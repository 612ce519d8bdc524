"""Benchmark of place labels and siting on the loaded district (demo: `minqing demo load`).

Prints:

* place labels (``layers.labels``) of every gap area of the latest run, and of one type's gaps:
  best of ``--runs`` (seconds, and per thousand gaps);
* for ``--type`` (default day care): the size of the problem, the solve time and method of the
  maximal covering of ``-k`` sites and of the set covering reaching ``--target`` (the fewest new
  sites after which that share of the type's users is served), with users before → after.

Usage: ``.venv/bin/python bench/siting.py [--type elderly_daycare] [-k 3] [--target 0.8] [--runs 3]``.
A figure, not a test: no assertion.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)


def _best(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--type", default="elderly_daycare")
    parser.add_argument("-k", type=int, default=3)
    parser.add_argument("--target", type=float, default=0.8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args()

    from layers import labels, store
    from layers.db import session
    from pipeline import siting

    with session() as s:
        run = store.latest_run(s)
        if run is None:
            sys.exit("no coverage run: `minqing demo load` (or `minqing coverage run`) first")
        every = store.gap_results(s, run["run_id"], labelled=False)
        one = every[every.type_code == args.type]
        for what, gaps in (("every gap area", every), (f"{args.type} gaps", one)):
            geoms = gaps.geometry.to_numpy()
            labels.polygon_labels(s, geoms[:10])  # warm: imports, road categories
            best = _best(lambda g=geoms: labels.polygon_labels(s, g), args.runs)
            print(
                f"labels, {what}: {len(geoms)} in {best:.3f} s ({best / max(len(geoms), 1) * 1000:.2f} ms "
                "per gap)"
            )
        t = time.perf_counter()
        result = siting.site(
            s, type_code=args.type, k=args.k, target=args.target, time_limit_s=args.time_limit
        )
        total = time.perf_counter() - t
    summary = siting.summary(result)
    cap = summary["capacity"]
    print(
        f"siting {summary['type_name']}: users {summary['users']['label']}, capacity {cap['per_site']} "
        f"{cap['unit']} = {cap['users_per_site']} users; candidates {summary['candidates']}; "
        f"{total:.1f} s in all"
    )
    for key in ("maximal_covering", "set_covering"):
        if key not in summary:
            continue
        p = summary[key]
        u = p["users"]
        head = (
            f"k={p['k']}"
            if key == "maximal_covering"
            else f"target {p['target']:.0%}: {p['sites_needed']} sites"
        )
        print(
            f"  {key} {head}: {p['method']}, gap {p['gap']:.2%}, bound {p['bound']:.0f}, size {p['size']}; "
            f"users {u['before']:.0f} → {u['after']:.0f} ({u['share_before']:.1%} → {u['share_after']:.1%})"
        )


if __name__ == "__main__":
    main()
