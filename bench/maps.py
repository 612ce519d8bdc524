"""Benchmark of the web maps: page build time, page size and time to interactive in headless Chromium.

Runs the app with uvicorn on a free loopback port against the configured database (DATABASE_URL or
the local .pgdata/ cluster, demo district loaded: `minqing demo load`), then prints:

* the first request of each page after start (with the warmer, ``api.warm``, the default, the server
  has built it by then, and the bench says how long that took; with ``--no-warm`` it is the cold build:
  data read + simplification + folium render), and the cached response time (same data version);
* HTML size (bytes, gzip bytes);
* time to interactive of the place-name officer's map (/placenames, about 1,940 names on the demo) on a
  phone viewport with the CPU slowed four times (CDP ``Emulation.setCPUThrottlingRate`` 4, a mid-range
  phone), and how many markers and clusters its first view draws;
* time to interactive of each map page in headless Chromium (navigation start → our scripts have
  drawn every layer, ``minqing.state.ready``, and every vector tile in view has been drawn,
  ``minqing.state.tilesPending`` 0), median of several loads, desktop and phone viewports (signed in as
  an admin, so the staff pages open), with the bytes of every request and the largest one (the
  target: no single layer request over 200 KB on the wire).

At scale 10: ``minqing demo load --scale 10`` and ``minqing coverage run`` into a bench database,
then ``DATABASE_URL=<that database> python bench/maps.py``.

With ``--after-run``: the first load of the planner and the public map after an edit and a new coverage
run (one day-care centre moved about 50 m, ``minqing coverage run``; moved back and run again at the end).

Usage: ``.venv/bin/python bench/maps.py [--runs 5] [--only placenames] [--no-warm] [--after-run]``.
A figure, not a test: no assertion.
"""

from __future__ import annotations

import argparse
import gzip
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

# Run as a script, bench/ would come first on sys.path and this file would shadow the ``maps``
# package (and bench/api.py the ``api`` package): put the project root there instead.
ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
READY = (
    "() => window.minqing && window.minqing.state && window.minqing.state.ready === true"
    " && !window.minqing.state.tilesPending"
)
TARGET_S = 2.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(warm: bool):
    """The app in a thread as ``minqing serve`` runs it (lifespan on): with ``warm``, its warmer builds
    the pages and the latest run's first view in the background (``api.warm``); wait for that round."""
    import uvicorn

    from api.main import create_app
    from settings import ApiSettings

    os.environ.setdefault("MINQING_SECRET_KEY", "bench-secret-key-not-for-production")
    app = create_app(ApiSettings(rate_limit_per_second=0, warm_caches=warm))
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    t0 = time.perf_counter()
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    if warm:
        app.state.warmer.wait(1, timeout=900)
        print(
            f"warmer: the pages and the latest run's first view built "
            f"{time.perf_counter() - t0:.1f} s after start"
        )
    else:
        print("warmer off (--no-warm): the first request builds each page")
    return srv, f"http://127.0.0.1:{port}", app


def _settled(app, timeout: float = 900) -> float:
    """Seconds until the warmer has built on the data as they are now (0 without a warmer)."""
    warmer = app.state.warmer
    if warmer is None:
        return 0.0
    t0 = time.perf_counter()
    warmer.caught_up(timeout)
    return time.perf_counter() - t0


MOVE_DEG = 0.0005
"""How far (≈ 50 m) the bench moves one day-care centre to make an edit and a new run."""


def _move_and_run(facility_id: int, sign: int) -> float:
    """Move the facility and run the coverage (incremental) in a process of its own, as a planner's edit
    and `minqing coverage run` do; seconds of the run."""
    import subprocess

    from sqlalchemy import text

    from layers.db import session

    with session(actor="bench") as s:
        s.execute(
            text("UPDATE facilities SET geom = ST_Translate(geom, :d, 0) WHERE facility_id = :f"),
            {"d": sign * MOVE_DEG, "f": facility_id},
        )
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "api.cli", "coverage", "run"], check=True, capture_output=True, cwd=ROOT
    )
    return time.perf_counter() - t0


def _after_a_run(base: str, cookies: dict[str, str], app) -> None:
    """The first load of the planner and the public map after an edit and a new run: one day-care centre
    moved, `minqing coverage run`, then each page once in Chromium (desktop), the warmer given the time
    it needs (printed); then the move is undone and run again."""
    from playwright.sync_api import sync_playwright
    from sqlalchemy import text

    from layers.db import session

    with session() as s:
        fid = s.execute(
            text(
                "SELECT facility_id FROM facilities "
                "WHERE type_code = 'elderly_daycare' AND status = 'open' LIMIT 1"
            )
        ).scalar_one()
    run_s = _move_and_run(fid, +1)
    caught_up = _settled(app)
    label, viewport, mobile = VIEWPORTS[0]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for path in ("/planner", "/"):
                first = _load(browser, base, path, viewport, mobile, cookies)["seconds"]
                verdict = "within" if first <= TARGET_S else "OVER"
                print(
                    f"{path:<12}{label:<18} first load after an edit and a run: {first:6.2f} s {verdict} "
                    f"the {TARGET_S:.0f} s target (run {run_s:.1f} s; warmer caught up {caught_up:.1f} s "
                    "after it)"
                )
            browser.close()
    finally:
        _move_and_run(fid, -1)
        _settled(app)


def _admin_cookie(base: str) -> dict[str, str]:
    """A login cookie of a throw-away admin (created if missing) so the protected pages can be timed."""
    from api.security import COOKIE, create_token, hash_password
    from layers import users
    from layers.db import session
    from settings import api_settings

    with session(actor="bench") as s:
        account = users.by_username(s, "bench_admin") or users.create(
            s,
            username="bench_admin",
            password_hash=hash_password(os.urandom(9).hex(), rounds=4),
            role="admin",
        )
    token = create_token(account, secret=api_settings().secret_key.get_secret_value(), minutes=30)
    return {COOKIE: token}


def _http_figures(base: str, cookies: dict[str, str]) -> None:
    import httpx

    print(f"{'page':<12}{'first':>12}{'cached':>10}{'HTML':>12}{'gzip':>10}")
    with httpx.Client(base_url=base, cookies=cookies, timeout=300) as c:
        for path in ("/", "/planner", "/placenames"):
            t0 = time.perf_counter()
            r = c.get(path)
            cold = time.perf_counter() - t0
            warm = []
            for _ in range(5):
                t0 = time.perf_counter()
                c.get(path)
                warm.append(time.perf_counter() - t0)
            size = len(r.content)
            print(
                f"{path:<12}{cold:>10.2f} s{statistics.median(warm) * 1000:>8.0f} ms{size / 1e6:>10.2f} MB"
                f"{len(gzip.compress(r.content)) / 1e6:>8.2f} MB   (HTTP {r.status_code})"
            )


PAGES = ("/", "/planner", "/placenames")
VIEWPORTS = (
    ("desktop 1280×800", {"width": 1280, "height": 800}, False),
    ("phone 390×844", {"width": 390, "height": 844}, True),
)
LAYER_LIMIT = 200_000
"""Most bytes one layer request may take on the wire (issue 19: no single layer request over 200 KB)."""


def _load(browser, base: str, path: str, viewport: dict, mobile: bool, cookies: dict[str, str]) -> dict:
    """One load of ``path``: seconds to interactive (our scripts drew every layer and every vector tile in
    view arrived) and every response's size on the wire (Content-Length, else the body)."""
    ctx = browser.new_context(viewport=viewport, is_mobile=mobile, has_touch=mobile)
    ctx.add_cookies([{"name": k, "value": v, "url": base} for k, v in cookies.items()])
    page = ctx.new_page()
    sizes: list[tuple[int, str]] = []

    def record(response) -> None:
        try:
            length = response.headers.get("content-length")
            n = int(length) if length is not None else len(response.body())
        except Exception:  # redirects and aborted tile requests have no body
            n = 0
        sizes.append((n, response.url.replace(base, "")))

    page.on("response", record)
    page.goto(base + path, wait_until="commit")
    page.wait_for_function(READY, timeout=180_000, polling=50)
    # performance.now() counts from navigation start: request, parse, scripts, drawing, tiles.
    seconds = page.evaluate("() => performance.now()") / 1000
    page.wait_for_timeout(300)  # late responses of the same view
    ctx.close()
    return {"seconds": seconds, "sizes": sizes}


def _browser_figures(base: str, runs: int, cookies: dict[str, str]) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for path in PAGES:
            for label, viewport, mobile in VIEWPORTS:
                loads = [_load(browser, base, path, viewport, mobile, cookies) for _ in range(runs)]
                times = [x["seconds"] for x in loads]
                med = statistics.median(times)
                sizes = loads[-1]["sizes"]
                biggest, url = max(sizes) if sizes else (0, "")
                tiles = [n for n, u in sizes if u.startswith("/tiles/")]
                verdict = "within" if med <= TARGET_S else "OVER"
                print(
                    f"{path:<12}{label:<18} interactive {med:6.2f} s (median of {runs}; "
                    f"min {min(times):.2f}, max {max(times):.2f}) {verdict} the {TARGET_S:.0f} s target"
                )
                print(
                    f"{'':<30} {len(sizes)} requests, {sum(n for n, _ in sizes) / 1e6:.2f} MB on the wire; "
                    f"largest {biggest / 1e3:.0f} KB {'over' if biggest > LAYER_LIMIT else 'within'} "
                    f"{LAYER_LIMIT // 1000} KB: {url[:80]}; {len(tiles)} tiles, largest "
                    f"{max(tiles, default=0) / 1e3:.0f} KB"
                )
        browser.close()


PHONE = {"width": 390, "height": 844}
THROTTLE = 4
FIRST_VIEW = """() => { const s = window.minqing.state, m = s.map, names = s.data || [];
    const clusters = document.querySelectorAll('.mq-pn-cluster').length;
    const b = m.getBounds(), inView = names.filter(n => b.contains([n.lat, n.lon]));
    const drawn = Object.values(s.markers || {}).filter(d => d._map && b.contains(d.getLatLng())).length;
    return {names: names.length, inView: inView.length, drawn: drawn, clusters: clusters}; }"""
"""The place-name map's first view: its names (rows), those in view, the dots and the bubbles drawn
(from the ``place_name_clusters`` tiles)."""


READY_AT = """(() => { const add = DOMTokenList.prototype.add;
    DOMTokenList.prototype.add = function (...names) {
        if (!window.__mqReadyAt && names.includes('mq-ready')) window.__mqReadyAt = performance.now();
        return add.apply(this, names);
    }; })();"""
"""Records when the page script marks the body ``mq-ready`` (polling for it lags behind a busy main thread,
e.g. while base-map tiles are decoded)."""


def _placenames_figures(base: str, cookies: dict[str, str], runs: int) -> None:
    """/placenames on a phone, CPU throttled: navigation start → the page marks itself ready (its names'
    rows read, the clustered name tiles in view drawn)."""
    from urllib.parse import urlsplit

    import httpx
    from playwright.sync_api import sync_playwright

    host = urlsplit(base).hostname
    httpx.get(base + "/placenames", cookies=cookies, timeout=600)  # built and cached: time the browser only
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        times, cpu, first = [], [], {}
        for _ in range(runs):
            ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=3)
            ctx.add_cookies(
                [{"name": k, "value": v, "domain": host, "path": "/"} for k, v in cookies.items()]
            )
            page = ctx.new_page()
            page.add_init_script(READY_AT)
            cdp = ctx.new_cdp_session(page)
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": THROTTLE})
            cdp.send("Performance.enable")
            page.goto(base + "/placenames", wait_until="commit")
            page.wait_for_function(READY, timeout=120_000)
            page.wait_for_function("() => window.__mqReadyAt", timeout=120_000)
            times.append(page.evaluate("() => window.__mqReadyAt") / 1000)
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            cpu.append(
                metrics.get("ScriptDuration", 0.0)
                + metrics.get("LayoutDuration", 0.0)
                + metrics.get("RecalcStyleDuration", 0.0)
            )
            first = page.evaluate(FIRST_VIEW)
            ctx.close()
        browser.close()
    med = statistics.median(times)
    verdict = "within" if med <= TARGET_S else "OVER"
    print(
        f"place-name map, phone 390×844, CPU ×{THROTTLE} slower: "
        f"interactive in {med:.2f} s (median of {runs}; min {min(times):.2f}, max {max(times):.2f}) — "
        f"{verdict} the {TARGET_S:.0f} s target; script + layout {statistics.median(cpu):.2f} s; "
        f"{first.get('names')} names, {first.get('inView')} in the first view drawn as "
        f"{first.get('drawn')} single markers and {first.get('clusters')} clusters"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="browser loads per viewport (median reported)")
    parser.add_argument("--only", choices=["placenames"], help="time only the place-name map")
    parser.add_argument(
        "--no-warm",
        action="store_true",
        help="the server without its warmer: the first request builds each page",
    )
    parser.add_argument(
        "--after-run",
        action="store_true",
        help="also time the first planner and public loads after an edit and a new run (moves one facility, "
        "runs `minqing coverage run` twice: there and back)",
    )
    args = parser.parse_args()

    from layers import queries
    from layers.db import session

    with session() as s:
        counts = queries.counts(s)
    if not counts["network_edges"]:
        raise SystemExit("no data: load the demo district first (`minqing demo load`)")
    print(f"data: {counts}")
    srv, base, app = _serve(not args.no_warm)
    try:
        cookies = _admin_cookie(base)
        if args.only != "placenames":
            _http_figures(base, cookies)
            _browser_figures(base, args.runs, cookies)
        _placenames_figures(base, cookies, args.runs)
        if args.after_run:
            _after_a_run(base, cookies, app)
    finally:
        srv.should_exit = True


if __name__ == "__main__":
    main()
