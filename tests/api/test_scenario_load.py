"""A capacity-only scenario changes no coverage, so it must show what it does change: the facility's
load before and after (catchment of the capacity basis / (capacity × per-unit basis))."""

from __future__ import annotations

import pytest
from api_fixture import PASSWORD, asgi_client, fresh_database, load_fixture_district, make_settings
from sqlalchemy import text
from sqlalchemy.engine import make_url

from layers.db import session


@pytest.fixture(scope="module")
def client(db_url):
    from api.main import create_app

    url = fresh_database(db_url, make_url(db_url).database + "_scenario_load")
    load_fixture_district(url)
    with session(url, actor="fixture") as s:  # a block of flats 100 m from kindergarten 1, by the road
        s.execute(
            text(
                "INSERT INTO residences (residence_id, address, area_id, households, population, elderly, "
                "children, geom) "
                "VALUES (5, '滨河路5号', 10001, 60, 180, 20, 30, ST_Point(113.221, 22.5505, 4326))"
            )
        )
    with asgi_client(create_app(make_settings(), database_url=url)) as c:
        token = c.post("/auth/token", data={"username": "planner", "password": PASSWORD}).json()[
            "access_token"
        ]
        c.headers["Authorization"] = f"Bearer {token}"
        yield c


def test_a_capacity_only_scenario_reports_the_load_before_and_after(client):
    body = {
        "name": "扩建幼儿园",
        "changes": [{"op": "change", "facility_id": 1, "capacity": 250}],
        "evaluate": True,
    }
    r = client.post("/scenarios", json=body)
    assert r.status_code == 201, r.text
    result = r.json()["result"]
    # coverage same
    assert all(a["population_gained"] == 0 and a["population_lost"] == 0 for a in result["areas"])
    [load] = result["facility_load"]
    assert (load["facility_id"], load["type_code"], load["capacity_before"], load["capacity_after"]) == (
        1,
        "kindergarten",
        100,
        250,
    )
    assert load["catchment_population_before"] == load["catchment_population_after"] >= 180
    assert load["load_before"] > 0
    # 4-decimal rounding
    assert load["load_after"] == pytest.approx(load["load_before"] * 100 / 250, abs=1e-4)


def test_closing_a_facility_reports_its_load_gone(client):
    body = {"name": "关幼儿园", "changes": [{"op": "close", "facility_id": 1}], "evaluate": True}
    [load] = client.post("/scenarios", json=body).json()["result"]["facility_load"]
    assert load["facility_id"] == 1 and load["load_before"] > 0
    assert load["load_after"] is None and load["catchment_population_after"] is None
