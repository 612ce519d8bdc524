"""One error model; 5xx never shows SQL or a stack trace; body size and anonymous rate limits."""

from __future__ import annotations

import pytest
from api_fixture import asgi_client, make_settings
from sqlalchemy.exc import ProgrammingError


def _assert_error_model(body: dict) -> dict:
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"code", "message", "fix", "details"}
    assert err["code"] and err["message"] and err["fix"]
    return err


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/collections/nope", 404),
        ("GET", "/no/such/path", 404),
        ("GET", "/collections/facilities/items?bbox=1,2", 400),
        ("GET", "/collections/facilities/items?limit=abc", 400),
        ("GET", "/users", 401),
        ("DELETE", "/collections/roads/items/1", 405),
        ("POST", "/collections/facilities/items", 401),
    ],
)
def test_every_error_uses_the_one_model(client, method, path, status):
    r = client.request(method, path)
    assert r.status_code == status
    _assert_error_model(r.json())


def test_body_validation_errors_list_each_problem(client, auth):
    r = client.post(
        "/collections/facilities/items", json={"type": "Feature", "properties": {}}, headers=auth("planner")
    )
    assert r.status_code == 422
    err = _assert_error_model(r.json())
    locations = [tuple(d["location"]) for d in err["details"]]
    assert ("body", "geometry") in locations and ("body", "properties", "name") in locations


def test_internal_errors_hide_sql_and_stack_traces(client, monkeypatch, caplog):
    from layers import features

    def explode(*args, **kwargs):
        raise ProgrammingError(
            "SELECT secret_column FROM residences WHERE password_hash = 'x'", {}, Exception("boom")
        )

    monkeypatch.setattr(features, "items", explode)
    r = client.get("/collections/facilities/items", params={"limit": 17})  # a URL no test cached
    assert r.status_code == 500
    err = _assert_error_model(r.json())
    assert err["code"] == "internal_error"
    for leak in ("SELECT", "secret_column", "password_hash", "Traceback", "boom", "residences"):
        assert leak not in r.text
    assert "reference" in err["message"]
    assert any("internal error" in rec.getMessage() for rec in caplog.records)  # logged server-side


def test_unexpected_python_errors_become_clean_500s(client, monkeypatch):
    from layers import features

    def bug(*args, **kwargs):
        raise KeyError("internal detail")

    monkeypatch.setattr(features, "district_extent", bug)
    r = client.get("/collections")
    assert r.status_code == 500
    assert "internal detail" not in r.text and "KeyError" not in r.text
    _assert_error_model(r.json())


def test_database_down_is_503_without_the_url(api_db):
    bad = api_db.rsplit("@", 1)[0] + "@127.0.0.1:1/nowhere"
    from api.main import create_app

    with asgi_client(create_app(make_settings(), database_url=bad)) as c:
        r = c.get("/healthz")
    assert r.status_code == 503
    err = _assert_error_model(r.json())
    assert "127.0.0.1" not in r.text and "nowhere" not in r.text
    assert err["code"] == "service_unavailable"


def test_oversized_bodies_are_413(api_db, auth):
    from api.main import create_app

    app = create_app(make_settings(max_upload_mb=0.001), database_url=api_db)  # ~1 kB
    with asgi_client(app) as c:
        big = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [113.3, 22.6]},
            "properties": {"type_code": "public_toilet", "name": "x", "address": "长" * 2000},
        }
        r = c.post("/collections/facilities/items", json=big, headers=auth("planner"))
        assert r.status_code == 413
        err = _assert_error_model(r.json())
        assert "MINQING_MAX_UPLOAD_MB" in err["fix"]

        def chunks():  # no Content-Length: counted while streaming
            for _ in range(10):
                yield b"x" * 500

        streamed = c.post(
            "/collections/facilities/items",
            content=chunks(),
            headers=auth("planner", **{"Content-Type": "application/json"}),
        )
        assert streamed.status_code == 413


def test_anonymous_clients_are_rate_limited_with_retry_after(api_db, auth):
    from api.main import create_app

    app = create_app(make_settings(rate_limit_per_second=0.5, rate_limit_burst=3), database_url=api_db)
    with asgi_client(app) as c:
        codes = [c.get("/collections/facility_types").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = c.get("/collections/facility_types")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert _assert_error_model(r.json())["code"] == "rate_limited"
        # logged-in users and the health check are not limited
        assert c.get("/collections/facility_types", headers=auth("planner")).status_code == 200
        assert c.get("/healthz").status_code == 200
        # nor the maps' static files (a page load fetches a dozen at once)
        assert c.get("/assets/static/minqing.css").status_code == 200
        assert c.get("/collections/facility_types").status_code == 429
        # a forged token does not lift the limit
        assert (
            c.get(
                "/collections/facility_types", headers={"Authorization": "Bearer forged.token.here"}
            ).status_code
            == 429
        )


def test_the_allowance_is_one_count_for_every_process_and_survives_a_restart(api_db):
    """Two ``SharedLimit`` objects are what two server processes hold: one count in the database."""
    from api.limits import SharedLimit

    first, second = (SharedLimit("test-shared", rate=0.01, burst=3, url=api_db) for _ in range(2))
    assert [first.take("198.51.100.1"), second.take("198.51.100.1"), first.take("198.51.100.1")] == [0.0] * 3
    wait = second.take("198.51.100.1")
    assert 1 <= wait <= 300 + 1  # the window is burst / rate = 300 s
    restarted = SharedLimit("test-shared", rate=0.01, burst=3, url=api_db)
    assert restarted.take("198.51.100.1") > 0 and restarted.take("198.51.100.2") == 0.0  # per client


def test_without_its_database_the_allowance_counts_nothing_and_lets_requests_pass():
    from api.limits import SharedLimit

    gone = SharedLimit("test-gone", rate=0.01, burst=1, url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert [gone.take("198.51.100.3"), gone.take("198.51.100.3")] == [0.0, 0.0]


def test_status_table_maps_library_errors():
    from api.errors import status_for
    from geo.errors import GeoError, MissingColumnsError
    from layers.errors import Conflict, DatabaseUnavailable, NotFound

    assert status_for(NotFound("x")) == 404
    assert status_for(Conflict("x")) == 412
    assert status_for(DatabaseUnavailable("x")) == 503
    assert status_for(MissingColumnsError("edges", ["u"])) == 422
    assert status_for(GeoError("x")) == 400
    assert status_for(RuntimeError("x")) == 500


def test_pool_exhaustion_is_503_busy_with_retry_after(client, monkeypatch):
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from layers import features

    def busy(*args, **kwargs):
        raise PoolTimeout("QueuePool limit of size 10 overflow 20 reached")

    monkeypatch.setattr(features, "items", busy)
    r = client.get("/collections/water/items", params={"kind": "sea"})  # a URL no test cached
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert _assert_error_model(r.json())["code"] == "busy" and "QueuePool" not in r.text


def test_waiting_for_a_database_slot_too_long_is_503_busy(api_db):
    from api.main import create_app

    app = create_app(make_settings(db_concurrency=1, db_wait_seconds=0.05), database_url=api_db)
    with asgi_client(app) as c:
        slot = c.portal.call(_take_the_only_slot, app)  # the client's requests run on this same loop
        r = c.get("/collections/facility_types")
        assert r.status_code == 503 and r.headers["retry-after"] == "2"
        assert _assert_error_model(r.json())["code"] == "busy"
        c.portal.call(_give_back, slot)
        assert c.get("/collections/facility_types").status_code == 200


async def _take_the_only_slot(app):
    from types import SimpleNamespace

    from api.deps import _slots

    slots = _slots(SimpleNamespace(app=app))
    await slots.acquire()
    return slots


async def _give_back(slots) -> None:
    slots.release()


def test_the_default_anonymous_limit_is_sane():
    """Defaults: 20 requests/s and a burst of 60 per IP (was 100/s and 1,000: hardly a limit)."""
    from settings import ApiSettings

    settings = ApiSettings(secret_key="x" * 40)
    assert settings.rate_limit_per_second == 20 and settings.rate_limit_burst == 60
