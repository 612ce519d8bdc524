"""The 民情事件 flow as a state machine: allowed steps, roles, notes, 超时 escalation."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from geo.deadlines import BEIJING, load_calendar, load_categories
from geo.events import (
    ACTIONS,
    STATUSES,
    TransitionError,
    TransitionForbidden,
    TransitionInvalid,
    actions_for,
    apply,
    escalate_overdue,
    new_event,
)

DATA = Path(__file__).resolve().parents[2] / "data"
CAL = load_calendar(DATA / "holidays.csv")
CATS = load_categories(DATA / "event_categories.csv")
T0 = datetime(2026, 3, 10, 9, tzinfo=BEIJING)  # Tuesday


def test_on_the_spot_flow():
    state, history = new_event(CATS["sanitation"], reported_at=T0, actor="居民", calendar=CAL)
    assert (state.status, state.level, state.due_at) == ("reported", "网格", T0 + timedelta(hours=24))
    state, h1 = apply(state, "accept", role="grid_worker", actor="gw", at=T0 + timedelta(hours=1))
    state, h2 = apply(
        state, "resolve", role="grid_worker", actor="gw", at=T0 + timedelta(hours=3), note="已清运"
    )
    state, h3 = apply(
        state, "review", role="grid_worker", actor="gw", at=T0 + timedelta(days=1), satisfaction=5
    )
    state, h4 = apply(state, "archive", role="dispatcher", actor="d", at=T0 + timedelta(days=2))
    assert state.status == "archived" and state.result_note == "已清运" and state.satisfaction == 5
    assert state.resolved_at == T0 + timedelta(hours=3) and not state.overdue
    assert [h.action for h in history + [h1, h2, h3, h4]] == [
        "report",
        "accept",
        "resolve",
        "review",
        "archive",
    ]
    assert (h2.from_status, h2.to_status, h2.actor) == ("accepted", "resolved", "gw")


def test_centre_and_department_flow():
    state, _ = new_event(CATS["noise"], reported_at=T0, actor="居民", calendar=CAL)
    state, _ = apply(state, "escalate", role="grid_worker", actor="gw", at=T0)
    assert (state.status, state.level) == ("escalated", "镇街")
    state, h = apply(state, "assign", role="dispatcher", actor="d", at=T0, department="生态环境分局")
    assert (state.status, state.level, state.department, h.department) == (
        "assigned",
        "职能部门",
        "生态环境分局",
        "生态环境分局",
    )
    state, _ = apply(state, "handle", role="department", actor="dep", at=T0)
    with pytest.raises(TransitionForbidden):  # a grid worker does not close a department's case
        apply(state, "resolve", role="grid_worker", actor="gw", at=T0, note="x")
    state, _ = apply(state, "resolve", role="department", actor="dep", at=T0, note="已责令整改")
    assert state.status == "resolved"


def test_town_level_category_goes_to_centre():
    state, history = new_event(CATS["illegal_building"], reported_at=T0, actor="居民", calendar=CAL)
    assert (state.status, state.level) == ("escalated", "镇街")
    assert [h.to_status for h in history] == ["reported", "escalated"]


def test_wrong_status_and_missing_fields():
    state, _ = new_event(CATS["sanitation"], reported_at=T0, actor="r", calendar=CAL)
    with pytest.raises(TransitionError):
        apply(state, "archive", role="admin", actor="a", at=T0)
    with pytest.raises(TransitionError):
        apply(state, "handle", role="department", actor="a", at=T0)
    accepted, _ = apply(state, "accept", role="grid_worker", actor="gw", at=T0)
    with pytest.raises(TransitionInvalid, match="note"):
        apply(accepted, "resolve", role="grid_worker", actor="gw", at=T0, note="  ")
    escalated, _ = apply(state, "escalate", role="grid_worker", actor="gw", at=T0)
    with pytest.raises(TransitionInvalid, match="department"):
        apply(escalated, "assign", role="dispatcher", actor="d", at=T0)
    with pytest.raises(TransitionForbidden):
        apply(escalated, "assign", role="grid_worker", actor="gw", at=T0, department="民政局")
    with pytest.raises(TransitionInvalid):
        apply(state, "teleport", role="admin", actor="a", at=T0)


def test_every_action_role_pair_matches_actions_for():
    # brute force: apply each action from each status with each role; it succeeds iff actions_for lists it
    for status in STATUSES:
        for role in ("grid_worker", "dispatcher", "department", "admin", "planner"):
            allowed = set(actions_for(status, role))
            for action in ACTIONS:
                state, _ = new_event(CATS["sanitation"], reported_at=T0, actor="r", calendar=CAL)
                from dataclasses import replace

                state = replace(state, status=status)
                try:
                    apply(
                        state,
                        action,
                        role=role,
                        actor="x",
                        at=T0,
                        note="n",
                        department="民政局",
                        satisfaction=4,
                    )
                    ok = True
                except (TransitionError, TransitionForbidden):
                    ok = False
                assert ok == (action in allowed), (status, role, action)


def test_overdue_escalates_one_level_at_a_time():
    state, _ = new_event(CATS["sanitation"], reported_at=T0, actor="r", calendar=CAL)  # 24 h, 网格
    assert escalate_overdue(state, CATS["sanitation"], now=T0 + timedelta(hours=23), calendar=CAL) is None
    now = T0 + timedelta(hours=25)
    state, h = escalate_overdue(state, CATS["sanitation"], now=now, calendar=CAL)
    assert (state.level, state.status, state.overdue, state.escalations) == ("村社区", "reported", True, 1)
    assert state.due_at == now + timedelta(hours=24) and h.action == "overdue"
    assert escalate_overdue(state, CATS["sanitation"], now=now + timedelta(hours=1), calendar=CAL) is None
    state, _ = escalate_overdue(state, CATS["sanitation"], now=now + timedelta(hours=25), calendar=CAL)
    assert (state.level, state.status) == ("镇街", "escalated")


def test_closed_events_never_escalate():
    state, _ = new_event(CATS["sanitation"], reported_at=T0, actor="r", calendar=CAL)
    state, _ = apply(state, "accept", role="grid_worker", actor="gw", at=T0)
    state, _ = apply(state, "resolve", role="grid_worker", actor="gw", at=T0, note="ok")
    assert escalate_overdue(state, CATS["sanitation"], now=T0 + timedelta(days=30), calendar=CAL) is None
