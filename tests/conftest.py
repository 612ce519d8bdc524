"""Shared fixtures: a real, throw-away PostGIS database for the whole test session.

The test database sits on the same server as the app's (local .pgdata/ cluster or DATABASE_URL),
named ``<db>_test``; it is dropped and created fresh for every session, then migrated.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# Prepared networks kept on disk (pipeline.prepared_files) go to a folder of this session's own, not
# the checkout's .cache/; the command-line tests' subprocesses inherit it.
_PREPARED_DIR = tempfile.mkdtemp(prefix="minqing-prepared-")
os.environ["MINQING_PREPARED_DIR"] = _PREPARED_DIR
atexit.register(shutil.rmtree, _PREPARED_DIR, ignore_errors=True)

# A coverage run stores the public map's facility isochrones (the product's default). In the test session
# runs leave them out unless a module asks for them (``stored_isochrones``): at the demo's size they are
# most of a first run (about 25 s of CPU against 4 for the coverage itself), and without them the
# facility route computes the same answer on request. Their own tests: tests/pipeline/
# test_facility_isochrones.py, tests/api/test_isochrone_stored.py. Subprocesses inherit the setting.
os.environ.setdefault("MINQING_STORE_ISOCHRONES", "false")
# the background page builder (api.warm) has its own tests; elsewhere requests build what they read
os.environ.setdefault("MINQING_WARM_CACHES", "false")

HEAVY_FILES = {
    "tests/pipeline/test_coverage_service.py": 200,
    "tests/pipeline/test_scale10.py": 170,
    "tests/maps/test_public_browser.py": 150,
    "tests/maps/test_planner_browser.py": 140,
    "tests/maps/test_placenames_workbench_browser.py": 120,
    "tests/maps/test_browser.py": 110,
    "tests/data/test_demo.py": 100,
    "tests/api/test_cli_coverage.py": 100,
    "tests/api/test_placenames_routes.py": 80,
    "tests/maps/test_routes.py": 75,
    "tests/maps/test_xss_browser.py": 75,
    "tests/layers/test_import_osm.py": 60,
    "tests/pipeline/test_planning_services.py": 60,
    "tests/maps/test_placenames_browser.py": 55,
    "tests/maps/test_events_browser.py": 50,
    "tests/geo/test_coverage.py": 45,
    "tests/pipeline/test_facility_isochrones.py": 45,
    "tests/maps/test_city_from_empty.py": 40,
    "tests/data/test_demo_minqing.py": 37,
    "tests/api/test_workers.py": 35,
}
"""Rough seconds of the heaviest test files on the 2-core CI machine (a clean-clone run's per-file sums).
Only their order matters: ``pytest_collection_modifyitems`` runs them first."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The heaviest files first (``HEAVY_FILES``), the others after them in their usual order.

    ``make test`` hands whole files to its processes (``--dist loadfile --no-loadscope-reorder``), the
    next file to whichever process is free, in this order: with the long files started first, the
    short ones at the end fill in and the processes end at about the same time. (pytest-xdist's own
    order, most tests first, left files with few but long tests, such as the city-scale run, to the
    end, where one process ran them while the other had finished.) Within a file the order stays."""
    weight = {path: -seconds for path, seconds in HEAVY_FILES.items()}
    items.sort(key=lambda item: weight.get(item.nodeid.split("::", 1)[0], 0))


def _test_url() -> str:
    """``TEST_DATABASE_URL``, else ``<db>_test``; under pytest-xdist each worker gets its own
    (``…_gw0``, ``…_gw1``), and every database a fixture derives from it follows."""
    explicit = os.environ.get("TEST_DATABASE_URL")
    if explicit:
        from layers.db import _normalise

        url = make_url(_normalise(explicit))
    else:
        from layers.db import database_url

        base = make_url(database_url())
        url = base.set(database=f"{base.database}_test")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        url = url.set(database=f"{url.database}_{worker}")
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def db_url():
    """URL of a fresh, migrated test database; also exported as DATABASE_URL for subprocesses."""
    from scratch_databases import drop_templates, migrated_database

    url = _test_url()
    url = migrated_database(url, make_url(url).database)
    os.environ["DATABASE_URL"] = url
    from layers.db import engine

    engine.cache_clear()
    yield url
    drop_templates()


@pytest.fixture(scope="module")
def stored_isochrones():
    """Coverage runs of this module store the facility isochrones, as the product does by default."""
    from settings import coverage_settings

    before = os.environ.get("MINQING_STORE_ISOCHRONES")
    os.environ["MINQING_STORE_ISOCHRONES"] = "true"
    coverage_settings.cache_clear()
    yield
    if before is None:
        del os.environ["MINQING_STORE_ISOCHRONES"]
    else:
        os.environ["MINQING_STORE_ISOCHRONES"] = before
    coverage_settings.cache_clear()


@pytest.fixture(scope="session")
def demo_district():
    """The default-size demo district (generated once per session)."""
    from data.demo import generate

    return generate(scale=1.0)


@pytest.fixture(scope="session")
def demo_db(db_url, demo_district) -> str:
    """The test database with the demo district loaded."""
    from layers.db import session
    from layers.load.demo import load_district

    with session(db_url, actor="pytest") as s:
        load_district(s, demo_district)
    return db_url


@pytest.fixture(scope="session")
def fresh_db(db_url):
    """Factory: ``fresh_db("suffix")`` → URL of a new, migrated database of its own (dropped at the end)."""
    from scratch_databases import migrated_database

    made: list[str] = []
    base = make_url(db_url)

    def make(suffix: str) -> str:
        name = f"{base.database}_{suffix}"
        made.append(name)
        return migrated_database(db_url, name)

    yield make
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        for name in made:
            con.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
