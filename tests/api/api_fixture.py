"""The small hand-made district of the API tests, and helpers to build a database holding it.

A 0.2° square near 113.3°E 22.6°N:

    community 1 (113.20–113.30) = grid_middle 1 = grid_small A (113.20–113.25) + grid_small B
    community 2 (113.30–113.40), no grids
"""

from __future__ import annotations

import os

from sqlalchemy import text

PASSWORD = "correct-horse-battery"
ROLES = ("admin", "planner", "officer", "gridworker", "gridworker_nogrid", "dispatcher", "department")
USERS = {
    "admin": "admin",
    "planner": "planner",
    "officer": "placename_officer",
    "gridworker": "grid_worker",
    "gridworker_nogrid": "grid_worker",
    "inactive": "planner",
    "dispatcher": "dispatcher",
    "department": "department",
}
DEPARTMENT = "民政局"
"""The fixture department account's 职能部门."""

DISTRICT, TOWN, COMMUNITY1, COMMUNITY2, GRID_MIDDLE, GRID_A, GRID_B = 1, 10, 100, 200, 1000, 10001, 10002


def box(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"MULTIPOLYGON((({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0})))"


AREAS = [
    # area_id, parent, level, code, name, households, worker_name, worker_phone, wkt
    (DISTRICT, None, "district", "440000000000", "测试区", 1000, None, None, box(113.2, 22.5, 113.4, 22.7)),
    (TOWN, DISTRICT, "town", "440000001000", "测试街道", 1000, None, None, box(113.2, 22.5, 113.4, 22.7)),
    (COMMUNITY1, TOWN, "community", "440000001001", "一社区", 600, None, None, box(113.2, 22.5, 113.3, 22.7)),
    (COMMUNITY2, TOWN, "community", "440000001002", "二社区", 400, None, None, box(113.3, 22.5, 113.4, 22.7)),
    (
        GRID_MIDDLE,
        COMMUNITY1,
        "grid_middle",
        "44000000100100100",
        "一社区中网格",
        600,
        None,
        None,
        box(113.2, 22.5, 113.3, 22.7),
    ),
    (
        GRID_A,
        GRID_MIDDLE,
        "grid_small",
        "4400000010010010001",
        "第一网格",
        597,
        "网格员(第一网格)",
        "0755-0000001",
        box(113.2, 22.5, 113.25, 22.7),
    ),
    (
        GRID_B,
        GRID_MIDDLE,
        "grid_small",
        "4400000010010010002",
        "第二网格",
        3,
        "网格员(第二网格)",
        "0755-0000002",
        box(113.25, 22.5, 113.3, 22.7),
    ),
]
FACILITIES = [
    # id, type, name, status, lon, lat
    (1, "kindergarten", "一号幼儿园", "open", 113.22, 22.55),
    (2, "kindergarten", "二号幼儿园", "planned", 113.27, 22.55),
    (3, "elderly_daycare", "日间照料中心", "open", 113.23, 22.60),
    (4, "primary_school", "测试小学", "open", 113.35, 22.65),
    (5, "food_market", "旧市场", "closed", 113.36, 22.52),
]
RESIDENCES = [
    # id, address, area, households, population, elderly, children, lon, lat
    (1, "滨河路1号", GRID_A, 300, 820, 120, 95, 113.21, 22.54),
    (2, "滨河路2号", GRID_A, 297, 800, 100, 90, 113.24, 22.66),
    (3, "山边村3号", GRID_B, 3, 7, 2, 1, 113.26, 22.58),
    (4, "二社区4号", COMMUNITY2, 400, 1100, 200, 150, 113.35, 22.60),
]
PLACE_NAMES = [
    (1, "滨河路", "road", COMMUNITY1, "滨河", "路", "Binhe Lu", "LINESTRING(113.21 22.55,113.29 22.55)"),
    (2, "山边村", "village", GRID_B, "山边", "村", "Shanbiancun", "POINT(113.26 22.58)"),
    (3, "测试公园", "park", COMMUNITY2, "测试", "公园", "Ceshi Gongyuan", "POINT(113.33 22.61)"),
]


def fresh_database(base_url: str, name: str) -> str:
    """Drop and create database ``name`` on ``base_url``'s server, migrated; returns its URL."""
    from scratch_databases import migrated_database

    return migrated_database(base_url, name)


def load_fixture_district(url: str) -> None:
    """The small district above, a finished coverage run and one account per role."""
    from api.security import hash_password
    from layers import users
    from layers.db import session
    from layers.load.reference import read_facility_types, upsert_facility_types

    with session(url, actor="fixture") as s:
        upsert_facility_types(s, read_facility_types())
        for a in AREAS:
            s.execute(
                text(
                    "INSERT INTO areas (area_id, parent_id, level, code, name, households, worker_name, "
                    "worker_phone, geom) VALUES (:i, :p, :l, :c, :n, :h, :wn, :wp, ST_GeomFromText(:g, 4326))"
                ),
                dict(zip(("i", "p", "l", "c", "n", "h", "wn", "wp", "g"), a, strict=True)),
            )
        for f in FACILITIES:
            s.execute(
                text(
                    "INSERT INTO facilities (facility_id, type_code, name, status, capacity, geom) "
                    "VALUES (:i, :t, :n, :s, 100, ST_Point(:x, :y, 4326))"
                ),
                dict(zip(("i", "t", "n", "s", "x", "y"), f, strict=True)),
            )
        for r in RESIDENCES:
            s.execute(
                text(
                    "INSERT INTO residences (residence_id, address, area_id, households, population, "
                    "elderly, children, geom) VALUES (:i, :ad, :a, :h, :p, :e, :c, ST_Point(:x, :y, 4326))"
                ),
                dict(zip(("i", "ad", "a", "h", "p", "e", "c", "x", "y"), r, strict=True)),
            )
        for p in PLACE_NAMES:
            s.execute(
                text(
                    "INSERT INTO place_names (name_id, name, category, area_id, proper, generic, pinyin, "
                    "geom) VALUES (:i, :n, :c, :a, :pr, :g, :py, ST_GeomFromText(:w, 4326))"
                ),
                dict(zip(("i", "n", "c", "a", "pr", "g", "py", "w"), p, strict=True)),
            )
        s.execute(
            text(
                "INSERT INTO place_name_history (name_id, action, new_name, changed_by) "
                "VALUES (3, 'create', '测试公园', 'fixture')"
            )
        )
        s.execute(
            text(
                "INSERT INTO network_nodes (node_id, geom) VALUES (1, ST_Point(113.21, 22.55, 4326)), "
                "(2, ST_Point(113.25, 22.55, 4326)), (3, ST_Point(113.29, 22.55, 4326))"
            )
        )
        s.execute(
            text(
                "INSERT INTO network_edges (edge_id, u, v, length_m, highway, name, geom) VALUES "
                "(1, 1, 2, 4110, 'residential', '滨河路', "
                " ST_GeomFromText('LINESTRING(113.21 22.55,113.23 22.55001,113.25 22.55)', 4326)), "
                "(2, 2, 3, 4110, 'tertiary', '滨河路', "
                "ST_GeomFromText('LINESTRING(113.25 22.55,113.29 22.55)', 4326))"
            )
        )
        s.execute(
            text(
                "INSERT INTO water (water_id, kind, name, geom) VALUES "
                "(1, 'lake', '测试湖', ST_GeomFromText(:g, 4326))"
            ),
            {"g": box(113.31, 22.51, 113.32, 22.52)},
        )
        insert_fixture_run(s)
        for username, role in USERS.items():
            area = {"gridworker": GRID_A, "dispatcher": TOWN}.get(username)
            account = users.create(
                s,
                username=username,
                password_hash=hash_password(PASSWORD, rounds=4),
                role=role,
                area_id=area,
                department=DEPARTMENT if role == "department" else None,
            )
            if username == "inactive":
                users.update(s, account.user_id, active=False)


def insert_fixture_run(s) -> int:
    """A finished coverage run with the fixture's hand-set kindergarten figures; returns its id. Tests
    that read "the latest run" insert one of their own, since other files may leave newer runs."""
    run = s.execute(
        text("INSERT INTO coverage_runs (status, finished_at) VALUES ('done', now()) RETURNING run_id")
    ).scalar_one()
    for area, households, pop, covered in (
        (GRID_A, 597, 1620, 1500),
        (GRID_B, 3, 7, 0),
        (COMMUNITY1, 600, 1627, 1500),
    ):
        s.execute(
            text(
                "INSERT INTO coverage_area_rows (run_id, area_id, type_code, households, households_covered, "
                "population, population_covered, elderly, elderly_covered, children, children_covered, "
                "share) VALUES (:r, :a, 'kindergarten', :h, :h, :p, :c, 1, 1, 1, 1, :sh)"
            ),
            {"r": run, "a": area, "h": households, "p": pop, "c": covered, "sh": covered / pop},
        )
    s.execute(
        text(
            "INSERT INTO coverage_run_types (run_id, type_code, source_run_id) "
            "VALUES (:r, 'kindergarten', :r)"
        ),
        {"r": run},
    )
    return run


def make_settings(**overrides):
    from settings import ApiSettings

    # the back-off has its own tests (test_auth_hardening.py)
    values = {
        "secret_key": os.environ["MINQING_SECRET_KEY"],
        "bcrypt_rounds": 4,
        "rate_limit_per_second": 1000.0,
        "rate_limit_burst": 100_000,
        "login_burst": 10_000,
        "login_free_failures": 10_000,
    }
    return ApiSettings(**{**values, **overrides})


def asgi_client(app, **kwargs):
    """Starlette's TestClient (its import warns that plain httpx is deprecated: harmless here)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    return TestClient(app, raise_server_exceptions=False, **kwargs)


from worker_fixture import drain, worker_process  # noqa: E402,F401  (the API tests' helpers, in one place)
