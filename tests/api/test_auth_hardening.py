"""Issue 14, items 2, 6 and 9: the attacks that got through, each as a regression test.

* 2: X-Forwarded-For believed from any loopback peer (rate limit and login throttle bypassed), no
  per-account login back-off, failed logins not audited. Run through uvicorn as ``minqing serve``
  configures it, over real HTTP.
* 6: tokens surviving logout, password reset and a username created again.
* 9: usernames (normal form, look-alikes, markup), anonymous uploads read before the 401, a residence
  with more elderly and children than people, a personal mobile as the grid worker's public phone.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest
from api_fixture import COMMUNITY2, GRID_A, PASSWORD, asgi_client, drain, make_settings
from sqlalchemy import text

from api.security import backoff_seconds
from layers.db import session

_n = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served(app) -> Iterator[str]:
    """``app`` behind uvicorn with the options of ``minqing serve``, on a free loopback port."""
    import uvicorn

    from api.cli.serve import UVICORN_OPTIONS

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", **UVICORN_OPTIONS
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _app(api_db, **settings):
    from api.main import create_app

    return create_app(make_settings(**settings), database_url=api_db)


def _account(client, auth, role: str = "planner", **extra) -> tuple[str, dict]:
    """A fresh account of ``role`` (its own name, so its failures and tokens are its own)."""
    name = f"hard{next(_n)}.{role}"[:60]
    r = client.post(
        "/users", json={"username": name, "password": PASSWORD, "role": role, **extra}, headers=auth("admin")
    )
    assert r.status_code == 201, r.text
    return name, r.json()


def _login(client, username: str, password: str = PASSWORD, **kwargs) -> httpx.Response:
    return client.post("/auth/token", data={"username": username, "password": password}, **kwargs)


def _bearer(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _login_audit(api_db, username: str) -> list[dict]:
    with session(api_db) as s:
        rows = (
            s.execute(
                text(
                    "SELECT action, actor, object_id, after FROM audit_log WHERE layer = 'login' "
                    "AND object_id = :u ORDER BY audit_id"
                ),
                {"u": username[:40]},
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


# --- 2. X-Forwarded-For, login throttles, audit -------------------------------------------------------


def test_rotating_x_forwarded_for_does_not_bypass_the_login_throttles(api_db, client, auth):
    """The reproduction: 30 wrong admin passwords with rotating XFF gave 30 x 401 and no 429."""
    admin, _ = _account(client, auth, "admin")
    app = _app(api_db, login_free_failures=5, login_backoff_seconds=30, login_backoff_max_seconds=900)
    with served(app) as base, httpx.Client(base_url=base) as http:
        codes = [
            _login(http, admin, f"guess-{i}", headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
            for i in range(30)
        ]
    assert codes == [401] * 5 + [429] * 25  # the account's back-off, whatever address is claimed


def test_rotating_x_forwarded_for_does_not_bypass_the_per_address_login_limit(api_db):
    app = _app(api_db, login_burst=10, login_attempts_per_minute=1)
    with served(app) as base, httpx.Client(base_url=base) as http:
        codes = [
            _login(http, f"nobody{i}", "guess", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
            for i in range(30)
        ]
        assert codes == [401] * 10 + [429] * 20
        last = _login(http, "nobody99", "guess", headers={"X-Forwarded-For": "192.0.2.1"})
    # 10 attempts in any 10 minutes (burst / rate): the next one when the first leaves that window
    assert 60 < int(last.headers["retry-after"]) <= 600


def test_rotating_x_forwarded_for_does_not_bypass_the_anonymous_rate_limit(api_db):
    app = _app(api_db, rate_limit_per_second=0.1, rate_limit_burst=8)
    with served(app) as base, httpx.Client(base_url=base) as http:
        codes = [
            http.get("/collections", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
            for i in range(12)
        ]
    assert codes == [200] * 8 + [429] * 4


def test_a_trusted_proxy_names_the_client(api_db, client, auth):
    """With MINQING_TRUSTED_PROXIES=127.0.0.1 each forwarded client has its own limit and is audited;
    the left part of the header (written by the client) is not believed."""
    app = _app(api_db, trusted_proxies="127.0.0.1, 10.0.0.0/8", rate_limit_per_second=0.1, rate_limit_burst=3)
    with served(app) as base, httpx.Client(base_url=base) as http:
        per_client = [
            http.get("/collections", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
            for i in range(8)
        ]
        spoofed = [
            http.get(
                "/collections", headers={"X-Forwarded-For": f"192.0.2.{i}, 10.1.2.3, 198.51.100.7"}
            ).status_code
            for i in range(5)
        ]
        name = f"nobody.proxied{next(_n)}"
        # two proxies: ours (10.1.2.3) and the client 198.51.100.8 in front of it
        _login(http, name, "guess", headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.8, 10.1.2.3"})
    assert per_client == [200] * 8  # different clients: the burst of 3 applies to each
    assert spoofed == [200] * 3 + [429] * 2  # one client, 198.51.100.7, however the left part rotates
    assert [e["after"]["ip"] for e in _login_audit(api_db, name)] == ["198.51.100.8"]


@pytest.mark.parametrize(
    ("peer", "header", "expected"),
    [
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.5"], "203.0.113.5"),
        ("127.0.0.1", ["1.1.1.1", "203.0.113.5"], "203.0.113.5"),
        ("127.0.0.1", ["203.0.113.5", "10.0.0.2"], "203.0.113.5"),  # chained proxies are skipped
        ("127.0.0.1", ["10.0.0.3", "10.0.0.2"], "10.0.0.3"),  # only proxies: the farthest one
        ("127.0.0.1", ["not-an-ip"], "127.0.0.1"),
        ("203.0.113.9", ["1.1.1.1"], "203.0.113.9"),  # not from a proxy: the header is ignored
    ],
)
def test_forwarded_client_by_hand(peer, header, expected):
    from api.limits import forwarded_client
    from settings import parse_networks

    assert forwarded_client(peer, header, parse_networks("127.0.0.1,10.0.0.0/8")) == expected


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("testclient", "testclient"),
    ],
)
def test_per_client_limits_count_ipv6_by_its_64_network(host, key):
    from api.limits import client_key

    assert client_key(host) == key


def test_rotating_ipv6_addresses_of_one_network_share_the_limits(api_db):
    login_app = _app(api_db, login_burst=3, login_attempts_per_minute=1)
    anon_app = _app(api_db, rate_limit_burst=3, rate_limit_per_second=0.1)
    logins, reads = [], []
    for i in range(5):
        address = (f"2001:db8:7:7::{i + 1:x}", 50000)
        with asgi_client(login_app, client=address) as c:
            logins.append(_login(c, f"nobody.v6.{i}", "guess").status_code)
        with asgi_client(anon_app, client=address) as c:
            reads.append(c.get("/collections").status_code)
    assert (logins, reads) == ([401] * 3 + [429] * 2, [200] * 3 + [429] * 2)


def test_an_untrusted_proxy_list_is_refused_at_start():
    with pytest.raises(ValueError, match="not an IP address"):
        make_settings(trusted_proxies="127.0.0.1, proxy.local")


@pytest.mark.parametrize(
    ("failures", "wait"),
    [(0, 0), (4, 0), (5, 30), (6, 60), (7, 120), (9, 480), (10, 900), (50, 900), (10**6, 900)],
)
def test_backoff_schedule_by_hand(failures, wait):
    assert backoff_seconds(failures, free=5, base=30, cap=900) == wait


def test_per_account_backoff_doubles_spans_addresses_and_is_audited(api_db, client, auth):
    name, _ = _account(client, auth)
    app = _app(api_db, login_free_failures=3, login_backoff_seconds=30, login_backoff_max_seconds=100)
    one, two = (asgi_client(app, client=(ip, 50000)) for ip in ("192.0.2.10", "192.0.2.20"))
    with one, two:
        assert [_login(c, name, f"secret-guess-{i}").status_code for i, c in enumerate((one, two, one))] == [
            401,
            401,
            401,
        ]
        blocked = _login(two, name)  # the right password, from another address: still waits
        assert blocked.status_code == 429 and 25 <= int(blocked.headers["retry-after"]) <= 30
        _age_login_audit(api_db, name, seconds=31)
        assert _login(one, name, "secret-guess-3").status_code == 401  # the 4th failure: 60 s
        blocked = _login(one, name)
        assert blocked.status_code == 429 and 55 <= int(blocked.headers["retry-after"]) <= 60
        _age_login_audit(api_db, name, seconds=61)
        assert _login(one, name, "secret-guess-4").status_code == 401  # the 5th: 120 s, capped at 100
        assert 95 <= int(_login(one, name).headers["retry-after"]) <= 100
        _age_login_audit(api_db, name, seconds=101)
        assert _login(two, name).status_code == 200  # waited: the right password works
        assert _login(one, name, "secret-guess-5").status_code == 401  # a success starts the count again
    entries = _login_audit(api_db, name)
    assert [e["action"] for e in entries] == ["login_fail"] * 3 + [
        "login_wait",
        "login_fail",
        "login_wait",
        "login_fail",
        "login_wait",
        "login",
        "login_fail",
    ]
    assert [e["after"]["ip"] for e in entries[:4]] == ["192.0.2.10", "192.0.2.20", "192.0.2.10", "192.0.2.20"]
    assert all(e["after"]["username"] == name for e in entries)
    assert "secret-guess" not in json.dumps(entries) and PASSWORD not in json.dumps(entries)


def _age_login_audit(api_db, username: str, *, seconds: int) -> None:
    """Let ``seconds`` pass for the back-off: move the account's login entries back in time."""
    with session(api_db) as s:
        s.execute(
            text(
                "UPDATE audit_log SET at = at - make_interval(secs => :s) WHERE layer = 'login' "
                "AND object_id = :u"
            ),
            {"s": seconds, "u": username[:40]},
        )


def test_parallel_guesses_do_not_slip_past_the_backoff(api_db):
    """Attempts evaluated side by side would each see the failures before theirs: at most
    ``login_free_failures`` answers may be 401 however many arrive at once."""
    from concurrent.futures import ThreadPoolExecutor

    name = f"nobody.parallel{next(_n)}"
    app = _app(api_db, login_free_failures=3, bcrypt_rounds=10)  # slow checks: the attempts overlap
    with (
        served(app) as base,
        httpx.Client(base_url=base, limits=httpx.Limits(max_connections=20)) as http,
        ThreadPoolExecutor(12) as pool,
    ):
        codes = list(pool.map(lambda i: _login(http, name, f"guess-{i}").status_code, range(12)))
    assert codes.count(401) <= 3 and codes.count(429) >= 9, codes
    assert sum(e["action"] == "login_fail" for e in _login_audit(api_db, name)) == codes.count(401)


def test_unknown_usernames_back_off_like_real_ones(api_db):
    """Otherwise the back-off would tell which usernames exist."""
    app = _app(api_db, login_free_failures=2)
    with asgi_client(app) as c:
        codes = [_login(c, "no.such.user", "x" * 8).status_code for _ in range(3)]
    assert codes == [401, 401, 429]


def test_a_nul_in_the_username_is_a_plain_failed_login(client):
    """Found by the fuzz test: the audit and the back-off query refused the NUL (500)."""
    assert _login(client, "ad\x00min", "x" * 8).status_code == 401


def test_failed_form_logins_are_audited_and_back_off(api_db, client, auth):
    name, _ = _account(client, auth)
    app = _app(api_db, login_free_failures=2)
    with asgi_client(app, follow_redirects=False) as c:
        codes = [
            c.post("/auth/login", data={"username": name.upper(), "password": "wrong-one"}).status_code
            for _ in range(3)
        ]
    assert codes == [303, 303, 429]
    assert [e["action"] for e in _login_audit(api_db, name)] == ["login_fail", "login_fail", "login_wait"]


# --- 6. token revocation ----------------------------------------------------------------------------------


def test_logout_revokes_the_token_in_use_only(client, auth):
    name, _ = _account(client, auth)
    first, second = _bearer(_login(client, name)), _bearer(_login(client, name))
    out = client.get("/auth/logout", headers=first, follow_redirects=False)
    assert out.status_code == 303
    r = client.get("/users/me", headers=first)
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    assert client.get("/users/me", headers=second).json()["username"] == name  # other sessions stay
    assert client.post("/auth/logout", headers=second, follow_redirects=False).status_code == 303
    assert client.get("/users/me", headers=second).status_code == 401


def test_a_logged_out_cookie_replayed_is_refused(app):
    with asgi_client(app, follow_redirects=False) as c:
        c.post("/auth/login", data={"username": "planner", "password": PASSWORD})
        token = c.cookies["minqing_token"]
        c.get("/auth/logout")
    with asgi_client(app, cookies={"minqing_token": token}) as replay:
        r = replay.get("/users/me")
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]


def test_logout_everywhere(client, auth):
    name, _ = _account(client, auth)
    tokens = [_bearer(_login(client, name)) for _ in range(3)]
    assert client.post("/auth/logout-everywhere", headers=tokens[0]).status_code == 204
    assert [client.get("/users/me", headers=t).status_code for t in tokens] == [401, 401, 401]
    assert client.get("/users/me", headers=_bearer(_login(client, name))).status_code == 200
    assert client.post("/auth/logout-everywhere").status_code == 401


def test_a_password_reset_revokes_the_old_tokens(client, auth):
    name, user = _account(client, auth)
    old = _bearer(_login(client, name))
    r = client.patch(
        f"/users/{user['user_id']}", json={"password": "a-brand-new-password"}, headers=auth("admin")
    )
    assert r.status_code == 200
    assert client.get("/users/me", headers=old).status_code == 401
    assert (
        client.get("/users/me", headers=_bearer(_login(client, name, "a-brand-new-password"))).status_code
        == 200
    )


def test_an_area_change_keeps_the_tokens(client, auth):
    """Only password, role and status changes revoke: moving a grid worker to another grid does not."""
    name, user = _account(client, auth, "grid_worker", area_id=GRID_A)
    token = _bearer(_login(client, name))
    client.patch(f"/users/{user['user_id']}", json={"area_id": GRID_A}, headers=auth("admin"))
    assert client.get("/users/me", headers=token).status_code == 200


def test_a_username_created_again_does_not_inherit_old_tokens(client, auth, api_db):
    name, user = _account(client, auth)
    old = _bearer(_login(client, name))
    with session(api_db, actor="pytest") as s:
        s.execute(text("DELETE FROM users WHERE user_id = :i"), {"i": user["user_id"]})
    again = client.post(
        "/users", json={"username": name, "password": PASSWORD, "role": "admin"}, headers=auth("admin")
    )
    assert again.status_code == 201 and again.json()["user_id"] != user["user_id"]
    r = client.get("/users", headers=old)  # the new account is an admin: the old token must not be
    assert r.status_code == 401
    claims = jwt.decode(old["Authorization"][7:], options={"verify_signature": False})
    assert claims["sub"] == str(user["user_id"])


ROLE_OF = {
    "gridworker": "grid_worker",
    "planner": "planner",
    "officer": "placename_officer",
    "admin": "admin",
}


@pytest.mark.parametrize("who", [None, *ROLE_OF])
def test_roles_of_logout_everywhere_and_password_change(client, auth, who):
    """Every logged-in role may log itself out everywhere and change its own password; anonymous: 401."""
    if who is None:
        assert client.post("/auth/logout-everywhere").status_code == 401
        assert (
            client.post(
                "/users/me/password", json={"current_password": PASSWORD, "new_password": "new-password-1"}
            ).status_code
            == 401
        )
        return
    extra = {"area_id": GRID_A} if who == "gridworker" else {}
    name, _ = _account(client, auth, ROLE_OF[who], **extra)
    token = _bearer(_login(client, name))
    wrong = client.post(
        "/users/me/password",
        json={"current_password": "not-it-at-all", "new_password": "x" * 9},
        headers=token,
    )
    assert wrong.status_code == 403 and "current password" in wrong.json()["error"]["message"]
    r = client.post(
        "/users/me/password",
        json={"current_password": PASSWORD, "new_password": "new-password-1"},
        headers=token,
    )
    assert r.status_code == 204, r.text
    assert client.get("/users/me", headers=token).status_code == 401  # this token too
    token = _bearer(_login(client, name, "new-password-1"))
    assert client.post("/auth/logout-everywhere", headers=token).status_code == 204
    assert client.get("/users/me", headers=token).status_code == 401


@pytest.mark.parametrize("who", [None, *ROLE_OF])
def test_only_admins_revoke_another_accounts_tokens(client, auth, who):
    name, user = _account(client, auth)
    token = _bearer(_login(client, name))
    r = client.post(f"/users/{user['user_id']}/logout-everywhere", headers=auth(who))
    expected = {None: 401, "admin": 200}.get(who, 403)
    assert r.status_code == expected, r.text
    assert client.get("/users/me", headers=token).status_code == (401 if who == "admin" else 200)


def test_cli_reset_password_and_logout_everywhere_revoke(client, auth, api_db, monkeypatch):
    from typer.testing import CliRunner

    from api.cli.users import app as users_cli
    from layers.db import engine

    name, _ = _account(client, auth)
    token = _bearer(_login(client, name))
    monkeypatch.setenv("DATABASE_URL", api_db)
    monkeypatch.setenv("MINQING_BCRYPT_ROUNDS", "4")
    engine.cache_clear()
    try:
        runner = CliRunner()
        r = runner.invoke(users_cli, ["logout-everywhere", name.upper()])
        assert r.exit_code == 0, r.output
        assert client.get("/users/me", headers=token).status_code == 401
        token = _bearer(_login(client, name))
        r = runner.invoke(users_cli, ["reset-password", name, "--password-stdin"], input="another-password\n")
        assert r.exit_code == 0, r.output
    finally:
        engine.cache_clear()
    assert client.get("/users/me", headers=token).status_code == 401
    assert _login(client, name, "another-password").status_code == 200


# --- 9. input hygiene ---------------------------------------------------------------------------------------


def test_usernames_are_stored_in_one_normal_form(client, auth):
    r = client.post(
        "/users",
        json={"username": "  Ｚhao.Planner ", "password": PASSWORD, "role": "planner"},
        headers=auth("admin"),
    )
    assert r.status_code == 201 and r.json()["username"] == "zhao.planner"
    for typed in ("ZHAO.PLANNER", " zhao.planner", "ｚｈａｏ.ｐｌａｎｎｅｒ"):
        assert _login(client, typed).status_code == 200, typed
    clash = client.post(
        "/users", json={"username": "ADMIN", "password": PASSWORD, "role": "planner"}, headers=auth("admin")
    )
    assert clash.status_code == 409 and "taken" in clash.json()["error"]["message"]
    chinese = client.post(
        "/users", json={"username": "王小明", "password": PASSWORD, "role": "planner"}, headers=auth("admin")
    )
    assert chinese.status_code == 201


@pytest.mark.parametrize(
    ("username", "rule"),
    [
        ("аdmin", "look-alike"),  # Cyrillic а
        ("pοlice", "look-alike"),  # Greek ο
        ("<script>x", "markup"),
        ("a&b", "markup"),
        ("li\u200bsi", "invisible"),
        ("li si", "spaces"),
        ("-lisi", "both ends"),
        ("lisi!", "allowed characters"),
        ("  x  ", "length"),  # 1 character once trimmed
    ],
)
def test_confusable_and_markup_usernames_are_422_naming_the_rule(client, auth, username, rule):
    r = client.post(
        "/users", json={"username": username, "password": PASSWORD, "role": "planner"}, headers=auth("admin")
    )
    assert r.status_code == 422, r.text
    assert rule in r.json()["error"]["message"]


def _raw_http(base: str, request: bytes, *, wait: float = 10.0) -> bytes:
    """Send ``request`` (headers only: the promised body is never sent) and read the answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(request)
        answer = b""
        with contextlib.suppress(TimeoutError):
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
    return answer


def test_anonymous_uploads_are_refused_before_the_body_is_read(api_db):
    """The server answers while the 40 MB body it was promised has not been sent at all:
    it read none of it.
    """
    with served(_app(api_db)) as base:
        answer = _raw_http(
            base,
            (
                b"POST /imports/facilities HTTP/1.1\r\nHost: testserver\r\n"
                b"Content-Type: multipart/form-data; boundary=xyz\r\n"
                b"Content-Length: 41943040\r\n\r\n"
            ),
        )
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"nothing was read" in answer


def test_uploads_with_a_logged_out_token_are_refused_before_the_body_is_read(api_db, client, auth):
    name, _ = _account(client, auth)
    token = _bearer(_login(client, name))
    client.post("/auth/logout", headers=token)
    with served(_app(api_db)) as base:
        answer = _raw_http(
            base,
            (
                b"POST /imports/facilities HTTP/1.1\r\nHost: testserver\r\n"
                b"Authorization: " + token["Authorization"].encode() + b"\r\n"
                b"Content-Type: multipart/form-data; boundary=xyz\r\n"
                b"Content-Length: 41943040\r\n\r\n"
            ),
        )
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"revoked" in answer and b"nothing was read" in answer


def test_a_declared_oversize_upload_is_refused_before_the_body_is_read(api_db, tokens):
    with served(_app(api_db, max_upload_mb=1)) as base:
        answer = _raw_http(
            base,
            (
                b"POST /imports/facilities HTTP/1.1\r\nHost: testserver\r\n"
                b"Authorization: Bearer " + tokens["planner"].encode() + b"\r\n"
                b"Content-Type: multipart/form-data; boundary=xyz\r\n"
                b"Content-Length: 2097152\r\n\r\n"
            ),
        )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"MINQING_MAX_UPLOAD_MB" in answer


def _import_job(client, auth, api_db, r, who: str) -> dict:
    """The job an accepted upload queued, once a real worker of the task queue ended it."""
    assert r.status_code == 202, r.text
    drain(api_db)
    return client.get(r.headers["location"], headers=auth(who)).json()


def test_an_authenticated_upload_still_works(api_db, client, auth):
    csv = "名称,类型,经度,纬度,状态\n守卫幼儿园,kindergarten,113.331,22.611,开放\n"
    r = client.post(
        "/imports/facilities",
        files={"file": ("f.csv", csv.encode(), "text/csv")},
        params={"dry_run": "true"},
        headers=auth("planner"),
    )
    job = _import_job(client, auth, api_db, r, "planner")
    assert job["status"] == "done" and job["result"]["ok"] is True, job
    assert (
        client.post("/imports/facilities", files={"file": ("f.csv", csv.encode(), "text/csv")}).status_code
        == 401
    )


def _residence(population: int, elderly: int, children: int) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [113.35, 22.6]},
        "properties": {
            "area_id": COMMUNITY2,
            "households": 3,
            "population": population,
            "elderly": elderly,
            "children": children,
        },
    }


@pytest.mark.parametrize(("population", "elderly", "children"), [(5, 6, 0), (5, 0, 6), (5, 3, 3)])
def test_a_residence_with_more_elderly_or_children_than_people_is_422(
    client, auth, population, elderly, children
):
    r = client.post(
        "/collections/residences/items",
        json=_residence(population, elderly, children),
        headers=auth("planner"),
    )
    assert r.status_code == 422, r.text
    assert "elderly" in r.json()["error"]["message"] and "population" in r.json()["error"]["message"]


def test_a_residence_patch_that_breaks_the_counts_is_422(client, auth, api_db):
    created = client.post("/collections/residences/items", json=_residence(5, 2, 1), headers=auth("planner"))
    assert created.status_code == 201, created.text
    url = f"/collections/residences/items/{created.json()['id']}"
    r = client.patch(
        url,
        json={"properties": {"elderly": 5}},
        headers=auth("planner", **{"If-Match": created.headers["etag"]}),
    )
    assert r.status_code == 422 and "elderly" in r.json()["error"]["message"]
    ok = client.patch(
        url,
        json={"properties": {"elderly": 4}},
        headers=auth("planner", **{"If-Match": created.headers["etag"]}),
    )
    assert ok.status_code == 200, ok.text
    # the database itself holds the rule (any writer)
    with pytest.raises(Exception, match="residence_people_consistent"), session(api_db) as s:
        s.execute(
            text("UPDATE residences SET children = 2 WHERE residence_id = :i"), {"i": created.json()["id"]}
        )


def test_an_import_with_more_elderly_and_children_than_people_is_refused_by_row(api_db, client, auth):
    csv = (
        "标准地址,户数,人口,60岁以上,0-14岁,经度,纬度\n二社区好1号,2,6,2,1,113.352,22.612\n"
        "二社区坏2号,2,4,3,2,113.353,22.613\n"
    )
    r = client.post(
        "/imports/addresses", files={"file": ("r.csv", csv.encode(), "text/csv")}, headers=auth("planner")
    )
    job = _import_job(client, auth, api_db, r, "planner")
    assert job["status"] == "failed" and "nothing was written" in job["error"], job
    problems = job["result"]["problems"]
    assert [p["row"] for p in problems] == [3] and "exceed" in problems[0]["problem"]


WORK = [
    "0755-12345678",
    "075512345678",
    "0755-1234567转123",
    "010-12345678-8001",
    "12345",
    "95588",
    "400-123-4567",
    "800 123 4567".replace(" ", "-"),
    "工作手机 13912345678",
    "工作电话：13912345678",
]
NOT_WORK = [
    "13912345678",
    "+86 13912345678",
    "139-1234-5678",
    "12345678",
    "0755 12345678",
    "手机13912345678",
    "",
    "<b>0755-12345678</b>",
]


@pytest.mark.parametrize(("phone", "ok"), [(p, True) for p in WORK] + [(p, False) for p in NOT_WORK])
def test_the_work_phone_rule_is_the_same_in_python_and_in_the_database(api_db, phone, ok):
    from layers.models import is_work_phone

    with session(api_db) as s:
        in_db = s.execute(
            text(
                "SELECT CAST(:p AS text) ~ (SELECT substring(pg_get_constraintdef(oid) "
                "FROM $$'(.*)'::text$$) FROM pg_constraint WHERE conname = 'area_worker_phone_work')"
            ),
            {"p": phone},
        ).scalar_one()
    assert (is_work_phone(phone), in_db) == (ok, ok)


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("UPDATE residences SET elderly = population + 1 WHERE residence_id = 1", "elderly (60岁以上)"),
        ("UPDATE areas SET worker_phone = '13912345678' WHERE area_id = 10001", "work number"),
    ],
)
def test_loaders_meeting_a_rule_of_the_database_name_it(api_db, sql, says):
    """Any loader writing past its own checks (bulk COPY) gets the rule in words from the database error."""
    from sqlalchemy.exc import IntegrityError

    from layers.errors import describe_database_error

    with pytest.raises(IntegrityError) as caught, session(api_db) as s:
        s.execute(text(sql))
    problem, fix = describe_database_error(caught.value)
    assert says in problem and fix and "constraint" not in problem + fix


def _grid(client) -> tuple[str, str]:
    r = client.get(f"/collections/grids/items/{GRID_A}")
    return f"/collections/grids/items/{GRID_A}", r.headers["etag"]


@pytest.mark.parametrize("phone", NOT_WORK[:3])
def test_a_personal_mobile_as_the_grid_workers_public_phone_is_422(client, auth, phone):
    url, etag = _grid(client)
    r = client.patch(
        url, json={"properties": {"worker_phone": phone}}, headers=auth("admin", **{"If-Match": etag})
    )
    assert r.status_code == 422, r.text
    assert "work number" in r.json()["error"]["message"] and "工作手机" in r.json()["error"]["message"]
    assert client.get(url).json()["properties"]["worker_phone"] == "0755-0000001"


def test_a_marked_work_mobile_is_accepted_and_public(client, auth):
    url, etag = _grid(client)
    r = client.patch(
        url,
        json={"properties": {"worker_phone": "工作手机 13912345678"}},
        headers=auth("admin", **{"If-Match": etag}),
    )
    assert r.status_code == 200, r.text
    assert client.get(url).json()["properties"]["worker_phone"] == "工作手机 13912345678"
    url, etag = _grid(client)
    client.patch(
        url,
        json={"properties": {"worker_phone": "0755-0000001"}},
        headers=auth("admin", **{"If-Match": etag}),
    )


def test_a_grid_import_with_a_personal_mobile_is_refused_by_row(api_db, client, auth):
    import geopandas as gpd
    import shapely
    from api_fixture import AREAS

    row = next(a for a in AREAS if a[0] == GRID_A)
    frame = gpd.GeoDataFrame(
        {
            "编码": [row[3]],
            "名称": [row[4]],
            "层级": ["grid_small"],
            "网格员": [row[6]],
            "网格员电话": ["13912345678"],
        },
        geometry=shapely.from_wkt([row[8]]),
        crs=4326,
    )
    r = client.post(
        "/imports/grids",
        files={"file": ("g.geojson", frame.to_json(ensure_ascii=False).encode(), "application/geo+json")},
        headers=auth("admin"),
    )
    job = _import_job(client, auth, api_db, r, "admin")
    assert job["status"] == "failed" and "nothing was written" in job["error"], job
    problems = job["result"]["problems"]
    assert [(p["row"], p["column"]) for p in problems] == [(1, "网格员电话 worker_phone")]
