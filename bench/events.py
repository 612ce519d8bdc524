"""KPI query speed with many events: 按期处置率, 结案率, 平均办结时长, 群众满意率 and 走访完成率 per grid,
community and town; and how fast a new event reaches an open command-centre stream while many clients
listen or poll.

    .venv/bin/python bench/events.py [--url DATABASE_URL] [--events 100000] [--repeat 5]
                                     [--clients 50] [--new 20] [--skip-kpis]

Uses its own database ``<db>_bench_events`` next to the app's (created and migrated; a synthetic
district of 4 towns × 5 communities × 5 grids is written when empty), inserts ``--events`` synthetic
events over six months (and ``--households`` key households with weekly to monthly visits), then times
``layers.events.kpis`` (events only) and ``pipeline.visits.kpis`` (the KPI table of the API and the weekly
workbook: events and 走访完成率) for each level over the whole period and over one month (median of
``--repeat`` runs; target < 200 ms). The event KPIs read whole Beijing days from the daily sums
(``event_kpi_days``, kept by triggers) and only the part days and the open events past their deadline
from ``events``; each is checked against counting every event of the period (the reference query,
timed too). Prints the figures; asserts nothing.

Live part (``--clients``): ``minqing serve --workers 2`` on that database (two server processes
on one port); half the clients hold the command-centre stream (GET /events/stream, as a dispatcher),
the other half poll GET /events/counts every second sending the last ETag back (304 while nothing
changed), as the command centre's browser does. ``--new`` events are then reported, one every half
second, and the time from sending each report to its `change` message arriving is measured on every
listening client (target < 1 s; a message crosses between the processes through PostgreSQL
LISTEN/NOTIFY), with the pollers' answer times (median, p95).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
# run as a script, bench/ comes first on sys.path and bench/api.py would hide the api package
sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != ROOT / "bench"] + [str(ROOT)]


def _database(url: str | None) -> str:
    from layers import migrate
    from layers.db import database_url

    base = make_url(url or database_url())
    target = base.set(database=f"{base.database}_bench_events")
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        if not con.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}
        ).first():
            con.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    rendered = target.render_as_string(hide_password=False)
    migrate.upgrade(rendered)
    return rendered


def _fill(url: str, n: int) -> None:
    from layers.db import session

    with session(url, actor="bench") as s:
        s.execute(text("SET LOCAL minqing.bulk = 'on'"))
        if not s.execute(text("SELECT count(*) FROM areas")).scalar():
            s.execute(
                text("""
                INSERT INTO areas (area_id, parent_id, level, code, name, geom)
                SELECT t, NULL, 'town', 'T' || t, '镇' || t,
                       ST_Multi(ST_MakeEnvelope(113 + t * 0.1, 22.5, 113.1 + t * 0.1, 22.6, 4326))
                FROM generate_series(1, 4) t;
                INSERT INTO areas (area_id, parent_id, level, code, name, geom)
                SELECT t * 100 + c, t, 'community', 'C' || t || '-' || c, '社区' || t || '-' || c,
                       ST_Multi(ST_MakeEnvelope(113 + t * 0.1, 22.5 + (c - 1) * 0.02, 113.1 + t * 0.1,
                                                22.52 + (c - 1) * 0.02, 4326))
                FROM generate_series(1, 4) t, generate_series(1, 5) c;
                INSERT INTO areas (area_id, parent_id, level, code, name, geom)
                SELECT t * 10000 + c * 100 + g, t * 100 + c, 'grid_small', 'G' || t || '-' || c || '-' || g,
                       '网格' || t || '-' || c || '-' || g,
                       ST_Multi(ST_MakeEnvelope(113 + t * 0.1 + (g - 1) * 0.02, 22.5 + (c - 1) * 0.02,
                                                113.02 + t * 0.1 + (g - 1) * 0.02, 22.52 + (c - 1) * 0.02,
                                               4326))
                FROM generate_series(1, 4) t, generate_series(1, 5) c, generate_series(1, 5) g""")
            )
        have = s.execute(text("SELECT count(*) FROM events")).scalar_one()
        if have >= n:
            return
        s.execute(
            text("""
            INSERT INTO events (tracking_code, category, description, status, level, source, grid_id,
                                community_id, town_id, reported_by, reported_at, due_at, overdue, resolved_at,
                                satisfaction, geom)
            SELECT 'B' || lpad(i::text, 11, '0'), 'other', '基准', st, '网格', 'staff', g, g / 100, g / 10000,
                   'bench',
                   at, at + interval '72 hours', random() < 0.1,
                   CASE WHEN st = 'reported' THEN NULL ELSE at + random() * interval '96 hours' END,
                   CASE WHEN st = 'archived' THEN 1 + floor(random() * 5)::int END,
                   ST_SetSRID(ST_MakePoint(113.2, 22.55), 4326)
            FROM (SELECT i, (1 + floor(random() * 4)) * 10000 + (1 + floor(random() * 5)) * 100
                            + (1 + floor(random() * 5)) AS g,
                         timestamptz '2026-01-01' + random() * interval '181 days' AS at,
                         (ARRAY['reported', 'resolved', 'archived'])[1 + floor(random() * 3)::int] AS st
                  FROM generate_series(:a, :b) i) x"""),
            {"a": have + 1, "b": n},
        )
        s.execute(text("ANALYZE events"))


def _fill_visits(url: str, households: int) -> None:
    """``households`` key households on residence points of the grids, visited about every 7-30 days."""
    from layers.db import session

    with session(url, actor="bench") as s:
        s.execute(text("SET LOCAL minqing.bulk = 'on'"))
        have = s.execute(text("SELECT count(*) FROM key_households")).scalar_one()
        if have >= households:
            return
        s.execute(
            text("""
            INSERT INTO residences (residence_id, area_id, households, population, geom)
            SELECT g.area_id, g.area_id, 400, 1100, ST_PointOnSurface(g.geom) FROM areas g
            WHERE g.level = 'grid_small' ON CONFLICT DO NOTHING""")
        )
        s.execute(
            text("""
            INSERT INTO key_households (residence_id, groups, head_name, grid_id, community_id, town_id,
                                        registered_at)
            SELECT g, ARRAY[(ARRAY['dibao', 'tekun', 'elderly_alone', 'disabled', 'left_behind_child'])
                            [1 + floor(random() * 5)::int]]::varchar[], '基准户', g, g / 100, g / 10000,
                   timestamptz '2025-06-01'
            FROM (SELECT (1 + floor(random() * 4)) * 10000 + (1 + floor(random() * 5)) * 100
                         + (1 + floor(random() * 5)) AS g FROM generate_series(1, :n) i) x"""),
            {"n": households - have},
        )
        s.execute(
            text("""
            INSERT INTO visits (household_id, worker, visited_at, geom)
            SELECT h.household_id, 'bench',
                   timestamptz '2026-01-01' + d * interval '1 day' + random() * interval '3 days',
                   ST_SetSRID(ST_MakePoint(113.2, 22.55), 4326)
            FROM key_households h, generate_series(0, 180, 10) d WHERE random() < 0.9""")
        )
        s.execute(text("ANALYZE key_households; ANALYZE visits"))


EVERY_EVENT = """
    SELECT {column} AS area_id, count(*) AS events,
           count(*) FILTER (WHERE resolved_at IS NOT NULL OR due_at < :now) AS due,
           count(*) FILTER (WHERE resolved_at IS NOT NULL AND NOT overdue AND resolved_at <= due_at)
               AS on_time,
           count(*) FILTER (WHERE status IN ('resolved', 'reviewed', 'archived')) AS closed,
           count(satisfaction) AS rated, count(*) FILTER (WHERE satisfaction >= 4) AS satisfied,
           avg(extract(epoch FROM resolved_at - reported_at) / 3600.0) FILTER (WHERE resolved_at IS NOT NULL)
               AS hours
    FROM events WHERE reported_at >= :since AND reported_at < :until AND {column} IS NOT NULL
          AND status <> 'merged'
    GROUP BY {column}"""
"""The KPI sums counted from every event of the period (the query before the daily sums): the reference."""


def _same_as_every_event(s, rows: list[dict], by: str, query: dict) -> tuple[bool, float]:
    """Whether ``rows`` (layers.events.kpis) hold the figures of counting every event,
    and that count's time.
    """
    from layers.events import KPI_LEVELS

    t0 = time.perf_counter()
    truth = s.execute(text(EVERY_EVENT.format(column=KPI_LEVELS[by])), query).mappings().all()
    ms = (time.perf_counter() - t0) * 1000
    got = {r["area_id"]: r for r in rows}
    same = len(got) == len(truth) and all(
        tuple(got[t["area_id"]][k] for k in ("events", "due", "on_time", "closed", "rated", "satisfied"))
        == tuple(t[k] for k in ("events", "due", "on_time", "closed", "rated", "satisfied"))
        and (t["hours"] is None) == (got[t["area_id"]]["mean_hours_to_resolve"] is None)
        and (t["hours"] is None or abs(float(t["hours"]) - got[t["area_id"]]["mean_hours_to_resolve"]) < 1e-9)
        for t in truth
    )
    return same, ms


def _serve(url: str, port: int, secret: str, workers: int):
    """``minqing serve`` as deployed: ``workers`` server processes on one port."""
    import subprocess

    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MINQING_DATABASE_URL": url,
        "MINQING_SECRET_KEY": secret,
        "MINQING_BCRYPT_ROUNDS": "4",
    }
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("minqing")),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _token(url: str, secret: str, username: str, role: str) -> str:
    from api.security import create_token, hash_password
    from layers import users
    from layers.db import session

    with session(url, actor="bench") as s:
        account = users.by_username(s, username) or users.create(
            s, username=username, password_hash=hash_password("bench-password", rounds=4), role=role
        )
    return create_token(account, secret=secret, minutes=60)


async def _live(bases: list[str], token: str, listeners: int, pollers: int, new: int) -> dict:
    import asyncio
    import json

    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    sent: dict[int, float] = {}
    answered: dict[int, float] = {}
    arrivals: list[dict[int, float]] = []
    ready = 0
    stop = asyncio.Event()
    polls = {"done": 0, "unchanged": 0, "failed": 0, "ms": [], "first_ms": []}

    async def listen(base: str, got: dict[int, float]) -> None:
        nonlocal ready
        async with (
            httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(10, read=None)) as c,
            c.stream("GET", "/events/stream", headers=headers) as r,
        ):
            name = None
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    if name == "ready":
                        ready += 1
                    elif name == "change":
                        change = json.loads(line[6:])
                        if change["action"] == "report":
                            got.setdefault(change["event_id"], time.perf_counter())
                if stop.is_set():
                    return

    async def poll(base: str) -> None:
        """GET /events/counts every second as the command centre's browser would: the last ETag sent
        back as If-None-Match (304 while nothing changed)."""
        etag = None
        async with httpx.AsyncClient(base_url=base, timeout=10) as c:
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    r = await c.get(
                        "/events/counts", headers={**headers, **({"If-None-Match": etag} if etag else {})}
                    )
                    polls[
                        "unchanged" if r.status_code == 304 else "done" if r.status_code == 200 else "failed"
                    ] += 1
                    polls["ms" if etag else "first_ms"].append((time.perf_counter() - t0) * 1000)
                    etag = r.headers.get("etag", etag)
                except httpx.HTTPError:
                    polls["failed"] += 1
                await asyncio.sleep(1.0)

    tasks = []
    for i in range(listeners):
        arrivals.append({})
        tasks.append(asyncio.create_task(listen(bases[(i + 1) % len(bases)], arrivals[-1])))
    tasks += [asyncio.create_task(poll(bases[i % len(bases)])) for i in range(pollers)]
    deadline = time.perf_counter() + 60
    while ready < listeners and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    async with httpx.AsyncClient(base_url=bases[0], timeout=30) as c:
        for i in range(new):
            t0 = time.perf_counter()
            r = await c.post(
                "/events",
                headers=headers,
                json={
                    "category": "sanitation",
                    "description": f"实时基准 {i}",
                    "lon": 113.15 + (i % 5) * 0.01,
                    "lat": 22.51 + (i % 4) * 0.02,
                },
            )
            r.raise_for_status()
            sent[r.json()["event_id"]] = t0
            answered[r.json()["event_id"]] = time.perf_counter()
            await asyncio.sleep(0.5)
    await asyncio.sleep(2.0)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies = [(got[e] - t0) * 1000 for got in arrivals for e, t0 in sent.items() if e in got]
    after_answer = [max(0.0, got[e] - answered[e]) * 1000 for got in arrivals for e in sent if e in got]
    posts = [(answered[e] - sent[e]) * 1000 for e in sent]
    missing = sum(1 for got in arrivals for e in sent if e not in got)
    return {
        "ready": ready,
        "listeners": listeners,
        "pollers": pollers,
        "latencies": latencies,
        "after_answer": after_answer,
        "posts": posts,
        "missing": missing,
        "polls": polls,
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _report(out: dict, new: int) -> None:
    lat, polls = out["latencies"], out["polls"]
    print(
        f"  {out['listeners']} clients on the command-centre stream ({out['ready']} ready), {out['pollers']} "
        f"polling GET /events/counts every 1 s"
    )
    if lat:
        print(
            f"  new event → open stream, from sending the report: {len(lat)} deliveries ({new} events × "
            f"listeners), median {statistics.median(lat):.0f} ms, p95 {_p95(lat):.0f} ms, "
            f"max {max(lat):.0f} ms (target < 1000 ms); missed {out['missing']}"
        )
        after = out["after_answer"]
        print(
            "  of which after the report was answered (committed): "
            f"median {statistics.median(after):.0f} ms, p95 {_p95(after):.0f} ms, max {max(after):.0f} ms; "
            f"the report itself (POST /events) median {statistics.median(out['posts']):.0f} ms"
        )
    if polls["ms"]:
        print(
            f"  polls meanwhile: {polls['done']} answered 200, {polls['unchanged']} answered 304 "
            f"(unchanged), {polls['failed']} failed; median {statistics.median(polls['ms']):.0f} ms, "
            f"p95 {_p95(polls['ms']):.0f} ms (each poller's first, all at once as the pages open: "
            f"median {statistics.median(polls['first_ms']):.0f} ms, p95 {_p95(polls['first_ms']):.0f} ms)"
        )


def live_bench(url: str, clients: int, new: int, workers: int = 2) -> None:
    import asyncio
    import secrets

    import httpx

    secret = secrets.token_urlsafe(32)
    token = _token(url, secret, "bench_dispatcher", "dispatcher")
    port = _free_port()
    servers = [_serve(url, port, secret, workers)]
    bases = [f"http://127.0.0.1:{port}"]
    try:
        for base, server in zip(bases, servers, strict=True):
            deadline = time.perf_counter() + 180
            while True:
                if server.poll() is not None:
                    raise SystemExit(f"the server at {base} stopped (exit {server.returncode})")
                try:
                    if httpx.get(base + "/healthz", timeout=2).status_code < 500:
                        break
                except httpx.HTTPError:
                    pass
                if time.perf_counter() > deadline:
                    raise SystemExit(f"the server at {base} did not start")
                time.sleep(0.2)
        print(f"live: `minqing serve --workers {workers}` (each connection served by one of its processes)")
        for listeners, pollers in ((clients, 0), (clients - clients // 2, clients // 2)):
            _report(asyncio.run(_live(bases, token, listeners, pollers, new)), new)
    finally:
        for p in servers:
            p.terminate()
            p.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--households", type=int, default=3000, help="key households (重点人群) with visits")
    parser.add_argument(
        "--clients", type=int, default=50, help="clients listening or polling meanwhile (0: none)"
    )
    parser.add_argument("--new", type=int, default=20, help="new events reported during the live part")
    parser.add_argument("--skip-kpis", action="store_true", help="only the live part")
    args = parser.parse_args()
    from layers import events
    from layers.db import session
    from pipeline import visits

    url = _database(args.url)
    started = time.perf_counter()
    _fill(url, args.events)
    _fill_visits(url, args.households)
    with session(url) as s:
        held = s.execute(
            text(
                "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM key_households), "
                "(SELECT count(*) FROM visits)"
            )
        ).one()
    print(
        f"ready in {time.perf_counter() - started:.1f} s: {held[0]} events, {held[1]} key households, "
        f"{held[2]} visits (database {make_url(url).database})"
    )
    settings = visits.VisitSettings()
    load = os.getloadavg()
    print(
        f"machine load average {load[0]:.1f} on {os.cpu_count()} cores (figures are wall-clock times under "
        "that load)"
    )
    now = datetime(2026, 7, 1, tzinfo=UTC)
    periods = {
        "six months": (datetime(2026, 1, 1, tzinfo=UTC), now),
        "one month": (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),
    }
    with session(url) as s:
        for label, (since, until) in ({} if args.skip_kpis else periods).items():
            for by in ("grid", "community", "town"):
                query = {"by": by, "since": since, "until": until, "now": now}
                for what, run in (
                    ("events", partial(events.kpis, s, **query)),
                    ("events+走访", partial(visits.kpis, s, settings, **query)),
                ):
                    times = []
                    for _ in range(args.repeat):
                        t0 = time.perf_counter()
                        rows = run()
                        times.append((time.perf_counter() - t0) * 1000)
                    print(
                        f"KPIs ({what:<9}) per {by:<9} over {label:<10}: {len(rows):3d} rows, median "
                        f"{statistics.median(times):6.1f} ms (max {max(times):.1f} ms; target < 200 ms)"
                    )
                    if what == "events":
                        same, ms = _same_as_every_event(s, rows, by, query)
                        print(
                            f"    counted from every event instead: {ms:6.1f} ms; same figures: "
                            f"{'yes' if same else 'NO'}"
                        )
    if args.clients > 0:
        live_bench(url, args.clients, args.new)


if __name__ == "__main__":
    main()
