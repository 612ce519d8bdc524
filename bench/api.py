"""API latency on loopback: a map view's GeoJSON and public endpoints under 50 concurrent clients.

    .venv/bin/python bench/api.py [--url DATABASE_URL] [--scale 1] [--duration 10] [--connections 50]
    .venv/bin/python bench/api.py --workers-sweep 1,2,4     # the public map's throughput per worker count

Without ``--url`` it uses its own database ``<db>_bench`` next to the app's (created, migrated and
loaded with the demo district when empty), so the numbers never disturb the app's data. It starts
``uvicorn api.main:app`` on a free loopback port with the anonymous rate limit OFF (every wrk
connection comes from 127.0.0.1 and would otherwise be throttled), then:

1. map view: facilities + grids inside the district bbox (what the public map loads first),
   sequential and concurrent, median and p95 over ``--repeat`` rounds (target < 200 ms);
2. load: every public endpoint for ``--duration`` seconds with ``--connections`` clients using
   ``wrk`` (Debian package wrk; ``scripts/system-deps.sh --bench``), or a bounded asyncio httpx
   loop when wrk is missing. Each request takes the next of ``--variants`` different URLs of its
   endpoint (other map views, search words, isochrone origins, grids …), so the response cache
   does not answer them all. Prints requests/s, p50, p95, p99 and non-2xx counts (with the load
   average of the machine, which other people share), and writes bench/_results/api.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WRK_SCRIPT = """
local paths = {%s}
local i = 0
setup = function(thread) thread:set("offset", math.random(#paths)) end
request = function()
  i = i + 1
  return wrk.format("GET", paths[((i + (offset or 0)) %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d %%d\\n", latency:percentile(50), latency:percentile(95),
    latency:percentile(99), summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status))
end
"""


# -- database --------------------------------------------------------------------------------------

def bench_database(scale: float, *, reload: bool) -> str:
    """URL of ``<app db>_bench``, migrated and holding the demo district."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from layers import migrate
    from layers.db import database_url, session
    from layers.queries import counts

    url = make_url(database_url())
    name = f"{url.database}_bench"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        if not con.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            con.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    bench_url = url.set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(bench_url)
    with session(bench_url) as s:
        loaded = counts(s)["areas"] > 0
    if reload or not loaded:
        from data.demo import generate
        from layers.load.demo import load_district

        print(f"loading the demo district (scale {scale}) into {name} …", flush=True)
        with session(bench_url, actor="bench") as s:
            load_district(s, generate(scale=scale))
        _analyze(bench_url)
    with session(bench_url, actor="bench") as s:
        from layers import store

        if store.latest_run(s) is None:  # the public coverage layer shows the latest run
            from pipeline.coverage import run_and_store

            print("computing coverage for the public coverage layer …", flush=True)
            run_and_store(s, incremental=False, actor="bench")
    return bench_url


def _analyze(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as con:
        con.execute(text("ANALYZE"))
    engine.dispose()


# -- server ----------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str, port: int, workers: int, *, limits: bool = False) -> subprocess.Popen:
    """uvicorn on ``port``; ``limits=False`` turns the per-IP limits off (anonymous rate limit, anonymous
    isochrones per IP and their queue), since every load-tool connection comes from 127.0.0.1."""
    env = {**os.environ, "MINQING_SECRET_KEY": secrets.token_urlsafe(32), "MINQING_DATABASE_URL": url,
           "DATABASE_URL": url}
    if not limits:
        env.update({"MINQING_RATE_LIMIT_PER_SECOND": "0", "MINQING_ISOCHRONE_PER_CLIENT": "100000",
                    "MINQING_ISOCHRONE_QUEUE": "100000"})
    cmd = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}")
        time.sleep(0.1)
    proc.terminate()
    raise SystemExit("the server did not answer /healthz within 30 s")


# -- map view --------------------------------------------------------------------------------------

def _timed_get(client: httpx.Client, path: str) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    r = client.get(path)
    elapsed = time.perf_counter() - t0
    r.raise_for_status()
    return elapsed * 1000, len(r.content), r.json().get("numberReturned", 0)


def map_view(base: str, bbox: str, repeat: int) -> dict:
    paths = {layer: f"/collections/{layer}/items?bbox={bbox}&limit=10000" for layer in ("facilities", "grids")}
    out: dict = {}
    with httpx.Client(base_url=base, timeout=60) as client:
        for path in paths.values():
            _timed_get(client, path)  # warm caches and connections
        for layer, path in paths.items():
            runs = [_timed_get(client, path) for _ in range(repeat)]
            out[layer] = {"median_ms": statistics.median(r[0] for r in runs), "p95_ms": _p95([r[0] for r in runs]),
                          "bytes": runs[0][1], "features": runs[0][2]}
        sequential = [sum(_timed_get(client, p)[0] for p in paths.values()) for _ in range(repeat)]
    with ThreadPoolExecutor(2) as pool, httpx.Client(base_url=base, timeout=60) as c1, \
            httpx.Client(base_url=base, timeout=60) as c2:
        concurrent = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            list(pool.map(lambda cp: _timed_get(*cp), [(c1, paths["facilities"]), (c2, paths["grids"])]))
            concurrent.append((time.perf_counter() - t0) * 1000)
    out["map_view_sequential"] = {"median_ms": statistics.median(sequential), "p95_ms": _p95(sequential)}
    out["map_view_concurrent"] = {"median_ms": statistics.median(concurrent), "p95_ms": _p95(concurrent)}
    return out


def cold_isochrones(base: str, n: int) -> dict:
    """Isochrones at ``n`` distinct facilities (never cached before): the cost of computing one."""
    with httpx.Client(base_url=base, timeout=120) as client:
        points = [f["geometry"]["coordinates"] for f in
                  client.get(f"/collections/facilities/items?status=open&limit={n + 1}").json()["features"]]
        client.get(f"/isochrones?lon={points[0][0]}&lat={points[0][1]}&minutes=15")  # builds the network once
        times = []
        for lon, lat in points[1:]:
            t0 = time.perf_counter()
            status = client.get(f"/isochrones?lon={lon}&lat={lat}&minutes=5,10,15").status_code
            if status == 200:
                times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": statistics.median(times), "p95_ms": _p95(times), "n": len(times)}


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


# -- load ------------------------------------------------------------------------------------------

def endpoints(base: str, bbox: str, *, variants: int, seed: int = 1) -> dict[str, list[str]]:
    """Every public GET endpoint → ``variants`` different URLs of it (deterministic for ``seed``)."""
    import random

    rng = random.Random(seed)
    with httpx.Client(base_url=base, timeout=60) as client:
        def ids(collection: str, query: str = "") -> list[dict]:
            return client.get(f"/collections/{collection}/items?limit=2000{query}").json()["features"]

        grids = ids("grids", "&level=grid_small")
        facilities = ids("facilities", "&status=open")
        names = [f["properties"]["name"] for f in ids("place_names")]
        areas = ids("areas")
    minx, miny, maxx, maxy = (float(v) for v in bbox.split(","))

    def view(fraction: float) -> str:
        """A map view covering ``fraction`` of the district's width, somewhere inside it."""
        w, h = (maxx - minx) * fraction, (maxy - miny) * fraction
        x, y = minx + rng.random() * (maxx - minx - w), miny + rng.random() * (maxy - miny - h)
        return f"{x:.5f},{y:.5f},{x + w:.5f},{y + h:.5f}"

    def point() -> tuple[float, float]:
        lon, lat = rng.choice(facilities)["geometry"]["coordinates"]
        return lon + rng.uniform(-0.003, 0.003), lat + rng.uniform(-0.003, 0.003)

    def many(make) -> list[str]:
        return [make() for _ in range(variants)]

    return {
        "facilities in a map view": many(lambda: f"/collections/facilities/items?bbox={view(0.3)}&limit=10000"),
        "grids in a map view": many(lambda: f"/collections/grids/items?bbox={view(0.3)}&limit=10000"),
        "areas in a map view": many(lambda: f"/collections/areas/items?bbox={view(0.5)}&limit=1000"),
        "place names in a map view": many(lambda: f"/collections/place_names/items?bbox={view(0.3)}&limit=1000"),
        "roads in a map view": many(lambda: f"/collections/roads/items?bbox={view(0.15)}&limit=10000"),
        "water in a map view": many(lambda: f"/collections/water/items?bbox={view(0.5)}&limit=1000"),
        "public coverage layer": many(lambda: "/collections/coverage/items?limit=1000&type_code="
                                      f"{rng.choice(['elderly_daycare', 'kindergarten', 'primary_school', 'health_center'])}"
                                      f"&level={rng.choice(['community', 'grid_small', 'town'])}"),
        "facility types": ["/collections/facility_types/items?limit=100"],
        "one grid": many(lambda: f"/collections/grids/items/{rng.choice(grids)['id']}"),
        "one area": many(lambda: f"/collections/areas/items/{rng.choice(areas)['id']}"),
        "collections": ["/collections", *(f"/collections/{c}" for c in ("facilities", "grids", "coverage", "roads"))],
        "place-name search": many(lambda: f"/placenames/search?q={quote(rng.choice(names)[:rng.randint(1, 3)])}"),
        "pinyin of a name": many(lambda: f"/placenames/pinyin?name={quote(rng.choice(names))}"),
        "reverse": many(lambda: "/reverse?lon={:.6f}&lat={:.6f}".format(*point())),
        "public map page": ["/"],
        "healthz": ["/healthz"],
        # last: each one computes (200 origins), and the backlog they leave is drained before the next
        "facility isochrone": many(lambda: f"/facilities/{rng.choice(facilities)['id']}/isochrone?minutes=15"),
        "isochrone 15 min walk (any point)": many(
            lambda: "/isochrones?lon={:.6f}&lat={:.6f}&minutes=15&profile=walk".format(*point())),
    }


def run_wrk(base: str, paths: list[str], *, duration: int, connections: int, threads: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % ", ".join(json.dumps(p) for p in paths))
        script = f.name
    try:
        out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s",
                              "-s", script, base + paths[0]], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script)
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    p50, p95, p99, requests, duration_us, errors, non2xx = (int(v) for v in line.split()[1:])
    return {"rps": requests / (duration_us / 1e6), "p50_ms": p50 / 1000, "p95_ms": p95 / 1000,
            "p99_ms": p99 / 1000, "requests": requests, "errors": errors, "non_2xx": non2xx, "tool": "wrk",
            "urls": len(paths)}


async def _httpx_load(base: str, paths: list[str], *, duration: int, connections: int) -> dict:
    latencies: list[float] = []
    non2xx = 0
    deadline = time.perf_counter() + duration
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        async def worker(n: int) -> None:
            nonlocal non2xx
            while time.perf_counter() < deadline:
                n += 1
                t0 = time.perf_counter()
                r = await client.get(base + paths[n % len(paths)])
                latencies.append((time.perf_counter() - t0) * 1000)
                non2xx += not 200 <= r.status_code < 300

        start = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(connections)))
        elapsed = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100)
    return {"rps": len(latencies) / elapsed, "p50_ms": q[49], "p95_ms": q[94], "p99_ms": q[98],
            "requests": len(latencies), "errors": 0, "non_2xx": non2xx, "tool": "httpx", "urls": len(paths)}


def load(base: str, paths: dict[str, list[str]], *, duration: int, connections: int) -> dict:
    wrk = shutil.which("wrk")
    if not wrk:
        print("wrk not found (scripts/system-deps.sh --bench installs it): using an asyncio httpx loop", flush=True)
    results = {}
    for label, urls in paths.items():
        _drain(base)
        httpx.get(base + urls[0], timeout=120)  # warm: a served map page is built once, then cached
        if wrk:
            results[label] = run_wrk(base, urls, duration=duration, connections=connections, threads=2)
        else:
            results[label] = asyncio.run(_httpx_load(base, urls, duration=duration, connections=connections))
        r = results[label]
        r["load_average"] = os.getloadavg()[0]
        print(f"  {label:<34} {len(urls):4d} URLs {r['rps']:8.1f} req/s  p50 {r['p50_ms']:8.1f} ms  "
              f"p95 {r['p95_ms']:8.1f} ms  p99 {r['p99_ms']:8.1f} ms  non-2xx {r['non_2xx']}  "
              f"errors {r['errors']}  load avg {r['load_average']:.1f}", flush=True)
    return results


def _drain(base: str, *, limit_s: float = 120.0) -> None:
    """Wait until the server answers /healthz promptly again: requests a load tool gave up on at the end
    of the previous endpoint's run are still being computed, and would be charged to the next one."""
    deadline = time.perf_counter() + limit_s
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        try:
            httpx.get(f"{base}/healthz", timeout=30)
        except httpx.HTTPError:
            continue
        if time.perf_counter() - t0 < 0.05:
            return
        time.sleep(0.5)


# -- workers ---------------------------------------------------------------------------------------

PUBLIC_MAP = ("public map page", "facilities in a map view", "grids in a map view", "areas in a map view",
              "place names in a map view", "public coverage layer", "place-name search", "reverse")
"""What the public map asks for: its page, the layers of a map view, search and 点击查询."""


def sweep(url: str, counts: list[int], *, duration: int, connections: int, variants: int) -> None:
    """The public map's requests, mixed, against ``minqing serve``'s app with each worker count."""
    rows = {}
    for n in counts:
        port = free_port()
        server = start_server(url, port, n)
        base = f"http://127.0.0.1:{port}"
        try:
            extent = httpx.get(f"{base}/collections/facilities").json()["extent"]["spatial"]["bbox"][0]
            bbox = ",".join(f"{v:.6f}" for v in extent)
            paths = endpoints(base, bbox, variants=variants)
            mix = [u for label in PUBLIC_MAP for u in paths[label]]
            mix = [mix[(i * 7919) % len(mix)] for i in range(len(mix))]  # interleaved, deterministic
            rows[n] = load(base, {f"public map, {n} worker(s)": mix}, duration=duration,
                           connections=connections)[f"public map, {n} worker(s)"]
        finally:
            server.terminate()
            server.wait(timeout=60)
    print(f"public map throughput ({connections} clients, {duration} s, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}):")
    for n, r in rows.items():
        print(f"  workers {n}: {r['rps']:8.1f} req/s  p50 {r['p50_ms']:7.1f} ms  p95 {r['p95_ms']:7.1f} ms  "
              f"non-2xx {r['non_2xx']}")
    out = ROOT / "bench" / "_results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "api_workers.json").write_text(json.dumps({
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(), "connections": connections,
        "duration_s": duration, "workers": {str(n): r for n, r in rows.items()}}, indent=2, ensure_ascii=False))


# -- main ------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="database to serve (default: its own <db>_bench with the demo)")
    parser.add_argument("--scale", type=float, default=1.0, help="demo size when loading it")
    parser.add_argument("--reload", action="store_true", help="reload the demo into the bench database")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--repeat", type=int, default=20, help="rounds of the map-view timing")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per endpoint")
    parser.add_argument("--connections", type=int, default=50, help="concurrent clients")
    parser.add_argument("--variants", type=int, default=200, help="different URLs per endpoint")
    parser.add_argument("--only", help="endpoints whose label contains this text (e.g. isochrone)")
    parser.add_argument("--workers-sweep", default="",
                        help="e.g. 1,2,4: the public map's throughput with each number of server processes, only")
    args = parser.parse_args()

    url = args.url or bench_database(args.scale, reload=args.reload)
    if args.workers_sweep:
        sweep(url, [int(n) for n in args.workers_sweep.split(",")], duration=args.duration,
              connections=args.connections, variants=args.variants)
        return
    port = free_port()
    server = start_server(url, port, args.workers)
    base = f"http://127.0.0.1:{port}"
    try:
        extent = httpx.get(f"{base}/collections/facilities").json()["extent"]["spatial"]["bbox"][0]
        bbox = ",".join(f"{v:.6f}" for v in extent)
        print(f"minqing-map API on {base} ({args.workers} worker(s), {os.cpu_count()} CPUs), district bbox {bbox}")
        print("anonymous rate limit and isochrone per-IP limits OFF for the benchmark (all clients share 127.0.0.1)")
        view = map_view(base, bbox, args.repeat)
        print("map view (GeoJSON, district bbox):")
        for layer in ("facilities", "grids"):
            v = view[layer]
            print(f"  {layer:<11} {v['features']:6d} features {v['bytes'] / 1e6:6.2f} MB  "
                  f"median {v['median_ms']:7.1f} ms  p95 {v['p95_ms']:7.1f} ms")
        for kind in ("map_view_sequential", "map_view_concurrent"):
            v = view[kind]
            verdict = "OK" if v["median_ms"] < 200 else "over the 200 ms target"
            print(f"  {kind:<22} median {v['median_ms']:7.1f} ms  p95 {v['p95_ms']:7.1f} ms  ({verdict})")
        cold = cold_isochrones(base, 10)
        print(f"isochrone 5/10/15 min walk, computed (not cached), {cold['n']} points: median "
              f"{cold['median_ms']:.1f} ms  p95 {cold['p95_ms']:.1f} ms")
        view["isochrone_cold"] = cold
        print(f"load: {args.connections} concurrent clients, {args.duration} s per endpoint, up to {args.variants} "
              f"different URLs each (machine load average before: {os.getloadavg()[0]:.1f})")
        paths = {k: v for k, v in endpoints(base, bbox, variants=args.variants).items()
                 if not args.only or args.only in k}
        results = load(base, paths, duration=args.duration, connections=args.connections)
    finally:
        server.terminate()
        server.wait(timeout=30)
    out = ROOT / "bench" / "_results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "api.json").write_text(json.dumps({
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(), "map_view": view,
        "load": results, "workers": args.workers, "connections": args.connections, "duration_s": args.duration,
        "variants": args.variants}, indent=2, ensure_ascii=False))
    print(f"written {out / 'api.json'}")


if __name__ == "__main__":
    main()
