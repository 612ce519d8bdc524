"""Issue 14.5: no unbounded pages. ``limit`` is capped per collection (documented in OpenAPI; a
larger one is lowered to the cap, as OGC API - Features requires), ``next`` links page through the
rest, and pages that cannot be cached are streamed in chunks.

The fixture district is small, so the paging tests lower a cap (the same code path as the real
caps on the demo's 10^4 coverage features).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from api.routes import collections


def _pages(client, url: str, headers: dict | None = None) -> list[dict]:
    pages = []
    while url:
        r = client.get(url, headers=headers or {})
        assert r.status_code == 200, r.text
        pages.append(r.json())
        nxt = [link["href"] for link in pages[-1]["links"] if link["rel"] == "next"]
        url = nxt[0] if nxt else None
        # never more pages than the rows need (other test files may add rows to the fixture database)
        assert len(pages) <= pages[0]["numberMatched"] + 1, "paging never ends"
    return pages


def test_every_collection_has_a_cap_and_openapi_names_it(client):
    doc = client.get("/openapi.json").json()
    text = doc["paths"]["/collections/{collection_id}/items"]["get"]["description"]
    for cid in collections.LAYERS:
        cap = collections.page_max(cid)
        assert 1 <= cap <= 5000
        assert f"`{cid}` {cap}" in text
    assert collections.page_max("coverage") == 500  # the layer that returned 57.7 MB for limit=10000


@pytest.mark.parametrize("collection", ["place_names", "coverage", "grids"])
def test_a_limit_above_the_cap_is_lowered_and_next_links_page_through_everything(
    client, monkeypatch, collection
):
    everything = client.get(f"/collections/{collection}/items", params={"limit": 1000}).json()
    matched = everything["numberMatched"]
    assert matched >= 3  # the fixture holds enough to need several pages
    monkeypatch.setitem(collections.PAGE_MAX, collection, 2)
    pages = _pages(client, f"/collections/{collection}/items?limit=10000")
    assert [p["numberReturned"] for p in pages] == [2] * (matched // 2) + (
        [matched % 2] if matched % 2 else []
    )
    assert all(p["numberMatched"] == matched for p in pages)
    first_next = [link["href"] for link in pages[0]["links"] if link["rel"] == "next"][0]
    assert parse_qs(urlsplit(first_next).query)["limit"] == ["2"]  # the cap, not the 10000 asked for
    ids = [f["id"] for p in pages for f in p["features"]]
    assert ids == [f["id"] for f in everything["features"]]  # each feature once, in order


def test_streamed_pages_are_whole_geojson_and_page_too(client, auth, monkeypatch):
    """Residences (planners only) are not cached: their pages are streamed in chunks."""
    everything = client.get(
        "/collections/residences/items", params={"limit": 100}, headers=auth("planner")
    ).json()
    assert everything["numberMatched"] >= 4
    monkeypatch.setitem(collections.PAGE_MAX, "residences", 3)
    monkeypatch.setattr(collections, "STREAM_CHUNK", 2)
    pages = _pages(client, "/collections/residences/items?limit=5000", headers=auth("planner"))
    assert pages[0]["numberReturned"] == 3
    assert [f["id"] for p in pages for f in p["features"]] == [f["id"] for f in everything["features"]]
    assert pages[0]["features"][0]["properties"]["address"]  # the planner's full rows


def test_a_limit_within_the_cap_is_kept(client):
    r = client.get("/collections/place_names/items", params={"limit": 2})
    body = r.json()
    assert body["numberReturned"] == 2
    nxt = [link["href"] for link in body["links"] if link["rel"] == "next"][0]
    assert parse_qs(urlsplit(nxt).query) == {"limit": ["2"], "offset": ["2"]}
