"""API latency on loopback: a map view's GeoJSON and public endpoints under 50 concurrent clients.

    .venv/bin/python bench/api.py [--url DATABASE_URL] [--scale 1] [--duration 10] [--connections 50]
    .venv/bin/python bench/api.py --workers-sweep 1,2,4     # the public map's throughput per worker count
    # 50 public users asking isochrones (issue 19.3):
    .venv/bin/python bench/api.py --isochrones [--duration 20]

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

``--isochrones`` (issue 19.3) measures only isochrones, against a real ``minqing serve``: the CPU
of one fresh isochrone in this process (``time.process_time`` around ``pipeline.isochrones.run`` on
the prepared network, target ≤ 50 ms at the demo size) and in the server (its processes' CPU per
fresh request, HTTP and database included), a stored facility isochrone's latency, then
``--connections`` public users (anonymous) for ``--duration`` s asking what the public map asks:
half facility isochrones (walk / 老年人步行, 5/10/15 minutes: stored with the run), half arbitrary
points (never asked before, computed). Prints p50/p95 and requests/s (target p95 < 500 ms on 2
cores) with the load average, and writes bench/_results/api_isochrones.json.
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
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d %%d\\n", latency:percentile(50),
    latency:percentile(95), latency:percentile(99), summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status))
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


def start_server(
    url: str, port: int, workers: int, *, limits: bool = False, serve: bool = False
) -> subprocess.Popen:
    """uvicorn on ``port`` (``serve``: the ``minqing serve`` command, its output dropped); ``limits=False``
    turns the per-IP limits off (anonymous rate limit, anonymous isochrones per IP and their queue),
    since every load-tool connection comes from 127.0.0.1."""
    env = {
        **os.environ,
        "MINQING_SECRET_KEY": secrets.token_urlsafe(32),
        "MINQING_DATABASE_URL": url,
        "DATABASE_URL": url,
    }
    if not limits:
        env.update(
            {
                "MINQING_RATE_LIMIT_PER_SECOND": "0",
                "MINQING_ISOCHRONE_PER_CLIENT": "100000",
                "MINQING_ISOCHRONE_QUEUE": "100000",
            }
        )
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "api.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    if serve:
        cmd = [
            sys.executable,
            "-c",
            "from api.cli import main; main()",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        **({"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL} if serve else {}),
    )
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
    paths = {
        layer: f"/collections/{layer}/items?bbox={bbox}&limit=10000" for layer in ("facilities", "grids")
    }
    out: dict = {}
    with httpx.Client(base_url=base, timeout=60) as client:
        for path in paths.values():
            _timed_get(client, path)  # warm caches and connections
        for layer, path in paths.items():
            runs = [_timed_get(client, path) for _ in range(repeat)]
            out[layer] = {
                "median_ms": statistics.median(r[0] for r in runs),
                "p95_ms": _p95([r[0] for r in runs]),
                "bytes": runs[0][1],
                "features": runs[0][2],
            }
        sequential = [sum(_timed_get(client, p)[0] for p in paths.values()) for _ in range(repeat)]
    with (
        ThreadPoolExecutor(2) as pool,
        httpx.Client(base_url=base, timeout=60) as c1,
        httpx.Client(base_url=base, timeout=60) as c2,
    ):
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
        points = [
            f["geometry"]["coordinates"]
            for f in client.get(f"/collections/facilities/items?status=open&limit={n + 1}").json()["features"]
        ]
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
        "facilities in a map view": many(
            lambda: f"/collections/facilities/items?bbox={view(0.3)}&limit=10000"
        ),
        "grids in a map view": many(lambda: f"/collections/grids/items?bbox={view(0.3)}&limit=10000"),
        "areas in a map view": many(lambda: f"/collections/areas/items?bbox={view(0.5)}&limit=1000"),
        "place names in a map view": many(
            lambda: f"/collections/place_names/items?bbox={view(0.3)}&limit=1000"
        ),
        "roads in a map view": many(lambda: f"/collections/roads/items?bbox={view(0.15)}&limit=10000"),
        "water in a map view": many(lambda: f"/collections/water/items?bbox={view(0.5)}&limit=1000"),
        "public coverage layer": many(
            lambda: (
                "/collections/coverage/items?limit=1000&type_code="
                f"{rng.choice(['elderly_daycare', 'kindergarten', 'primary_school', 'health_center'])}"
                f"&level={rng.choice(['community', 'grid_small', 'town'])}"
            )
        ),
        "facility types": ["/collections/facility_types/items?limit=100"],
        "one grid": many(lambda: f"/collections/grids/items/{rng.choice(grids)['id']}"),
        "one area": many(lambda: f"/collections/areas/items/{rng.choice(areas)['id']}"),
        "collections": [
            "/collections",
            *(f"/collections/{c}" for c in ("facilities", "grids", "coverage", "roads")),
        ],
        "place-name search": many(
            lambda: f"/placenames/search?q={quote(rng.choice(names)[: rng.randint(1, 3)])}"
        ),
        "pinyin of a name": many(lambda: f"/placenames/pinyin?name={quote(rng.choice(names))}"),
        "reverse": many(lambda: "/reverse?lon={:.6f}&lat={:.6f}".format(*point())),
        "public map page": ["/"],
        "healthz": ["/healthz"],
        # last: each one computes (200 origins), and the backlog they leave is drained before the next
        "facility isochrone": many(
            lambda: f"/facilities/{rng.choice(facilities)['id']}/isochrone?minutes=15"
        ),
        "isochrone 15 min walk (any point)": many(
            lambda: "/isochrones?lon={:.6f}&lat={:.6f}&minutes=15&profile=walk".format(*point())
        ),
    }


def run_wrk(base: str, paths: list[str], *, duration: int, connections: int, threads: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % ", ".join(json.dumps(p) for p in paths))
        script = f.name
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{duration}s",
                "--timeout",
                "30s",
                "-s",
                script,
                base + paths[0],
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script)
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    p50, p95, p99, requests, duration_us, errors, non2xx = (int(v) for v in line.split()[1:])
    return {
        "rps": requests / (duration_us / 1e6),
        "p50_ms": p50 / 1000,
        "p95_ms": p95 / 1000,
        "p99_ms": p99 / 1000,
        "requests": requests,
        "errors": errors,
        "non_2xx": non2xx,
        "tool": "wrk",
        "urls": len(paths),
    }


async def _httpx_load(
    base: str,
    paths: list[str],
    *,
    duration: int,
    connections: int,
    shared: bool = False,
    think_s: float = 0.0,
) -> dict:
    """``connections`` clients asking ``paths`` in turn (``shared``: each request takes the next URL nobody
    has asked yet, so that no answer comes from the cache before the list is used up); ``think_s``: each
    client waits a random time (exponential, this mean) after each answer, as a person reading the map does,
    and also before its first ask: the exponential wait is memoryless, so the clients start as they would be
    found at any moment of a steady stream of users, not all asking in the same first instant."""
    import itertools
    import random

    rng = random.Random(5)

    latencies: list[float] = []
    turn = itertools.count()
    non2xx = 0
    deadline = time.perf_counter() + duration
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def worker(n: int) -> None:
            nonlocal non2xx
            if think_s > 0:
                await asyncio.sleep(rng.expovariate(1.0 / think_s))
            while time.perf_counter() < deadline:
                n = next(turn) if shared else n + 1
                t0 = time.perf_counter()
                r = await client.get(base + paths[n % len(paths)])
                latencies.append((time.perf_counter() - t0) * 1000)
                non2xx += not 200 <= r.status_code < 300
                if think_s > 0:
                    await asyncio.sleep(rng.expovariate(1.0 / think_s))

        start = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(connections)))
        elapsed = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100)
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": q[49],
        "p95_ms": q[94],
        "p99_ms": q[98],
        "requests": len(latencies),
        "errors": 0,
        "non_2xx": non2xx,
        "tool": "httpx",
        "urls": len(paths),
    }


def load(base: str, paths: dict[str, list[str]], *, duration: int, connections: int) -> dict:
    wrk = shutil.which("wrk")
    if not wrk:
        print(
            "wrk not found (scripts/system-deps.sh --bench installs it): using an asyncio httpx loop",
            flush=True,
        )
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
        print(
            f"  {label:<34} {len(urls):4d} URLs {r['rps']:8.1f} req/s  p50 {r['p50_ms']:8.1f} ms  "
            f"p95 {r['p95_ms']:8.1f} ms  p99 {r['p99_ms']:8.1f} ms  non-2xx {r['non_2xx']}  "
            f"errors {r['errors']}  load avg {r['load_average']:.1f}",
            flush=True,
        )
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

PUBLIC_MAP = (
    "public map page",
    "facilities in a map view",
    "grids in a map view",
    "areas in a map view",
    "place names in a map view",
    "public coverage layer",
    "place-name search",
    "reverse",
)
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
            rows[n] = load(
                base, {f"public map, {n} worker(s)": mix}, duration=duration, connections=connections
            )[f"public map, {n} worker(s)"]
        finally:
            server.terminate()
            server.wait(timeout=60)
    print(
        f"public map throughput ({connections} clients, {duration} s, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}):"
    )
    for n, r in rows.items():
        print(
            f"  workers {n}: {r['rps']:8.1f} req/s  p50 {r['p50_ms']:7.1f} ms  p95 {r['p95_ms']:7.1f} ms  "
            f"non-2xx {r['non_2xx']}"
        )
    out = ROOT / "bench" / "_results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "api_workers.json").write_text(
        json.dumps(
            {
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "cpus": os.cpu_count(),
                "connections": connections,
                "duration_s": duration,
                "workers": {str(n): r for n, r in rows.items()},
            },
            indent=2,
            ensure_ascii=False,
        )
    )


# -- isochrones (issue 19.3) -----------------------------------------------------------------------


def with_stored_isochrones(url: str) -> None:
    """Make sure the latest run holds the facility isochrones
    (a run made before they were stored has none).
    """
    from layers import store
    from layers.db import session
    from pipeline.coverage import run_and_store

    with session(url, actor="bench") as s:
        latest = store.latest_run(s)
        if latest is None or not (latest["summary"] or {}).get("isochrones"):
            print("storing the facility isochrones with a coverage run …", flush=True)
            row = run_and_store(s, incremental=True, actor="bench")
            iso = row["summary"]["isochrones"]
            print(
                f"  {iso['computed']} isochrones computed, {iso['copied']} copied in {iso['seconds']:.1f} s "
                f"(run phases {row['summary']['phases_s']})",
                flush=True,
            )


def _random_points(url: str, n: int, seed: int) -> list[tuple[float, float]]:
    """``n`` points near open facilities (inside the district, off the 0.0001° grid of cached answers)."""
    import random

    from layers import lookup
    from layers.db import session

    rng = random.Random(seed)
    with session(url) as s:
        fac = lookup.facility_points(s)
    spots = list(zip(fac.lon, fac.lat, strict=True))
    return [
        (lon + rng.uniform(-0.003, 0.003), lat + rng.uniform(-0.003, 0.003))
        for lon, lat in (rng.choice(spots) for _ in range(n))
    ]


def isochrone_cpu(url: str, n: int) -> dict:
    """CPU ms (``time.process_time``) of one fresh 5/10/15-minute walking isochrone of a point, computed as
    a worker process computes it: ``pipeline.isochrones.run`` on the prepared network and facilities."""
    from geo.network import build_network
    from geo.profiles import get_profile, load_profiles
    from layers import lookup, queries
    from layers.db import session
    from pipeline.coverage import PROFILES_CSV
    from pipeline.isochrones import Origin, Task, run

    with session(url) as s:
        network = build_network(
            queries.nodes(s), queries.edges(s), get_profile(load_profiles(PROFILES_CSV), "walk")
        )
        facilities = lookup.facility_points(s)
    out = []
    for i, (lon, lat) in enumerate(_random_points(url, n + 1, seed=11)):
        task = Task(
            facilities=facilities,
            origin=Origin(lon, lat, {"lon": lon, "lat": lat}),
            budgets=(5.0, 10.0, 15.0),
            profile="walk",
            snap_max_m=500.0,
        )
        t0 = time.process_time()
        status, _ = run(network, task)
        if i and status == "ok":  # the first prepares the network's node and facility snaps
            out.append((time.process_time() - t0) * 1000)
    return {"median_ms": statistics.median(out), "p95_ms": _p95(out), "n": len(out)}


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and all its descendants now (Linux /proc)."""
    import psutil

    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def served_cpu(base: str, pid: int, points: list[tuple[float, float]], facilities: list[int]) -> dict:
    """One request at a time: the server's CPU (all its processes) and the latency per fresh point isochrone,
    then per facility isochrone read from storage."""
    out = {}
    with httpx.Client(base_url=base, timeout=120) as client:
        for label, paths in (
            (
                "fresh point isochrone",
                [
                    f"/isochrones?lon={lon:.6f}&lat={lat:.6f}&minutes=5,10,15&profile=walk"
                    for lon, lat in points
                ],
            ),
            (
                "stored facility isochrone",
                [f"/facilities/{f}/isochrone?minutes=5,10,15&profile=walk_elderly" for f in facilities],
            ),
        ):
            client.get(paths[0])
            times, cpu0 = [], _tree_cpu_s(pid)
            for path in paths[1:]:
                t0 = time.perf_counter()
                r = client.get(path)
                if r.status_code == 200:
                    times.append((time.perf_counter() - t0) * 1000)
            cpu = (_tree_cpu_s(pid) - cpu0) * 1000 / max(1, len(paths) - 1)
            out[label] = {
                "server_cpu_ms": cpu,
                "median_ms": statistics.median(times),
                "p95_ms": _p95(times),
                "n": len(times),
            }
    return out


def isochrone_bench(
    url: str, *, workers: int, duration: int, connections: int, cpu_n: int, think_s: float
) -> None:
    with_stored_isochrones(url)
    load0 = os.getloadavg()
    cpu = isochrone_cpu(url, cpu_n)
    print(
        "one fresh isochrone (5/10/15 min walk, a point), in this process: "
        f"CPU median {cpu['median_ms']:.1f} ms  p95 {cpu['p95_ms']:.1f} ms over {cpu['n']} points (target ≤ "
        f"50 ms; load average {load0[0]:.1f})",
        flush=True,
    )
    port = free_port()
    server = start_server(url, port, workers, serve=True)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            facilities = [
                f["id"]
                for f in client.get("/collections/facilities/items?status=open&limit=10000").json()[
                    "features"
                ]
            ]
        warm = [
            f"/isochrones?lon={lon:.6f}&lat={lat:.6f}&minutes=15&profile={profile}"
            for profile in ("walk", "walk_elderly")
            for lon, lat in _random_points(url, 6, seed=len(profile))
        ]
        with ThreadPoolExecutor(6) as pool:  # every worker process builds its networks once, before timing
            list(pool.map(lambda path: httpx.get(base + path, timeout=120), warm))
        served = served_cpu(base, server.pid, _random_points(url, 31, seed=5), facilities[:31])
        for label, v in served.items():
            print(
                f"  {label:<26} one at a time: server CPU {v['server_cpu_ms']:6.1f} ms per request  "
                f"latency median {v['median_ms']:6.1f} ms  p95 {v['p95_ms']:6.1f} ms",
                flush=True,
            )
        import random

        rng = random.Random(3)
        facility_urls = [
            f"/facilities/{f}/isochrone?minutes=5,10,15&profile={p}"
            for f in facilities
            for p in ("walk", "walk_elderly")
        ]
        rng.shuffle(facility_urls)
        point_urls = [
            f"/isochrones?lon={lon:.6f}&lat={lat:.6f}&minutes=5,10,15"
            f"&profile={rng.choice(['walk', 'walk_elderly'])}"
            for lon, lat in _random_points(url, 4000, seed=17)
        ]
        mix = [u for pair in zip(facility_urls * 4, point_urls, strict=False) for u in pair]
        print(
            f"load: {connections} public users for {duration} s, half facility isochrones (stored), "
            f"half points never asked before (computed); {os.cpu_count()} CPUs, "
            f"{workers} server process(es), load average before {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        results = {}
        for think in sorted({0.0, think_s}):
            _drain(base)
            label = (
                "users asking without pause"
                if think == 0
                else f"users pausing {think:g} s (mean) between asks"
            )
            if shutil.which("wrk") and think == 0:
                r = run_wrk(base, mix, duration=duration, connections=connections, threads=2)
            else:  # wrk has no pauses; without wrk the client shares the 2 CPUs
                r = asyncio.run(
                    _httpx_load(
                        base, mix, duration=duration, connections=connections, shared=True, think_s=think
                    )
                )
            # the next run: new points
            mix = mix[r["requests"] + connections :] + mix[: r["requests"] + connections]
            r["load_average_after"] = os.getloadavg()[0]
            results[label] = r
            verdict = "OK" if r["p95_ms"] < 500 else "over the 500 ms target"
            print(
                f"  {connections} {label:<40} {r['rps']:6.1f} req/s  p50 {r['p50_ms']:7.1f} ms  "
                f"p95 {r['p95_ms']:7.1f} ms ({verdict})  non-2xx {r['non_2xx']}  ({r['tool']}; load average "
                f"after {r['load_average_after']:.1f})",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait(timeout=60)
    _write_results(
        "api_isochrones.json",
        {
            "load_average_before": load0,
            "fresh_cpu_in_process": cpu,
            "served_one_at_a_time": served,
            "load": results,
            "workers": workers,
            "connections": connections,
            "duration_s": duration,
        },
    )


# -- main ------------------------------------------------------------------------------------------


def _write_results(name: str, figures: dict) -> None:
    """bench/_results/``name``: the figures with when and on how many CPUs they were measured."""
    out = ROOT / "bench" / "_results"
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(
        json.dumps(
            {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(), **figures},
            indent=2,
            ensure_ascii=False,
        )
    )
    print(f"written {out / name}")


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
    parser.add_argument(
        "--workers-sweep",
        default="",
        help="e.g. 1,2,4: the public map's throughput with each number of server processes, only",
    )
    parser.add_argument(
        "--isochrones",
        action="store_true",
        help="only isochrones: CPU per fresh one, and --connections public users against minqing serve",
    )
    parser.add_argument(
        "--cpu-points", type=int, default=40, help="points timed for the CPU of a fresh isochrone"
    )
    parser.add_argument(
        "--think",
        type=float,
        default=3.0,
        help="with --isochrones: also a run where each user pauses this long (mean, s) between asks",
    )
    args = parser.parse_args()

    url = args.url or bench_database(args.scale, reload=args.reload)
    if args.isochrones:
        isochrone_bench(
            url,
            workers=args.workers,
            duration=args.duration,
            connections=args.connections,
            cpu_n=args.cpu_points,
            think_s=args.think,
        )
        return
    if args.workers_sweep:
        sweep(
            url,
            [int(n) for n in args.workers_sweep.split(",")],
            duration=args.duration,
            connections=args.connections,
            variants=args.variants,
        )
        return
    port = free_port()
    server = start_server(url, port, args.workers)
    base = f"http://127.0.0.1:{port}"
    try:
        extent = httpx.get(f"{base}/collections/facilities").json()["extent"]["spatial"]["bbox"][0]
        bbox = ",".join(f"{v:.6f}" for v in extent)
        print(
            f"minqing-map API on {base} ({args.workers} worker(s), {os.cpu_count()} CPUs), "
            f"district bbox {bbox}"
        )
        print(
            "anonymous rate limit and isochrone per-IP limits OFF for the benchmark (all clients share "
            "127.0.0.1)"
        )
        view = map_view(base, bbox, args.repeat)
        print("map view (GeoJSON, district bbox):")
        for layer in ("facilities", "grids"):
            v = view[layer]
            print(
                f"  {layer:<11} {v['features']:6d} features {v['bytes'] / 1e6:6.2f} MB  "
                f"median {v['median_ms']:7.1f} ms  p95 {v['p95_ms']:7.1f} ms"
            )
        for kind in ("map_view_sequential", "map_view_concurrent"):
            v = view[kind]
            verdict = "OK" if v["median_ms"] < 200 else "over the 200 ms target"
            print(f"  {kind:<22} median {v['median_ms']:7.1f} ms  p95 {v['p95_ms']:7.1f} ms  ({verdict})")
        cold = cold_isochrones(base, 10)
        print(
            f"isochrone 5/10/15 min walk, computed (not cached), {cold['n']} points: median "
            f"{cold['median_ms']:.1f} ms  p95 {cold['p95_ms']:.1f} ms"
        )
        view["isochrone_cold"] = cold
        print(
            f"load: {args.connections} concurrent clients, {args.duration} s per endpoint, "
            f"up to {args.variants} different URLs each (machine load average before: "
            f"{os.getloadavg()[0]:.1f})"
        )
        paths = {
            k: v
            for k, v in endpoints(base, bbox, variants=args.variants).items()
            if not args.only or args.only in k
        }
        results = load(base, paths, duration=args.duration, connections=args.connections)
    finally:
        server.terminate()
        server.wait(timeout=30)
    _write_results(
        "api.json",
        {
            "map_view": view,
            "load": results,
            "workers": args.workers,
            "connections": args.connections,
            "duration_s": args.duration,
            "variants": args.variants,
        },
    )


if __name__ == "__main__":
    main()
