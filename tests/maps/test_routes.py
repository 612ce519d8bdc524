"""The map routes over HTTP on the shared loopback server (no browser): roles, login page, assets,
caching, privacy."""

from __future__ import annotations

import os
import re

import httpx
import pytest


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server, timeout=120) as c:
        yield c


def _as(server: str, cookies: dict[str, str]) -> httpx.Client:
    return httpx.Client(base_url=server, cookies=cookies, timeout=120)


def _cookie(username: str, role: str, demo_db: str) -> dict[str, str]:
    from api.security import COOKIE, create_token, hash_password
    from layers import users
    from layers.db import session

    with session(demo_db, actor="pytest") as s:
        account = users.by_username(s, username) or users.create(
            s, username=username, password_hash=hash_password("routes-password", rounds=4), role=role)
    return {COOKIE: create_token(account, secret=os.environ["MINQING_SECRET_KEY"], minutes=5)}


def test_public_map_is_html_and_cached(client):
    first = client.get("/")
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
    assert "民情地图" in first.text and "演示数据(虚构)" in first.text
    again = client.get("/")
    assert again.text == first.text  # same data version: the cached page


def test_public_map_holds_no_personal_data(client, demo_db):
    from sqlalchemy import text

    from layers.db import session

    html = client.get("/").text
    with session(demo_db) as s:
        addresses = [r[0] for r in s.execute(text(
            "SELECT address FROM residences WHERE address IS NOT NULL LIMIT 200"))]
    assert not [a for a in addresses if a in html], "a residence address leaked into the public page"
    for key in ('"households":', '"population":', '"residence_id":', '"elderly":', '"children":'):
        assert key not in html  # no count of people, not even aggregated ones, on the public page


@pytest.mark.parametrize("path", ["/planner", "/placenames"])
def test_protected_pages_redirect_anonymous_users(client, path):
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next={path}"


@pytest.mark.parametrize(("path", "role", "status"), [
    ("/planner", "planner", 200), ("/planner", "admin", 200), ("/planner", "placename_officer", 403),
    ("/planner", "grid_worker", 403), ("/placenames", "placename_officer", 200),
    ("/placenames", "admin", 200), ("/placenames", "planner", 403),
])
def test_pages_by_role(server, demo_db, path, role, status):
    with _as(server, _cookie(f"routes_{role}", role, demo_db)) as c:
        r = c.get(path)
    assert r.status_code == status
    if status == 403:
        assert "无权访问" in r.text
    else:
        assert f"routes_{role}" in r.text and "/auth/logout" in r.text


def test_login_page(client):
    r = client.get("/login", params={"next": "/planner", "error": 1})
    assert r.status_code == 200
    assert 'action="/auth/login"' in r.text and 'value="/planner"' in r.text
    assert "用户名或密码错误" in r.text
    evil = client.get("/login", params={"next": "https://evil.example/"})
    assert 'value="/"' in evil.text and "evil.example" not in evil.text


def test_form_login_lands_on_the_page(client, demo_db):
    _cookie("routes_form", "planner", demo_db)
    r = client.post("/auth/login", data={"username": "routes_form", "password": "routes-password",
                                         "next": "/planner"}, follow_redirects=True)
    assert r.status_code == 200 and str(r.url).endswith("/planner") and "生活圈规划分析" in r.text


def test_assets_are_served_and_whitelisted(client):
    js = client.get("/assets/leaflet/leaflet.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert client.get("/assets/static/minqing.css").headers["content-type"].startswith("text/css")
    for bad in ("/assets/../pyproject.toml", "/assets/static/../assets.py", "/assets/leaflet/package.json",
                "/assets/static/%2e%2e/assets.py"):
        assert client.get(bad).status_code == 404, bad


def test_every_page_asset_is_served(client, server, demo_db):
    with _as(server, _cookie("routes_admin", "admin", demo_db)) as c:
        html = c.get("/planner").text + c.get("/placenames").text
    html += client.get("/").text
    for url in set(re.findall(r'(?:src|href)="(/assets/[^"]+)"', html)):
        assert client.get(url).status_code == 200, url


def test_planner_map_data_routes(server, demo_db, coverage_run, demo_scenarios):
    with httpx.Client(base_url=server, timeout=120) as anonymous:
        assert anonymous.get(f"/coverage/runs/{coverage_run}/catchments", params={"type": "kindergarten"}) \
            .status_code == 401
    with _as(server, _cookie("routes_planner", "planner", demo_db)) as c:
        r = c.get(f"/coverage/runs/{coverage_run}/areas", params={"circle": "urban"})
        assert r.status_code == 400 and "type" in r.json()["error"]["fix"]
        assert c.get(f"/coverage/runs/{coverage_run}/areas", params={"type": "kindergarten", "circle": "x"}) \
            .status_code == 400  # a request the API cannot parse
        r = c.get(f"/coverage/runs/{coverage_run}/catchments", params={"type": "kindergarten"})
        assert r.status_code == 200 and r.json()["features"]
        assert c.get(f"/coverage/runs/{coverage_run}/catchments", params={"type": "nope"}).status_code == 422
        # every evaluated change of the demo scenarios says where to mark it
        for sid in demo_scenarios.values():
            changes = c.get(f"/scenarios/{sid}").json()["result"]["changes"]
            assert changes and all(isinstance(ch["lon"], float) and isinstance(ch["lat"], float) and ch["name"]
                                   for ch in changes)
            assert all("from_lon" in ch for ch in changes if ch["op"] == "move")
