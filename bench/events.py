"""KPI query speed with many events: 按期处置率, 结案率, 平均办结时长 and 群众满意率 per grid, community and town.

    .venv/bin/python bench/events.py [--url DATABASE_URL] [--events 100000] [--repeat 5]

Uses its own database ``<db>_bench_events`` next to the app's (created and migrated; a synthetic
district of 4 towns × 5 communities × 5 grids is written when empty), inserts ``--events`` synthetic
events over six months, then times ``layers.events.kpis`` for each level over the whole period and over
one month (median of ``--repeat`` runs; target < 200 ms). Prints the figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def _database(url: str | None) -> str:
    from layers import migrate
    from layers.db import database_url

    base = make_url(url or database_url())
    target = base.set(database=f"{base.database}_bench_events")
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        if not con.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).first():
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
            s.execute(text("""
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
                                                113.02 + t * 0.1 + (g - 1) * 0.02, 22.52 + (c - 1) * 0.02, 4326))
                FROM generate_series(1, 4) t, generate_series(1, 5) c, generate_series(1, 5) g"""))
        have = s.execute(text("SELECT count(*) FROM events")).scalar_one()
        if have >= n:
            return
        s.execute(text("""
            INSERT INTO events (tracking_code, category, description, status, level, source, grid_id, community_id,
                                town_id, reported_by, reported_at, due_at, overdue, resolved_at, satisfaction, geom)
            SELECT 'B' || lpad(i::text, 11, '0'), 'other', '基准', st, '网格', 'staff', g, g / 100, g / 10000, 'bench',
                   at, at + interval '72 hours', random() < 0.1,
                   CASE WHEN st = 'reported' THEN NULL ELSE at + random() * interval '96 hours' END,
                   CASE WHEN st = 'archived' THEN 1 + floor(random() * 5)::int END,
                   ST_SetSRID(ST_MakePoint(113.2, 22.55), 4326)
            FROM (SELECT i, (1 + floor(random() * 4)) * 10000 + (1 + floor(random() * 5)) * 100
                            + (1 + floor(random() * 5)) AS g,
                         timestamptz '2026-01-01' + random() * interval '181 days' AS at,
                         (ARRAY['reported', 'resolved', 'archived'])[1 + floor(random() * 3)::int] AS st
                  FROM generate_series(:a, :b) i) x"""), {"a": have + 1, "b": n})
        s.execute(text("ANALYZE events"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from layers import events
    from layers.db import session

    url = _database(args.url)
    started = time.perf_counter()
    _fill(url, args.events)
    print(f"events ready: {args.events} in {time.perf_counter() - started:.1f} s (database {make_url(url).database})")
    now = datetime(2026, 7, 1, tzinfo=UTC)
    periods = {"six months": (datetime(2026, 1, 1, tzinfo=UTC), now),
               "one month": (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))}
    with session(url) as s:
        for label, (since, until) in periods.items():
            for by in ("grid", "community", "town"):
                times = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    rows = events.kpis(s, by=by, since=since, until=until, now=now)
                    times.append((time.perf_counter() - t0) * 1000)
                print(f"KPIs per {by:<9} over {label:<10}: {len(rows):3d} rows, median {statistics.median(times):6.1f} ms "
                      f"(max {max(times):.1f} ms; target < 200 ms)")


if __name__ == "__main__":
    main()
