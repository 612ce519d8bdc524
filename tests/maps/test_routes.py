"""The map routes over HTTP on the shared loopback server (no browser): roles, login page, assets,
caching, privacy."""

from __future__ import annotations

import json
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
            s,
            username=username,
            password_hash=hash_password("routes-password", rounds=4),
            role=role,
            department="民政局" if role == "department" else None,
        )
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
        addresses = [
            r[0]
            for r in s.execute(text("SELECT address FROM residences WHERE address IS NOT NULL LIMIT 200"))
        ]
    assert not [a for a in addresses if a in html], "a residence address leaked into the public page"
    for key in ('"households":', '"population":', '"residence_id":', '"elderly":', '"children":'):
        assert key not in html  # no count of people, not even aggregated ones, on the public page


def test_facility_parts_hold_every_open_facility_once_and_nothing_private(client, demo_db):
    """Issue 19: the public page carries no facility row; they come in versioned public parts, every open
    facility once with its public fields only."""
    from sqlalchemy import text

    from layers.db import session
    from maps.public import FACILITY_COLUMNS

    html = client.get("/").text
    found = re.search(r'"facility_parts":\{"url":"([^"]+)","parts":(\d+)\}', html)
    assert found, "the public page names no facility parts"
    url, parts = found.group(1).replace("\\u0026", "&"), int(found.group(2))
    bodies = [client.get(url.replace("{part}", str(i))) for i in range(parts)]
    assert all(b.status_code == 200 for b in bodies)
    assert bodies[0].headers["cache-control"] == "public, max-age=86400"  # the page's own version
    assert client.get(url.split("?")[0].replace("{part}", "0")).headers["cache-control"] == "public, no-cache"
    assert client.get(url.replace("{part}", str(parts))).status_code == 404
    rows = [r for b in bodies for r in b.json()]
    assert all(len(r) == len(FACILITY_COLUMNS) for r in rows)
    ids = [r[FACILITY_COLUMNS.index("id")] for r in rows]
    with session(demo_db) as s:
        open_ids = {i for (i,) in s.execute(text("SELECT facility_id FROM facilities WHERE status = 'open'"))}
        addresses = [
            a
            for (a,) in s.execute(text("SELECT address FROM residences WHERE address IS NOT NULL LIMIT 200"))
        ]
    assert sorted(ids) == sorted(open_ids) and len(ids) == len(set(ids))
    text_all = "".join(b.text for b in bodies)
    assert addresses and not [a for a in addresses if a in text_all]


def test_base_map_travels_in_its_own_cached_request(client, demo_db):
    """Issue 19: the page carries only the base map's tile URLs and the versioned URL of the rest (labels,
    water, sea), which a browser may keep for a day; without the current ``v`` it is revalidated."""
    from sqlalchemy import text

    from layers.db import session

    html = client.get("/").text
    found = re.search(r'"url":"(/basemap\.json\?v=[0-9a-f]{16})"', html)
    assert found, "the public page names no versioned base map"
    assert '"road_labels"' not in html and '"area_labels"' not in html
    r = client.get(found.group(1))
    assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=86400"
    data = r.json()
    assert data["road_labels"] and data["area_labels"] and "water" in data and "sea" in data
    assert f'"tiles":{json.dumps(data["tiles"], separators=(",", ":"))}' in html.replace("\\u0026", "&")
    assert client.get(found.group(1), headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    assert client.get("/basemap.json").headers["cache-control"] == "public, no-cache"
    plain = client.get(found.group(1), headers={"Accept-Encoding": "identity"})
    packed = client.get(found.group(1), headers={"Accept-Encoding": "gzip"})  # its kept compressed copy
    assert "content-encoding" not in plain.headers and packed.headers["content-encoding"] == "gzip"
    assert plain.content == packed.content == r.content
    for key in ('"households":', '"population":', '"residence_id":', '"elderly":', '"children":'):
        assert key not in r.text
    with session(demo_db) as s:
        addresses = [
            a
            for (a,) in s.execute(text("SELECT address FROM residences WHERE address IS NOT NULL LIMIT 200"))
        ]
    assert addresses and not [a for a in addresses if a in r.text]


@pytest.mark.parametrize("path", ["/planner", "/placenames", "/grid", "/command"])
def test_protected_pages_redirect_anonymous_users(client, path):
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next={path}"


@pytest.mark.parametrize(
    ("path", "role", "status"),
    [
        ("/planner", "planner", 200),
        ("/planner", "admin", 200),
        ("/planner", "placename_officer", 403),
        ("/planner", "grid_worker", 403),
        ("/placenames", "placename_officer", 200),
        ("/placenames", "admin", 200),
        ("/placenames", "planner", 403),
        ("/grid", "grid_worker", 200),
        ("/grid", "admin", 200),
        ("/grid", "dispatcher", 403),
        ("/grid", "department", 403),
        ("/grid", "planner", 403),
        ("/grid", "placename_officer", 403),
        ("/command", "dispatcher", 200),
        ("/command", "department", 200),
        ("/command", "admin", 200),
        ("/command", "grid_worker", 403),
        ("/command", "planner", 403),
        ("/command", "placename_officer", 403),
    ],
)
def test_pages_by_role(server, demo_db, path, role, status):
    with _as(server, _cookie(f"routes_{role}", role, demo_db)) as c:
        r = c.get(path)
    assert r.status_code == status
    if status == 403:
        assert "无权访问" in r.text
    else:
        assert f"routes_{role}" in r.text and "/auth/logout" in r.text


def _names_url(c: httpx.Client) -> tuple[str, int]:
    """The URL template and count of the names' parts, as the place-name page names them."""
    html = c.get("/placenames").text
    m = re.search(r'"names":\{"url":"([^"]+)","parts":(\d+)\}', html)
    assert m, "the place-name page does not name its names' parts"
    return m.group(1), int(m.group(2))


@pytest.mark.parametrize(
    ("role", "status"),
    [(None, 401), ("placename_officer", 200), ("admin", 200), ("planner", 403), ("grid_worker", 403)],
)
def test_place_name_parts_by_role(server, demo_db, role, status):
    with _as(server, _cookie("routes_placename_officer", "placename_officer", demo_db)) as c:
        url, _parts = _names_url(c)
    cookies = _cookie(f"routes_{role}", role, demo_db) if role else {}
    with _as(server, cookies) as c:
        r = c.get(url.replace("{part}", "0"))
    assert r.status_code == status
    if status != 200:
        assert "rows" not in r.text


def test_place_name_parts_hold_every_name_once(server, demo_db):
    from sqlalchemy import text

    from layers.db import session

    with _as(server, _cookie("routes_placename_officer", "placename_officer", demo_db)) as c:
        url, parts = _names_url(c)
        bodies = [c.get(url.replace("{part}", str(i))) for i in range(parts)]
        past = c.get(url.replace("{part}", str(parts)))
        unversioned = c.get(url.split("?")[0].replace("{part}", "0"))
    assert past.status_code == 404
    assert all(b.status_code == 200 for b in bodies)
    assert bodies[0].headers["cache-control"] == "private, max-age=86400"  # the page's own version
    assert unversioned.headers["cache-control"] == "private, no-cache"
    ids = [r[b.json()["columns"].index("id")] for b in bodies for r in b.json()["rows"]]
    with session(demo_db) as s:
        # every name with a geometry has a label point (maps.placenames.name_records)
        truth = sorted(
            r[0] for r in s.execute(text("SELECT name_id FROM place_names WHERE geom IS NOT NULL"))
        )
    assert sorted(ids) == truth


def test_login_page(client):
    r = client.get("/login", params={"next": "/planner", "error": 1})
    assert r.status_code == 200
    assert 'action="/auth/login"' in r.text and 'value="/planner"' in r.text
    assert "用户名或密码错误" in r.text
    evil = client.get("/login", params={"next": "https://evil.example/"})
    assert 'value="/"' in evil.text and "evil.example" not in evil.text


def test_form_login_lands_on_the_page(client, demo_db):
    _cookie("routes_form", "planner", demo_db)
    r = client.post(
        "/auth/login",
        data={"username": "routes_form", "password": "routes-password", "next": "/planner"},
        follow_redirects=True,
    )
    assert r.status_code == 200 and str(r.url).endswith("/planner") and "生活圈规划分析" in r.text


def test_assets_are_served_and_whitelisted(client):
    js = client.get("/assets/leaflet/leaflet.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert client.get("/assets/static/minqing.css").headers["content-type"].startswith("text/css")
    for bad in (
        "/assets/../pyproject.toml",
        "/assets/static/../assets.py",
        "/assets/leaflet/package.json",
        "/assets/static/%2e%2e/assets.py",
    ):
        assert client.get(bad).status_code == 404, bad


def test_every_page_asset_is_served(client, server, demo_db):
    with _as(server, _cookie("routes_admin", "admin", demo_db)) as c:
        html = (
            c.get("/planner").text + c.get("/placenames").text + c.get("/grid").text + c.get("/command").text
        )
    html += client.get("/").text + client.get("/report").text
    for url in set(re.findall(r'(?:src|href)="(/assets/[^"]+)"', html)):
        assert client.get(url).status_code == 200, url


def test_planner_map_data_routes(server, demo_db, coverage_run, demo_scenarios):
    with httpx.Client(base_url=server, timeout=120) as anonymous:
        assert (
            anonymous.get(
                f"/coverage/runs/{coverage_run}/catchments", params={"type": "kindergarten"}
            ).status_code
            == 401
        )
    with _as(server, _cookie("routes_planner", "planner", demo_db)) as c:
        r = c.get(f"/coverage/runs/{coverage_run}/areas", params={"circle": "urban"})
        assert r.status_code == 400 and "type" in r.json()["error"]["fix"]
        # a request the API cannot parse
        assert (
            c.get(
                f"/coverage/runs/{coverage_run}/areas", params={"type": "kindergarten", "circle": "x"}
            ).status_code
            == 400
        )
        r = c.get(f"/coverage/runs/{coverage_run}/catchments", params={"type": "kindergarten"})
        assert r.status_code == 200 and r.json()["features"]
        assert c.get(f"/coverage/runs/{coverage_run}/catchments", params={"type": "nope"}).status_code == 422
        # every evaluated change of the demo scenarios says where to mark it
        for sid in demo_scenarios.values():
            changes = c.get(f"/scenarios/{sid}").json()["result"]["changes"]
            assert changes and all(
                isinstance(ch["lon"], float) and isinstance(ch["lat"], float) and ch["name"] for ch in changes
            )
            assert all("from_lon" in ch for ch in changes if ch["op"] == "move")


# ---------------------------------------------------------------- security headers and the CSP


def _script_sources(policy: str) -> list[str]:
    directive = next(d.strip() for d in policy.split(";") if d.strip().startswith("script-src "))
    return directive.split()[1:]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/login",
        "/docs",
        "/redoc",
        "/openapi.json",
        "/healthz",
        "/collections",
        "/assets/static/minqing.js",
        "/no-such-page",
    ],
)
def test_every_response_carries_the_security_headers(client, path):
    r = client.get(path)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert r.headers["x-frame-options"] == "DENY"
    policy = r.headers["content-security-policy"]
    assert (
        "frame-ancestors 'none'" in policy and "object-src 'none'" in policy and "base-uri 'none'" in policy
    )
    sources = _script_sources(policy)
    assert sources[0] == "'self'" and "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources
    assert all(s.startswith("'sha256-") for s in sources[1:]), sources


def _inline_scripts(html: str) -> list[str]:
    from html.parser import HTMLParser

    class Scripts(HTMLParser):
        def __init__(self):
            super().__init__()
            self.found: list[str] = []
            self._inline = False

        def handle_starttag(self, tag, attrs):
            # data blocks (type="application/json") never run: the policy needs no hash for them
            a = dict(attrs)
            self._inline = (
                tag == "script"
                and not a.get("src")
                and (a.get("type") or "text/javascript") in ("text/javascript", "module")
            )
            if self._inline:
                self.found.append("")

        def handle_data(self, data):
            if self._inline:
                self.found[-1] += data

        def handle_endtag(self, tag):
            self._inline = False

    p = Scripts()
    p.feed(html)
    return p.found


@pytest.mark.parametrize("path", ["/", "/planner", "/placenames"])
def test_map_page_policy_allows_exactly_its_own_inline_scripts(server, demo_db, path):
    from maps.page import script_hash

    with _as(server, _cookie("routes_admin", "admin", demo_db)) as c:
        r = c.get(path)
    assert r.status_code == 200
    scripts = _inline_scripts(r.text)
    assert scripts, "the map page has no inline script: the test would prove nothing"
    allowed = {s.strip("'") for s in _script_sources(r.headers["content-security-policy"])[1:]}
    assert allowed == {script_hash(s) for s in scripts}
    # the optional OSM base map
    assert "https://tile.openstreetmap.org" in r.headers["content-security-policy"]


def test_login_and_forbidden_pages_run_no_inline_script(client, server, demo_db):
    assert _inline_scripts(client.get("/login").text) == []
    with _as(server, _cookie("routes_grid_worker", "grid_worker", demo_db)) as c:
        forbidden = c.get("/planner")
    assert forbidden.status_code == 403 and _inline_scripts(forbidden.text) == []
    assert _script_sources(forbidden.headers["content-security-policy"]) == ["'self'"]


def test_api_docs_load_our_own_assets_only(client):
    for path, needs in (
        ("/docs", "/assets/swagger-ui/swagger-ui-bundle.js"),
        ("/redoc", "/assets/redoc/redoc.standalone.js"),
    ):
        html = client.get(path).text
        assert needs in html and _inline_scripts(html) == []
        for url in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert url.startswith("/assets/"), url
            assert client.get(url).status_code == 200, url
    served = client.get("/assets/redoc/redoc.standalone.js").content
    assert b"cdn.redoc.ly" not in served and len(served) > 100_000  # the CDN logo is rewritten away
