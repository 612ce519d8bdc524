"""Issue 14.7: JSON bodies with NaN, Infinity, 1e400 or a lone surrogate are a clean 422, never a 500.

Python's JSON parser accepts all four; before the fix the 422 handler echoed the value back and
failed to serialise it (500), or the value reached PostgreSQL (500).
"""

from __future__ import annotations

import json
import math

import pytest
from fastapi.exceptions import RequestValidationError

from api.errors import error_response

GOOD = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [113.22, 22.55]},
    "properties": {"name": "测试设施", "type_code": "kindergarten", "status": "planned", "capacity": 50},
}


def _created(client, auth, r) -> dict:
    """The created feature's body; the facility is deleted again (other tests count facilities)."""
    assert r.status_code == 201, r.text
    feature = r.json()
    gone = client.delete(
        f"/collections/facilities/items/{feature['id']}",
        headers=auth("planner", **{"If-Match": r.headers["ETag"]}),
    )
    assert gone.status_code == 204, gone.text
    return feature


def _raw(coordinates: str = "113.22,22.55", name: str = '"测试设施"', capacity: str = "50") -> bytes:
    return (
        '{"type":"Feature","geometry":{"type":"Point","coordinates":[' + coordinates + "]},"
        '"properties":{"name":'
        + name
        + ',"type_code":"kindergarten","status":"planned","capacity":'
        + capacity
        + "}}"
    ).encode()


CASES = {
    "nan coordinate": (_raw(coordinates="NaN,22.55"), "body.geometry.coordinates.0", "NaN"),
    "infinity coordinate": (_raw(coordinates="113.22,Infinity"), "body.geometry.coordinates.1", "Infinity"),
    "minus infinity capacity": (_raw(capacity="-Infinity"), "body.properties.capacity", "-Infinity"),
    "1e400 coordinate": (_raw(coordinates="1e400,22.55"), "body.geometry.coordinates.0", "1e400"),
    "nan capacity": (_raw(capacity="NaN"), "body.properties.capacity", "NaN"),
    "lone high surrogate": (_raw(name='"\\ud800"'), "body.properties.name", "surrogate"),
    "lone low surrogate in a key": (_raw(name='"x","\\udfff":1'), "body.properties", "surrogate"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_unsafe_json_values_are_422_with_a_safe_message(client, auth, case):
    body, where, word = CASES[case]
    r = client.post(
        "/collections/facilities/items",
        content=body,
        headers={**auth("planner"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    err = r.json()["error"]  # the response itself is valid JSON in valid UTF-8
    assert err["code"] == "invalid_json_value"
    assert where in err["message"] and word in err["message"]
    assert err["fix"]
    r.content.decode("utf-8")


def test_bytes_that_are_not_utf8_are_422(client, auth):
    body = _raw(name='"XYZ"').replace(b"XYZ", b"\xed\xa0\x80")  # a surrogate encoded as bytes: not UTF-8
    r = client.post(
        "/collections/facilities/items",
        content=body,
        headers={**auth("planner"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert "UTF-8" in r.json()["error"]["message"]


def test_a_surrogate_pair_and_large_finite_numbers_are_still_accepted(client, auth):
    # the check refuses only what cannot be carried: a proper pair (😀) and 1e300 pass it
    r = client.post(
        "/collections/facilities/items",
        content=_raw(name='"\\ud83d\\ude00 测试"'),
        headers={**auth("planner"), "Content-Type": "application/json"},
    )
    assert _created(client, auth, r)["properties"]["name"] == "😀 测试"
    r = client.post(
        "/collections/facilities/items",
        content=_raw(capacity="1e300"),
        headers={**auth("planner"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] != "invalid_json_value"  # the model's own check


def test_the_422_handler_never_echoes_what_json_cannot_carry():
    exc = RequestValidationError(
        [
            {"type": "x", "loc": ("body", "a"), "msg": "bad \ud800", "input": math.nan},
            {"type": "x", "loc": ("body", "b"), "msg": "bad", "input": math.inf},
            {"type": "x", "loc": ("body", "c\udfff"), "msg": "bad", "input": "text \ud800 here"},
        ]
    )
    response = error_response(exc)
    assert response.status_code == 422
    details = json.loads(response.body.decode("utf-8"))["error"]["details"]
    assert [d["input"] for d in details[:2]] == [None, None]
    assert details[2]["input"] == "text \\ud800 here" and details[2]["location"] == ["body", "c\\udfff"]


@pytest.mark.parametrize("case", ["nan coordinate", "lone high surrogate"])
def test_anonymous_unsafe_bodies_are_refused_without_a_500(client, case):
    r = client.post(
        "/collections/facilities/items", content=CASES[case][0], headers={"Content-Type": "application/json"}
    )
    assert r.status_code in (401, 422), r.text


def test_plain_json_bodies_pass_the_check_unchanged(client, auth):
    r = client.post(
        "/collections/facilities/items",
        content=json.dumps(GOOD, ensure_ascii=False).encode(),
        headers={**auth("planner"), "Content-Type": "application/json; charset=utf-8"},
    )
    properties = _created(client, auth, r)["properties"]
    assert properties["name"] == "测试设施" and properties["capacity"] == 50
