"""民情事件: routing on grid boundaries, location by address, the whole flow through the API by role,
ETag/If-Match (concurrent steps: one wins, the other 412), 超时 escalation, the public channel."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from api_fixture import COMMUNITY1, COMMUNITY2, DEPARTMENT, GRID_A, GRID_B, TOWN
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from layers import events as store
from layers.db import session
from layers.errors import Conflict
from pipeline import events as service

_phone = iter(range(13900000000, 13999999999))


@pytest.fixture(scope="module", autouse=True)
def generous_ip_limit(app):
    """The per-IP allowance has its own test (own app); here every test client shares one IP."""
    state = app.state
    saved = getattr(state, "event_settings", None)
    state.event_settings = service.EventSettings(public_per_ip_per_hour=100_000)
    if hasattr(state, "event_report_buckets"):
        del state.event_report_buckets
    yield
    if hasattr(state, "event_report_buckets"):
        del state.event_report_buckets
    if saved is None:
        del state.event_settings
    else:
        state.event_settings = saved


def _report(client, **over) -> dict:
    body = {
        "category": "noise",
        "description": "夜间施工",
        "lon": 113.22,
        "lat": 22.56,
        "phone": str(next(_phone)),
        **over,
    }
    r = client.post("/public/events", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _event_by_code(api_db, code: str) -> int:
    engine = create_engine(api_db)
    with engine.connect() as con:
        event_id = con.execute(
            text("SELECT event_id FROM events WHERE tracking_code = :c"), {"c": code}
        ).scalar_one()
    engine.dispose()
    return event_id


def _step(client, auth, who, event_id, **body):
    seen = client.get(f"/events/{event_id}", headers=auth(who))
    etag = seen.headers["etag"] if seen.status_code == 200 else '"1"'  # an event they cannot see: any ETag
    return client.post(f"/events/{event_id}/transitions", json=body, headers=auth(who, **{"If-Match": etag}))


# --- routing and location ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lon", "lat", "grid", "community"),
    [
        (113.22, 22.6, GRID_A, COMMUNITY1),
        (113.27, 22.6, GRID_B, COMMUNITY1),
        (113.25, 22.6, GRID_A, COMMUNITY1),  # on the shared edge of A and B: the lower area_id
        (113.2, 22.5, GRID_A, COMMUNITY1),  # on the district corner
        (113.35, 22.6, None, COMMUNITY2),  # community 2 has no grids
    ],
)
def test_route(api_db, lon, lat, grid, community):
    with session(api_db) as s:
        routed = store.route(s, lon, lat)
        worker = s.execute(text("SELECT user_id FROM users WHERE username = 'gridworker'")).scalar_one()
    assert (routed["grid_id"], routed["community_id"], routed["town_id"]) == (grid, community, TOWN)
    assert routed["worker_id"] == (worker if grid == GRID_A else None)


def test_boundary_routing_is_independent_of_insertion_order(api_db):
    # brute force over points on the A|B edge: always the lowest area_id among the grids covering the point
    with session(api_db) as s:
        for i in range(11):
            lat = 22.5 + i * 0.02
            covering = s.execute(
                text(
                    "SELECT min(area_id) FROM areas WHERE level = 'grid_small' AND "
                    "ST_Covers(geom, ST_SetSRID(ST_MakePoint(113.25, :y), 4326))"
                ),
                {"y": lat},
            ).scalar_one()
            assert store.route(s, 113.25, lat)["grid_id"] == covering == GRID_A


def test_locate_by_address(api_db):
    with session(api_db) as s:
        house = store.locate_address(s, "澄湾区滨河路1号3楼")
        road = store.locate_address(s, "滨河路边上的排水沟")
        village = store.locate_address(s, "山边村村口")
        assert store.locate_address(s, "完全不存在的地方") is None
    assert (house["layer"], house["lon"], house["lat"]) == ("residences", 113.21, 22.54)
    assert road["layer"] == "place_names" and road["matched"] == "滨河路"
    assert 113.21 <= road["lon"] <= 113.29 and road["lat"] == pytest.approx(22.55)
    assert (village["matched"], village["lon"], village["lat"]) == ("山边村", 113.26, 22.58)


def test_staff_report_by_address_is_routed(client, auth):
    r = client.post(
        "/events",
        json={"category": "road", "description": "路面坑洼", "address": "山边村村口"},
        headers=auth("gridworker"),
    )
    assert r.status_code == 201, r.text
    event = r.json()
    assert (event["grid_id"], event["lon"], event["lat"]) == (GRID_B, 113.26, 22.58)
    # 道路设施 is first handled by a department: straight to the 联勤指挥中心
    assert (event["status"], event["level"]) == ("escalated", "镇街")


def test_unlocatable_and_outside(client, auth):
    r = client.post(
        "/events",
        json={"category": "road", "description": "路面坑洼", "address": "火星基地"},
        headers=auth("gridworker"),
    )
    assert r.status_code == 422 and "未能定位" in r.text
    r = client.post(
        "/public/events", json={"category": "noise", "description": "太吵了", "lon": 114.5, "lat": 22.6}
    )
    assert r.status_code == 422 and "不在本区范围内" in r.text
    r = client.post(
        "/public/events", json={"category": "ufo", "description": "飞碟", "lon": 113.22, "lat": 22.6}
    )
    assert r.status_code == 422 and "事项清单" in r.text


# --- the whole loop ----------------------------------------------------------------------------------


def test_whole_loop_through_the_roles(client, auth, api_db):
    receipt = _report(client, category="elderly_care", description="独居老人需要助餐")
    code = receipt["tracking_code"]
    assert client.get(f"/public/events/{code}").json()["status_zh"] == "已上报"
    event_id = _event_by_code(api_db, code)

    mine = client.get("/events", params={"status": "reported"}, headers=auth("gridworker")).json()["items"]
    assert event_id in [e["event_id"] for e in mine]
    assert all(e["grid_id"] == GRID_A for e in mine)
    # not assigned yet
    assert client.get(f"/events/{event_id}", headers=auth("department")).status_code == 404

    r = _step(client, auth, "gridworker", event_id, action="escalate")
    assert (r.status_code, r.json()["status"], r.json()["level"]) == (200, "escalated", "镇街"), r.text
    assert _step(client, auth, "department", event_id, action="handle").status_code == 404
    r = _step(client, auth, "dispatcher", event_id, action="assign", department=DEPARTMENT)
    assert (r.status_code, r.json()["department"], r.json()["actions"]) == (200, DEPARTMENT, ["assign"]), (
        r.text
    )
    r = _step(client, auth, "department", event_id, action="handle")
    assert r.status_code == 200 and r.json()["actions"] == ["resolve", "return"]
    assert _step(client, auth, "department", event_id, action="resolve").status_code == 422  # no result note
    r = _step(client, auth, "department", event_id, action="resolve", note="已安排长者饭堂送餐")
    assert r.status_code == 200, r.text

    track = client.get(f"/public/events/{code}").json()
    assert track["status_zh"] == "已办结" and track["resolved_at"] is not None
    assert set(track) == {
        "status",
        "status_zh",
        "category_zh",
        "reported_at",
        "due_at",
        "resolved_at",
        "updated_at",
    }

    assert (
        _step(
            client, auth, "dispatcher", event_id, action="review", satisfaction=5, note="回访满意"
        ).status_code
        == 200
    )
    r = _step(client, auth, "dispatcher", event_id, action="archive")
    assert r.status_code == 200 and r.json()["status"] == "archived"
    history = client.get(f"/events/{event_id}", headers=auth("admin")).json()["history"]
    assert [(h["action"], h["actor"]) for h in history] == [
        ("report", "public"),
        ("escalate", "gridworker"),
        ("assign", "dispatcher"),
        ("handle", "department"),
        ("resolve", "department"),
        ("review", "dispatcher"),
        ("archive", "dispatcher"),
    ]
    # the audit log holds every transition with its actor and the row before/after
    audit = client.get(
        "/audit", params={"layer": "events", "object_id": str(event_id), "limit": 100}, headers=auth("admin")
    ).json()["items"]
    statuses = [(a["actor"], (a["after"] or {}).get("status")) for a in reversed(audit)]
    assert statuses == [
        ("anonymous", "reported"),
        ("gridworker", "escalated"),
        ("dispatcher", "assigned"),
        ("department", "handling"),
        ("department", "resolved"),
        ("dispatcher", "reviewed"),
        ("dispatcher", "archived"),
    ]


def test_on_the_spot_by_grid_worker(client, auth, api_db):
    event_id = _event_by_code(api_db, _report(client, category="sanitation")["tracking_code"])
    assert _step(client, auth, "gridworker", event_id, action="accept").status_code == 200
    r = _step(client, auth, "gridworker", event_id, action="resolve", note="已清理")
    assert (r.status_code, r.json()["status"], r.json()["result_note"]) == (200, "resolved", "已清理")


def test_wrong_steps(client, auth, api_db):
    event_id = _event_by_code(api_db, _report(client)["tracking_code"])
    assert _step(client, auth, "gridworker", event_id, action="archive").status_code == 409
    assert _step(client, auth, "dispatcher", event_id, action="accept").status_code == 403
    etag_free = client.post(
        f"/events/{event_id}/transitions", json={"action": "accept"}, headers=auth("gridworker")
    )
    assert etag_free.status_code == 428
    r = _step(client, auth, "gridworker", event_id, action="escalate")
    r = _step(client, auth, "dispatcher", event_id, action="assign", department="不存在局")
    assert r.status_code == 422 and "职能部门" in r.text


def test_stale_etag_gets_412(client, auth, api_db):
    event_id = _event_by_code(api_db, _report(client)["tracking_code"])
    etag = client.get(f"/events/{event_id}", headers=auth("gridworker")).headers["etag"]
    first = client.post(
        f"/events/{event_id}/transitions",
        json={"action": "accept"},
        headers=auth("gridworker", **{"If-Match": etag}),
    )
    second = client.post(
        f"/events/{event_id}/transitions",
        json={"action": "escalate"},
        headers=auth("gridworker", **{"If-Match": etag}),
    )
    assert (first.status_code, second.status_code) == (200, 412)
    assert client.get(f"/events/{event_id}", headers=auth("gridworker")).json()["status"] == "accepted"


def test_concurrent_transitions_one_wins(client, api_db):
    event_id = _event_by_code(api_db, _report(client)["tracking_code"])
    settings = service.EventSettings()
    from layers import users

    with session(api_db) as s:
        worker = users.by_username(s, "gridworker")
        version = store.get(s, event_id)["version"]
    results: dict[str, object] = {}
    started = threading.Barrier(2)

    def run(name: str, action: str, hold: float) -> None:
        try:
            with session(api_db, actor=name) as s:
                started.wait()
                service.transition(s, settings, worker, event_id, action, expected_version=version)
                time.sleep(hold)  # keep the row locked while the other one tries
            results[name] = "ok"
        except Conflict:
            results[name] = 412

    threads = [
        threading.Thread(target=run, args=("a", "accept", 0.5)),
        threading.Thread(target=run, args=("b", "escalate", 0.5)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values(), key=str) == [412, "ok"]
    with session(api_db) as s:
        after = store.get(s, event_id)
        assert after["version"] == version + 1
        assert len(store.history(s, event_id)) == 2  # report + the one step that won


# --- scope ------------------------------------------------------------------------------------------


def test_scopes(client, auth, api_db):
    other_grid = _event_by_code(api_db, _report(client, lon=113.27)["tracking_code"])  # grid B
    assert client.get(f"/events/{other_grid}", headers=auth("gridworker")).status_code == 404
    listed = client.get("/events", params={"grid_id": GRID_B}, headers=auth("gridworker")).json()
    assert listed["numberMatched"] == 0
    assert client.get(f"/events/{other_grid}", headers=auth("dispatcher")).status_code == 200
    assert client.get("/events", headers=auth("gridworker_nogrid")).status_code == 403
    dept = client.get("/events", headers=auth("department")).json()["items"]
    assert all(e["department"] == DEPARTMENT for e in dept)


def test_filters(client, auth, api_db):
    a = _event_by_code(api_db, _report(client, category="security", lon=113.205, lat=22.505)["tracking_code"])
    found = client.get(
        "/events", params={"category": "security", "bbox": "113.2,22.5,113.21,22.51"}, headers=auth("admin")
    ).json()["items"]
    assert [e["event_id"] for e in found] == [a]
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert client.get("/events", params={"since": later}, headers=auth("admin")).json()["numberMatched"] == 0


def test_possible_duplicates(client, auth):
    body = {"category": "facility_damage", "description": "健身器材坏了", "lon": 113.23, "lat": 22.62}
    first = client.post("/events", json=body, headers=auth("gridworker")).json()
    near = client.post("/events", json={**body, "lon": 113.2305}, headers=auth("gridworker")).json()  # ~51 m
    far = client.post("/events", json={**body, "lon": 113.233}, headers=auth("gridworker")).json()  # ~308 m
    other = client.post("/events", json={**body, "category": "sanitation"}, headers=auth("gridworker")).json()
    assert first["event_id"] in near["possible_duplicates"]
    assert first["event_id"] not in far["possible_duplicates"]
    assert first["event_id"] not in other["possible_duplicates"]


# --- 超时 ------------------------------------------------------------------------------------------


def test_overdue_escalation(client, api_db, monkeypatch):
    event_id = _event_by_code(api_db, _report(client, category="sanitation")["tracking_code"])  # 24 h, 网格
    with session(api_db, actor="tester") as s:
        reported = store.get(s, event_id)["reported_at"]
        done = service.escalate_overdue(s, service.EventSettings(), now=reported + timedelta(hours=23))
        assert event_id not in [d["event_id"] for d in done]
        done = service.escalate_overdue(s, service.EventSettings(), now=reported + timedelta(hours=25))
        mine = [d for d in done if d["event_id"] == event_id]
        assert [(d["from_level"], d["to_level"]) for d in mine] == [("网格", "村社区")]
        after = store.get(s, event_id)
        assert after["overdue"] is True and after["escalations"] == 1
        assert after["due_at"] == reported + timedelta(hours=49)
    # the CLI: the deadline of the escalated event is in the future, so the command finds it in time
    from api.cli import app as cli_app
    from layers.db import engine

    monkeypatch.setenv("DATABASE_URL", api_db)
    engine.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["events", "escalate"])
    finally:
        engine.cache_clear()
    assert result.exit_code == 0, result.output
    assert "已升级" in result.output and f"事件 {event_id}:" not in result.output


# --- the public channel -----------------------------------------------------------------------------


def test_honeypot_stores_nothing(client, api_db):
    engine = create_engine(api_db)
    with engine.connect() as con:
        before = con.execute(text("SELECT count(*) FROM events")).scalar_one()
    r = client.post(
        "/public/events",
        json={
            "category": "noise",
            "description": "广告",
            "lon": 113.22,
            "lat": 22.6,
            "website": "http://spam.example",
        },
    )
    assert r.status_code == 400
    with engine.connect() as con:
        assert con.execute(text("SELECT count(*) FROM events")).scalar_one() == before
    engine.dispose()


def test_per_phone_limit(client):
    phone = str(next(_phone))
    codes = [
        client.post(
            "/public/events",
            json={"category": "noise", "description": "吵闹", "lon": 113.22, "lat": 22.6, "phone": phone},
        ).status_code
        for _ in range(4)
    ]
    assert codes == [201, 201, 201, 429]
    assert (
        client.post(
            "/public/events",
            json={"category": "noise", "description": "吵闹", "lon": 113.22, "lat": 22.6, "phone": "12"},
        ).status_code
        == 422
    )


def test_per_ip_limit(api_db):
    from api_fixture import asgi_client, make_settings

    from api.main import create_app

    app = create_app(make_settings(), database_url=api_db)
    app.state.event_settings = service.EventSettings(public_per_ip_per_hour=2)
    with asgi_client(app) as c:
        codes = [
            c.post(
                "/public/events",
                json={"category": "noise", "description": "吵闹", "lon": 113.22, "lat": 22.6},
            ).status_code
            for _ in range(3)
        ]
    assert codes == [201, 201, 429]


def test_tracking_shows_only_status_and_dates(client):
    code = _report(client, description="楼上漏水很久了", phone="13712345678")["tracking_code"]
    r = client.get(f"/public/events/{code.lower()}")
    assert r.status_code == 200
    for secret in ("楼上漏水", "13712345678", "113.22", "public", "grid"):
        assert secret not in r.text
    assert client.get("/public/events/MQAAAAAAAAAA").status_code == 404


def test_categories_are_public(client):
    r = client.get("/events/categories")
    assert r.status_code == 200 and {"环境卫生", "其他"} <= {c["name_zh"] for c in r.json()}


def test_fixture_names(api_db):
    assert make_url(api_db).database.endswith("_api")


def test_department_account_needs_its_department(api_db):
    from layers import users
    from layers.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="department"), session(api_db) as s:
        users.create(s, username="dept.nameless", password_hash="x", role="department")


# --- 回访评价 by the reporter -------------------------------------------------------------------------


def test_the_reporter_reviews_once_after_resolution(client, auth, api_db):
    code = _report(client, category="sanitation")["tracking_code"]
    event_id = _event_by_code(api_db, code)
    early = client.post(f"/public/events/{code}/review", json={"satisfaction": 5})
    assert early.status_code == 403 and "办结后才能评价" in early.json()["error"]["message"]
    assert _step(client, auth, "gridworker", event_id, action="accept").status_code == 200
    assert _step(client, auth, "gridworker", event_id, action="resolve", note="已清理").status_code == 200
    assert client.post(f"/public/events/{code}/review", json={"satisfaction": 6}).status_code == 422
    r = client.post(f"/public/events/{code}/review", json={"satisfaction": 4, "note": "处理及时"})
    assert r.status_code == 201, r.text
    assert r.json() == {"satisfaction": 4, "status": "reviewed", "status_zh": "已回访"}
    again = client.post(f"/public/events/{code}/review", json={"satisfaction": 1})
    assert again.status_code == 403
    seen = client.get(f"/events/{event_id}", headers=auth("admin")).json()
    assert seen["status"] == "reviewed" and seen["satisfaction"] == 4
    last = seen["history"][-1]
    assert (last["action"], last["actor"], last["note"]) == ("review", "reporter", "处理及时")
    assert client.get(f"/public/events/{code}").json()["status_zh"] == "已回访"


def test_only_a_public_reports_code_can_be_reviewed(client, auth):
    staff = client.post(
        "/events",
        json={"category": "noise", "description": "施工", "lon": 113.22, "lat": 22.6},
        headers=auth("gridworker"),
    )
    assert staff.status_code == 201, staff.text
    code = staff.json()["tracking_code"]
    assert client.post(f"/public/events/{code}/review", json={"satisfaction": 5}).status_code == 404
    assert client.post("/public/events/MQNOSUCHCODE/review", json={"satisfaction": 5}).status_code == 404
