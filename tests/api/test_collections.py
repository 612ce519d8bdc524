"""Reading layers: /collections, items (paging, bbox, filters), single items with ETags."""

from __future__ import annotations

import pytest
from api_fixture import GRID_A, GRID_B
from sqlalchemy import create_engine, text


def test_collections_list_hides_protected_layers_from_anonymous(client, auth):
    anonymous = {c["id"] for c in client.get("/collections").json()["collections"]}
    planner = {c["id"] for c in client.get("/collections", headers=auth("planner")).json()["collections"]}
    assert "residences" not in anonymous
    assert {
        "facilities",
        "facility_types",
        "grids",
        "areas",
        "place_names",
        "roads",
        "water",
        "buildings",
        "coverage",
    } <= anonymous
    assert planner == anonymous | {"residences"}


def test_collection_document_has_extent_links_and_write_flag(client, auth):
    doc = client.get("/collections/facilities").json()
    assert doc["extent"]["spatial"]["bbox"] == [[113.2, 22.5, 113.4, 22.7]]
    assert {link["rel"] for link in doc["links"]} == {"self", "items"}
    assert doc["writable"] is False
    assert client.get("/collections/facilities", headers=auth("planner")).json()["writable"] is True


def test_unknown_collection_is_404_naming_the_fix(client):
    r = client.get("/collections/schools/items")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    assert "/collections" in r.json()["error"]["fix"]


def test_items_are_a_geojson_feature_collection(client):
    r = client.get("/collections/facilities/items", params={"type_code": "kindergarten"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/geo+json"
    body = r.json()
    assert body["type"] == "FeatureCollection"
    assert [f["id"] for f in body["features"]] == [1, 2]
    first = body["features"][0]
    assert first["geometry"] == {"type": "Point", "coordinates": [113.22, 22.55]}
    assert first["properties"]["type_name"] == "幼儿园"
    assert body["numberMatched"] == body["numberReturned"] == 2


def test_property_filters_combine(client):
    body = client.get("/collections/facilities/items?type_code=kindergarten&status=open").json()
    assert [f["id"] for f in body["features"]] == [1]


def test_unknown_property_filter_is_400_listing_the_filters(client):
    r = client.get("/collections/facilities/items", params={"colour": "red"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert "colour" in err["message"]
    assert "type_code" in err["fix"]


def test_boolean_and_integer_filters_are_checked(client):
    assert client.get("/collections/grids/items", params={"parent_id": "x"}).status_code == 400
    assert client.get("/collections/grids/items", params={"urban": "maybe"}).status_code == 400
    body = client.get("/collections/grids/items", params={"parent_id": "1000", "urban": "true"}).json()
    every = client.get("/collections/grids/items", params={"limit": 5000}).json()["features"]
    # other test files may add grids: the answer is exactly those of parent 1000 and urban, as listed
    want = [
        f["id"] for f in every if f["properties"]["parent_id"] == 1000 and f["properties"]["urban"] is True
    ]
    assert [f["id"] for f in body["features"]] == want and want[:2] == [GRID_A, GRID_B]
    assert len(want) < len(every)


def test_paging_links_and_counts(client):
    url = "/collections/grids/items"
    first = client.get(url, params={"limit": 1}).json()
    n = first["numberMatched"]  # the fixture's 3 grids, and any other test files add
    assert n >= 3 and first["numberReturned"] == 1
    rels = {link["rel"]: link["href"] for link in first["links"]}
    assert "prev" not in rels
    second = client.get(rels["next"]).json()
    assert second["features"][0]["id"] != first["features"][0]["id"]
    rels2 = {link["rel"]: link["href"] for link in second["links"]}
    assert "offset=0" in rels2["prev"]
    last = client.get(url, params={"limit": 1, "offset": n - 1}).json()
    assert last["numberReturned"] == 1 and "next" not in {link["rel"] for link in last["links"]}
    beyond = client.get(url, params={"limit": 1, "offset": n + 50}).json()
    assert beyond["numberReturned"] == 0 and beyond["numberMatched"] == n


@pytest.mark.parametrize("limit", [0, 10_001, -5])
def test_limit_outside_1_to_10000_is_400(client, limit):
    r = client.get("/collections/facilities/items", params={"limit": limit})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_parameter"


def test_limit_10000_is_accepted(client):
    assert client.get("/collections/roads/items", params={"limit": 10_000}).status_code == 200


def test_bbox_selects_features_inside(client):
    body = client.get("/collections/facilities/items", params={"bbox": "113.2,22.5,113.25,22.7"}).json()
    assert {f["id"] for f in body["features"]} == {1, 3}


def test_bbox_of_six_numbers_ignores_the_heights(client):
    """OGC API - Features: minLon,minLat,minZ,maxLon,maxLat,maxZ."""
    body = client.get(
        "/collections/facilities/items", params={"bbox": "113.2,22.5,-10,113.25,22.7,500"}
    ).json()
    assert {f["id"] for f in body["features"]} == {1, 3}


def test_bbox_with_swapped_lat_lon_is_400_naming_it(client):
    r = client.get("/collections/facilities/items", params={"bbox": "22.5,113.2,22.7,113.25"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert "swapped" in err["message"]
    assert "113.2,22.5,113.25,22.7" in err["fix"]


@pytest.mark.parametrize(
    "bbox",
    [
        "1,2,3",
        "a,b,c,d",
        "113.3,22.5,113.2,22.7",
        "200,10,210,20",
        "1,2,3,4,5",
        "113.2,22.5,0,113.25,22.7,nan",
        "113.2,22.5,0,113.1,22.7,9",
    ],
)
def test_bad_bbox_is_400(client, bbox):
    r = client.get("/collections/facilities/items", params={"bbox": bbox})
    assert r.status_code == 400
    assert r.json()["error"]["fix"]


def test_bbox_on_a_layer_without_geometry_is_400(client):
    assert (
        client.get("/collections/facility_types/items", params={"bbox": "113,22,114,23"}).status_code == 400
    )


def test_facility_types_have_no_geometry(client):
    body = client.get("/collections/facility_types/items", params={"limit": 1000}).json()
    assert body["numberMatched"] >= 20
    assert all(f["geometry"] is None for f in body["features"])
    kg = client.get("/collections/facility_types/items/kindergarten").json()
    assert kg["properties"]["urban_max_distance_m"] == 300


def test_single_item_has_etag_and_links(client, api_db):
    r = client.get("/collections/facilities/items/1")
    assert r.status_code == 200
    engine = create_engine(api_db)  # the row's version: 1 as loaded, more if another test file edited it
    with engine.connect() as c:
        version = c.execute(text("SELECT version FROM facilities WHERE facility_id = 1")).scalar_one()
    engine.dispose()
    assert r.headers["etag"] == f'"{version}"'
    body = r.json()
    assert body["id"] == 1 and body["properties"]["name"] == "一号幼儿园"
    assert {link["rel"] for link in body["links"]} == {"self", "collection"}


@pytest.mark.parametrize("fid", ["999999", "abc", "99999999999999999999999"])
def test_missing_item_is_404(client, fid):
    r = client.get(f"/collections/facilities/items/{fid}")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_roads_are_simplified_for_maps(client):
    road = client.get("/collections/roads/items/1").json()
    # the fixture's middle vertex lies ~1 m off the straight line: below the 3 m tolerance
    assert road["geometry"]["coordinates"] == [[113.21, 22.55], [113.25, 22.55]]
    assert road["properties"]["highway"] == "residential"


def test_coverage_suppresses_small_counts_for_the_public(client, auth):
    public = {
        f["properties"]["area_id"]: f["properties"]
        for f in client.get("/collections/coverage/items").json()["features"]
    }
    assert public[GRID_B]["suppressed"] is True
    assert public[GRID_B]["households"] is None and public[GRID_B]["population_covered"] is None
    assert public[GRID_A]["suppressed"] is False and public[GRID_A]["population"] == 1620
    assert public[GRID_A]["households"] == 595  # 597 rounded to the nearest 5 for the public
    assert "elderly" not in public[GRID_A]
    planner = {
        f["properties"]["area_id"]: f["properties"]
        for f in client.get("/collections/coverage/items", headers=auth("planner")).json()["features"]
    }
    assert planner[GRID_B]["households"] == 3 and "suppressed" not in planner[GRID_B]
    assert planner[GRID_A]["households"] == 597  # planners see exact counts


def test_coverage_item_id_is_area_and_type(client):
    r = client.get(f"/collections/coverage/items/{GRID_A}:kindergarten")
    assert r.status_code == 200
    assert r.json()["properties"]["type_code"] == "kindergarten"


def test_coverage_filters(client):
    body = client.get("/collections/coverage/items", params={"level": "community"}).json()
    assert [f["properties"]["area_id"] for f in body["features"]] == [100]


def test_grids_carry_the_public_work_contact(client):
    grid = client.get(f"/collections/grids/items/{GRID_A}").json()["properties"]
    assert grid["worker_name"] == "网格员(第一网格)" and grid["worker_phone"] == "0755-0000001"
    assert "source" not in grid


def test_areas_collection_holds_administrative_levels_only(client):
    levels = {f["properties"]["level"] for f in client.get("/collections/areas/items").json()["features"]}
    assert levels == {"district", "town", "community"}
    assert client.get(f"/collections/areas/items/{GRID_A}").status_code == 404


def test_residences_need_a_login(client):
    assert client.get("/collections/residences/items").status_code == 401
    assert client.get("/collections/residences/items/1").status_code == 401
    assert client.get("/collections/residences").status_code == 401


def test_grid_worker_sees_only_residences_of_their_grid(client, auth):
    body = client.get("/collections/residences/items", headers=auth("gridworker")).json()
    assert {f["id"] for f in body["features"]} == {1, 2}
    assert body["features"][0]["properties"]["households"] == 300
    assert client.get("/collections/residences/items/3", headers=auth("gridworker")).status_code == 404
    r = client.get("/collections/residences/items", headers=auth("gridworker_nogrid"))
    assert r.status_code == 403 and "area_id" in r.json()["error"]["fix"]


def test_planner_sees_all_residences(client, auth):
    body = client.get("/collections/residences/items", headers=auth("planner"), params={"limit": 1000}).json()
    assert {1, 2, 3, 4} <= {f["id"] for f in body["features"]}


def test_officer_cannot_read_residences(client, auth):
    assert client.get("/collections/residences/items", headers=auth("officer")).status_code == 403


def test_cached_pages_follow_edits_at_once(client, auth):
    url = "/collections/facilities/items?type_code=refuse_station&limit=1000"
    before = client.get(url).json()["numberMatched"]
    assert client.get(url).json()["numberMatched"] == before  # served from the cache
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [113.37, 22.64]},
        "properties": {"type_code": "refuse_station", "name": "缓存测试收集站"},
    }
    assert client.post("/collections/facilities/items", json=body, headers=auth("planner")).status_code == 201
    assert client.get(url).json()["numberMatched"] == before + 1


def test_conditional_get_returns_304(client):
    url = "/collections/grids/items"
    first = client.get(url)
    etag = first.headers["etag"]
    assert etag.startswith('W/"grids-public-')
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""


def test_cache_keeps_audiences_apart(client, auth):
    url = "/collections/coverage/items?level=grid_small"
    public = client.get(url).json()
    planner = client.get(url, headers=auth("planner")).json()
    public_again = client.get(url).json()
    assert any(f["properties"]["households"] is None for f in public["features"])
    assert all(f["properties"]["households"] is not None for f in planner["features"])
    assert public_again == public
    assert client.get(url).headers["etag"] != client.get(url, headers=auth("planner")).headers["etag"]


def test_grid_worker_residence_pages_are_never_shared(client, auth):
    planner = client.get("/collections/residences/items", headers=auth("planner")).json()
    worker = client.get("/collections/residences/items", headers=auth("gridworker")).json()
    assert worker["numberMatched"] < planner["numberMatched"]


def test_large_responses_are_gzip_compressed_when_asked(client):
    # the OpenAPI document is large (tens of kB); small responses stay uncompressed
    r = client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers.get("content-encoding") == "gzip"
    assert int(r.headers["content-length"]) < len(r.content) / 3  # compressed on the wire, decoded here
    assert r.json()["info"]["title"].startswith("民情地图")
    plain = client.get("/openapi.json", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and int(plain.headers["content-length"]) == len(
        plain.content
    )
    small = client.get("/collections/roads/items?limit=1", headers={"Accept-Encoding": "gzip"})
    assert small.status_code == 200 and "content-encoding" not in small.headers
