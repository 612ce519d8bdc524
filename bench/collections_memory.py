"""Server memory under parallel large-page requests (issue 14.5), on loopback.

    .venv/bin/python bench/collections_memory.py [--url DATABASE_URL] [--parallel 12] [--layer coverage]

Starts ``uvicorn api.main:app`` (one worker) on the demo database of bench/api.py (``<db>_bench``)
and sends ``--parallel`` anonymous ``/collections/<layer>/items?limit=10000`` requests at once (the
attack: 57.7 MB each, 3.5 GB server). Prints the bytes per response, the features returned, and the
server's resident memory (VmRSS) and peak (VmHWM) before and after, from /proc (Linux).
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def _bench_api():
    spec = importlib.util.spec_from_file_location("bench_api", ROOT / "bench" / "api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def memory_kb(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="database to serve (default: bench/api.py's <db>_bench with the demo)")
    parser.add_argument("--parallel", type=int, default=12, help="requests at once")
    parser.add_argument("--layer", default="coverage", help="collection to ask for")
    args = parser.parse_args()

    bench_api = _bench_api()
    url = args.url or bench_api.bench_database(1.0, reload=False)
    port = bench_api.free_port()
    server = bench_api.start_server(url, port, 1, limits=False)
    base = f"http://127.0.0.1:{port}"
    try:
        before = memory_kb(server.pid)

        def get(i: int) -> tuple[int, int, int]:
            r = httpx.get(
                f"{base}/collections/{args.layer}/items",
                params={"limit": 10000, "offset": i},
                headers={"Accept-Encoding": "identity"},
                timeout=600,
            )
            return r.status_code, len(r.content), r.json().get("numberReturned", 0)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.parallel) as pool:
            answers = list(pool.map(get, range(args.parallel)))
        seconds = time.perf_counter() - t0
        after = memory_kb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=120)
    statuses = sorted({a[0] for a in answers})
    print(
        f"{args.parallel} parallel /collections/{args.layer}/items?limit=10000 in {seconds:.1f} s: "
        f"status {statuses}, {max(a[1] for a in answers) / 1e6:.2f} MB and {max(a[2] for a in answers)} "
        "features per response"
    )
    print(
        f"server memory: RSS {before['VmRSS'] / 1024:.0f} MB before, {after['VmRSS'] / 1024:.0f} MB after; "
        f"peak {after['VmHWM'] / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
