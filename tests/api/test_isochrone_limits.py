"""Issue 14.1: public isochrones cannot starve staff.

Reproductions as regression tests: a public isochrone pool kept busy (its workers held by long
computations, its queue full) still lets logged-in users through (their own pool and reserved
database slots); one IP beyond its allowance gets 429 and a full queue 503, both with Retry-After;
an anonymous budget over the cap is a 422 naming it; the database connection is given back before
computing; a cached answer equals a freshly computed one. No timing is asserted anywhere.

"Long computations" are jobs holding the real pool's workers until the test lets them go; those
tests run the public pool on threads (``isochrone_processes=False``: a held job must share an event
with the test), the last ones check that worker processes give the same answers.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from api_fixture import asgi_client, make_settings

from layers.cache import byte_cache

STREET = {"lon": 113.25, "lat": 22.55}  # on the fixture street (node 2)


def _point(i: int) -> dict:
    """Distinct origins along the fixture street (each its own cache entry)."""
    return {"lon": round(113.215 + 0.001 * i, 4), "lat": 22.55}


@pytest.fixture()
def limited(api_db):
    """A fresh app: 1 public worker, a queue of 2, 1 isochrone per IP; 3 DB slots, 1 kept for staff."""
    from api.main import create_app

    app = create_app(
        make_settings(
            isochrone_workers=1,
            isochrone_queue=2,
            isochrone_per_client=1,
            db_concurrency=3,
            db_staff_reserved=1,
            db_wait_seconds=0.2,
            isochrone_processes=False,
        ),
        database_url=api_db,
    )
    release = threading.Event()
    with asgi_client(app) as c:
        yield app, c, release
        release.set()


def _login(c, username: str = "admin") -> dict:
    from api_fixture import PASSWORD

    r = c.post("/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _hold(pool, name: str, client: str, release: threading.Event) -> None:
    """Occupy one place of ``pool`` (a computation that lasts until ``release``)."""
    pool.submit(("held", name), client, lambda: release.wait(60))


def _until(condition, what: str) -> None:
    for _ in range(600):
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def test_public_flood_leaves_staff_answered_and_refuses_beyond_the_limits(limited, api_db):
    app, c, release = limited
    pools = app.state.isochrone_pools
    staff = _login(c)
    _hold(pools.public, "worker", "198.51.100.1", release)  # the only public worker is busy
    with ThreadPoolExecutor(1) as background:
        queued = background.submit(c.get, "/isochrones", params={**_point(1), "minutes": 15})
        _until(lambda: pools.public.pending == 2, "the anonymous request waits in the public queue")

        # the same IP again: beyond its allowance of 1 → 429 with Retry-After
        r = c.get("/isochrones", params={**_point(2), "minutes": 15})
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1

        # the queue full: another IP → 503 with Retry-After
        _hold(pools.public, "queue", "198.51.100.2", release)
        other = asgi_client(app, client=("203.0.113.7", 50000))  # (no `with`: the app is started already)
        r = other.get("/isochrones", params={**_point(3), "minutes": 15})
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "busy" and int(r.headers["Retry-After"]) >= 1
        assert "Retry-After" in r.headers

        # staff are still answered, pages and isochrones alike (their own pool)
        me = c.get("/users/me", headers=staff)
        assert me.status_code == 200 and me.json()["username"] == "admin"
        r = c.get("/isochrones", params={**_point(4), "minutes": 45, "profile": "car"}, headers=staff)
        assert r.status_code == 200, r.text
        assert [f["properties"]["minutes"] for f in r.json()["features"]] == [45.0]
        r = c.get("/facilities/1/isochrone", params={"minutes": 60}, headers=staff)
        assert r.status_code == 200, r.text
        assert not queued.done(), queued.result().text  # the anonymous one still waits

        release.set()
        answered = queued.result(timeout=60)
    assert answered.status_code == 200, answered.text
    assert answered.json()["origin"] == _point(1)
    _until(lambda: pools.public.pending == 0, "the public pool drains")


def test_only_the_public_route_is_limited(api_db):
    """A logged-in user asking many isochrones at once is never refused (no 429/503 for staff)."""
    from api.main import create_app

    app = create_app(
        make_settings(
            isochrone_workers=1, isochrone_queue=1, isochrone_per_client=1, isochrone_processes=False
        ),
        database_url=api_db,
    )
    release = threading.Event()
    with asgi_client(app) as c:
        staff = _login(c, "planner")
        _hold(app.state.isochrone_pools.public, "worker", "198.51.100.1", release)
        _hold(app.state.isochrone_pools.public, "queue", "198.51.100.2", release)
        try:
            with ThreadPoolExecutor(4) as pool:
                answers = list(
                    pool.map(
                        lambda i: c.get(
                            "/isochrones", params={**_point(10 + i), "minutes": 30}, headers=staff
                        ),
                        range(6),
                    )
                )
            assert c.get("/isochrones", params={**_point(9), "minutes": 30}).status_code == 503  # still full
        finally:
            release.set()
    assert [r.status_code for r in answers] == [200] * 6


def test_the_database_connection_is_given_back_before_computing(api_db):
    """One DB slot only: while an anonymous isochrone waits for the pool, other requests still read."""
    from api.main import create_app

    app = create_app(
        make_settings(
            isochrone_workers=1,
            isochrone_queue=2,
            db_concurrency=1,
            db_staff_reserved=0,
            db_wait_seconds=0.5,
            isochrone_processes=False,
        ),
        database_url=api_db,
    )
    release = threading.Event()
    with asgi_client(app) as c, ThreadPoolExecutor(1) as background:
        pool = app.state.isochrone_pools.public
        _hold(pool, "worker", "198.51.100.1", release)
        waiting = background.submit(c.get, "/isochrones", params={**_point(20), "minutes": 10})
        _until(lambda: pool.pending == 2, "the isochrone waits for the pool")
        r = c.get("/collections/facility_types")
        assert r.status_code == 200, r.text  # before the fix: 503, the slot was held while computing
        release.set()
        assert waiting.result(timeout=60).status_code == 200


def test_anonymous_requests_cannot_take_the_staff_database_slots(limited):
    app, c, release = limited
    staff = _login(c, "officer")
    held = c.portal.call(_take_public_slots, app, 2)  # every slot anonymous requests may use
    try:
        r = c.get("/collections/facility_types")
        assert r.status_code == 503 and r.headers["Retry-After"] == "2"
        me = c.get("/users/me", headers=staff)
        assert me.status_code == 200 and me.json()["username"] == "officer"
    finally:
        c.portal.call(_give_back, held, 2)
    assert c.get("/collections/facility_types").status_code == 200


async def _take_public_slots(app, n: int):
    from types import SimpleNamespace

    from api.deps import _slots

    slots = _slots(SimpleNamespace(app=app))
    for _ in range(n):
        await slots.acquire(staff=False)
    return slots


async def _give_back(slots, n: int) -> None:
    for _ in range(n):
        slots.release(staff=False)


@pytest.mark.parametrize(
    ("profile", "minutes", "cap"), [("car", 45, 30), ("walk", 31, 30), ("ebike", 60, 30)]
)
def test_anonymous_budget_over_the_cap_is_422_naming_it(client, auth, profile, minutes, cap):
    r = client.get("/isochrones", params={**STREET, "minutes": f"10,{minutes}", "profile": profile})
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert f"{cap} 分钟" in message and f"limited to {cap} minutes" in message and profile in message
    assert "log in" in r.json()["error"]["fix"]
    r = client.get("/facilities/1/isochrone", params={"minutes": minutes, "profile": profile})
    assert r.status_code == 422 and f"{cap} minutes" in r.json()["error"]["message"]
    # the cap itself is allowed, and staff may ask more
    assert client.get("/isochrones", params={**STREET, "minutes": cap, "profile": profile}).status_code == 200
    r = client.get(
        "/isochrones", params={**STREET, "minutes": minutes, "profile": profile}, headers=auth("gridworker")
    )
    assert r.status_code == 200, r.text


def test_an_invalid_token_gets_the_public_cap(client):
    r = client.get(
        "/isochrones",
        params={**STREET, "minutes": 45, "profile": "car"},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert r.status_code == 422 and "30" in r.json()["error"]["message"]


def test_the_caps_are_settings(api_db):
    from api.main import create_app

    app = create_app(make_settings(isochrone_public_minutes={"walk": 20, "*": 10}), database_url=api_db)
    with asgi_client(app) as c:
        r = c.get("/isochrones", params={**STREET, "minutes": 25, "profile": "walk"})
        assert r.status_code == 422 and "limited to 20 minutes" in r.json()["error"]["message"]
        r = c.get("/isochrones", params={**STREET, "minutes": 15, "profile": "car"})
        assert r.status_code == 422 and "limited to 10 minutes" in r.json()["error"]["message"]
        assert c.get("/isochrones", params={**STREET, "minutes": 20, "profile": "walk"}).status_code == 200


def test_a_cached_answer_equals_a_fresh_one(api_db):
    from api.main import create_app

    app = create_app(make_settings(), database_url=api_db)
    params = {"lon": 113.23004, "lat": 22.54996, "minutes": "5,20", "profile": "walk"}
    nearby = {**params, "lon": 113.22996, "lat": 22.55004}  # the same 0.0001° cell
    with asgi_client(app) as c:
        first = c.get("/isochrones", params=params)
        assert first.status_code == 200, first.text
        assert first.json()["origin"] == {"lon": 113.23, "lat": 22.55}
        assert len(app.state.engines.isochrones) == 1
        again, near = c.get("/isochrones", params=params), c.get("/isochrones", params=nearby)
        assert len(app.state.engines.isochrones) == 1  # both answered from the cache
        # forget it: the next answer is computed afresh
        app.state.engines.isochrones = byte_cache(32 * 1024 * 1024)
        fresh = c.get("/isochrones", params={**params, "lon": 113.23, "lat": 22.55})
        assert len(app.state.engines.isochrones) == 1
    assert fresh.status_code == 200
    assert first.content == again.content == near.content == fresh.content
    assert first.json()["features"] and first.json()["facilities"][0]["facility_id"] == 1


def test_the_cache_follows_the_data(client, auth):
    """An edit of an input layer (here a facility) is seen at once, not hidden by the cache."""
    params = {**_point(30), "minutes": "30", "profile": "walk"}
    before = client.get("/isochrones", params=params).json()
    ids = {f["facility_id"] for f in before["facilities"]}
    r = client.post(
        "/collections/facilities/items",
        headers=auth("planner"),
        json={
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [_point(30)["lon"] + 0.0005, 22.55]},
            "properties": {
                "name": "缓存测试幼儿园",
                "type_code": "kindergarten",
                "status": "open",
                "capacity": 10,
            },
        },
    )
    assert r.status_code == 201, r.text
    new_id = r.json()["id"]
    try:
        after = client.get("/isochrones", params=params).json()
        assert {f["facility_id"] for f in after["facilities"]} == ids | {new_id}
    finally:
        gone = client.delete(
            f"/collections/facilities/items/{new_id}",
            headers=auth("planner", **{"If-Match": r.headers["ETag"]}),
        )
        assert gone.status_code == 204
    assert client.get("/isochrones", params=params).json() == before


def test_worker_processes_answer_exactly_as_the_server_itself(api_db, auth):
    """Anonymous isochrones are computed in worker processes (their own network, lower priority):
    the same bytes as a logged-in user's, computed in the server process."""
    from api.main import create_app

    app = create_app(make_settings(isochrone_workers=1), database_url=api_db)
    assert app.state.isochrone_pools.processes
    with asgi_client(app) as c:
        for params in (
            {**_point(40), "minutes": "5,10,30"},
            {**_point(41), "minutes": "20", "profile": "car"},
        ):
            public = c.get("/isochrones", params=params)
            app.state.engines.isochrones = byte_cache(32 * 1024 * 1024)
            staff = c.get("/isochrones", params=params, headers=auth("planner"))
            assert public.status_code == staff.status_code == 200, (public.text, staff.text)
            assert public.content == staff.content
        r = c.get("/facilities/1/isochrone", params={"minutes": 30})
        assert r.status_code == 200 and r.json()["origin"]["facility_id"] == 1
        far = c.get("/isochrones", params={"lon": 113.38, "lat": 22.68})  # 500 m from any street
        assert far.status_code == 422 and "米" in far.json()["error"]["message"]


def test_work_that_cannot_go_to_a_process_runs_in_threads_under_the_same_limits(api_db):
    """/nearest hands the public pool a closure: it runs in the pool's threads (processes on)."""
    from api.main import create_app

    app = create_app(
        make_settings(isochrone_workers=1, isochrone_queue=0, isochrone_per_client=1), database_url=api_db
    )
    assert app.state.isochrone_pools.processes
    release = threading.Event()
    with asgi_client(app) as c:
        r = c.get("/nearest", params=STREET)
        assert r.status_code == 200, r.text
        assert r.json()["types"]
        pool = app.state.isochrone_pools.public
        pool.run(pool.admit("198.51.100.3"), ("held", "thread"), lambda: release.wait(60))
        try:
            r = c.get("/nearest", params=_point(50))
            assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1
        finally:
            release.set()
