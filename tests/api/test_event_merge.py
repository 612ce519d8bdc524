"""合并: a repeated report is offered for merging and merged by a transition (audited, ETag); merged
reports count in no KPI and their tracking code follows the event they joined."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from api_fixture import GRID_A
from sqlalchemy import create_engine, text

WHO = (None, "gridworker", "planner", "officer", "admin", "dispatcher", "department")
_spot = itertools.count()


def _new(client, auth, *, category="sanitation", lon=None, lat=22.61, who="gridworker") -> dict:
    # each test its own spot (0.002° ≈ 200 m apart, more than the 100 m duplicate distance)
    lon = lon if lon is not None else 113.201 + 0.002 * next(_spot)
    r = client.post(
        "/events",
        json={"category": category, "description": "垃圾堆放", "lon": lon, "lat": lat},
        headers=auth(who),
    )
    assert r.status_code == 201, r.text
    return {**r.json(), "etag": r.headers["etag"]}


def _merge(client, auth, event, into, who="gridworker", etag=None):
    return client.post(
        f"/events/{event['event_id']}/transitions",
        json={"action": "merge", "into": into},
        headers=auth(who, **{"If-Match": etag or event["etag"]}),
    )


def test_a_nearby_report_of_the_same_category_is_offered(client, auth):
    first = _new(client, auth)
    near = _new(client, auth, lon=first["lon"] + 0.0005, lat=first["lat"])  # ≈ 51 m east
    other_kind = _new(client, auth, category="noise", lon=first["lon"], lat=first["lat"])
    far = _new(client, auth, lon=first["lon"], lat=first["lat"] + 0.0012)  # ≈ 133 m north
    assert first["event_id"] in near["possible_duplicates"]
    assert first["event_id"] not in other_kind["possible_duplicates"]
    assert first["event_id"] not in far["possible_duplicates"]


def test_merge_is_a_transition_with_etag_and_history(client, auth, api_db):
    first = _new(client, auth)
    again = _new(client, auth, lon=first["lon"] + 0.0003, lat=first["lat"])
    assert first["event_id"] in again["possible_duplicates"]
    r = client.post(
        f"/events/{again['event_id']}/transitions",
        json={"action": "merge", "into": first["event_id"]},
        headers=auth("gridworker"),
    )
    assert r.status_code == 428
    r = _merge(client, auth, again, first["event_id"], etag='"99"')
    assert r.status_code == 412
    r = _merge(client, auth, again, first["event_id"])
    assert r.status_code == 200, r.text
    merged = r.json()
    assert (merged["status"], merged["status_zh"], merged["duplicate_of"]) == (
        "merged",
        "已合并",
        first["event_id"],
    )
    assert merged["history"][-1]["action"] == "merge" and merged["history"][-1]["actor"] == "gridworker"
    assert r.headers["etag"] != again["etag"]
    target = client.get(f"/events/{first['event_id']}", headers=auth("gridworker")).json()
    assert target["status"] == "reported"
    assert any(h["action"] == "merged_in" and str(again["event_id"]) in h["note"] for h in target["history"])
    engine = create_engine(api_db)
    with engine.connect() as con:
        audited = con.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE layer = 'events' AND object_id = :i "
                "AND after->>'status' = 'merged' AND after->>'duplicate_of' = :t"
            ),
            {"i": str(again["event_id"]), "t": str(first["event_id"])},
        ).scalar_one()
    engine.dispose()
    assert audited >= 1
    # a merged event takes no further step, and nothing merges into it
    assert _merge(client, auth, again, first["event_id"], etag=r.headers["etag"]).status_code == 409
    third = _new(client, auth, lon=first["lon"] + 0.0002, lat=first["lat"])
    assert _merge(client, auth, third, again["event_id"]).status_code == 409


def test_merge_refusals_name_the_problem(client, auth):
    first = _new(client, auth)
    noise = _new(client, auth, category="noise", lon=first["lon"], lat=first["lat"])
    r = _merge(client, auth, noise, first["event_id"])
    assert r.status_code == 422 and "same category" in r.text
    r = _merge(client, auth, first, first["event_id"])
    assert r.status_code == 422 and "another event" in r.text
    r = client.post(
        f"/events/{first['event_id']}/transitions",
        json={"action": "merge"},
        headers=auth("gridworker", **{"If-Match": first["etag"]}),
    )
    assert r.status_code == 422 and "into" in r.text
    # an event in another grid, which the grid worker does not see: not found for them
    elsewhere = _new(client, auth, lon=113.27, lat=22.61, who="admin")
    assert _merge(client, auth, first, elsewhere["event_id"]).status_code == 404


@pytest.mark.parametrize("who", WHO)
def test_merge_roles(client, auth, who):
    first = _new(client, auth, who="admin")
    again = _new(client, auth, lon=first["lon"] + 0.0002, lat=first["lat"], who="admin")
    r = _merge(client, auth, again, first["event_id"], who=who)
    expected = {None: 401, "gridworker": 200, "dispatcher": 200, "admin": 200, "department": 404}.get(
        who, 403
    )
    assert r.status_code == expected, r.text


def test_merged_reports_count_once_in_the_kpis(client, auth):
    now = datetime.now(UTC)
    params = {
        "by": "grid",
        "since": (now - timedelta(minutes=5)).isoformat(),
        "until": (now + timedelta(hours=1)).isoformat(),
    }

    def events_in_grid() -> int:
        rows = client.get("/events/kpis", params=params, headers=auth("dispatcher")).json()
        return next((r["events"] for r in rows if r["area_id"] == GRID_A), 0)

    first = _new(client, auth)
    again = _new(client, auth, lon=first["lon"] + 0.0002, lat=first["lat"])
    before = events_in_grid()
    assert _merge(client, auth, again, first["event_id"]).status_code == 200
    assert events_in_grid() == before - 1


def test_the_merged_reports_code_follows_the_event_it_joined(client, auth):
    first = _new(client, auth)
    again = _new(client, auth, lon=first["lon"] + 0.0002, lat=first["lat"])
    assert _merge(client, auth, again, first["event_id"]).status_code == 200
    accepted = client.post(
        f"/events/{first['event_id']}/transitions",
        json={"action": "accept"},
        headers=auth("gridworker", **{"If-Match": first["etag"]}),
    )
    assert accepted.status_code == 200, accepted.text
    tracked = client.get(f"/public/events/{again['tracking_code']}")
    assert tracked.status_code == 200
    assert (tracked.json()["status"], tracked.json()["status_zh"]) == ("accepted", "已受理")
    assert "description" not in tracked.json() and "垃圾" not in tracked.text
