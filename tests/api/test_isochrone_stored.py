"""Issue 19.3: the facility isochrone route answers from the isochrones stored with the latest run.

On a small demo district of its own (the API fixture's run holds no isochrones): the route's answer
is the stored one (a stored polygon altered in the database comes back as altered), equals what it
computes when nothing is stored, is the same for anonymous viewers and every role, keeps the
anonymous budget cap, holds no personal field, and is computed again (not read) once the facilities
changed after the run. No timing is asserted.
"""

from __future__ import annotations

import json

import pytest
import shapely
from api_fixture import PASSWORD, asgi_client, make_settings
from sqlalchemy import text

from layers.db import session

ROLES = {"admin": "admin", "planner": "planner", "officer": "placename_officer", "gridworker": "grid_worker"}
PUBLIC_KEYS = {"facility_id", "name", "type_code", "type_name", "time_s"}


@pytest.fixture(scope="module")
def served(fresh_db, stored_isochrones):
    """A small demo district with one finished run, an account per role and the app over it."""
    from api.main import create_app
    from api.security import hash_password
    from data.demo import generate
    from layers import users
    from layers.load.demo import load_district
    from pipeline import coverage as runs

    url = fresh_db("isochrone_stored")
    with session(url, actor="pytest") as s:
        load_district(s, generate(scale=0.1))
    runs.clear_cache()
    with session(url, actor="pytest") as s:
        run = runs.run_and_store(s, incremental=False)
        for username, role in ROLES.items():
            users.create(s, username=username, password_hash=hash_password(PASSWORD, rounds=4), role=role)
        ids = [
            r
            for (r,) in s.execute(
                text("SELECT facility_id FROM facilities WHERE status = 'open' ORDER BY facility_id")
            )
        ]
    app = create_app(make_settings(isochrone_processes=False), database_url=url)
    with asgi_client(app) as c:
        yield url, run, ids, c


def _login(c, username: str) -> dict:
    r = c.post("/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _fresh(url: str, facility_id: int, minutes: tuple[float, ...], profile: str) -> bytes:
    """The answer computed from the street network (what the route sends when nothing is stored)."""
    from geo.network import build_network
    from geo.profiles import get_profile, load_profiles
    from layers import lookup, queries
    from pipeline.coverage import PROFILES_CSV
    from pipeline.isochrones import Origin, Task, run

    with session(url) as s:
        lon, lat = lookup.facility_point(s, facility_id)
        chosen = get_profile(load_profiles(PROFILES_CSV), profile)
        network = build_network(queries.nodes(s), queries.edges(s), chosen)
        origin = Origin(lon, lat, {"lon": lon, "lat": lat, "facility_id": facility_id}, exclude=facility_id)
        task = Task(
            facilities=lookup.facility_points(s),
            budgets=minutes,
            profile=profile,
            snap_max_m=500.0,
            origin=origin,
        )
    status, body = run(network, task)
    assert status == "ok"
    return body


def test_every_role_gets_the_stored_answer_equal_to_a_computed_one(served):
    url, _, ids, c = served
    viewers = {"anonymous": {}, **{name: _login(c, name) for name in ROLES}}
    for fid, profile in ((ids[5], "walk"), (ids[30], "walk_elderly")):
        want = _fresh(url, fid, (5.0, 10.0, 15.0), profile)
        for who, headers in viewers.items():
            r = c.get(
                f"/facilities/{fid}/isochrone",
                params={"minutes": "5,10,15", "profile": profile},
                headers=headers,
            )
            assert r.status_code == 200, (who, r.text)
            assert r.content == want, who
        doc = json.loads(want)
        assert [f["properties"]["minutes"] for f in doc["features"]] == [5.0, 10.0, 15.0]
        assert all(set(f) == PUBLIC_KEYS for f in doc["facilities"])  # no personal or household field
        assert doc["origin"]["facility_id"] == fid


def test_the_route_reads_the_stored_polygon_until_the_facilities_change(served):
    url, run, ids, c = served
    fid = ids[12]
    marker = shapely.box(113.0, 22.0, 113.001, 22.001)  # an altered stored polygon, recognisable
    with session(url, actor="pytest") as s:
        s.execute(
            text(
                "UPDATE facility_isochrone_rows r SET geom = ST_GeomFromText(:g, 4326) "
                "FROM facility_isochrone_sources h WHERE h.run_id = :r AND h.facility_id = :f "
                "AND h.profile = 'walk' AND r.run_id = h.source_run_id AND r.facility_id = h.facility_id "
                "AND r.profile = h.profile AND r.minutes = 10"
            ),
            {"g": marker.wkt, "r": run["run_id"], "f": fid},
        )
    r = c.get(f"/facilities/{fid}/isochrone", params={"minutes": "10", "profile": "walk"})
    assert r.status_code == 200
    assert shapely.from_geojson(json.dumps(r.json()["features"][0]["geometry"])).equals(marker)
    # the anonymous cap still holds for a facility (45 minutes is not stored either)
    r = c.get(f"/facilities/{fid}/isochrone", params={"minutes": "5,45", "profile": "walk"})
    assert r.status_code == 422 and "30" in r.json()["error"]["message"]
    # a facility edited after the run: nothing stored is read, the answer is computed again
    with session(url, actor="pytest") as s:
        s.execute(text("UPDATE facilities SET name = name || '（新）' WHERE facility_id = :f"), {"f": ids[0]})
    r = c.get(f"/facilities/{fid}/isochrone", params={"minutes": "10", "profile": "walk"})
    assert r.status_code == 200
    assert not shapely.from_geojson(json.dumps(r.json()["features"][0]["geometry"])).equals(marker)
    assert r.content == _fresh(url, fid, (10.0,), "walk")
