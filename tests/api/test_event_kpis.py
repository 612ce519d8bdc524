"""KPIs of 民情事件 per grid, community and town against hand-made events (hand-worked figures)."""

from __future__ import annotations

from datetime import datetime, timedelta

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
    (GRID_A, COMMUNITY1, "archived", 24, 10, False, 5),    # on time, satisfied
    (GRID_A, COMMUNITY1, "reviewed", 24, 30, True, 3),     # late (超时), not satisfied
    (GRID_A, COMMUNITY1, "accepted", 24, None, False, None),  # open, past due at NOW
    (GRID_A, COMMUNITY1, "resolved", 24, 20, False, None),  # on time, not rated
    (GRID_B, COMMUNITY1, "handling", 24 * 60, None, False, None),  # open, not yet due at NOW
    (None, COMMUNITY2, "resolved", 24, 2, False, 4),        # outside every grid
]


@pytest.fixture(scope="module")
def kpi_events(api_db):
    with session(api_db, actor="tester") as s:
        for i, (grid, community, status, due_h, resolved_h, overdue, sat) in enumerate(EVENTS):
            s.execute(text(
                "INSERT INTO events (tracking_code, category, description, status, level, source, grid_id, "
                "community_id, town_id, reported_by, reported_at, due_at, overdue, resolved_at, satisfaction, geom) "
                "VALUES (:code, 'other', 'kpi', :st, '网格', 'staff', :g, :c, :t, 'tester', :at, :due, :o, :res, :sat, "
                "ST_SetSRID(ST_MakePoint(113.22, 22.6), 4326))"),
                {"code": f"KPI{i:09d}", "st": status, "g": grid, "c": community, "t": TOWN, "at": T,
                 "due": T + due_h * H, "o": overdue, "res": None if resolved_h is None else T + resolved_h * H,
                 "sat": sat})
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
    # 6 events; due 5 (all but the GRID_B one); on time 3; closed 4; mean (10+30+20+2)/4 = 15.5; rated 3, satisfied 2
    assert (town["events"], town["due"], town["on_time"], town["closed"]) == (6, 5, 3, 4)
    assert town["mean_hours_to_resolve"] == pytest.approx(15.5)
    assert town["satisfied_rate"] == pytest.approx(2 / 3)


def test_unknown_level(kpi_events):
    with session(kpi_events) as s, pytest.raises(ValueError, match="grid"):
        store.kpis(s, by="street", since=T, until=T, now=NOW)


@pytest.mark.parametrize("who", [None, "gridworker", "planner", "officer", "admin", "dispatcher", "department"])
def test_kpi_route_roles(client, auth, kpi_events, who):
    r = client.get("/events/kpis", params={"by": "town", "since": (T - H).isoformat(), "until": (T + H).isoformat()},
                   headers=auth(who))
    assert r.status_code == {None: 401, "admin": 200, "dispatcher": 200}.get(who, 403), r.text
    if r.status_code == 200:
        assert [(k["area_id"], k["events"], k["closed"]) for k in r.json()] == [(TOWN, 6, 4)]
