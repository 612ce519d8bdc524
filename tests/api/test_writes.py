"""Writing features: validation, optimistic locking (ETag / If-Match), deletes, and the audit trail."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from api_fixture import COMMUNITY2, GRID_A, GRID_MIDDLE
from sqlalchemy import create_engine, text


def point(lon: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [lon, lat]}


def facility(lon: float = 113.33, lat: float = 22.62, **props) -> dict:
    return {
        "type": "Feature",
        "geometry": point(lon, lat),
        "properties": {"type_code": "public_toilet", "name": "测试公厕", **props},
    }


@pytest.fixture(scope="module")
def db(api_db):
    engine = create_engine(api_db)
    yield engine
    engine.dispose()


def audit_rows(db, layer: str, object_id) -> list[dict]:
    with db.connect() as con:
        rows = con.execute(
            text(
                "SELECT actor, action, before, after FROM audit_log WHERE layer = :l AND "
                "object_id = :o ORDER BY audit_id"
            ),
            {"l": layer, "o": str(object_id)},
        )
        return [dict(r._mapping) for r in rows]


def create(client, auth, body=None, *, who="planner", collection="facilities"):
    r = client.post(f"/collections/{collection}/items", json=body or facility(), headers=auth(who))
    assert r.status_code == 201, r.text
    return r


def test_create_returns_201_with_location_etag_and_is_audited(client, auth, db):
    r = create(client, auth, facility(name="新公厕", phone="0755-1"))
    body = r.json()
    fid = body["id"]
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"].endswith(f"/collections/facilities/items/{fid}")
    assert body["properties"]["name"] == "新公厕" and body["properties"]["type_name"] == "公共厕所"
    assert fid > 5  # ids continue after the fixture's explicit ids
    [row] = audit_rows(db, "facilities", fid)
    assert row["actor"] == "planner" and row["action"] == "insert"
    assert row["before"] is None and row["after"]["name"] == "新公厕"


def test_update_with_if_match_bumps_version_and_audits_before_after(client, auth, db):
    fid = create(client, auth).json()["id"]
    r = client.patch(
        f"/collections/facilities/items/{fid}",
        json={"properties": {"status": "closed"}},
        headers=auth("planner", **{"If-Match": '"1"'}),
    )
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"'
    assert r.json()["properties"]["status"] == "closed"
    rows = audit_rows(db, "facilities", fid)
    assert [x["action"] for x in rows] == ["insert", "update"]
    assert rows[1]["actor"] == "planner"
    assert rows[1]["before"]["status"] == "open" and rows[1]["after"]["status"] == "closed"


def test_put_replaces_geometry_and_properties(client, auth):
    fid = create(client, auth, facility(phone="123")).json()["id"]
    new = facility(113.34, 22.63, name="搬迁后公厕")
    r = client.put(
        f"/collections/facilities/items/{fid}", json=new, headers=auth("planner", **{"If-Match": '"1"'})
    )
    assert r.status_code == 200, r.text
    props = r.json()["properties"]
    assert props["name"] == "搬迁后公厕" and props["phone"] is None  # PUT replaces every property
    assert r.json()["geometry"]["coordinates"] == [113.34, 22.63]


def test_write_without_if_match_is_428(client, auth):
    fid = create(client, auth).json()["id"]
    for method in ("put", "patch", "delete"):
        kwargs = {} if method == "delete" else {"json": facility() if method == "put" else {"properties": {}}}
        r = getattr(client, method)(f"/collections/facilities/items/{fid}", headers=auth("planner"), **kwargs)
        assert r.status_code == 428, (method, r.text)
        assert "ETag" in r.json()["error"]["fix"]


def test_stale_if_match_is_412_and_writes_nothing(client, auth):
    fid = create(client, auth).json()["id"]
    r = client.patch(
        f"/collections/facilities/items/{fid}",
        json={"properties": {"name": "x"}},
        headers=auth("planner", **{"If-Match": '"7"'}),
    )
    assert r.status_code == 412
    assert "changed since you read it" in r.json()["error"]["message"]
    assert client.get(f"/collections/facilities/items/{fid}").json()["properties"]["name"] == "测试公厕"


def test_if_match_star_or_lists_are_refused(client, auth):
    fid = create(client, auth).json()["id"]
    for value in ("*", '"1", "2"'):
        r = client.patch(
            f"/collections/facilities/items/{fid}",
            json={"properties": {}},
            headers=auth("planner", **{"If-Match": value}),
        )
        assert r.status_code == 400


def test_weak_etags_are_accepted(client, auth):
    fid = create(client, auth).json()["id"]
    r = client.patch(
        f"/collections/facilities/items/{fid}",
        json={"properties": {"capacity": 2}},
        headers=auth("planner", **{"If-Match": 'W/"1"'}),
    )
    assert r.status_code == 200


def test_concurrent_edits_never_silently_overwrite(app, auth):
    """Two clients read the same ETag; the first PUT wins, the second gets 412, the row keeps edit 1."""
    from api_fixture import asgi_client

    with asgi_client(app) as a, asgi_client(app) as b:
        fid = create(a, auth).json()["id"]
        etag_a = a.get(f"/collections/facilities/items/{fid}").headers["etag"]
        etag_b = b.get(f"/collections/facilities/items/{fid}").headers["etag"]
        assert etag_a == etag_b
        first = a.put(
            f"/collections/facilities/items/{fid}",
            json=facility(name="甲的修改"),
            headers=auth("planner", **{"If-Match": etag_a}),
        )
        second = b.put(
            f"/collections/facilities/items/{fid}",
            json=facility(name="乙的修改"),
            headers=auth("admin", **{"If-Match": etag_b}),
        )
        assert first.status_code == 200 and second.status_code == 412
        assert a.get(f"/collections/facilities/items/{fid}").json()["properties"]["name"] == "甲的修改"


def test_simultaneous_edits_exactly_one_wins(app, auth):
    """Same race with both requests in flight at once (threads): one 200, one 412."""
    from api_fixture import asgi_client

    with asgi_client(app) as c:
        fid = create(c, auth).json()["id"]

    def edit(name: str) -> int:
        with asgi_client(app) as own:
            return own.patch(
                f"/collections/facilities/items/{fid}",
                json={"properties": {"name": name}},
                headers=auth("planner", **{"If-Match": '"1"'}),
            ).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(edit, ["甲", "乙", "丙", "丁"]))
    assert codes == [200, 412, 412, 412]


def test_delete_with_if_match(client, auth, db):
    fid = create(client, auth).json()["id"]
    r = client.delete(f"/collections/facilities/items/{fid}", headers=auth("planner", **{"If-Match": '"1"'}))
    assert r.status_code == 204
    assert client.get(f"/collections/facilities/items/{fid}").status_code == 404
    rows = audit_rows(db, "facilities", fid)
    assert (
        rows[-1]["action"] == "delete"
        and rows[-1]["before"]["name"] == "测试公厕"
        and rows[-1]["after"] is None
    )


def test_delete_missing_is_404(client, auth):
    r = client.delete("/collections/facilities/items/987654", headers=auth("planner", **{"If-Match": '"1"'}))
    assert r.status_code == 404


# -- validation ----------------------------------------------------------------------------------


def test_unknown_facility_type_is_422_listing_valid_codes(client, auth):
    r = client.post(
        "/collections/facilities/items", json=facility(type_code="spaceport"), headers=auth("planner")
    )
    assert r.status_code == 422
    msg = r.json()["error"]["message"]
    assert "spaceport" in msg and "kindergarten" in msg and "elderly_daycare" in msg


def test_outside_district_is_422(client, auth):
    r = client.post("/collections/facilities/items", json=facility(116.4, 39.9), headers=auth("planner"))
    assert r.status_code == 422
    err = r.json()["error"]
    assert "outside the district" in err["message"] and "GCJ-02" in err["fix"]


def test_swapped_lon_lat_is_422_saying_so(client, auth):
    r = client.post("/collections/facilities/items", json=facility(22.62, 113.33), headers=auth("planner"))
    assert r.status_code == 422
    err = r.json()["error"]
    assert "swapped" in err["message"] and "[longitude, latitude]" in err["fix"]


def test_geometry_type_must_match_the_layer(client, auth):
    body = facility()
    body["geometry"] = {
        "type": "Polygon",
        "coordinates": [[[113.3, 22.6], [113.31, 22.6], [113.31, 22.61], [113.3, 22.6]]],
    }
    r = client.post("/collections/facilities/items", json=body, headers=auth("planner"))
    assert r.status_code == 422  # the body model only accepts Points for facilities


def test_invalid_polygon_is_422_with_make_valid_hint(client, auth):
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [[113.31, 22.61], [113.33, 22.63], [113.33, 22.61], [113.31, 22.63], [113.31, 22.61]]
        ],
    }
    body = {
        "type": "Feature",
        "geometry": bowtie,
        "properties": {
            "level": "grid_small",
            "code": "G-BOWTIE",
            "name": "蝴蝶网格",
            "parent_id": GRID_MIDDLE,
        },
    }
    r = client.post("/collections/grids/items", json=body, headers=auth("admin"))
    assert r.status_code == 422
    err = r.json()["error"]
    assert "Self-intersection" in err["message"] and "make_valid" in err["fix"]


def test_polygon_is_stored_as_multipolygon(client, auth):
    square = {
        "type": "Polygon",
        "coordinates": [
            [[113.31, 22.61], [113.32, 22.61], [113.32, 22.62], [113.31, 22.62], [113.31, 22.61]]
        ],
    }
    body = {
        "type": "Feature",
        "geometry": square,
        "properties": {"level": "grid_small", "code": "G-NEW-1", "name": "新网格", "parent_id": GRID_MIDDLE},
    }
    r = client.post("/collections/grids/items", json=body, headers=auth("admin"))
    assert r.status_code == 201, r.text
    assert r.json()["geometry"]["type"] == "MultiPolygon"
    again = client.post("/collections/grids/items", json=body, headers=auth("admin"))
    assert again.status_code == 422 and "already used" in again.json()["error"]["message"]


def test_grids_refuse_administrative_levels(client, auth):
    square = {
        "type": "Polygon",
        "coordinates": [
            [[113.31, 22.61], [113.32, 22.61], [113.32, 22.62], [113.31, 22.62], [113.31, 22.61]]
        ],
    }
    body = {"type": "Feature", "geometry": square, "properties": {"level": "town", "code": "T9", "name": "x"}}
    assert client.post("/collections/grids/items", json=body, headers=auth("admin")).status_code == 422


def test_unknown_area_reference_is_422(client, auth):
    body = {
        "type": "Feature",
        "geometry": point(113.35, 22.6),
        "properties": {"area_id": 424242, "households": 3},
    }
    r = client.post("/collections/residences/items", json=body, headers=auth("planner"))
    assert r.status_code == 422 and "424242" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "props",
    [
        {"name": ""},
        {"name": "x" * 201},
        {"status": "demolished"},
        {"capacity": -1},
        {"colour": "red"},
        {"name": "a\u0000b"},
    ],
)
def test_bad_properties_are_422(client, auth, props):
    r = client.post("/collections/facilities/items", json=facility(**props), headers=auth("planner"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"]


def test_patch_cannot_null_a_required_property(client, auth):
    fid = create(client, auth).json()["id"]
    r = client.patch(
        f"/collections/facilities/items/{fid}",
        json={"properties": {"name": None}},
        headers=auth("planner", **{"If-Match": '"1"'}),
    )
    assert r.status_code == 422


def test_read_only_collections_have_no_write_routes(client, auth):
    r = client.post("/collections/roads/items", json=facility(), headers=auth("admin"))
    assert r.status_code == 405


# -- other writable layers ---------------------------------------------------------------------------


def test_residence_etag_locking(client, auth, db):
    body = {
        "type": "Feature",
        "geometry": point(113.36, 22.61),
        "properties": {"area_id": COMMUNITY2, "households": 12, "population": 30, "address": "新楼1号"},
    }
    r = create(client, auth, body, collection="residences")
    fid, etag = r.json()["id"], r.headers["etag"]
    ok = client.patch(
        f"/collections/residences/items/{fid}",
        json={"properties": {"households": 13}},
        headers=auth("planner", **{"If-Match": etag}),
    )
    assert ok.status_code == 200 and ok.headers["etag"] != etag
    stale = client.patch(
        f"/collections/residences/items/{fid}",
        json={"properties": {"households": 14}},
        headers=auth("planner", **{"If-Match": etag}),
    )
    assert stale.status_code == 412
    assert [x["actor"] for x in audit_rows(db, "residences", fid)] == ["planner", "planner"]


def test_place_name_with_history_cannot_be_deleted(client, auth):
    etag = client.get("/collections/place_names/items/3").headers["etag"]
    r = client.delete("/collections/place_names/items/3", headers=auth("officer", **{"If-Match": etag}))
    assert r.status_code == 409
    assert "historical" in r.json()["error"]["fix"]


def test_officer_edits_place_names(client, auth, db):
    body = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[113.31, 22.6], [113.39, 22.6]]},
        "properties": {"name": "新华路", "category": "road", "pinyin": "Xinhua Lu", "area_id": COMMUNITY2},
    }
    r = create(client, auth, body, who="officer", collection="place_names")
    fid = r.json()["id"]
    r2 = client.patch(
        f"/collections/place_names/items/{fid}",
        json={"properties": {"sign_present": True}},
        headers=auth("officer", **{"If-Match": r.headers["etag"]}),
    )
    assert r2.status_code == 200 and r2.json()["properties"]["sign_present"] is True
    assert audit_rows(db, "place_names", fid)[-1]["actor"] == "officer"


def history_rows(db, name_id) -> list[dict]:
    with db.connect() as con:
        rows = con.execute(
            text(
                "SELECT action, new_name, changed_by, before, after FROM place_name_history "
                "WHERE name_id = :i ORDER BY history_id"
            ),
            {"i": name_id},
        )
        return [dict(r._mapping) for r in rows]


def test_generic_place_name_writes_keep_the_registry_rules(client, auth, db):
    # no pinyin, no area: the registry fills them (as POST /placenames would) and records the history
    body = {
        "type": "Feature",
        "geometry": point(113.36, 22.61),
        "properties": {"name": "新华巷", "category": "lane"},
    }
    r = create(client, auth, body, who="officer", collection="place_names")
    fid, props = r.json()["id"], r.json()["properties"]
    assert props["pinyin"] == "Xinhua Xiang" and (props["proper"], props["generic"]) == ("新华", "巷")
    assert props["area_id"] is not None
    [made] = history_rows(db, fid)
    assert made["action"] == "create" and made["new_name"] == "新华巷" and made["changed_by"] == "officer"
    # an attribute change is an "update" entry with the row before and after
    r2 = client.patch(
        f"/collections/place_names/items/{fid}",
        json={"properties": {"heritage": True}},
        headers=auth("officer", **{"If-Match": r.headers["etag"]}),
    )
    assert r2.status_code == 200, r2.text
    made, changed = history_rows(db, fid)
    assert changed["action"] == "update"
    assert changed["before"]["heritage"] is False and changed["after"]["heritage"] is True
    # a new name needs the rename route (approval, old name kept): refused here, nothing written
    r3 = client.patch(
        f"/collections/place_names/items/{fid}",
        json={"properties": {"name": "旭日巷"}},
        headers=auth("officer", **{"If-Match": r2.headers["etag"]}),
    )
    assert r3.status_code == 422 and "rename" in r3.text
    assert client.get(f"/collections/place_names/items/{fid}").json()["properties"]["name"] == "新华巷"
    assert len(history_rows(db, fid)) == 2


def test_grid_worker_updates_attributes_of_facilities_in_their_grid(client, auth, db):
    etag = client.get("/collections/facilities/items/3").headers["etag"]
    r = client.patch(
        "/collections/facilities/items/3",
        json={"properties": {"opening_hours": "08:00-18:00"}},
        headers=auth("gridworker", **{"If-Match": etag}),
    )
    assert r.status_code == 200, r.text
    assert audit_rows(db, "facilities", 3)[-1]["actor"] == "gridworker"


def test_grid_worker_cannot_move_or_touch_facilities_elsewhere(client, auth):
    etag = client.get("/collections/facilities/items/1").headers["etag"]
    move = client.patch(
        "/collections/facilities/items/1",
        json={"geometry": point(113.21, 22.56)},
        headers=auth("gridworker", **{"If-Match": etag}),
    )
    assert move.status_code == 403
    elsewhere = client.patch(
        "/collections/facilities/items/2",
        json={"properties": {"phone": "1"}},
        headers=auth("gridworker", **{"If-Match": '"1"'}),
    )
    assert elsewhere.status_code == 404  # facility 2 lies in grid B: not in this worker's grid
    assert GRID_A  # (the worker's own grid holds facilities 1 and 3)
