"""API test fixtures: a small hand-made district in its own database, the app, a client per role.

The API tests use their own database (``<test db>_api``, see api_fixture.py) so that other suites
reloading the demo district cannot pull rows from under them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("MINQING_SECRET_KEY", "test-secret-key-for-minqing-api-tests")


def _real_packages_first() -> None:
    # pytest puts tests/ on sys.path, where tests/geo (no __init__.py) poses as a namespace package
    # ``geo``; with the project root on sys.path the real package wins. (Project-wide fix:
    # ``pythonpath = ["."]`` in the pytest settings.)
    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.append(root)
    for name in [m for m in sys.modules if m == "geo" or m.startswith("geo.")]:
        if getattr(sys.modules[name], "__file__", None) is None:
            del sys.modules[name]


_real_packages_first()

import pytest  # noqa: E402
from api_fixture import (  # noqa: E402
    PASSWORD,
    ROLES,
    asgi_client,
    fresh_database,
    load_fixture_district,
    make_settings,
)
from sqlalchemy.engine import make_url  # noqa: E402


@pytest.fixture(scope="session")
def api_db(db_url) -> str:
    """A migrated database holding the small fixture district (separate from the shared test DB)."""
    name = make_url(db_url).database + "_api"
    url = fresh_database(db_url, name)
    load_fixture_district(url)
    return url


@pytest.fixture(scope="session")
def app(api_db):
    from api.main import create_app

    return create_app(make_settings(), database_url=api_db)


@pytest.fixture(scope="session")
def client(app):
    with asgi_client(app) as c:
        yield c


@pytest.fixture(scope="session")
def tokens(client) -> dict[str, str]:
    """A bearer token per fixture account (inactive excluded)."""
    out = {}
    for username in ROLES:
        r = client.post("/auth/token", data={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        out[username] = r.json()["access_token"]
    return out


@pytest.fixture(scope="session")
def auth(tokens):
    """``auth("planner")`` → headers with that account's bearer token; ``auth(None)`` → {}."""

    def headers(username: str | None, **extra: str) -> dict[str, str]:
        base = {} if username is None else {"Authorization": f"Bearer {tokens[username]}"}
        return {**base, **extra}

    return headers
