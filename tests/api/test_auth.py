"""Login: OAuth2 password flow, the HTML form with its cookie, logout, token checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from api_fixture import PASSWORD, asgi_client


def test_token_for_a_valid_login(client):
    r = client.post("/auth/token", data={"username": "planner", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["role"] == "planner" and body["expires_in"] > 0
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    me = client.get("/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert (
        claims["sub"] == str(me["user_id"]) and claims["name"] == "planner" and "password" not in str(claims)
    )
    assert claims["ver"] >= 1 and len(claims["jti"]) >= 16


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("planner", "wrong-password"),
        ("nobody", PASSWORD),
        ("inactive", PASSWORD),
        ("planner", "x" * 100),
    ],
)
def test_bad_logins_are_401_without_saying_which_part_was_wrong(client, username, password):
    r = client.post("/auth/token", data={"username": username, "password": password})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["message"] == "wrong username or password, or the account is deactivated"


def test_login_form_sets_an_httponly_cookie_and_redirects(app):
    with asgi_client(app, follow_redirects=False) as c:
        r = c.post("/auth/login", data={"username": "planner", "password": PASSWORD, "next": "/planner"})
        assert r.status_code == 303 and r.headers["location"] == "/planner"
        cookie = r.headers["set-cookie"]
        assert (
            cookie.startswith("minqing_token=") and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
        )
        # the cookie alone authenticates
        assert c.get("/users/me").json()["username"] == "planner"
        assert c.get("/collections/residences/items").status_code == 200
        out = c.get("/auth/logout")
        assert out.status_code == 303 and out.headers["location"] == "/"
        assert c.get("/users/me").status_code == 401


def test_failed_form_login_redirects_back_to_the_login_page(app):
    with asgi_client(app, follow_redirects=False) as c:
        r = c.post("/auth/login", data={"username": "planner", "password": "nope", "next": "/planner?x=1"})
        assert r.status_code == 303
        assert r.headers["location"] == "/login?error=1&next=%2Fplanner%3Fx%3D1"
        assert "set-cookie" not in r.headers


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
def test_login_never_redirects_off_site(app, target):
    with asgi_client(app, follow_redirects=False) as c:
        r = c.post("/auth/login", data={"username": "planner", "password": PASSWORD, "next": target})
        assert r.headers["location"] == "/"


def test_cookie_writes_from_another_origin_are_refused(app):
    with asgi_client(app, follow_redirects=False) as c:
        c.post("/auth/login", data={"username": "planner", "password": PASSWORD})
        body = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [113.35, 22.6]},
            "properties": {"type_code": "public_toilet", "name": "跨站"},
        }
        r = c.post("/collections/facilities/items", json=body, headers={"Origin": "https://evil.example"})
        assert r.status_code == 403 and "cross-site" in r.json()["error"]["message"]
        same = c.post("/collections/facilities/items", json=body, headers={"Origin": "http://testserver"})
        assert same.status_code == 201


def _token(client, auth, secret: str, username: str = "planner", **claims) -> str:
    """A token like the service's for ``username``
    (read from their own valid token), with ``claims`` changed.
    """
    real = jwt.decode(auth(username)["Authorization"][7:], options={"verify_signature": False})
    return jwt.encode({**real, **claims}, secret, algorithm="HS256")


def test_expired_and_forged_tokens(client, auth, app):
    secret = app.state.settings.secret_key.get_secret_value()
    expired = _token(client, auth, secret, exp=datetime.now(UTC) - timedelta(minutes=1))
    forged = _token(client, auth, "not-the-secret-key-but-long-enough-for-hs256")
    # the same claims, properly signed, are accepted
    assert (
        client.get(
            "/users/me", headers={"Authorization": f"Bearer {_token(client, auth, secret)}"}
        ).status_code
        == 200
    )
    for token, reason in ((expired, "expired"), (forged, "not valid")):
        r = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and reason in r.json()["error"]["message"]
        # public routes treat a stale token as anonymous rather than failing the public map
        pub = client.get("/collections/coverage/items", headers={"Authorization": f"Bearer {token}"})
        assert pub.status_code == 200


def test_token_of_a_deactivated_user_stops_working(client, auth, app, api_db):
    from sqlalchemy import text

    from layers.db import session

    with session(api_db, actor="pytest") as s:
        inactive = s.execute(
            text("SELECT user_id, token_version FROM users WHERE username = 'inactive'")
        ).one()
    secret = app.state.settings.secret_key.get_secret_value()
    token = _token(
        client, auth, secret, sub=str(inactive.user_id), ver=inactive.token_version, name="inactive"
    )
    r = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and "deactivated" in r.json()["error"]["message"]


def test_role_comes_from_the_database_not_the_token(client, auth, app):
    secret = app.state.settings.secret_key.get_secret_value()
    token = _token(client, auth, secret, "officer", role="admin")  # a tampered role claim, validly signed
    assert client.get("/users", headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_login_attempts_are_throttled_per_address(api_db):
    from api_fixture import make_settings

    from api.main import create_app

    app = create_app(make_settings(login_burst=3, login_attempts_per_minute=1), database_url=api_db)
    with asgi_client(app, follow_redirects=False) as c:
        codes = [
            c.post("/auth/token", data={"username": "planner", "password": "guess"}).status_code
            for _ in range(4)
        ]
        assert codes == [401, 401, 401, 429]
        r = c.post("/auth/token", data={"username": "planner", "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1  # even the right password waits
        form = c.post("/auth/login", data={"username": "planner", "password": PASSWORD})
        assert form.status_code == 429
