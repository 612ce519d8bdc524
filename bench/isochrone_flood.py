"""Staff latency while anonymous clients flood the public isochrone route (issue 14.1), on loopback.

    .venv/bin/python bench/isochrone_flood.py [--url DATABASE_URL] [--clients 24] [--duration 20]
                                              [--staff-requests 60] [--max-flood 3000]

The attack this answers: 24 parallel 60-minute car isochrones from one address made an admin's
``/users/me`` wait 31 s and return 503. The benchmark starts ``uvicorn api.main:app`` (one worker,
default settings, the anonymous rate limit ON) on the demo database of bench/api.py
(``<db>_bench``), logs in a staff account, and times staff requests (``GET /users/me``, a staff-only
layer page, a staff isochrone) one after another:

1. without load;
2. while ``--clients`` anonymous clients, each from its own loopback address (127.0.0.2, 127.0.0.3 …,
   so the per-IP limits do not simply stop them), ask car isochrones of the longest public budget
   from fresh origins (no cache hit) as fast as they are answered, ignoring Retry-After.

The flood is bounded: ``--duration`` seconds and at most ``--max-flood`` requests. Prints the staff
p50/p95 of both phases and their ratio, and what the flood got (status counts: 200 computed, 429
per-IP limit or rate limit, 503 full queue), and writes bench/_results/isochrone_flood.json. The
machine is shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STAFF_USER = "bench_flood_admin"


def _bench_api():
    """bench/api.py (its name would shadow the ``api`` package when imported plainly)."""
    spec = importlib.util.spec_from_file_location("bench_api", ROOT / "bench" / "api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def staff_account(url: str) -> str:
    """A fresh random password for the benchmark's admin account (created when missing)."""
    from api.security import hash_password
    from layers import users
    from layers.db import session

    password = secrets.token_urlsafe(16)
    with session(url, actor="bench") as s:
        account = users.by_username(s, STAFF_USER)
        if account is None:
            users.create(
                s, username=STAFF_USER, password_hash=hash_password(password, rounds=4), role="admin"
            )
        else:
            users.update(s, account.user_id, password_hash=hash_password(password, rounds=4), active=True)
    return password


def origins(url: str, n: int, seed: int = 7) -> list[tuple[float, float]]:
    """``n`` street nodes of the district (distinct isochrone origins, more than 0.0001° apart in practice:
    no cache hits)."""
    from sqlalchemy import text

    from layers.db import session

    with session(url) as s:
        rows = s.execute(
            text(  # ends of ordinary streets: every profile reaches them (no 422)
                "SELECT DISTINCT ST_X(n.geom), ST_Y(n.geom), n.node_id FROM network_nodes n "
                "JOIN network_edges e ON n.node_id IN (e.u, e.v) WHERE e.highway IN ('primary', "
                "'secondary', 'tertiary', 'residential', 'unclassified') ORDER BY n.node_id"
            )
        ).all()
    rng = random.Random(seed)
    return [(round(x, 6), round(y, 6)) for x, y, _ in rng.sample(rows, min(n, len(rows)))]


def staff_round(client: httpx.Client, paths_for, n: int) -> dict[str, list[float]]:
    """``paths_for(i)`` (label → path) for i in 0..n-1, one request after another; milliseconds per
    request (a failed one counts as 60 s and is reported)."""
    times: dict[str, list[float]] = {}
    failures: Counter[str] = Counter()
    for i in range(n):
        for label, path in paths_for(i).items():
            t0 = time.perf_counter()
            try:
                ok = client.get(path).status_code == 200
            except httpx.HTTPError:
                ok = False
            elapsed = (time.perf_counter() - t0) * 1000
            times.setdefault(label, []).append(elapsed if ok else 60_000.0)
            if not ok:
                failures[label] += 1
    if failures:
        print(f"  staff failures: {dict(failures)}", flush=True)
    return times


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else values[0]


def summary(times: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    every = [t for v in times.values() for t in v]
    out = {k: {"p50_ms": statistics.median(v), "p95_ms": _p95(v), "n": len(v)} for k, v in times.items()}
    out["all staff requests"] = {"p50_ms": statistics.median(every), "p95_ms": _p95(every), "n": len(every)}
    return out


async def flood(
    base: str,
    points: list[tuple[float, float]],
    *,
    clients: int,
    minutes: int,
    stop: threading.Event,
    max_requests: int,
    counts: Counter,
) -> None:
    """``clients`` anonymous clients, one loopback address each, asking car isochrones until told to stop."""
    sent = 0
    queue = iter(points)

    async def one(address: str) -> None:
        nonlocal sent
        transport = httpx.AsyncHTTPTransport(local_address=address)
        async with httpx.AsyncClient(base_url=base, transport=transport, timeout=120) as c:
            while not stop.is_set() and sent < max_requests:
                lon, lat = next(queue, random.choice(points))
                sent += 1
                try:
                    r = await c.get(
                        "/isochrones", params={"lon": lon, "lat": lat, "minutes": minutes, "profile": "car"}
                    )
                    counts[r.status_code] += 1
                except httpx.HTTPError as e:
                    counts[type(e).__name__] += 1
                await asyncio.sleep(0.02)  # an impatient attacker: no Retry-After, barely a pause

    await asyncio.gather(*(one(f"127.0.0.{2 + i}") for i in range(clients)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="database to serve (default: bench/api.py's <db>_bench with the demo)")
    parser.add_argument("--clients", type=int, default=24, help="anonymous flooding clients (one IP each)")
    parser.add_argument("--duration", type=float, default=20.0, help="longest flood, seconds")
    parser.add_argument("--max-flood", type=int, default=3000, help="most flood requests")
    parser.add_argument("--staff-requests", type=int, default=30, help="rounds of staff requests per phase")
    parser.add_argument("--minutes", type=int, default=30, help="flood budget (the default public car cap)")
    args = parser.parse_args()

    bench_api = _bench_api()
    url = args.url or bench_api.bench_database(1.0, reload=False)
    password = staff_account(url)
    points = origins(url, args.max_flood + 2 * args.staff_requests)
    port = bench_api.free_port()
    server = bench_api.start_server(url, port, 1, limits=True)  # shipped defaults: every limit on
    base = f"http://127.0.0.1:{port}"
    staff_points = points[args.max_flood :]

    def paths_for(phase: int):
        def paths(i: int) -> dict[str, str]:
            # fresh origins: computed, not cached
            lon, lat = staff_points[(2 * i + phase) % len(staff_points)]
            return {
                "GET /users/me": "/users/me",
                "GET residences (staff layer)": f"/collections/residences/items?limit=50&offset={50 * i}",
                "staff isochrone car 15 min": f"/isochrones?profile=car&minutes=15&lon={lon}&lat={lat}",
            }

        return paths

    try:
        with httpx.Client(base_url=base, timeout=120) as staff:
            r = staff.post("/auth/token", data={"username": STAFF_USER, "password": password})
            r.raise_for_status()
            staff.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
            # builds the car network once
            staff.get(
                "/isochrones",
                params={"profile": "car", "minutes": 15, "lon": points[0][0], "lat": points[0][1]},
            )
            print(
                f"minqing-map on {base}, 1 worker, {os.cpu_count()} CPUs, load average "
                f"{os.getloadavg()[0]:.1f}; staff: 3 requests x {args.staff_requests} per phase"
            )
            quiet = summary(staff_round(staff, paths_for(0), args.staff_requests))
            counts: Counter = Counter()
            stop = threading.Event()
            thread = threading.Thread(
                target=lambda: asyncio.run(
                    flood(
                        base,
                        points[: args.max_flood],
                        clients=args.clients,
                        minutes=args.minutes,
                        stop=stop,
                        max_requests=args.max_flood,
                        counts=counts,
                    )
                ),
                daemon=True,
            )
            t0 = time.perf_counter()
            thread.start()
            time.sleep(2.0)  # let the flood fill the pool and its queue
            busy = summary(staff_round(staff, paths_for(1), args.staff_requests))
            flooded_s = time.perf_counter() - t0
            while time.perf_counter() - t0 < args.duration and thread.is_alive():
                time.sleep(0.2)
            stop.set()
            thread.join(timeout=180)
            load = os.getloadavg()[0]
    finally:
        server.terminate()
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
    print(
        f"flood: {args.clients} anonymous clients, car {args.minutes} min from fresh origins, "
        f"{sum(v for k, v in counts.items())} requests in {max(flooded_s, args.duration):.0f} s: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=str))
    )
    print(f"{'staff request':<30} {'quiet p50':>10} {'p95':>9} {'flood p50':>10} {'p95':>9} {'p95 ratio':>9}")
    for label in quiet:
        q, b = quiet[label], busy[label]
        print(
            f"{label:<30} {q['p50_ms']:8.1f}ms {q['p95_ms']:7.1f}ms {b['p50_ms']:8.1f}ms "
            f"{b['p95_ms']:7.1f}ms {b['p95_ms'] / q['p95_ms']:8.2f}x"
        )
    print(f"(load average at the end {load:.1f} on {os.cpu_count()} CPUs, shared machine)")
    out = ROOT / "bench" / "_results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "isochrone_flood.json").write_text(
        json.dumps(
            {
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "cpus": os.cpu_count(),
                "clients": args.clients,
                "minutes": args.minutes,
                "flood_status": {str(k): v for k, v in counts.items()},
                "quiet": quiet,
                "flood": busy,
                "load_average": load,
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    print(f"written {out / 'isochrone_flood.json'}")


if __name__ == "__main__":
    main()
