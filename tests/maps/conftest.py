"""Fixtures of the map tests: a tiny hand-made district (no DB) and, for the browser tests, one
uvicorn server on the demo database plus one headless Chromium for the whole session."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box

ROOT = Path(__file__).resolve().parents[2]


def _ensure_real_package(name: str) -> None:
    """pytest puts ``tests/`` on sys.path and ``tests/geo/placenames`` (no ``__init__.py``) then shadows
    ``geo.placenames`` as a namespace package; load the real one. (``pythonpath = ["."]`` in the pytest
    settings would make this unnecessary.)"""
    try:
        current = importlib.import_module(name)
    except ImportError:
        current = None
    if current is not None and getattr(current, "__file__", None):
        return
    folder = ROOT.joinpath(*name.split("."))
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_ensure_real_package("geo.placenames")
os.environ.setdefault("MINQING_SECRET_KEY", "test-secret-key-for-minqing-maps-tests")
PASSWORD = "maps-test-password"
USERS = {"maps_planner": "planner", "maps_officer": "placename_officer", "maps_worker": "grid_worker",
         "maps_admin": "admin"}

LON0, LAT0 = 113.30, 22.60
D = 0.01  # ≈ 1 km


@pytest.fixture(scope="session")
def tiny() -> dict:
    """A 2 km × 1 km district: 2 towns, 2 communities, 2 small grids, 3 roads, a river, 3 facilities."""
    def sq(i: int, j: int, w: float = D, h: float = D):
        return box(LON0 + i * w, LAT0 + j * h, LON0 + (i + 1) * w, LAT0 + (j + 1) * h)

    areas = gpd.GeoDataFrame({
        "area_id": [1, 2, 3, 4, 5, 6, 7, 8, 9],
        "parent_id": pd.array([None, 1, 1, 2, 3, 4, 5, 6, 7], dtype="Int64"),
        "level": ["district", "town", "town", "community", "community", "grid_middle", "grid_middle",
                  "grid_small", "grid_small"],
        "code": [f"{i:012d}" for i in range(1, 10)],
        "name": ["澄湾区", "东涌街道", "西岭镇", "东涌社区", "西岭村", "东涌中网格", "西岭中网格", "东涌第一网格",
                 "西岭第一网格"],
        "worker_name": [None] * 7 + ["李网格员", "王网格员"],
        "worker_phone": [None] * 7 + ["0750-1234567", "0750-7654321"],
    }, geometry=[box(LON0, LAT0, LON0 + 2 * D, LAT0 + D), sq(0, 0), sq(1, 0), sq(0, 0), sq(1, 0), sq(0, 0),
                 sq(1, 0), sq(0, 0), sq(1, 0)], crs=4326)
    edges = gpd.GeoDataFrame({
        "highway": ["primary", "residential", "footway"],
        "name": ["滨海大道", "东涌路", None],
    }, geometry=[LineString([(LON0, LAT0 + D / 2), (LON0 + 2 * D, LAT0 + D / 2)]),
                 LineString([(LON0 + D / 2, LAT0), (LON0 + D / 2, LAT0 + D)]),
                 LineString([(LON0 + 1.5 * D, LAT0), (LON0 + 1.5 * D, LAT0 + D)])], crs=4326)
    water = gpd.GeoDataFrame({"kind": ["river"], "name": ["澄江"]},
                             geometry=[box(LON0, LAT0 + 0.8 * D, LON0 + 2 * D, LAT0 + 0.9 * D)], crs=4326)
    facilities = pd.DataFrame({
        "facility_id": [11, 12, 13], "type_code": ["kindergarten", "health_center", "elderly_daycare"],
        "name": ["东涌幼儿园", "东涌社区卫生服务中心", "西岭日间照料中心"],
        "lon": [LON0 + 0.3 * D, LON0 + 0.6 * D, LON0 + 1.4 * D], "lat": [LAT0 + 0.3 * D] * 3,
        "address": ["东涌路1号", None, "西岭村2号"], "opening_hours": ["08:00-17:30", None, "周一至周五"],
        "phone": ["0750-1111111", None, None], "status": ["open"] * 3,
    })
    types = pd.DataFrame({"code": ["kindergarten", "health_center", "elderly_daycare"],
                          "name_zh": ["幼儿园", "社区卫生服务中心", "老年人日间照料中心"],
                          "category": ["education", "health", "elderly"],
                          "urban_tier": ["5min", "15min", "5min"], "rural_tier": ["village", "township", "village"],
                          "required": [True, True, True]})
    names = gpd.GeoDataFrame({
        "name_id": [21, 22, 23, 24, 25],
        "name": ["东涌路", "滨海大道", "曼哈顿花园", "东涌路", "古榕村"],
        "category": ["road", "trunk_road", "estate", "road", "natural_village"],
        "area_id": [4, 4, 5, 5, 9], "proper": [None] * 5, "generic": [None] * 5, "pinyin": [None] * 5,
        "status": ["standard"] * 5, "heritage": [False, False, False, False, True],
        "sign_present": [True, False, True, True, True], "approval": ["澄府〔2020〕1号", None, None, None, None],
        "meaning": [None, None, None, None, "村口古榕树得名"],
    }, geometry=[edges.geometry[1], edges.geometry[0], Point(LON0 + 1.2 * D, LAT0 + 0.2 * D),
                 Point(LON0 + 1.7 * D, LAT0 + 0.5 * D), Point(LON0 + 1.8 * D, LAT0 + 0.2 * D)], crs=4326)
    return {"areas": areas, "edges": edges, "water": water, "facilities": facilities, "types": types,
            "names": names,
            "district": {"name": "澄湾区", "bounds": [[LAT0, LON0], [LAT0 + D, LON0 + 2 * D]], "demo": True}}


# ---------------------------------------------------------------- the app on a loopback port (session)

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app(demo_db):
    from api.main import create_app
    from api.settings import ApiSettings

    settings = ApiSettings(secret_key=os.environ["MINQING_SECRET_KEY"], bcrypt_rounds=4,
                           rate_limit_per_second=0, database_url=demo_db)
    return create_app(settings, database_url=demo_db)


@pytest.fixture(scope="session")
def users(demo_db) -> dict[str, str]:
    """Test accounts, one per role: username → password."""
    from api.security import hash_password
    from layers import users as accounts
    from layers.db import session

    with session(demo_db, actor="pytest") as s:
        for name, role in USERS.items():
            if accounts.by_username(s, name) is None:
                accounts.create(s, username=name, password_hash=hash_password(PASSWORD, rounds=4), role=role)
    return dict.fromkeys(USERS, PASSWORD)


@pytest.fixture(scope="session")
def server(app) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)
