"""Compliance (GB 50180-2018 / TD/T 1062-2021) on a tiny hand-made district whose every figure is
counted by hand: two communities, four required facility types, stored coverage rows written
directly (so the expected table does not depend on the coverage engine), and community service
facilities for the floor-area check.

    城东社区 (urban, 1000 residents, 400 households)      山下村 (rural, 200 residents, 50 households)
    kindergarten           5min   600/1000 = 0.600 ✓      village   150/200 = 0.75 ✓
    community_service_st.  5min   500/1000 = 0.500 ✓      village     0/200 = 0    ✗
    primary_school        10min   499/1000 = 0.499 ✗      township  120/200 = 0.60 ✓
    health_center         15min   900/1000 = 0.900 ✓      township  100/200 = 0.50 ✓
    (park: not required)

With min_share 0.5: 城东 fails only its 10-minute tier (小学: it has no school of its own, 未设置);
山下村 fails its village tier: it HAS a 社区服务站 (facility 4), but nobody reaches it in time
(可达不足 — not "missing").
With min_share 0.4: 城东's 0.499 is enough, so it passes every tier; 山下村 still fails 社区服务站.
Floor area: 城东 needs 400 × 30 / 100 = 120 m² and has 100 + 30 = 130 (the closed 500 m² station does
not count): pass. 山下村 needs 15 m², its one station has no recorded area (counted 0, reported): fail.
"""

from __future__ import annotations

import pytest
from api_fixture import PASSWORD, asgi_client, box, fresh_database, make_settings
from sqlalchemy import text
from sqlalchemy.engine import make_url

URBAN, RURAL = 100, 200
TYPES = [
    # code, name_zh, urban_tier, rural_tier, required
    ("kindergarten", "幼儿园", "5min", "village", True),
    ("community_service_station", "社区服务站", "5min", "village", True),
    ("primary_school", "小学", "10min", "township", True),
    ("health_center", "社区卫生服务中心", "15min", "township", True),
    ("park", "公园", "15min", None, False),
]
COVERED = {  # (community, type) → (population, population_covered)
    (URBAN, "kindergarten"): (1000, 600),
    (URBAN, "community_service_station"): (1000, 500),
    (URBAN, "primary_school"): (1000, 499),
    (URBAN, "health_center"): (1000, 900),
    (URBAN, "park"): (1000, 0),
    (RURAL, "kindergarten"): (200, 150),
    (RURAL, "community_service_station"): (200, 0),
    (RURAL, "primary_school"): (200, 120),
    (RURAL, "health_center"): (200, 100),
}
STATIONS = [  # facility id, community, floor area m² (None: unknown), status
    (1, URBAN, 100.0, "open"),
    (2, URBAN, 30.0, "open"),
    (3, URBAN, 500.0, "closed"),
    (4, RURAL, None, "open"),
]


def _load(url: str) -> None:
    from api.security import hash_password
    from layers import users
    from layers.db import session

    with session(url, actor="fixture") as s:
        for code, name, urban_tier, rural_tier, required in TYPES:
            s.execute(
                text(
                    "INSERT INTO facility_types (code, name_zh, category, urban_tier, urban_profile, "
                    "urban_max_time_min, rural_tier, rural_profile, rural_max_time_min, required) VALUES "
                    "(:c, :n, 'test', :ut, 'walk', 15, :rt, 'ebike', 30, :r)"
                ),
                {"c": code, "n": name, "ut": urban_tier, "rt": rural_tier, "r": required},
            )
        for area, parent, level, code, name, urban, geom in [
            (1, None, "district", "449900000000", "手算区", True, box(113.0, 22.0, 113.2, 22.2)),
            (10, 1, "town", "449900001000", "手算镇", True, box(113.0, 22.0, 113.2, 22.2)),
            (URBAN, 10, "community", "449900001001", "城东社区", True, box(113.0, 22.0, 113.1, 22.2)),
            (RURAL, 10, "community", "449900001201", "山下村", False, box(113.1, 22.0, 113.2, 22.2)),
        ]:
            s.execute(
                text(
                    "INSERT INTO areas (area_id, parent_id, level, code, name, urban, geom) "
                    "VALUES (:a, :p, :l, :c, :n, :u, ST_GeomFromText(:g, 4326))"
                ),
                {"a": area, "p": parent, "l": level, "c": code, "n": name, "u": urban, "g": geom},
            )
        for rid, area, households, lon in [
            (1, URBAN, 300, 113.02),
            (2, URBAN, 100, 113.05),
            (3, RURAL, 50, 113.15),
        ]:
            s.execute(
                text(
                    "INSERT INTO residences (residence_id, area_id, households, population, geom) "
                    "VALUES (:i, :a, :h, :h * 2, ST_Point(:x, 22.1, 4326))"
                ),
                {"i": rid, "a": area, "h": households, "x": lon},
            )
        for fid, area, floor, status in STATIONS:
            s.execute(
                text(
                    "INSERT INTO facilities (facility_id, type_code, name, status, floor_area_m2, geom) "
                    "VALUES (:i, 'community_service_station', :n, :s, :f, ST_Point(:x, 22.15, 4326))"
                ),
                {
                    "i": fid,
                    "n": f"服务站{fid}",
                    "s": status,
                    "f": floor,
                    "x": 113.03 + fid * 0.01 if area == URBAN else 113.15,
                },
            )
        run = s.execute(
            text("INSERT INTO coverage_runs (status, finished_at) VALUES ('done', now()) RETURNING run_id")
        ).scalar_one()
        for (area, code), _ in COVERED.items():  # presence: every type but 城东's school
            present = (area, code) != (URBAN, "primary_school")
            s.execute(
                text(
                    "INSERT INTO coverage_presence (run_id, area_id, type_code, present, source, facilities) "
                    "VALUES (:r, :a, :t, :p, CASE WHEN :p THEN 'inside' END, CAST(:p AS int))"
                ),
                {"r": run, "a": area, "t": code, "p": present},
            )
        for (area, code), (population, covered) in COVERED.items():
            s.execute(
                text(
                    "INSERT INTO coverage_area_rows (run_id, area_id, type_code, households, population, "
                    "population_covered, share) VALUES (:r, :a, :t, 0, :p, :c, :sh)"
                ),
                {"r": run, "a": area, "t": code, "p": population, "c": covered, "sh": covered / population},
            )
        s.execute(
            text(
                "INSERT INTO coverage_run_types (run_id, type_code, source_run_id) "
                "SELECT DISTINCT :r, type_code, :r FROM coverage_area_rows WHERE run_id = :r"
            ),
            {"r": run},
        )
        users.create(s, username="planner", password_hash=hash_password(PASSWORD, rounds=4), role="planner")


@pytest.fixture(scope="module")
def client(db_url):
    from api.main import create_app

    url = fresh_database(db_url, make_url(db_url).database + "_compliance")
    _load(url)
    with asgi_client(create_app(make_settings(), database_url=url)) as c:
        token = c.post("/auth/token", data={"username": "planner", "password": PASSWORD}).json()[
            "access_token"
        ]
        c.headers["Authorization"] = f"Bearer {token}"
        yield c


def _communities(client, **params) -> dict[str, dict]:
    r = client.get("/compliance", params=params)
    assert r.status_code == 200, r.text
    return {c["name"]: c for c in r.json()["communities"]}


def _tiers(community: dict) -> dict[str, tuple[int, int, bool, str]]:
    return {t["tier"]: (t["required"], t["within"], t["pass"], t["missing"]) for t in community["tiers"]}


def test_hand_counted_tiers_at_half_the_residents(client):
    c = _communities(client)
    assert set(c) == {"城东社区", "山下村"}
    assert _tiers(c["城东社区"]) == {
        "5min": (2, 2, True, ""),
        "10min": (1, 0, False, "未设置: 小学"),
        "15min": (1, 1, True, ""),
    }
    assert c["城东社区"]["pass"] is False and c["城东社区"]["missing"] == "10分钟生活圈（未设置: 小学）"
    assert _tiers(c["山下村"]) == {
        "village": (2, 1, False, "可达不足: 社区服务站"),
        "township": (2, 2, True, ""),
    }
    assert c["山下村"]["pass"] is False and c["山下村"]["missing"] == "村/组级生活圈（可达不足: 社区服务站）"
    assert c["山下村"]["status"]["community_service_station"] == "可达不足"
    assert c["城东社区"]["status"] == {
        "kindergarten": "达标",
        "community_service_station": "达标",
        "primary_school": "未设置",
        "health_center": "达标",
    }
    assert c["城东社区"]["circle"] == "urban" and c["山下村"]["circle"] == "rural"


def test_a_lower_share_lets_the_urban_community_pass(client):
    c = _communities(client, min_share=0.4)
    assert c["城东社区"]["pass"] is True and c["城东社区"]["missing"] == ""
    assert _tiers(c["城东社区"])["10min"] == (1, 1, True, "")
    assert c["山下村"]["pass"] is False and _tiers(c["山下村"])["village"] == (
        2,
        1,
        False,
        "可达不足: 社区服务站",
    )


def test_hand_counted_floor_area(client):
    c = _communities(client)
    assert c["城东社区"]["floor_area"] == {
        "households": 400,
        "facilities": 2,
        "floor_area_m2": 130.0,
        "required_m2": 120.0,
        "unknown_area": 0,
        "pass": True,
    }
    assert c["山下村"]["floor_area"] == {
        "households": 50,
        "facilities": 1,
        "floor_area_m2": 0.0,
        "required_m2": 15.0,
        "unknown_area": 1,
        "pass": False,
    }
