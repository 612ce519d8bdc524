"""Shared fixtures: a real, throw-away PostGIS database for the whole test session.

The test database sits on the same server as the app's (local .pgdata/ cluster or DATABASE_URL),
named ``<db>_test``; it is dropped and created fresh for every session, then migrated.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


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
