"""Each role's allowed and denied actions, table-driven (docs/API_CONTRACT.md roles)."""

from __future__ import annotations

import itertools

import pytest
from api_fixture import COMMUNITY2, GRID_MIDDLE

WHO = (None, "gridworker", "planner", "officer", "admin", "dispatcher", "department")
_counter = itertools.count(1)


def _square(x: float, y: float) -> dict:
    d = 0.002
    return {"type": "Polygon", "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]}


def body_for(collection: str) -> dict:
    n = next(_counter)
    geometry = {"type": "Point", "coordinates": [113.35, 22.6]}
    props = {
        "facilities": {"type_code": "refuse_station", "name": f"收集站{n}"},
        "residences": {"area_id": COMMUNITY2, "households": 8},
        "place_names": {"name": f"测试巷{n}", "category": "lane"},
        "grids": {
            "level": "grid_small",
            "code": f"ROLE-G{n}",
            "name": f"角色网格{n}",
            "parent_id": GRID_MIDDLE,
        },
        "areas": {"level": "community", "code": f"ROLE-A{n}", "name": f"角色社区{n}", "parent_id": 10},
    }[collection]
    if collection in ("grids", "areas"):
        geometry = _square(113.3 + n * 0.003 % 0.09, 22.6)
    return {"type": "Feature", "geometry": geometry, "properties": props}


# (collection, roles that may create/replace/delete)
WRITERS = {
    "facilities": {"planner", "admin"},
    "residences": {"planner", "admin"},
    "place_names": {"officer", "admin"},
    "grids": {"admin"},
    "areas": {"admin"},
}


@pytest.mark.parametrize(("collection", "who"), list(itertools.product(WRITERS, WHO)))
def test_create(client, auth, collection, who):
    r = client.post(f"/collections/{collection}/items", json=body_for(collection), headers=auth(who))
    expected = 201 if who in WRITERS[collection] else (401 if who is None else 403)
    assert r.status_code == expected, r.text


@pytest.mark.parametrize(("collection", "who"), list(itertools.product(WRITERS, WHO)))
def test_replace_and_delete(client, auth, collection, who):
    created = client.post(
        f"/collections/{collection}/items", json=body_for(collection), headers=auth("admin")
    )
    assert created.status_code == 201, created.text
    url = f"/collections/{collection}/items/{created.json()['id']}"
    etag = created.headers["etag"]
    allowed = who in WRITERS[collection]
    denied = 401 if who is None else 403
    body = body_for(collection)
    if collection == "place_names":  # a new name goes through POST /placenames/{id}/rename (approval)
        body["properties"]["name"] = created.json()["properties"]["name"]
    put = client.put(url, json=body, headers=auth(who, **{"If-Match": etag}))
    assert put.status_code == (200 if allowed else denied), put.text
    if allowed:
        etag = put.headers["etag"]
    delete = client.delete(url, headers=auth(who, **{"If-Match": etag}))
    # a registered place name keeps its history: it is retired (status historical), never deleted
    deleted = 409 if collection == "place_names" else 204
    assert delete.status_code == (deleted if allowed else denied), delete.text


READS = [
    # (path, who → expected status)
    ("/collections/facilities/items", dict.fromkeys(WHO, 200)),
    ("/collections/grids/items", dict.fromkeys(WHO, 200)),
    ("/collections/place_names/items", dict.fromkeys(WHO, 200)),
    ("/collections/coverage/items", dict.fromkeys(WHO, 200)),
    (
        "/collections/residences/items",
        {
            None: 401,
            "gridworker": 200,
            "planner": 200,
            "officer": 403,
            "admin": 200,
            "dispatcher": 403,
            "department": 403,
        },
    ),
    (
        "/users",
        {
            None: 401,
            "gridworker": 403,
            "planner": 403,
            "officer": 403,
            "admin": 200,
            "dispatcher": 403,
            "department": 403,
        },
    ),
    (
        "/users/me",
        {
            None: 401,
            "gridworker": 200,
            "planner": 200,
            "officer": 200,
            "admin": 200,
            "dispatcher": 200,
            "department": 200,
        },
    ),
    (
        "/audit",
        {
            None: 401,
            "gridworker": 403,
            "planner": 403,
            "officer": 403,
            "admin": 200,
            "dispatcher": 403,
            "department": 403,
        },
    ),
    (
        "/events",
        {
            None: 401,
            "gridworker": 200,
            "planner": 403,
            "officer": 403,
            "admin": 200,
            "dispatcher": 200,
            "department": 200,
        },
    ),
    ("/events/categories", dict.fromkeys(WHO, 200)),
    # the fixture district's run 1: the report and its one-page PDF are for planners and admins
    (
        "/reports/1.xlsx",
        {
            None: 401,
            "gridworker": 403,
            "planner": 200,
            "officer": 403,
            "admin": 200,
            "dispatcher": 403,
            "department": 403,
        },
    ),
    (
        "/reports/1.pdf",
        {
            None: 401,
            "gridworker": 403,
            "planner": 200,
            "officer": 403,
            "admin": 200,
            "dispatcher": 403,
            "department": 403,
        },
    ),
]


@pytest.mark.parametrize(
    ("path", "who", "expected"), [(p, w, e) for p, table in READS for w, e in table.items()]
)
def test_read(client, auth, path, who, expected):
    assert client.get(path, headers=auth(who)).status_code == expected


GRID_WORKER_FACILITY_EDITS = [
    # (facility id, body, expected): attributes inside own grid only, never geometry
    (1, {"properties": {"opening_hours": "09:00-17:00"}}, 200),
    (1, {"geometry": {"type": "Point", "coordinates": [113.21, 22.52]}}, 403),
    (2, {"properties": {"opening_hours": "09:00-17:00"}}, 404),
    (4, {"properties": {"opening_hours": "09:00-17:00"}}, 404),
]


@pytest.mark.parametrize(("fid", "body", "expected"), GRID_WORKER_FACILITY_EDITS)
def test_grid_worker_facility_edits(client, auth, fid, body, expected):
    etag = client.get(f"/collections/facilities/items/{fid}").headers["etag"]
    r = client.patch(
        f"/collections/facilities/items/{fid}", json=body, headers=auth("gridworker", **{"If-Match": etag})
    )
    assert r.status_code == expected, r.text


def test_grid_worker_cannot_create_or_delete_facilities(client, auth):
    assert (
        client.post(
            "/collections/facilities/items", json=body_for("facilities"), headers=auth("gridworker")
        ).status_code
        == 403
    )
    assert (
        client.delete(
            "/collections/facilities/items/1", headers=auth("gridworker", **{"If-Match": '"1"'})
        ).status_code
        == 403
    )
    put = client.put(
        "/collections/facilities/items/1",
        json=body_for("facilities"),
        headers=auth("gridworker", **{"If-Match": '"1"'}),
    )
    assert put.status_code == 403


def test_grid_worker_without_grid_cannot_edit(client, auth):
    r = client.patch(
        "/collections/facilities/items/1",
        json={"properties": {"phone": "1"}},
        headers=auth("gridworker_nogrid", **{"If-Match": '"1"'}),
    )
    assert r.status_code == 403


# --- accounts and the place-name registry: who may write -----------------------------------------------

ADMIN_ONLY = [
    # (method, path, body): allowed for admin only
    ("post", "/users", {"username": "role.test.{n}", "password": "long-enough-pw", "role": "planner"}),
    ("patch", "/users/{planner_id}", {"active": True}),
    ("get", "/users/{planner_id}", None),
]


@pytest.fixture(scope="module")
def planner_id(client, auth) -> int:
    return client.get("/users/me", headers=auth("planner")).json()["user_id"]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ONLY)
@pytest.mark.parametrize("who", WHO)
def test_accounts_are_admin_only(client, auth, planner_id, method, path, body, who):
    url = path.format(planner_id=planner_id)
    payload = (
        None
        if body is None
        else {k: v.format(n=next(_counter)) if isinstance(v, str) else v for k, v in body.items()}
    )
    r = client.request(method.upper(), url, json=payload, headers=auth(who))
    expected = {None: 401, "admin": 201 if method == "post" else 200}.get(who, 403)
    assert r.status_code == expected, (who, r.text)
    if expected == 403:
        assert "admin" in r.json()["error"]["message"]


REGISTRY_WRITES = [
    # (method, path suffix, body)
    ("patch", "", {"sign_present": True}),
    ("post", "/rename", {"new_name": "滨河大道", "approval": "测试批复〔2026〕1号"}),
    ("post", "/retire", {"approval": "测试批复〔2026〕2号"}),
]


@pytest.mark.parametrize(("method", "suffix", "body"), REGISTRY_WRITES)
@pytest.mark.parametrize("who", [None, "planner", "gridworker"])
def test_registry_writes_are_refused_to_other_roles(client, auth, api_db, method, suffix, body, who):
    from sqlalchemy import create_engine, text

    engine = create_engine(api_db)
    with engine.connect() as con:
        before = con.execute(
            text("SELECT name, status, sign_present, version FROM place_names WHERE name_id = 1")
        ).one()
    r = client.request(method.upper(), f"/placenames/1{suffix}", json=body, headers=auth(who))
    assert r.status_code == (401 if who is None else 403), r.text
    with engine.connect() as con:
        assert (
            con.execute(
                text("SELECT name, status, sign_present, version FROM place_names WHERE name_id = 1")
            ).one()
            == before
        )
    engine.dispose()


# --- 民情事件: who may report, see and move events ---------------------------------------------------------

EVENT_BODY = {"category": "sanitation", "description": "角色测试", "lon": 113.22, "lat": 22.6}


@pytest.mark.parametrize("who", WHO)
def test_event_create(client, auth, who):
    r = client.post("/events", json=EVENT_BODY, headers=auth(who))
    expected = {None: 401, "gridworker": 201, "dispatcher": 201, "admin": 201}.get(who, 403)
    assert r.status_code == expected, r.text


@pytest.mark.parametrize("who", WHO)
def test_event_escalate_run_is_admin_only(client, auth, who):
    r = client.post("/events/escalate", headers=auth(who))
    assert r.status_code == {None: 401, "admin": 200}.get(who, 403), r.text


@pytest.fixture()
def reported_event(client, auth) -> tuple[int, str]:
    """A new event in GRID_A, status reported: (event_id, ETag)."""
    r = client.post("/events", json=EVENT_BODY, headers=auth("admin"))
    assert r.status_code == 201, r.text
    return r.json()["event_id"], r.headers["etag"]


EVENT_READ = {None: 401, "gridworker": 200, "dispatcher": 200, "admin": 200, "department": 404}
"""Reading an event in GRID_A, reported and not assigned (department: not theirs → 404)."""
EVENT_ACCEPT = {None: 401, "gridworker": 200, "admin": 200, "dispatcher": 403, "department": 404}
"""受理 an event in GRID_A: its grid worker or an admin; a dispatcher sees it but may not accept."""


@pytest.mark.parametrize("who", WHO)
def test_event_read(client, auth, reported_event, who):
    event_id, _ = reported_event
    r = client.get(f"/events/{event_id}", headers=auth(who))
    assert r.status_code == EVENT_READ.get(who, 403), r.text


@pytest.mark.parametrize("who", WHO)
def test_event_accept(client, auth, reported_event, who):
    event_id, etag = reported_event
    r = client.post(
        f"/events/{event_id}/transitions", json={"action": "accept"}, headers=auth(who, **{"If-Match": etag})
    )
    assert r.status_code == EVENT_ACCEPT.get(who, 403), r.text


@pytest.mark.parametrize("who", WHO)
def test_event_assign(client, auth, reported_event, who):
    event_id, etag = reported_event
    up = client.post(
        f"/events/{event_id}/transitions",
        json={"action": "escalate"},
        headers=auth("admin", **{"If-Match": etag}),
    )
    assert up.status_code == 200, up.text
    r = client.post(
        f"/events/{event_id}/transitions",
        json={"action": "assign", "department": "民政局"},
        headers=auth(who, **{"If-Match": up.headers["etag"]}),
    )
    expected = {None: 401, "dispatcher": 200, "admin": 200, "gridworker": 403, "department": 404}.get(
        who, 403
    )
    assert r.status_code == expected, r.text
