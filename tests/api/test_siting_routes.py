"""POST /siting on the small fixture district plus a cluster of homes by 滨河路: the type's users as
demand, capacities, place labels on the sites, each candidate mode, and saving a result as a scenario
(planner and admin may; officer, grid worker and anonymous may not)."""

from __future__ import annotations

import numpy as np
import pytest
from api_fixture import (
    GRID_A,
    GRID_B,
    PASSWORD,
    asgi_client,
    drain,
    fresh_database,
    load_fixture_district,
    make_settings,
)
from sqlalchemy import text
from sqlalchemy.engine import make_url

from geo import chinacrs
from layers.db import session

# homes just north of 滨河路 around its junction with 文化路 (113.25, 22.55)
HOMES = [
    (101, 113.2485, 22.5502, GRID_A),
    (102, 113.2495, 22.5503, GRID_A),
    (103, 113.2505, 22.5502, GRID_B),
    (104, 113.2515, 22.5503, GRID_B),
    (105, 113.2700, 22.5502, GRID_B),
]
ELDERLY, CHILDREN, POPULATION = 60, 40, 300


@pytest.fixture(scope="module")
def siting_db(db_url) -> str:
    url = fresh_database(db_url, make_url(db_url).database + "_siting")
    load_fixture_district(url)
    with session(url, actor="fixture") as s:
        for i, x, y, area in HOMES:
            s.execute(
                text(
                    "INSERT INTO residences (residence_id, address, area_id, households, population, "
                    "elderly, children, geom) VALUES (:i, :a, :g, 100, :p, :e, :c, ST_Point(:x, :y, 4326))"
                ),
                {
                    "i": i,
                    "a": f"滨河路{i}号",
                    "g": area,
                    "p": POPULATION,
                    "e": ELDERLY,
                    "c": CHILDREN,
                    "x": x,
                    "y": y,
                },
            )
        s.execute(
            text("INSERT INTO network_nodes (node_id, geom) VALUES (4, ST_Point(113.25, 22.555, 4326))")
        )
        s.execute(
            text(
                "INSERT INTO network_edges (edge_id, u, v, length_m, highway, name, geom) VALUES "
                "(3, 2, 4, 556, 'residential', '文化路', "
                "ST_GeomFromText('LINESTRING(113.25 22.55,113.25 22.555)', 4326))"
            )
        )
    return url


@pytest.fixture(scope="module")
def client(siting_db):
    from api.main import create_app

    with asgi_client(create_app(make_settings(), database_url=siting_db)) as c:
        yield c


@pytest.fixture(scope="module")
def auth(client):
    tokens = {
        u: client.post("/auth/token", data={"username": u, "password": PASSWORD}).json()["access_token"]
        for u in ("planner", "admin", "officer", "gridworker")
    }
    return lambda who: {"Authorization": f"Bearer {tokens[who]}"} if who else {}


def _run(client, auth, body: dict) -> dict:
    r = client.post("/siting", json=body, headers=auth("planner"))
    assert r.status_code == 202, r.text
    drain(client.app.state.database_url)  # a real worker of the task queue computes it
    job = client.get(r.headers["location"], headers=auth("planner")).json()
    assert job["status"] == "done", job
    return job


@pytest.fixture(scope="module")
def daycare_job(client, auth) -> dict:
    """Day care at the junction, 4 places (100 elderly) — fewer than the 240 elderly within reach."""
    return _run(
        client,
        auth,
        {"type_code": "elderly_daycare", "k": 1, "capacity": 4, "candidates": {"kind": "intersections"}},
    )


def test_a_site_serves_the_types_users_up_to_its_capacity_and_names_where_it_lies(daycare_job, siting_db):
    result = daycare_job["result"]
    assert result["users"] == {"measure": "elderly", "label": "老年人", "band": 1.0, "per_unit": 25.0}
    assert result["capacity"]["per_site"] == 4 and result["capacity"]["users_per_site"] == 100
    with session(siting_db) as s:
        elderly = s.execute(text("SELECT sum(elderly) FROM residences")).scalar_one()
    assert result["current"]["total"] == pytest.approx(elderly)  # every home's elderly, not its residents
    plan = result["maximal_covering"]
    (site,) = [f["properties"] for f in plan["sites"]["features"]]
    assert (site["lon"], site["lat"]) == pytest.approx((113.25, 22.55))  # the only junction
    assert site["users_reached"] == pytest.approx(4 * ELDERLY)  # the four homes by the junction
    assert site["users_served"] == pytest.approx(100) == site["capacity_users"]
    assert site["capacity"] == pytest.approx(4)
    assert site["place"] == site["name"] and site["place"].startswith("测试街道 ")
    assert site["road"] in ("滨河路", "文化路") and "路口" in site["place"]
    users = plan["users"]
    assert users["after"] == pytest.approx(users["before"] + 100) and plan["gained"] == pytest.approx(100)
    assert (
        plan["residents"]["after"] - plan["residents"]["before"]
        == site["population_gained"]
        == 4 * POPULATION
    )
    assert plan["gap"] == 0 and plan["method"] == "exact"


def test_schools_weigh_the_children_of_their_age_band(client, auth, siting_db):
    job = _run(
        client,
        auth,
        {
            "type_code": "kindergarten",
            "k": 1,
            "candidates": {"kind": "points", "points": [[113.2501, 22.5501]]},
        },
    )
    result = job["result"]
    with session(siting_db) as s:
        children = s.execute(text("SELECT sum(children) FROM residences")).scalar_one()
    assert result["users"]["measure"] == "children" and result["users"]["label"] == "适龄儿童"
    assert result["current"]["total"] == pytest.approx(children / 5)  # ages 3-5: 3 of the 15 cohorts
    site = result["maximal_covering"]["sites"]["features"][0]["properties"]
    assert site["users_served"] == pytest.approx(4 * CHILDREN / 5)  # 270 places: not binding
    assert site["capacity_users"] == pytest.approx(270)


def test_a_planners_parcel_list_in_gcj02_is_converted(client, auth):
    lon, lat = chinacrs.wgs84_to_gcj02(np.array([113.2502, 113.2698]), np.array([22.5501, 22.5501]))
    content = "名称,经度,纬度,容量\n" + "".join(
        f"{n},{x:.8f},{y:.8f},{c}\n"
        for n, x, y, c in zip(("旧粮站", "村委旧址"), lon, lat, (2, 8), strict=True)
    )
    job = _run(
        client,
        auth,
        {
            "type_code": "elderly_daycare",
            "k": 2,
            "candidates": {"kind": "upload", "format": "csv", "crs": "gcj02", "content": content},
        },
    )
    sites = {
        f["properties"]["name"]: f["properties"]
        for f in job["result"]["maximal_covering"]["sites"]["features"]
    }
    assert set(sites) == {"旧粮站", "村委旧址"}
    assert (sites["旧粮站"]["lon"], sites["旧粮站"]["lat"]) == pytest.approx((113.2502, 22.5501), abs=1e-6)
    # its own capacity
    assert sites["旧粮站"]["capacity"] == 2 and sites["旧粮站"]["users_served"] == pytest.approx(50)
    assert sites["村委旧址"]["users_served"] == pytest.approx(ELDERLY)  # home 105 alone
    assert all(s["place"].startswith("测试街道") for s in sites.values())


def test_existing_public_buildings_as_candidates(client, auth):
    job = _run(
        client,
        auth,
        {
            "type_code": "elderly_daycare",
            "k": 1,
            "candidates": {"kind": "facilities", "types": ["kindergarten"]},
        },
    )
    result = job["result"]
    assert result["candidates"] == {"source": "facilities", "count": 1, "snapped": 1}  # the open kindergarten
    sites = result["maximal_covering"]["sites"]["features"]
    assert all(
        f["properties"]["candidate_id"] == 1 and f["properties"]["name"] == "与一号幼儿园同址" for f in sites
    )


def test_bad_requests_are_422_at_once(client, auth):
    r = client.post(
        "/siting", json={"type_code": "culture_center", "k": 1, "capacity": 10}, headers=auth("planner")
    )
    assert r.status_code == 422 and "capacity basis" in r.json()["error"]["message"]
    bad = {"kind": "upload", "format": "csv", "content": "名称,经度,纬度\n甲,abc,22.55\n"}
    r = client.post(
        "/siting", json={"type_code": "elderly_daycare", "candidates": bad}, headers=auth("planner")
    )
    assert r.status_code == 422 and "longitude/latitude" in r.json()["error"]["message"]
    far = {"kind": "upload", "format": "csv", "content": "经度,纬度\n120.0,30.0\n"}
    r = client.post(
        "/siting", json={"type_code": "elderly_daycare", "candidates": far}, headers=auth("planner")
    )
    assert r.status_code == 422 and "outside the district" in r.json()["error"]["message"]


WHO = {None: 401, "gridworker": 403, "officer": 403}


def test_saving_a_result_as_a_scenario_needs_a_planner(client, auth, daycare_job):
    url = f"/siting/jobs/{daycare_job['job_id']}/scenario"
    for who, status in WHO.items():
        assert client.post(url, json={}, headers=auth(who)).status_code == status, who
    site = daycare_job["result"]["maximal_covering"]["sites"]["features"][0]["properties"]
    for who in ("planner", "admin"):
        r = client.post(url, json={"evaluate": who == "admin"}, headers=auth(who))
        assert r.status_code == 201, r.text
        row = r.json()
        assert row["changes"] == [
            {
                "op": "add",
                "type_code": "elderly_daycare",
                "lon": pytest.approx(site["lon"]),
                "lat": pytest.approx(site["lat"]),
                "name": f"拟建老年人日间照料中心（{site['place']}）",
                "capacity": 4,
            }
        ]
        assert row["name"].startswith("选址：新增1处老年人日间照料中心") and row["created_by"] == who
    # evaluated: the new centre covers the junction's homes
    assert row["result"]["types"] == ["elderly_daycare"]
    summary = row["result"]["summary"][0]
    assert summary["population_gained"] == 4 * POPULATION


def test_saving_needs_a_finished_job_with_that_plan(client, auth, daycare_job):
    planner = auth("planner")
    r = client.post(
        f"/siting/jobs/{daycare_job['job_id']}/scenario", json={"plan": "set_covering"}, headers=planner
    )
    assert r.status_code == 422 and "set_covering" in r.json()["error"]["message"]
    assert client.post("/siting/jobs/999999/scenario", json={}, headers=planner).status_code == 404
    from pipeline import jobs

    with session(client.app.state.database_url) as s:
        queued = jobs.queue_siting(s, params={"type_code": "elderly_daycare"}, actor="planner")["job_id"]
    r = client.post(f"/siting/jobs/{queued}/scenario", json={}, headers=planner)
    assert r.status_code == 422 and "queued" in r.json()["error"]["message"]
    with session(client.app.state.database_url) as s:
        s.execute(text("UPDATE jobs SET status = 'failed', error = 'test' WHERE job_id = :j"), {"j": queued})


def test_one_new_site_per_community_without_one(client, auth):
    """No community has an open food market (the fixture's is closed): with one_per_community the two
    candidates, both in 一社区, give one site, and the plan counts the communities that have one."""
    points = {"kind": "points", "points": [[113.2505, 22.5501], [113.2698, 22.5501]]}
    free = _run(client, auth, {"type_code": "food_market", "k": 2, "candidates": points})
    assert len(free["result"]["maximal_covering"]["sites"]["features"]) == 2
    assert free["result"]["maximal_covering"].get("communities") is None
    job = _run(
        client, auth, {"type_code": "food_market", "k": 2, "candidates": points, "one_per_community": True}
    )
    plan = job["result"]["maximal_covering"]
    (site,) = [f["properties"] for f in plan["sites"]["features"]]
    assert (site["lon"], site["lat"]) == pytest.approx((113.2505, 22.5501))  # the one reaching four homes
    assert plan["communities"]["urban"] == {
        "total": 2,
        "before": 0,
        "after": 1,
        "share_before": 0.0,
        "share_after": 0.5,
    }
    assert plan["communities"]["rural"]["total"] == 0
