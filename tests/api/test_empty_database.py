"""A freshly migrated database with nothing loaded: every public read answers, nothing breaks."""

from __future__ import annotations

import pytest
from api_fixture import asgi_client, fresh_database, make_settings
from sqlalchemy.engine import make_url


@pytest.fixture(scope="module")
def empty_client(db_url):
    from api.main import create_app

    url = fresh_database(db_url, make_url(db_url).database + "_empty")
    with asgi_client(create_app(make_settings(), database_url=url)) as c:
        yield c


@pytest.mark.parametrize(
    "cid",
    [
        "facilities",
        "facility_types",
        "grids",
        "areas",
        "place_names",
        "roads",
        "water",
        "buildings",
        "coverage",
    ],
)
def test_empty_layers_are_empty_collections(empty_client, cid):
    r = empty_client.get(f"/collections/{cid}/items")
    assert r.status_code == 200
    body = r.json()
    assert body["features"] == [] and body["numberMatched"] == 0
    assert empty_client.get(f"/collections/{cid}").json()["extent"] is None


def test_search_and_lookups_without_data(empty_client):
    assert empty_client.get("/placenames/search", params={"q": "路"}).json() == []
    assert empty_client.get("/healthz").status_code == 200
