"""Accounts (admin) and the audit log."""

from __future__ import annotations

from api_fixture import GRID_A


def test_admin_creates_lists_and_changes_accounts(client, auth):
    r = client.post(
        "/users",
        json={"username": "new.planner", "password": "long-enough-pw", "role": "planner"},
        headers=auth("admin"),
    )
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["role"] == "planner" and user["active"] is True and "password_hash" not in user
    listed = client.get("/users", params={"role": "planner"}, headers=auth("admin")).json()
    assert "new.planner" in {u["username"] for u in listed["items"]}
    assert all("password" not in str(u) for u in listed["items"])
    token = client.post("/auth/token", data={"username": "new.planner", "password": "long-enough-pw"}).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get("/collections/residences/items", headers=bearer).status_code == 200

    changed = client.patch(
        f"/users/{user['user_id']}", json={"role": "grid_worker", "area_id": GRID_A}, headers=auth("admin")
    )
    assert changed.status_code == 200 and changed.json()["area_id"] == GRID_A
    # the role change revokes the existing token at once; a new login sees the new role's view
    assert client.get("/collections/residences/items", headers=bearer).status_code == 401
    revoked = client.get("/users/me", headers=bearer)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]
    token = client.post("/auth/token", data={"username": "new.planner", "password": "long-enough-pw"}).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    grid_view = client.get("/collections/residences/items", headers=bearer).json()
    assert {f["id"] for f in grid_view["features"]} == {1, 2}

    off = client.patch(f"/users/{user['user_id']}", json={"active": False}, headers=auth("admin"))
    assert off.json()["active"] is False
    assert client.get("/users/me", headers=bearer).status_code == 401


def test_duplicate_username_is_409(client, auth):
    r = client.post(
        "/users",
        json={"username": "planner", "password": "long-enough-pw", "role": "planner"},
        headers=auth("admin"),
    )
    assert r.status_code == 409 and "taken" in r.json()["error"]["message"]


def test_short_password_and_unknown_role_are_422(client, auth):
    short = client.post(
        "/users", json={"username": "shorty", "password": "123", "role": "planner"}, headers=auth("admin")
    )
    assert short.status_code == 422
    role = client.post(
        "/users",
        json={"username": "kingpin", "password": "long-enough-pw", "role": "king"},
        headers=auth("admin"),
    )
    assert role.status_code == 422


def test_unknown_grid_for_a_user_is_422(client, auth):
    r = client.post(
        "/users",
        json={
            "username": "lost.worker",
            "password": "long-enough-pw",
            "role": "grid_worker",
            "area_id": 999999,
        },
        headers=auth("admin"),
    )
    assert r.status_code == 422 and "999999" in r.json()["error"]["message"]


def test_admin_cannot_lock_themselves_out(client, auth):
    me = client.get("/users/me", headers=auth("admin")).json()
    r = client.patch(f"/users/{me['user_id']}", json={"active": False}, headers=auth("admin"))
    assert r.status_code == 400
    r = client.patch(f"/users/{me['user_id']}", json={"role": "planner"}, headers=auth("admin"))
    assert r.status_code == 400


def test_missing_user_is_404(client, auth):
    assert client.get("/users/987654", headers=auth("admin")).status_code == 404
    assert client.patch("/users/987654", json={"active": True}, headers=auth("admin")).status_code == 404


def test_password_change(client, auth):
    created = client.post(
        "/users",
        json={"username": "pw.change", "password": "first-password", "role": "planner"},
        headers=auth("admin"),
    ).json()
    client.patch(f"/users/{created['user_id']}", json={"password": "second-password"}, headers=auth("admin"))
    assert (
        client.post("/auth/token", data={"username": "pw.change", "password": "first-password"}).status_code
        == 401
    )
    assert (
        client.post("/auth/token", data={"username": "pw.change", "password": "second-password"}).status_code
        == 200
    )


def test_audit_log_records_user_changes_without_password_hashes(client, auth):
    client.post(
        "/users",
        json={"username": "audited", "password": "long-enough-pw", "role": "planner"},
        headers=auth("admin"),
    )
    page = client.get("/audit", params={"layer": "users", "action": "insert"}, headers=auth("admin")).json()
    entry = next(e for e in page["items"] if e["after"]["username"] == "audited")
    assert entry["actor"] == "admin"
    assert "password_hash" not in entry["after"]


def test_audit_filters_and_paging(client, auth):
    page = client.get("/audit", params={"actor": "fixture", "limit": 2}, headers=auth("admin")).json()
    assert page["numberReturned"] == 2 and page["numberMatched"] > 2
    assert all(e["actor"] == "fixture" for e in page["items"])
    assert page["items"][0]["audit_id"] > page["items"][1]["audit_id"]  # newest first
    assert "next" in {link["rel"] for link in page["links"]}
