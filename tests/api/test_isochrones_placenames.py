"""Isochrones, place-name search and reverse lookup (public)."""

from __future__ import annotations

import shapely
from api_fixture import GRID_A
from shapely.geometry import Point, shape


def test_isochrones_one_polygon_per_budget_and_reachable_facilities(client, auth):
    # 60 minutes: logged-in users only (anonymous walk isochrones are capped at 30)
    r = client.get(
        "/isochrones",
        params={"lon": 113.25, "lat": 22.55, "minutes": "5,60", "profile": "walk"},
        headers=auth("planner"),
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/geo+json"
    body = r.json()
    assert [f["properties"] for f in body["features"]] == [
        {"minutes": 5.0, "profile": "walk", "kind": "isochrone"},
        {"minutes": 60.0, "profile": "walk", "kind": "isochrone"},
    ]
    small, large = (shape(f["geometry"]) for f in body["features"])
    assert small.is_valid and large.is_valid and small.area < large.area
    assert large.contains(Point(113.25, 22.55))
    # 4 km/h along the fixture street: facility 1 lies 0.03° west = 3/4 of the 4110 m edge → 2774 s;
    # facility 2 (0.02° east) is only planned and facility 3 lies 5 km off the street: neither listed
    times = {f["facility_id"]: f["time_s"] for f in body["facilities"]}
    assert list(times) == [1]
    assert abs(times[1] - 0.75 * 4110 / (4 / 3.6)) < 5
    assert body["facilities"][0]["type_name"] == "幼儿园"


def test_isochrone_of_a_facility(client, auth):
    r = client.get("/facilities/1/isochrone", params={"minutes": 60}, headers=auth("officer"))
    assert r.status_code == 200
    body = r.json()
    assert body["origin"]["facility_id"] == 1
    assert 1 not in {f["facility_id"] for f in body["facilities"]}
    assert client.get("/facilities/424242/isochrone").status_code == 404


def test_isochrone_outside_the_district_is_422_in_chinese_and_english(client):
    r = client.get("/isochrones", params={"lon": 113.6, "lat": 22.6})
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert "不在本区范围内" in message and "outside the district" in message


def test_isochrone_far_from_streets_is_422(client):
    r = client.get("/isochrones", params={"lon": 113.38, "lat": 22.68})
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert "500" in message and "米" in message and "street" in message


def test_isochrone_parameters_are_checked(client):
    assert client.get("/isochrones", params={"lon": 113.25, "lat": 22.55, "minutes": "0"}).status_code == 400
    assert (
        client.get(
            "/isochrones", params={"lon": 113.25, "lat": 22.55, "minutes": "1,2,3,4,5,6,7"}
        ).status_code
        == 400
    )
    assert (
        client.get("/isochrones", params={"lon": 113.25, "lat": 22.55, "profile": "rocket"}).status_code
        == 400
    )
    assert client.get("/isochrones", params={"lon": 113.25}).status_code == 400


def test_placename_search_by_chinese_pinyin_and_initials(client):
    for q in ("滨河", "binhelu", "Bīnhé Lù", "bhl"):
        hits = client.get("/placenames/search", params={"q": q}).json()
        assert hits and hits[0]["name"] == "滨河路", q
        assert hits[0]["pinyin"] == "Binhe Lu" and hits[0]["lon"] is not None
    assert client.get("/placenames/search", params={"q": "不存在的名字"}).json() == []


def test_placename_search_limit(client):
    assert len(client.get("/placenames/search", params={"q": "c", "limit": 1}).json()) <= 1
    assert client.get("/placenames/search", params={"q": ""}).status_code == 400


def test_reverse_lookup(client):
    r = client.get("/reverse", params={"lon": 113.22, "lat": 22.5502})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["road"]["name"] == "滨河路" and body["road"]["distance_m"] < 30
    assert body["place_name"]["name"] == "滨河路"
    assert body["grid"]["area_id"] == GRID_A and body["grid"]["worker_phone"] == "0755-0000001"
    assert [a["level"] for a in body["areas"]] == [
        "district",
        "town",
        "community",
        "grid_middle",
        "grid_small",
    ]
    assert client.get("/reverse", params={"lon": 100.0, "lat": 22.6}).status_code == 422


def test_search_index_follows_edits(client, auth):
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [113.36, 22.66]},
        "properties": {"name": "晨曦广场", "category": "square"},
    }
    # "square" is no category of data/placenames/categories.csv: refused as by POST /placenames
    refused = client.post("/collections/place_names/items", json=body, headers=auth("officer"))
    assert refused.status_code == 422 and "categories.csv" in refused.text
    assert client.get("/placenames/search", params={"q": "chenxi"}).json() == []
    body["properties"]["category"] = "park"  # 公园、广场
    assert (
        client.post("/collections/place_names/items", json=body, headers=auth("officer")).status_code == 201
    )
    hits = client.get("/placenames/search", params={"q": "chenxi"}).json()
    assert hits and hits[0]["name"] == "晨曦广场"
    assert shapely.Point(hits[0]["lon"], hits[0]["lat"]).equals(Point(113.36, 22.66))
