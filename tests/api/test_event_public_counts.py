"""本月已办结 per community on the public side: exact counts never shown, small counts suppressed."""

from __future__ import annotations

from datetime import UTC, datetime

from api_fixture import COMMUNITY1, COMMUNITY2
from sqlalchemy import create_engine, text

from geo.deadlines import BEIJING


def _resolved_event(client, auth, lon: float, lat: float) -> None:
    r = client.post("/events", json={"category": "sanitation", "description": "公开计数测试", "lon": lon, "lat": lat},
                    headers=auth("admin"))
    assert r.status_code == 201, r.text
    event_id, etag = r.json()["event_id"], r.headers["etag"]
    for body in ({"action": "accept"}, {"action": "resolve", "note": "已清理"}):
        r = client.post(f"/events/{event_id}/transitions", json=body, headers=auth("admin", **{"If-Match": etag}))
        assert r.status_code == 200, r.text
        etag = r.headers["etag"]


def _exact(api_db) -> dict[int, int]:
    today = datetime.now(UTC).astimezone(BEIJING)
    since = datetime(today.year, today.month, 1, tzinfo=BEIJING)
    engine = create_engine(api_db)
    with engine.connect() as con:
        rows = con.execute(text("SELECT community_id, count(*) FROM events WHERE resolved_at >= :s "
                                "AND status IN ('resolved', 'reviewed', 'archived') GROUP BY 1"), {"s": since}).all()
    engine.dispose()
    return dict(rows)


def test_resolved_counts_are_rounded_or_suppressed(client, auth, api_db):
    before = _exact(api_db)
    # community 2 gets at most a few more (kept under the threshold of 5), community 1 at least 7
    for i in range(max(0, 2 - before.get(COMMUNITY2, 0))):
        _resolved_event(client, auth, 113.35 + i * 0.001, 22.62)
    for i in range(max(0, 7 - before.get(COMMUNITY1, 0))):
        _resolved_event(client, auth, 113.22 + i * 0.001, 22.63)
    exact = _exact(api_db)
    assert exact[COMMUNITY2] < 5 <= exact[COMMUNITY1]
    r = client.get("/public/resolved-counts")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["month"] == datetime.now(UTC).astimezone(BEIJING).strftime("%Y-%m") and "办结" in body["measure"]
    shown = {c["area_id"]: c for c in body["communities"]}
    assert shown[COMMUNITY2]["resolved"] is None and shown[COMMUNITY2]["suppressed"] is True
    n = exact[COMMUNITY1]
    assert shown[COMMUNITY1]["resolved"] == (n + 2) // 5 * 5 and shown[COMMUNITY1]["suppressed"] is False
    assert all(c["resolved"] is None or c["resolved"] % 5 == 0 for c in body["communities"])
    for key in ("event_id", "description", "reporter_phone", "lon", "tracking_code", "households"):
        assert key not in r.text


def test_another_month_and_a_bad_one(client):
    r = client.get("/public/resolved-counts", params={"month": "2020-01"})
    assert r.status_code == 200 and all(c["suppressed"] for c in r.json()["communities"])
    r = client.get("/public/resolved-counts", params={"month": "2026-13"})
    assert r.status_code == 422 and "YYYY-MM" in r.text
