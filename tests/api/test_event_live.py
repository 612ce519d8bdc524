"""Live updates (GET /events/stream): server-sent events fed by PostgreSQL LISTEN/NOTIFY.

Two servers (each its own event loop, hub and LISTEN connection, as two processes would be): a change
made through one reaches the streams open on the other. Each stream carries only the events its
viewer may see (a department its department's, a grid worker their grid's, a dispatcher their town's);
roles without events are refused before any stream starts. Over real HTTP (uvicorn)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from api_fixture import DEPARTMENT, GRID_A, GRID_B, TOWN, make_settings

IN_A, IN_B = (113.22, 22.6), (113.27, 22.6)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served(api_db) -> Iterator[str]:
    import uvicorn

    from api.main import create_app

    app = create_app(make_settings(), database_url=api_db)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
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
        server.force_exit = True  # open streams would hold it otherwise
        thread.join(timeout=10)


class Listener:
    """One open stream read in a thread: the `change` messages as they arrive."""

    def __init__(self, base: str, token: str):
        self.changes: list[dict] = []
        self.ready = threading.Event()
        self.status: int | None = None
        self.content_type = ""
        self._client = httpx.Client(base_url=base, timeout=httpx.Timeout(5, read=60))
        self._thread = threading.Thread(target=self._read, args=(token,), daemon=True)
        self._thread.start()
        assert self.ready.wait(15), "the stream never said ready"

    def _read(self, token: str) -> None:
        name = None
        headers = {"Authorization": f"Bearer {token}"}
        with (
            contextlib.suppress(httpx.HTTPError, RuntimeError),
            self._client.stream("GET", "/events/stream", headers=headers) as r,
        ):
            self.status, self.content_type = r.status_code, r.headers.get("content-type", "")
            for line in r.iter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    if name == "ready":
                        self.ready.set()
                    elif name == "change":
                        self.changes.append(json.loads(line[6:]))

    def wait_for(self, event_id: int, action: str, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for c in self.changes:
                if c["event_id"] == event_id and c["action"] == action:
                    return c
            time.sleep(0.02)
        raise AssertionError(f"no {action} of event {event_id} within {timeout} s: got {self.changes}")

    def ids(self) -> set[int]:
        return {c["event_id"] for c in self.changes}

    def close(self) -> None:
        self._client.close()


def _create(base, token, lon_lat, category="sanitation") -> dict:
    r = httpx.post(
        f"{base}/events",
        headers={"Authorization": f"Bearer {token}"},
        json={"category": category, "description": "实时更新测试", "lon": lon_lat[0], "lat": lon_lat[1]},
    )
    assert r.status_code == 201, r.text
    return r.json()


def _step(base, token, event_id, **body) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    etag = httpx.get(f"{base}/events/{event_id}", headers=headers).headers["etag"]
    r = httpx.post(f"{base}/events/{event_id}/transitions", json=body, headers={**headers, "If-Match": etag})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize(
    ("who", "status"), [(None, 401), ("planner", 403), ("officer", 403), ("gridworker_nogrid", 403)]
)
def test_stream_refused_to_roles_without_events(client, auth, who, status):
    r = client.get("/events/stream", headers=auth(who))
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")


def test_changes_reach_other_servers_by_scope(api_db, tokens):
    with served(api_db) as one, served(api_db) as two:
        listeners = {
            who: Listener(two, tokens[who]) for who in ("dispatcher", "department", "gridworker", "admin")
        }
        try:
            for listener in listeners.values():
                assert listener.status == 200 and listener.content_type.startswith("text/event-stream")
            in_a = _create(one, tokens["dispatcher"], IN_A, category="elderly_care")  # 民政局's category
            in_b = _create(one, tokens["dispatcher"], IN_B, category="road")  # straight to the centre
            assert (in_a["grid_id"], in_b["grid_id"]) == (GRID_A, GRID_B)
            seen = listeners["dispatcher"].wait_for(in_a["event_id"], "report")
            assert seen["town_id"] == TOWN and seen["status"] == in_a["status"]
            assert "description" not in seen and "reporter_phone" not in seen
            listeners["dispatcher"].wait_for(in_b["event_id"], "report")
            listeners["gridworker"].wait_for(in_a["event_id"], "report")
            listeners["admin"].wait_for(in_b["event_id"], "report")

            # up to the command centre, then 分拨 to the department: now the department hears of it
            _step(one, tokens["gridworker"], in_a["event_id"], action="escalate")
            listeners["dispatcher"].wait_for(in_a["event_id"], "escalate")
            assigned = _step(
                one, tokens["dispatcher"], in_a["event_id"], action="assign", department=DEPARTMENT
            )
            got = listeners["department"].wait_for(in_a["event_id"], "assign")
            assert got["department"] == DEPARTMENT and got["version"] == assigned["version"]
            _step(one, tokens["dispatcher"], in_b["event_id"], action="assign", department="城管执法局")
            listeners["admin"].wait_for(in_b["event_id"], "assign")
            listeners["dispatcher"].wait_for(in_b["event_id"], "assign")
            time.sleep(0.5)  # what should not arrive has had the time to
            # the grid worker never hears of grid B, the department never of another department's event
            assert in_b["event_id"] not in listeners["gridworker"].ids()
            assert in_b["event_id"] not in listeners["department"].ids()
            assert [
                c["action"] for c in listeners["department"].changes if c["event_id"] == in_a["event_id"]
            ] == ["assign"]
        finally:
            for listener in listeners.values():
                listener.close()


@pytest.mark.parametrize("path", ["/events/points", "/events/counts"])
@pytest.mark.parametrize(
    ("who", "status"),
    [
        (None, 401),
        ("planner", 403),
        ("officer", 403),
        ("gridworker_nogrid", 403),
        ("gridworker", 200),
        ("dispatcher", 200),
        ("department", 200),
        ("admin", 200),
    ],
)
def test_points_and_counts_roles(client, auth, path, who, status):
    assert client.get(path, headers=auth(who)).status_code == status


def test_points_and_counts_by_scope(client, auth, api_db):
    """Each viewer's map points and counts are exactly their events, read here with plain SQL."""
    from sqlalchemy import create_engine, text

    made = [
        client.post(
            "/events",
            headers=auth("dispatcher"),
            json={"category": c, "description": "地图点位测试", "lon": p[0], "lat": p[1]},
        ).json()
        for c, p in (("sanitation", IN_A), ("road", IN_B), ("road", IN_A))
    ]
    _transition(client, auth, "dispatcher", made[2]["event_id"], action="assign", department=DEPARTMENT)
    engine = create_engine(api_db)
    with engine.connect() as con:
        truth = {
            "admin": set(con.execute(text("SELECT event_id FROM events")).scalars()),
            "dispatcher": set(
                con.execute(text("SELECT event_id FROM events WHERE town_id = :t"), {"t": TOWN}).scalars()
            ),
            "gridworker": set(
                con.execute(text("SELECT event_id FROM events WHERE grid_id = :g"), {"g": GRID_A}).scalars()
            ),
            "department": set(
                con.execute(
                    text("SELECT event_id FROM events WHERE department = :d"), {"d": DEPARTMENT}
                ).scalars()
            ),
        }
        open_now = {
            who: con.execute(
                text(
                    "SELECT count(*) FROM events WHERE status IN "
                    "('reported','accepted','escalated','assigned','handling') AND event_id = ANY(:ids)"
                ),
                {"ids": list(ids)},
            ).scalar_one()
            for who, ids in truth.items()
        }
    engine.dispose()
    assert made[2]["event_id"] in truth["department"] and made[1]["event_id"] not in truth["department"]
    for who, ids in truth.items():
        body = client.get("/events/points", params={"days": 366}, headers=auth(who)).json()
        i = body["columns"].index("event_id")
        assert {row[i] for row in body["rows"]} == ids, who
        counts = client.get("/events/counts", headers=auth(who)).json()
        assert counts["month"]["open"] == counts["today"]["open"] == open_now[who], who
        assert counts["today"]["reported"] <= counts["month"]["reported"] <= len(ids)


def _transition(client, auth, who, event_id, **body):
    etag = client.get(f"/events/{event_id}", headers=auth(who)).headers["etag"]
    r = client.post(f"/events/{event_id}/transitions", json=body, headers=auth(who, **{"If-Match": etag}))
    assert r.status_code == 200, r.text


def _open_and_late(api_db, town: int, now) -> tuple[int, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(api_db)
    with engine.connect() as con:
        row = con.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE due_at < :now OR overdue) FROM events "
                "WHERE town_id = :t AND status IN ('reported','accepted','escalated','assigned','handling')"
            ),
            {"t": town, "now": now},
        ).one()
    engine.dispose()
    return tuple(row)


def test_counts_answer_304_until_an_event_changes(client, auth, api_db):
    first = client.get("/events/counts", headers=auth("dispatcher"))
    assert first.status_code == 200 and first.headers["etag"]
    again = client.get(
        "/events/counts", headers=auth("dispatcher", **{"If-None-Match": first.headers["etag"]})
    )
    assert again.status_code == 304 and again.headers["etag"] == first.headers["etag"] and not again.content
    client.post(
        "/events",
        headers=auth("dispatcher"),
        json={"category": "sanitation", "description": "计数缓存测试", "lon": IN_A[0], "lat": IN_A[1]},
    )
    changed = client.get(
        "/events/counts", headers=auth("dispatcher", **{"If-None-Match": first.headers["etag"]})
    )
    assert changed.status_code == 200 and changed.headers["etag"] != first.headers["etag"]
    body = changed.json()
    assert body["today"]["reported"] == first.json()["today"]["reported"] + 1
    assert body["today"]["open"] == _open_and_late(api_db, TOWN, body["at"])[0]


def test_cached_counts_follow_the_clock_past_a_deadline(client, auth, api_db):
    """No event changes, yet an open event's deadline passes: 超时 counts it from then on."""
    from datetime import datetime, timedelta

    from sqlalchemy import text

    from layers import users
    from layers.db import session
    from pipeline import events as service

    made = client.post(
        "/events",
        headers=auth("dispatcher"),
        json={"category": "sanitation", "description": "期限缓存测试", "lon": IN_A[0], "lat": IN_A[1]},
    ).json()
    due = datetime.fromisoformat(made["due_at"])
    before, after = due - timedelta(minutes=1), due + timedelta(minutes=1)
    with session(api_db) as s:
        # events other tests opened moments earlier fall due just before ours: ask again before any
        # deadline passes (halfway to the next one), when the cached answer is still the true one
        following = s.execute(
            text("SELECT min(due_at) FROM events WHERE due_at > :t AND resolved_at IS NULL"),
            {"t": before},
        ).scalar_one()
        again = before + min(timedelta(seconds=30), (following - before) / 2)
        dispatcher = users.by_username(s, "dispatcher")
        seen_before = service.today_and_month(s, dispatcher, now=before)
        # from the cache
        seen_again = service.today_and_month(s, dispatcher, now=again)
        seen_after = service.today_and_month(s, dispatcher, now=after)
    assert seen_again == seen_before
    for seen, at in ((seen_before, before), (seen_after, after)):
        assert (seen["today"]["open"], seen["today"]["overdue"]) == _open_and_late(api_db, TOWN, at)
    assert seen_after["today"]["overdue"] >= seen_before["today"]["overdue"] + 1
