"""重点人群 key households and 走访 visits: every route's allowed and denied roles, the location check,
overdue first, a need becoming an event in one call, 走访完成率 against a brute-force count, and
no household in any anonymous response."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
from api_fixture import COMMUNITY1, GRID_A
from sqlalchemy import create_engine, text

from geo import visits as rules
from pipeline import visits as service
from settings import VisitSettings

WHO = (None, "gridworker", "gridworker_nogrid", "planner", "officer", "admin", "dispatcher", "department")
HOME_A = (1, 113.21, 22.54)  # residence 1, in GRID_A
HOME_B = (3, 113.26, 22.58)  # residence 3, in GRID_B
_names = (f"测试户{i}" for i in itertools.count(1))


def _denied(who: str | None) -> int:
    return 401 if who is None else 403


def _household(client, auth, *, residence=HOME_A[0], who="admin", groups=("elderly_alone",), **over) -> dict:
    body = {"residence_id": residence, "groups": list(groups), "head_name": next(_names), **over}
    r = client.post("/households", json=body, headers=auth(who))
    assert r.status_code == 201, r.text
    return r.json()


def _visit(client, auth, household_id, *, who="gridworker", at=HOME_A, **over):
    body = {"household_id": household_id, "lon": at[1] + 0.0002, "lat": at[2] + 0.0002, **over}
    return client.post("/visits", json=body, headers=auth(who))


# --- roles -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", WHO)
def test_plan_is_for_any_logged_in_role(client, auth, who):
    r = client.get("/visits/plan", headers=auth(who))
    assert r.status_code == (401 if who is None else 200), r.text
    if who:
        assert {g["code"] for g in r.json()} == {
            "dibao",
            "tekun",
            "elderly_alone",
            "disabled",
            "left_behind_child",
        }


HOUSEHOLD_ROLES = {"gridworker": 200, "admin": 200}
"""Who sees key households: their grid's worker and admins (dispatchers only the aggregate rate)."""


@pytest.mark.parametrize("who", WHO)
def test_list_households_roles(client, auth, who):
    _household(client, auth)
    r = client.get("/households", headers=auth(who))
    assert r.status_code == HOUSEHOLD_ROLES.get(who, _denied(who)), r.text
    if r.status_code == 200 and who == "gridworker":
        assert r.json()["items"] and {h["grid_id"] for h in r.json()["items"]} == {GRID_A}


@pytest.mark.parametrize("who", WHO)
def test_register_household_roles(client, auth, who):
    r = client.post(
        "/households",
        json={"residence_id": HOME_A[0], "groups": ["dibao"], "head_name": "登记测试"},
        headers=auth(who),
    )
    assert r.status_code == {"gridworker": 201, "admin": 201}.get(who, _denied(who)), r.text
    if r.status_code == 201:
        assert (r.json()["grid_id"], r.json()["community_id"], r.json()["groups_zh"]) == (
            GRID_A,
            COMMUNITY1,
            ["低保户"],
        )


def test_grid_worker_registers_only_in_own_grid(client, auth):
    r = client.post(
        "/households",
        json={"residence_id": HOME_B[0], "groups": ["dibao"], "head_name": "别的网格"},
        headers=auth("gridworker"),
    )
    assert r.status_code == 403 and "not in your grid" in r.text


@pytest.mark.parametrize("who", WHO)
def test_read_and_change_household_roles(client, auth, who):
    mine = _household(client, auth)
    other = _household(client, auth, residence=HOME_B[0])
    expected = {"gridworker": 200, "admin": 200}.get(who, _denied(who))
    assert client.get(f"/households/{mine['household_id']}", headers=auth(who)).status_code == expected
    r = client.patch(f"/households/{mine['household_id']}", json={"note": "改备注"}, headers=auth(who))
    assert r.status_code == expected, r.text
    # another grid's household: not found for the grid worker
    other_expected = {"gridworker": 404, "admin": 200}.get(who, _denied(who))
    assert client.get(f"/households/{other['household_id']}", headers=auth(who)).status_code == other_expected
    r = client.patch(f"/households/{other['household_id']}", json={"note": "改备注"}, headers=auth(who))
    assert r.status_code == other_expected


@pytest.mark.parametrize("who", WHO)
def test_log_and_list_visits_roles(client, auth, who):
    mine = _household(client, auth)
    r = _visit(client, auth, mine["household_id"], who=who, notes="角色测试")
    assert r.status_code == {"gridworker": 201, "admin": 201}.get(who, _denied(who)), r.text
    r = client.get("/visits", params={"household_id": mine["household_id"]}, headers=auth(who))
    assert r.status_code == HOUSEHOLD_ROLES.get(who, _denied(who)), r.text
    other = _household(client, auth, residence=HOME_B[0])
    r = _visit(client, auth, other["household_id"], who=who, at=HOME_B)
    assert r.status_code == {"gridworker": 404, "admin": 201}.get(who, _denied(who)), r.text


@pytest.mark.parametrize("who", WHO)
def test_need_to_event_roles(client, auth, who):
    mine = _household(client, auth)
    visit = _visit(client, auth, mine["household_id"], needs="需要助浴")
    assert visit.status_code == 201, visit.text
    r = client.post(
        f"/visits/{visit.json()['visit_id']}/event", json={"category": "elderly_care"}, headers=auth(who)
    )
    assert r.status_code == {"gridworker": 201, "admin": 201}.get(who, _denied(who)), r.text


# --- the location check ----------------------------------------------------------------------------


def test_visit_far_from_the_household_is_refused(client, auth):
    mine = _household(client, auth)
    near = _visit(client, auth, mine["household_id"])
    assert near.status_code == 201, near.text
    # 0.0002° in each direction at 22.5°N: about 29 m (a hand-worked bound: 20-40 m)
    assert 20 < near.json()["distance_m"] < 40
    far = client.post(
        "/visits",
        json={"household_id": mine["household_id"], "lon": HOME_A[1] + 0.01, "lat": HOME_A[2]},
        headers=auth("gridworker"),
    )
    assert far.status_code == 422
    message = far.json()["error"]["message"]
    assert "超过允许的 300 米" in message and "定位点距该户" in message
    metres = float(message.split("定位点距该户 ")[1].split(" 米")[0])
    assert 950 < metres < 1080  # 0.01° of longitude at 22.54°N ≈ 1028 m


def test_future_visit_is_refused(client, auth):
    mine = _household(client, auth)
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = _visit(client, auth, mine["household_id"], visited_at=later)
    assert r.status_code == 422 and "晚于当前时间" in r.text


def test_unknown_group_names_the_plan(client, auth):
    r = client.post(
        "/households", json={"residence_id": 1, "groups": ["vip"], "head_name": "某某"}, headers=auth("admin")
    )
    assert r.status_code == 422 and "走访计划" in r.text and "dibao" in r.text


# --- overdue first ---------------------------------------------------------------------------------


def test_households_listed_overdue_first_by_next_due(client, auth, api_db):
    now = datetime.now(UTC)
    weekly = _household(
        client, auth, groups=["elderly_alone"], registered_at=(now - timedelta(days=30)).isoformat()
    )
    monthly = _household(client, auth, groups=["dibao"], registered_at=(now - timedelta(days=20)).isoformat())
    both = _household(
        client, auth, groups=["dibao", "elderly_alone"], registered_at=(now - timedelta(days=5)).isoformat()
    )
    visited = _visit(client, auth, weekly["household_id"], visited_at=(now - timedelta(days=2)).isoformat())
    assert visited.status_code == 201
    items = client.get("/households", params={"limit": 1000}, headers=auth("gridworker")).json()["items"]
    # ground truth: each household's next due moment from its own rows and the plan, by geo.visits
    plan = service.plan(VisitSettings())
    engine = create_engine(api_db)
    with engine.connect() as con:
        rows = con.execute(
            text(
                "SELECT h.household_id, h.groups, h.registered_at, max(v.visited_at) FROM key_households h "
                "LEFT JOIN visits v USING (household_id) WHERE h.grid_id = :g AND h.active "
                "GROUP BY h.household_id"
            ),
            {"g": GRID_A},
        ).all()
    engine.dispose()
    due = {r[0]: rules.next_due(r[2], r[3], rules.interval_days(r[1], plan)) for r in rows}
    assert [h["household_id"] for h in items] == sorted(due, key=lambda i: (due[i], i))
    listed = {h["household_id"]: h for h in items}
    assert listed[weekly["household_id"]]["overdue"] is False  # visited 2 days ago, weekly
    assert listed[monthly["household_id"]]["overdue"] is False  # registered 20 days ago, monthly
    assert listed[both["household_id"]]["every_days"] == 7  # the shorter interval of its two groups
    flags = [h["overdue"] for h in items]
    assert flags == sorted(flags, reverse=True)  # every overdue one before the others
    only = client.get(
        "/households", params={"overdue": "true", "limit": 1000}, headers=auth("gridworker")
    ).json()
    assert all(h["overdue"] for h in only["items"]) and only["numberMatched"] == sum(flags)


# --- a need found becomes an event -----------------------------------------------------------------


def test_need_becomes_an_event_in_the_same_call(client, auth):
    mine = _household(client, auth, groups=["elderly_alone"])
    r = _visit(
        client,
        auth,
        mine["household_id"],
        notes="独自在家",
        needs="需要助餐服务",
        event_category="elderly_care",
    )
    assert r.status_code == 201, r.text
    visit = r.json()
    event = visit["event"]
    assert visit["event_id"] == event["event_id"]
    assert (event["category"], event["grid_id"], event["source"]) == ("elderly_care", GRID_A, "staff")
    assert (event["lon"], event["lat"]) == (HOME_A[1], HOME_A[2])  # at the household, not where the phone was
    assert "需要助餐服务" in event["description"]
    seen = client.get(f"/events/{event['event_id']}", headers=auth("gridworker"))
    assert seen.status_code == 200
    again = client.post(
        f"/visits/{visit['visit_id']}/event", json={"category": "elderly_care"}, headers=auth("gridworker")
    )
    assert again.status_code == 400 and again.headers["location"] == f"/events/{event['event_id']}"


def test_need_to_event_later_and_without_a_need(client, auth):
    mine = _household(client, auth)
    quiet = _visit(client, auth, mine["household_id"], notes="一切正常").json()
    r = client.post(
        f"/visits/{quiet['visit_id']}/event", json={"category": "hardship_aid"}, headers=auth("gridworker")
    )
    assert r.status_code == 422 and "没有记录需求" in r.text
    r = client.post(
        f"/visits/{quiet['visit_id']}/event",
        json={"category": "hardship_aid", "description": "临时救助申请"},
        headers=auth("gridworker"),
    )
    assert r.status_code == 201 and r.json()["category"] == "hardship_aid"
    assert (
        client.get(f"/visits?household_id={mine['household_id']}", headers=auth("gridworker")).json()[
            "items"
        ][0]["event_id"]
        == r.json()["event_id"]
    )
    r = _visit(client, auth, mine["household_id"], event_category="elderly_care")
    assert r.status_code == 422 and "需求" in r.text


# --- 走访完成率 -------------------------------------------------------------------------------------


def test_visit_rate_in_kpis_matches_a_brute_force_count(client, auth, api_db):
    since, until = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    weekly = _household(client, auth, groups=["elderly_alone"], registered_at="2026-02-01T00:00:00+00:00")
    late = _household(client, auth, groups=["dibao"], registered_at="2026-03-10T00:00:00+00:00")
    for day in (2, 3, 4, 5, 6, 7, 8, 9, 20):  # 9 visits, 4 owed (31 days / 7): counts 4
        assert (
            _visit(
                client, auth, weekly["household_id"], visited_at=f"2026-03-{day:02d}T10:00:00+00:00"
            ).status_code
            == 201
        )
    assert (
        _visit(client, auth, late["household_id"], visited_at="2026-02-28T10:00:00+00:00").status_code == 201
    )
    rows = client.get(
        "/events/kpis",
        params={"by": "grid", "since": since.isoformat(), "until": until.isoformat()},
        headers=auth("dispatcher"),
    ).json()
    engine = create_engine(api_db)
    with engine.connect() as con:
        households = con.execute(
            text(
                "SELECT household_id, groups, registered_at FROM key_households WHERE grid_id = :g AND active"
            ),
            {"g": GRID_A},
        ).all()
        visits = con.execute(text("SELECT household_id, visited_at FROM visits")).all()
    engine.dispose()
    plan = service.plan(VisitSettings())
    pairs = []
    for hid, groups, registered in households:
        owed = rules.owed(registered, since, until, rules.interval_days(groups, plan))
        if owed:
            pairs.append((owed, sum(1 for v, at in visits if v == hid and since <= at < until)))
    grid = next(r for r in rows if r["area_id"] == GRID_A)
    assert grid["visits_owed"] == sum(p[0] for p in pairs)
    assert grid["visit_rate"] == pytest.approx(rules.completion(pairs))
    assert (4, 9) in pairs  # the weekly household: 9 made, 4 owed
    # the late one owes nothing yet
    assert rules.owed(datetime(2026, 3, 10, tzinfo=UTC), since, until, 30) == 0


@pytest.mark.parametrize("who", WHO)
def test_kpis_roles_unchanged(client, auth, who):
    r = client.get(
        "/events/kpis",
        params={"since": "2026-01-01T00:00:00+00:00", "until": "2026-07-01T00:00:00+00:00"},
        headers=auth(who),
    )
    assert r.status_code == {"admin": 200, "dispatcher": 200}.get(who, _denied(who)), r.text


# --- privacy ---------------------------------------------------------------------------------------


def test_no_household_in_anonymous_responses(client, auth):
    secret = "隐私户主甲乙"
    _household(client, auth, head_name=secret, note="低保隐私备注")
    for path in (
        "/collections",
        "/collections/residences/items",
        "/collections/grids/items",
        "/collections/areas/items",
        "/households",
        "/visits",
        "/visits/plan",
        "/reverse?lon=113.21&lat=22.54",
        "/placenames/search?q=滨河",
    ):
        r = client.get(path)
        assert secret not in r.text and "低保隐私备注" not in r.text, path
        assert "key_households" not in r.text and "head_name" not in r.text, path


# --- offline visits: sent again until answered, stored once ---------------------------------------


def _rows_with(api_db, client_id: str) -> tuple[int, int]:
    engine = create_engine(api_db)
    with engine.connect() as con:
        row = con.execute(
            text("SELECT count(*), count(event_id) FROM visits WHERE client_id = :c"), {"c": client_id}
        ).one()
    engine.dispose()
    return tuple(row)


def test_a_visit_recorded_offline_and_sent_twice_is_stored_once(client, auth, api_db):
    import uuid

    mine = _household(client, auth)
    client_id = str(uuid.uuid4())
    at = (datetime.now(UTC) - timedelta(hours=3)).isoformat()  # recorded offline three hours ago
    first = _visit(
        client,
        auth,
        mine["household_id"],
        client_id=client_id,
        visited_at=at,
        notes="离线登记",
        needs="需要助餐服务",
        event_category="elderly_care",
    )
    assert first.status_code == 201, first.text
    again = _visit(
        client,
        auth,
        mine["household_id"],
        client_id=client_id,
        visited_at=at,
        notes="离线登记",
        needs="需要助餐服务",
        event_category="elderly_care",
    )
    assert again.status_code == 200, again.text
    assert again.json()["visit_id"] == first.json()["visit_id"] and again.json()["client_id"] == client_id
    assert again.json()["event"]["event_id"] == first.json()["event"]["event_id"]
    assert datetime.fromisoformat(again.json()["visited_at"]) == datetime.fromisoformat(at)
    assert _rows_with(api_db, client_id) == (1, 1)  # one visit, one event
    other = _visit(client, auth, mine["household_id"], who="admin", client_id=client_id)
    assert other.status_code == 400 and "client_id" in other.text  # someone else's id: refused, not shown
    # the other visit's number is not shown (the refused client_id itself may contain its digits)
    shown = other.text.replace(client_id, "")
    assert re.search(rf"(?<!\d){first.json()['visit_id']}(?!\d)", shown) is None, shown
    assert _visit(client, auth, mine["household_id"], client_id="not-a-uuid").status_code == 422
