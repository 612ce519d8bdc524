"""The whole 民情 loop in headless Chromium, each person on their own page as they would use it:

a resident reports from a grid popup of the public map on a phone (with a photo) → the grid worker
sees it on /grid (phone) → escalates → the dispatcher, whose /command page is already open, sees it
arrive without reloading and assigns it → the department, its /command page open too, takes and
closes it → the resident sees 已办结 with the tracking code. No console error, no CSP violation, no
request to another host on any page."""

from __future__ import annotations

import io
import os

import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.browser
PHONE = {"width": 360, "height": 740, "mobile": True}
SCREEN = {"width": 1920, "height": 1080}
PASSWORD = "events-browser-password"
DEPARTMENT = "城管执法局(环卫)"  # the 事项清单's department for 环境卫生


def _account(
    demo_db: str, username: str, role: str, *, area_id: int | None = None, department: str | None = None
) -> str:
    from api.security import hash_password
    from layers import users
    from layers.db import session

    with session(demo_db, actor="pytest") as s:
        found = users.by_username(s, username)
        if found is None:
            users.create(
                s,
                username=username,
                password_hash=hash_password(PASSWORD, rounds=4),
                role=role,
                area_id=area_id,
                department=department,
            )
        else:
            users.update(s, found.user_id, area_id=area_id, department=department)
    return username


def _event(demo_db: str, code: str) -> dict:
    engine = create_engine(demo_db)
    with engine.connect() as con:
        row = (
            con.execute(
                text(
                    "SELECT event_id, grid_id, town_id, status, description FROM events "
                    "WHERE tracking_code = :c"
                ),
                {"c": code},
            )
            .mappings()
            .one()
        )
    engine.dispose()
    return dict(row)


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(out, format="PNG")
    return out.getvalue()


def _signed_in(v, path: str, username: str) -> None:
    v.open(f"/login?next={path}", ready=False)
    v.login(username, PASSWORD)
    try:
        v.page.wait_for_function(
            "() => window.minqing && minqing.state.ready === true && minqing.state.live === true",
            timeout=60_000,
        )
    except Exception:
        raise AssertionError(f"{path} not ready: {v.errors} {v.page.text_content('#mq-ev-live')}") from None


def test_report_escalate_assign_close_track(visit, server, demo_db, tmp_path, truth):
    # --- the resident, on a phone: a grid popup on the public map → 我要反映 there -------------------
    grids = truth["grids"]
    inside = grids[grids["worker_name"].notna()].iloc[0].geometry.representative_point()
    resident = visit(**PHONE)
    resident.open("/")
    resident.click_map(inside.y, inside.x)
    resident.page.wait_for_selector(".leaflet-popup .mq-report-link")
    href = resident.page.get_attribute(".leaflet-popup .mq-report-link", "href")
    assert href.startswith("/report?lon=")
    with resident.page.expect_navigation():
        resident.page.click(".leaflet-popup .mq-report-link")
    resident.page.select_option("#category", "sanitation")
    resident.page.fill("#description", "巷口垃圾三天没人清运")
    resident.page.fill("#phone", "13912345678")
    photo = tmp_path / "现场.png"
    photo.write_bytes(_png())
    resident.page.set_input_files("#photos", str(photo))
    resident.page.click("#mq-report-form button[type=submit]")
    resident.page.wait_for_function("() => document.getElementById('mq-report-result').dataset.code")
    code = resident.js("() => document.getElementById('mq-report-result').dataset.code")
    assert "照片 1 张已上传" in resident.page.text_content("#mq-report-result")
    event = _event(demo_db, code)
    assert event["grid_id"] is not None and event["status"] == "reported"

    worker = _account(demo_db, "loop_worker", "grid_worker", area_id=event["grid_id"])
    dispatcher = _account(demo_db, "loop_dispatcher", "dispatcher", area_id=event["town_id"])
    department = _account(demo_db, "loop_department", "department", department=DEPARTMENT)
    item = f'li[data-event-id="{event["event_id"]}"]'

    # --- the command centre and the department already watch their screens ---------------------------
    centre = visit(**SCREEN)
    _signed_in(centre, "/command", dispatcher)
    assert centre.page.query_selector(f"#mq-ev-waiting {item}") is None
    office = visit(width=1440, height=900)
    _signed_in(office, "/command", department)
    assert office.page.query_selector(f"#mq-ev-mine {item}") is None
    assert office.page.query_selector("#mq-ev-kpi") is None  # the KPI ranking is the centre's
    centre.page.wait_for_function("() => minqing.state.basemap === true")  # the offline base map is drawn

    # --- the grid worker, on a phone: sees it among their open events, with the photo; escalates --------
    grid = visit(**PHONE)
    _signed_in(grid, "/grid", worker)
    # nothing wider than the phone
    assert grid.js("() => document.documentElement.scrollWidth") <= PHONE["width"]
    grid.page.click(f"#mq-ev-mine {item} button")
    grid.page.wait_for_function(
        f"() => document.getElementById('mq-ev-detail').dataset.eventId === '{event['event_id']}'"
    )
    grid.page.wait_for_selector("#mq-ev-detail .mq-ev-photos img")
    assert "巷口垃圾三天没人清运" in grid.page.text_content("#mq-ev-detail")
    assert "13912345678" in grid.page.text_content("#mq-ev-detail")  # staff see the reporter's phone
    grid.page.click('#mq-ev-detail button[data-action="escalate"]')
    grid.page.wait_for_function(
        "() => document.getElementById('mq-ev-detail').dataset.status === 'escalated'"
    )

    # --- the dispatcher: the event arrives without reloading; 分拨 to the department -------------------
    centre.page.wait_for_selector(f"#mq-ev-waiting {item}", timeout=10_000)
    assert centre.js("() => performance.getEntriesByType('navigation').length") == 1  # never reloaded
    # on the map: its point among the clustered events; as heat; filtered by category
    centre.page.wait_for_function(
        f"() => minqing.state.events.some(e => e.event_id === {event['event_id']} && "
        "e.status === 'escalated')",
        timeout=10_000,
    )
    centre.page.check('input[name="mq-ev-view"][value="heat"]')
    centre.page.wait_for_selector(".leaflet-heatmap-layer")
    assert not centre.js("() => minqing.state.map.hasLayer(minqing.state.layers.cluster)")
    centre.page.check('input[name="mq-ev-view"][value="points"]')
    centre.page.select_option("#mq-ev-filter-category", "sanitation")
    shown, matching, everything = centre.js(
        "() => [minqing.state.shown, minqing.state.events.filter("
        "e => e.category === 'sanitation').length, minqing.state.events.length]"
    )
    assert shown == matching >= 1 and everything >= shown
    centre.page.select_option("#mq-ev-filter-category", "")
    centre.page.click(f"#mq-ev-waiting {item} button")
    centre.page.wait_for_selector('#mq-ev-detail button[data-action="assign"]')
    centre.page.select_option('#mq-ev-detail select[name="department"]', DEPARTMENT)
    centre.page.click('#mq-ev-detail button[data-action="assign"]')
    centre.page.wait_for_function(
        "() => document.getElementById('mq-ev-detail').dataset.status === 'assigned'"
    )
    centre.page.wait_for_selector(f"#mq-ev-waiting {item}", state="detached", timeout=10_000)

    # --- the department: it arrives live; 签收处置, then 办结 with the result --------------------------
    office.page.wait_for_selector(f"#mq-ev-mine {item}", timeout=10_000)
    office.page.click(f"#mq-ev-mine {item} button")
    office.page.wait_for_selector('#mq-ev-detail button[data-action="handle"]')
    office.page.click('#mq-ev-detail button[data-action="handle"]')
    office.page.wait_for_selector('#mq-ev-detail button[data-action="resolve"]')
    office.page.fill('#mq-ev-detail textarea[name="note"]', "已清运并加密清扫频次")
    # a live update redraws the open card while the result is being typed: the text stays
    office.js(f"() => minqing.state.openEventCard({event['event_id']})")
    note = office.page.input_value('#mq-ev-detail textarea[name="note"]')
    assert note == "已清运并加密清扫频次"
    office.page.click('#mq-ev-detail button[data-action="resolve"]')
    office.page.wait_for_function(
        "() => document.getElementById('mq-ev-detail').dataset.status === 'resolved'", timeout=20_000
    )
    assert _event(demo_db, code)["status"] == "resolved"

    # --- the resident follows the code: 已办结, and nothing of the report itself ------------------------
    resident.page.fill("#code", code)
    resident.page.click("#mq-track-form button[type=submit]")
    resident.page.wait_for_function(
        "() => document.getElementById('mq-track-result').textContent.includes('已办结')"
    )
    shown = resident.page.text_content("#mq-track-result")
    assert "巷口垃圾" not in shown and "13912345678" not in shown and "已清运" not in shown
    for v in (resident, grid, centre, office):
        v.assert_clean()
    if os.environ.get("MQ_SHOTS"):
        centre.shot("command_centre")
        grid.shot("grid_worker")


def test_grid_worker_visits_a_key_household_and_turns_a_need_into_an_event(visit, api_as, demo_db):
    """我的重点户 on the grid worker's phone: overdue first; a visit logged with the phone's location
    (granted to the page) and, in the same tap, the need found becomes an event in their list."""
    engine = create_engine(demo_db)
    with engine.connect() as con:
        home = (
            con.execute(
                text("""
            SELECT r.residence_id, ST_X(r.geom) AS lon, ST_Y(r.geom) AS lat, g.area_id AS grid_id
            FROM residences r JOIN areas g ON g.level = 'grid_small' AND ST_Covers(g.geom, r.geom)
            ORDER BY r.residence_id LIMIT 1""")
            )
            .mappings()
            .one()
        )
    engine.dispose()
    admin = api_as("maps_admin")
    made = admin.post(
        "/households",
        json={
            "residence_id": home["residence_id"],
            "groups": ["elderly_alone"],
            "head_name": "走访测试户",
            "note": "独居",
        },
    )
    assert made.status_code == 201, made.text
    household = made.json()["household_id"]
    worker = _account(demo_db, "visit_worker", "grid_worker", area_id=home["grid_id"])

    v = visit(**PHONE)
    v.context.grant_permissions(["geolocation"])
    v.context.set_geolocation({"longitude": home["lon"] + 0.0001, "latitude": home["lat"]})  # ≈ 10 m away
    _signed_in(v, "/grid", worker)
    row = f'#mq-ev-homes li[data-household-id="{household}"]'
    v.page.wait_for_selector(row)
    flags = v.js("() => minqing.state.households.map(h => h.overdue)")
    assert flags == sorted(flags, reverse=True)  # 走访逾期 first
    v.page.click(f"{row} button")
    v.page.fill('#mq-ev-visit-form textarea[name="needs"]', "老人需要助餐服务")
    v.page.select_option('#mq-ev-visit-form select[name="category"]', "elderly_care")
    v.page.click('#mq-ev-visit-form button[data-kind="event"]')
    v.page.wait_for_function("() => minqing.state.lastVisit && minqing.state.lastVisit.event")
    visit_made = v.js("() => minqing.state.lastVisit")
    assert visit_made["household_id"] == household and visit_made["distance_m"] < 50
    event_id = visit_made["event"]["event_id"]
    v.page.wait_for_selector(f'#mq-ev-mine li[data-event-id="{event_id}"]', timeout=10_000)
    assert "已生成事件" in v.page.text_content("#mq-ev-visit-form .mq-status")
    v.assert_clean()


def test_a_visit_recorded_offline_waits_on_the_phone_and_arrives_once(visit, api_as, demo_db):
    """No connection at the household: the visit is kept in the browser as 待同步 and sent when the
    connection returns, stored once (its client_id: sending it again stores nothing)."""
    engine = create_engine(demo_db)
    with engine.connect() as con:
        home = (
            con.execute(
                text("""
            SELECT r.residence_id, ST_X(r.geom) AS lon, ST_Y(r.geom) AS lat, g.area_id AS grid_id
            FROM residences r JOIN areas g ON g.level = 'grid_small' AND ST_Covers(g.geom, r.geom)
            ORDER BY r.residence_id OFFSET 7 LIMIT 1""")
            )
            .mappings()
            .one()
        )
    made = api_as("maps_admin").post(
        "/households",
        json={"residence_id": home["residence_id"], "groups": ["dibao"], "head_name": "离线走访测试户"},
    )
    assert made.status_code == 201, made.text
    household = made.json()["household_id"]
    worker = _account(demo_db, "offline_worker", "grid_worker", area_id=home["grid_id"])

    def stored() -> list:
        with engine.connect() as con:
            return con.execute(
                text(
                    "SELECT visit_id, client_id, notes, visited_at, created_at FROM visits "
                    "WHERE household_id = :h"
                ),
                {"h": household},
            ).all()

    v = visit(**PHONE)
    v.context.grant_permissions(["geolocation"])
    v.context.set_geolocation({"longitude": home["lon"], "latitude": home["lat"] + 0.0001})  # ≈ 11 m away
    _signed_in(v, "/grid", worker)
    row = f'#mq-ev-homes li[data-household-id="{household}"]'
    v.page.wait_for_selector(row)
    v.context.set_offline(True)  # (this also cuts the page off the test server, as a dead zone would)
    v.page.click(f"{row} button")
    v.page.fill('#mq-ev-visit-form textarea[name="notes"]', "离线登记：身体状况良好")
    v.page.click('#mq-ev-visit-form button[data-kind="visit"]')
    v.page.wait_for_function(
        "() => /待同步/.test(document.querySelector('#mq-ev-visit-form .mq-status').textContent)"
    )
    assert v.page.is_visible(f"{row} .mq-ev-tag-pending") and "待同步 1 条" in v.page.text_content(
        "#mq-ev-pending"
    )
    assert stored() == []
    kept = v.js(
        "() => Object.keys(localStorage).filter(k => k.startsWith('mq-visit-outbox'))"
        ".map(k => JSON.parse(localStorage.getItem(k))).flat()"
    )
    assert [(k["household_id"], k["notes"]) for k in kept] == [(household, "离线登记：身体状况良好")]

    v.context.set_offline(False)  # the connection returns: the page sends it by itself
    v.page.wait_for_function(
        "() => minqing.state.syncedVisits >= 1 && minqing.state.pendingVisits === 0", timeout=30_000
    )
    [(visit_id, client_id, notes, visited_at, created_at)] = stored()
    assert str(client_id) == kept[0]["client_id"] and notes == "离线登记：身体状况良好"
    assert visited_at <= created_at  # the time it was recorded at, not when it arrived
    v.page.wait_for_selector(f"{row}:not(:has(.mq-ev-tag-pending))")
    # sent again (an answer lost on the way): the same visit comes back, nothing new is stored
    again = v.js(
        """(body) => fetch('/visits', {method: 'POST', credentials: 'same-origin',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)})
        .then(r => r.json().then(j => [r.status, j.visit_id]))""",
        kept[0],
    )
    assert again == [200, visit_id]
    assert len(stored()) == 1
    engine.dispose()
    v.errors = [e for e in v.errors if "ERR_INTERNET_DISCONNECTED" not in e]
    v.assert_clean()
