"""KPIs of 民情事件 per grid, community and town against hand-made events (hand-worked figures)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from api_fixture import COMMUNITY1, COMMUNITY2, GRID_A, GRID_B, TOWN
from sqlalchemy import text

from geo.deadlines import BEIJING
from layers import events as store
from layers.db import session

T = datetime(2020, 6, 1, 9, tzinfo=BEIJING)  # long before every other test's events
NOW = datetime(2020, 7, 1, tzinfo=BEIJING)
H = timedelta(hours=1)

EVENTS = [
    # grid, community, status, due after (h), resolved after (h) or None, overdue flag, satisfaction
    (GRID_A, COMMUNITY1, "archived", 24, 10, False, 5),  # on time, satisfied
    (GRID_A, COMMUNITY1, "reviewed", 24, 30, True, 3),  # late (超时), not satisfied
    (GRID_A, COMMUNITY1, "accepted", 24, None, False, None),  # open, past due at NOW
    (GRID_A, COMMUNITY1, "resolved", 24, 20, False, None),  # on time, not rated
    (GRID_B, COMMUNITY1, "handling", 24 * 60, None, False, None),  # open, not yet due at NOW
    (None, COMMUNITY2, "resolved", 24, 2, False, 4),  # outside every grid
]


@pytest.fixture(scope="module")
def kpi_events(api_db):
    with session(api_db, actor="tester") as s:
        for i, (grid, community, status, due_h, resolved_h, overdue, sat) in enumerate(EVENTS):
            s.execute(
                text(
                    "INSERT INTO events (tracking_code, category, description, status, level, source, "
                    "grid_id, community_id, town_id, reported_by, reported_at, due_at, overdue, "
                    "resolved_at, satisfaction, geom) VALUES (:code, 'other', 'kpi', :st, '网格', 'staff', "
                    ":g, :c, :t, 'tester', :at, :due, :o, :res, :sat, "
                    "ST_SetSRID(ST_MakePoint(113.22, 22.6), 4326))"
                ),
                {
                    "code": f"KPI{i:09d}",
                    "st": status,
                    "g": grid,
                    "c": community,
                    "t": TOWN,
                    "at": T,
                    "due": T + due_h * H,
                    "o": overdue,
                    "res": None if resolved_h is None else T + resolved_h * H,
                    "sat": sat,
                },
            )
    yield api_db
    with session(api_db, actor="tester") as s:
        s.execute(text("DELETE FROM events WHERE tracking_code LIKE 'KPI%'"))


def _kpis(url, by):
    with session(url) as s:
        return {r["area_id"]: r for r in store.kpis(s, by=by, since=T - H, until=T + H, now=NOW)}


def test_grid_kpis(kpi_events):
    grids = _kpis(kpi_events, "grid")
    assert set(grids) == {GRID_A, GRID_B}
    a = grids[GRID_A]
    # due: 3 resolved + 1 open past due = 4; on time: 2 → 0.5; closed 3 of 4; mean (10+30+20)/3 = 20 h;
    # rated 2, satisfied 1 → 0.5
    assert (a["events"], a["due"], a["on_time"], a["closed"]) == (4, 4, 2, 3)
    assert a["on_time_rate"] == pytest.approx(0.5) and a["closed_rate"] == pytest.approx(0.75)
    assert a["mean_hours_to_resolve"] == pytest.approx(20.0) and a["satisfied_rate"] == pytest.approx(0.5)
    b = grids[GRID_B]
    # nothing due yet, nothing resolved or rated: no rate rather than 0 %
    assert (b["events"], b["on_time_rate"], b["closed_rate"]) == (1, None, 0.0)
    assert b["mean_hours_to_resolve"] is None and b["satisfied_rate"] is None
    assert list(grids) == [GRID_A, GRID_B]  # ranked: a known rate before none


def test_community_and_town_kpis(kpi_events):
    communities = _kpis(kpi_events, "community")
    assert communities[COMMUNITY1]["events"] == 5 and communities[COMMUNITY2]["on_time_rate"] == 1.0
    assert list(communities) == [COMMUNITY2, COMMUNITY1]
    town = _kpis(kpi_events, "town")[TOWN]
    # 6 events; due 5 (all but the GRID_B one); on time 3; closed 4; mean (10+30+20+2)/4 = 15.5; rated 3,
    # satisfied 2
    assert (town["events"], town["due"], town["on_time"], town["closed"]) == (6, 5, 3, 4)
    assert town["mean_hours_to_resolve"] == pytest.approx(15.5)
    assert town["satisfied_rate"] == pytest.approx(2 / 3)


def test_unknown_level(kpi_events):
    with session(kpi_events) as s, pytest.raises(ValueError, match="grid"):
        store.kpis(s, by="street", since=T, until=T, now=NOW)


@pytest.mark.parametrize(
    "who", [None, "gridworker", "planner", "officer", "admin", "dispatcher", "department"]
)
def test_kpi_route_roles(client, auth, kpi_events, who):
    r = client.get(
        "/events/kpis",
        params={"by": "town", "since": (T - H).isoformat(), "until": (T + H).isoformat()},
        headers=auth(who),
    )
    assert r.status_code == {None: 401, "admin": 200, "dispatcher": 200}.get(who, 403), r.text
    if r.status_code == 200:
        assert [(k["area_id"], k["events"], k["closed"]) for k in r.json()] == [(TOWN, 6, 4)]


# --- the daily sums (event_kpi_days) against counting every event --------------------------------

D0 = datetime(2019, 3, 1, tzinfo=BEIJING)  # a month of events no other test writes
STATUSES = ("reported", "accepted", "escalated", "handling", "resolved", "reviewed", "archived", "merged")


def _brute_force(url, by, since, until, now) -> dict[int, dict]:
    """The KPIs counted event by event in Python from every row of the events table."""
    column = {"grid": "grid_id", "community": "community_id", "town": "town_id"}[by]
    with session(url) as s:
        rows = (
            s.execute(
                text(
                    f"SELECT {column} AS area, status, reported_at, due_at, overdue, resolved_at, "
                    "satisfaction FROM events"
                )
            )
            .mappings()
            .all()
        )
    out: dict[int, dict] = {}
    for r in rows:
        if r["area"] is None or r["status"] == "merged" or not since <= r["reported_at"] < until:
            continue
        k = out.setdefault(
            r["area"],
            {"events": 0, "due": 0, "on_time": 0, "closed": 0, "rated": 0, "satisfied": 0, "hours": []},
        )
        k["events"] += 1
        done = r["resolved_at"] is not None
        k["due"] += done or r["due_at"] < now
        k["on_time"] += done and not r["overdue"] and r["resolved_at"] <= r["due_at"]
        k["closed"] += r["status"] in ("resolved", "reviewed", "archived")
        k["rated"] += r["satisfaction"] is not None
        k["satisfied"] += (r["satisfaction"] or 0) >= 4
        if done:
            k["hours"].append((r["resolved_at"] - r["reported_at"]).total_seconds() / 3600)
    return out


@pytest.fixture(scope="module")
def many_events(api_db):
    """300 events over 20 days with random flows, then changed, merged and deleted by later statements (the
    daily sums follow each statement)."""
    rng = random.Random(16)
    with session(api_db, actor="tester") as s:
        for i in range(300):
            at = D0 + timedelta(minutes=rng.randrange(20 * 24 * 60))
            status = rng.choice(STATUSES)
            done = status in ("resolved", "reviewed", "archived")
            grid = rng.choice([GRID_A, GRID_B, None])
            s.execute(
                text(
                    "INSERT INTO events (tracking_code, category, description, status, level, source, "
                    "grid_id, community_id, town_id, reported_by, reported_at, due_at, overdue, "
                    "resolved_at, satisfaction, geom) VALUES (:code, 'other', 'sum', :st, '网格', 'staff', "
                    ":g, :c, :t, 'tester', :at, :due, :o, :res, :sat, "
                    "ST_SetSRID(ST_MakePoint(113.22, 22.6), 4326))"
                ),
                {
                    "code": f"SUM{i:09d}",
                    "st": status,
                    "g": grid,
                    "c": COMMUNITY1 if grid else COMMUNITY2,
                    "t": TOWN,
                    "at": at,
                    "due": at + timedelta(hours=rng.choice([24, 72, 240])),
                    "o": rng.random() < 0.2,
                    "res": at + timedelta(minutes=rng.randrange(1, 6000)) if done else None,
                    "sat": rng.choice([None, 1, 3, 4, 5]) if status in ("reviewed", "archived") else None,
                },
            )
        # later steps: 30 open ones 办结 in one statement, a few merged, a few deleted, one moved a day
        s.execute(
            text(
                "UPDATE events SET status = 'resolved', resolved_at = reported_at + interval '50 hours' "
                "WHERE event_id IN (SELECT event_id FROM events WHERE tracking_code LIKE 'SUM%' AND status "
                "IN ('reported', 'accepted', 'handling') ORDER BY event_id LIMIT 30)"
            )
        )
        s.execute(
            text(
                "UPDATE events SET status = 'merged' WHERE event_id IN (SELECT event_id FROM events WHERE "
                "tracking_code LIKE 'SUM%' AND status = 'escalated' ORDER BY event_id LIMIT 5)"
            )
        )
        s.execute(
            text(
                "DELETE FROM events WHERE event_id IN (SELECT event_id FROM events WHERE tracking_code "
                "LIKE 'SUM%' AND status = 'archived' ORDER BY event_id LIMIT 7)"
            )
        )
        s.execute(
            text(
                "UPDATE events SET reported_at = reported_at - interval '1 day', grid_id = :g "
                "WHERE tracking_code = 'SUM000000003'"
            ),
            {"g": GRID_B},
        )
    yield api_db
    with session(api_db, actor="tester") as s:
        s.execute(text("DELETE FROM events WHERE tracking_code LIKE 'SUM%'"))


PERIODS = [
    (D0, D0 + timedelta(days=20)),  # whole days only
    (D0 + timedelta(hours=7, minutes=13), D0 + timedelta(days=12, hours=15)),  # part days at both ends
    (D0 + timedelta(days=3, hours=2), D0 + timedelta(days=3, hours=20)),  # inside one day
    (D0 + timedelta(days=2, hours=14), D0 + timedelta(days=3, hours=10)),  # across one midnight, no whole day
    (datetime(2019, 3, 4, 16, tzinfo=UTC), datetime(2019, 3, 9, 16, tzinfo=UTC)),  # UTC, Beijing midnights
]


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("by", ["grid", "community", "town"])
def test_kpis_equal_counting_every_event(many_events, by, period):
    since, until = period
    now = D0 + timedelta(days=9, hours=5)  # some open events past their deadline, some not yet
    truth = _brute_force(many_events, by, since, until, now)
    with session(many_events) as s:
        got = {r["area_id"]: r for r in store.kpis(s, by=by, since=since, until=until, now=now)}
    assert set(got) == set(truth) and truth
    for area, k in truth.items():
        r = got[area]
        assert (r["events"], r["due"], r["on_time"], r["closed"], r["rated"], r["satisfied"]) == (
            k["events"],
            k["due"],
            k["on_time"],
            k["closed"],
            k["rated"],
            k["satisfied"],
        ), area
        assert r["mean_hours_to_resolve"] == (
            pytest.approx(sum(k["hours"]) / len(k["hours"]), rel=1e-12) if k["hours"] else None
        )


def test_daily_sums_hold_every_event_and_roll_back_with_a_change(many_events):
    from sqlalchemy import create_engine

    engine = create_engine(many_events)
    try:
        with engine.connect() as con:
            held = con.execute(text("SELECT sum(events) FROM event_kpi_days")).scalar_one()
            assert (
                held == con.execute(text("SELECT count(*) FROM events WHERE status <> 'merged'")).scalar_one()
            )
            con.execute(text("UPDATE events SET status = 'merged' WHERE tracking_code LIKE 'SUM%'"))
            assert con.execute(text("SELECT sum(events) FROM event_kpi_days")).scalar_one() < held
            con.rollback()
            assert con.execute(text("SELECT sum(events) FROM event_kpi_days")).scalar_one() == held
    finally:
        engine.dispose()
