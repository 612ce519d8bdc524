"""KPI query speed with many events: 按期处置率, 结案率, 平均办结时长, 群众满意率 and 走访完成率 per grid,
community and town.

    .venv/bin/python bench/events.py [--url DATABASE_URL] [--events 100000] [--repeat 5]

Uses its own database ``<db>_bench_events`` next to the app's (created and migrated; a synthetic
district of 4 towns × 5 communities × 5 grids is written when empty), inserts ``--events`` synthetic
events over six months (and ``--households`` key households with weekly to monthly visits), then times
``layers.events.kpis`` (events only) and ``pipeline.visits.kpis`` (the KPI table of the API and the weekly
workbook: events and 走访完成率) for each level over the whole period and over one month (median of
``--repeat`` runs; target < 200 ms). Prints the figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime
from functools import partial

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


def _fill_visits(url: str, households: int) -> None:
    """``households`` key households on residence points of the grids, visited about every 7-30 days."""
    from layers.db import session

    with session(url, actor="bench") as s:
        s.execute(text("SET LOCAL minqing.bulk = 'on'"))
        have = s.execute(text("SELECT count(*) FROM key_households")).scalar_one()
        if have >= households:
            return
        s.execute(text("""
            INSERT INTO residences (residence_id, area_id, households, population, geom)
            SELECT g.area_id, g.area_id, 400, 1100, ST_PointOnSurface(g.geom) FROM areas g
            WHERE g.level = 'grid_small' ON CONFLICT DO NOTHING"""))
        s.execute(text("""
            INSERT INTO key_households (residence_id, groups, head_name, grid_id, community_id, town_id, registered_at)
            SELECT g, ARRAY[(ARRAY['dibao', 'tekun', 'elderly_alone', 'disabled', 'left_behind_child'])
                            [1 + floor(random() * 5)::int]]::varchar[], '基准户', g, g / 100, g / 10000,
                   timestamptz '2025-06-01'
            FROM (SELECT (1 + floor(random() * 4)) * 10000 + (1 + floor(random() * 5)) * 100
                         + (1 + floor(random() * 5)) AS g FROM generate_series(1, :n) i) x"""),
                  {"n": households - have})
        s.execute(text("""
            INSERT INTO visits (household_id, worker, visited_at, geom)
            SELECT h.household_id, 'bench', timestamptz '2026-01-01' + d * interval '1 day' + random() * interval '3 days',
                   ST_SetSRID(ST_MakePoint(113.2, 22.55), 4326)
            FROM key_households h, generate_series(0, 180, 10) d WHERE random() < 0.9"""))
        s.execute(text("ANALYZE key_households; ANALYZE visits"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--households", type=int, default=3000, help="key households (重点人群) with visits")
    args = parser.parse_args()
    from layers import events
    from layers.db import session
    from pipeline import visits

    url = _database(args.url)
    started = time.perf_counter()
    _fill(url, args.events)
    _fill_visits(url, args.households)
    with session(url) as s:
        held = s.execute(text("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM key_households), "
                              "(SELECT count(*) FROM visits)")).one()
    print(f"ready in {time.perf_counter() - started:.1f} s: {held[0]} events, {held[1]} key households, {held[2]} visits "
          f"(database {make_url(url).database})")
    settings = visits.VisitSettings()
    load = os.getloadavg()
    print(f"machine load average {load[0]:.1f} on {os.cpu_count()} cores (figures are wall-clock times under that load)")
    now = datetime(2026, 7, 1, tzinfo=UTC)
    periods = {"six months": (datetime(2026, 1, 1, tzinfo=UTC), now),
               "one month": (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))}
    with session(url) as s:
        for label, (since, until) in periods.items():
            for by in ("grid", "community", "town"):
                query = {"by": by, "since": since, "until": until, "now": now}
                for what, run in (("events", partial(events.kpis, s, **query)),
                                  ("events+走访", partial(visits.kpis, s, settings, **query))):
                    times = []
                    for _ in range(args.repeat):
                        t0 = time.perf_counter()
                        rows = run()
                        times.append((time.perf_counter() - t0) * 1000)
                    print(f"KPIs ({what:<9}) per {by:<9} over {label:<10}: {len(rows):3d} rows, median "
                          f"{statistics.median(times):6.1f} ms (max {max(times):.1f} ms; target < 200 ms)")


if __name__ == "__main__":
    main()
