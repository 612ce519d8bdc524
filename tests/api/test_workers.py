"""``minqing serve --workers 2``: two real server processes share every piece of state that must be
shared — the anonymous rate limit, the login throttle, job state — and keep it across a restart.

Each request is sent on a keep-alive connection whose server side is found in /proc (the socket's
inode among each worker's open files), so the test knows which process answered and uses one
connection held by each worker.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from api_fixture import PASSWORD, fresh_database, load_fixture_district
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")

ROOT = Path(__file__).resolve().parents[2]
LIMITS = {
    "MINQING_RATE_LIMIT_PER_SECOND": "0.01",
    "MINQING_RATE_LIMIT_BURST": "8",
    "MINQING_LOGIN_ATTEMPTS_PER_MINUTE": "0.1",
    "MINQING_LOGIN_BURST": "3",
    "MINQING_BCRYPT_ROUNDS": "4",
}


@pytest.fixture(scope="module")
def workers_db(db_url) -> str:
    url = fresh_database(db_url, make_url(db_url).database + "_workers")
    load_fixture_district(url)
    return url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``minqing serve --workers 2`` on a free port; its worker processes' pids."""

    def __init__(self, url: str):
        self.port = _free_port()
        env = {**os.environ, **LIMITS, "DATABASE_URL": url, "MINQING_DATABASE_URL": url}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--workers", "2", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180  # two processes import the app: slow on a busy machine
        while len(self.workers()) < 2 or not self._answers():
            assert self.proc.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)

    def _answers(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        pids = [int(p) for p in children.read_text().split()] if children.exists() else []
        # uvicorn's supervisor may also start a helper (multiprocessing's resource tracker): keep servers
        return [p for p in pids if b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()]

    def connection_on(self, pid: int) -> http.client.HTTPConnection:
        """A keep-alive connection that worker ``pid`` accepted."""
        for _ in range(200):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            conn.connect()
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            if _owner(conn.sock.getsockname()[1], self.port, self.workers()) == pid:
                return conn
            conn.close()
        raise AssertionError(f"no connection landed on worker {pid}")

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=60)


def _owner(client_port: int, server_port: int, pids: list[int]) -> int | None:
    """The pid among ``pids`` holding the server side of the TCP connection from ``client_port``."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            inode = fields[9]
    if inode is None:
        return None
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def _get(conn: http.client.HTTPConnection, path: str, headers: dict | None = None) -> int:
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    r.read()
    return r.status


def _post(conn: http.client.HTTPConnection, path: str, body: str, headers: dict) -> tuple[int, dict]:
    conn.request("POST", path, body=body, headers=headers)
    r = conn.getresponse()
    return r.status, json.loads(r.read() or b"{}")


def _login(conn, password: str) -> tuple[int, dict]:
    return _post(
        conn,
        "/auth/token",
        f"username=planner&password={password}",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )


def test_two_workers_share_limits_throttles_and_jobs_and_keep_them_across_a_restart(workers_db):
    server = Server(workers_db)
    try:
        one, two = server.workers()
        a, b = server.connection_on(one), server.connection_on(two)
        # the login throttle per address: 3 attempts in any 30 minutes, shared
        assert [_login(a, "wrong")[0], _login(b, "wrong")[0], _login(a, "wrong")[0]] == [401] * 3
        assert _login(b, PASSWORD)[0] == 429
        # the anonymous limit: 8 requests in any 800 s for this address (4 were the logins above),
        # whichever process counts them
        assert [
            _get(a, "/collections/facility_types"),
            _get(b, "/collections/facility_types"),
            _get(a, "/collections/facility_types"),
            _get(b, "/collections/facility_types"),
        ] == [200] * 4
        assert (_get(a, "/collections/facility_types"), _get(b, "/collections/facility_types")) == (429, 429)
        # job state: a run queued through one process blocks a second one asked of the other
        with _logged_in(workers_db) as token:
            auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            status, run = _post(a, "/coverage/runs", "{}", auth)
            assert status == 202, run
            status, refused = _post(b, "/coverage/runs", "{}", auth)
            assert status == 409 and refused["error"]["details"] == {"run_id": run["run_id"]}
    finally:
        server.stop()
    restarted = Server(workers_db)  # new processes: the counts are where they were
    try:
        for pid in restarted.workers():
            conn = restarted.connection_on(pid)
            assert _get(conn, "/collections/facility_types") == 429
            assert _get(conn, "/healthz") == 200  # not limited
    finally:
        restarted.stop()


class _logged_in:
    """A planner's token made directly (the login throttle of the test's address is used up on purpose)."""

    def __init__(self, url: str):
        self.url = url

    def __enter__(self) -> str:
        from api.security import create_token
        from layers import users
        from layers.db import session

        with session(self.url) as s:
            account = users.by_username(s, "planner")
        return create_token(account, secret=os.environ["MINQING_SECRET_KEY"], minutes=60)

    def __exit__(self, *exc) -> None:
        return None
