"""Property-based fuzzing of every operation in the OpenAPI document (schemathesis): no 5xx, ever.

Runs twice over the whole API, anonymously and as an administrator (so write bodies get past the
login and reach validation and the database), against its own database holding the small fixture
district with a finished coverage run (run 1, whose id is the path examples' value): whatever the
fuzzer creates, changes or deletes stays out of the other tests' way. Examples per operation are
bounded (positive and negative, 12 each); as administrator the planner operations (coverage runs,
scenarios, siting, compliance, reports, exports) get more (40) and schemathesis's coverage phase
(boundary values and every enum, e.g. each area level and export format) — the module stays under
two minutes on 2 cores.
"""

from __future__ import annotations

import pytest
import schemathesis
from api_fixture import PASSWORD, asgi_client, fresh_database, load_fixture_district, make_settings
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from sqlalchemy.engine import make_url

from api.main import create_app

EXAMPLES = 12
PLANNER_EXAMPLES = 40
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


# Built at import: schemathesis needs the schema while collecting (its lazy fixture loader does not
# work with pytest 9). The database is attached by the ``fuzz_app`` fixture before any request.
APP = create_app(make_settings(), database_url="postgresql+psycopg://unset@127.0.0.1:1/unset")
# the XLSX report and the PDF 摘要 (seconds each: a map, a font subset) keep the base examples
PLANNER_PATHS = r"^/(coverage|scenarios|siting|compliance|reports/[^/]+/gaps|exports)"
BASE = {
    "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": True},
    # the coverage phase over every operation sends ~9000 requests (~2 min on 2 cores): it runs
    # for the planner operations only, as administrator (anonymously they all stop at 401)
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
}
PLANNER = {
    "include-path-regex": PLANNER_PATHS,
    "generation": {"max-examples": PLANNER_EXAMPLES},
    "phases": {"coverage": {"enabled": True}},
}
# the live stream never ends by itself, and the in-process client waits for the end of a response: its
# roles and content are tested over real HTTP in test_event_live.py (anonymously it is a plain 401)
LIVE_STREAM = {"include-path": "/events/stream", "enabled": False}
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=SchemathesisConfig.from_dict(BASE))
admin_schema = schemathesis.openapi.from_asgi(
    "/openapi.json", APP, config=SchemathesisConfig.from_dict({**BASE, "operations": [PLANNER, LIVE_STREAM]})
)


@pytest.fixture(scope="module", autouse=True)
def fuzz_app(db_url):
    url = fresh_database(db_url, make_url(db_url).database + "_fuzz")
    load_fixture_district(url)
    APP.state.database_url = url
    return APP


@pytest.fixture(scope="module")
def admin_headers(fuzz_app):
    with asgi_client(fuzz_app) as c:
        token = c.post("/auth/token", data={"username": "admin", "password": PASSWORD}).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_openapi_document_is_complete(fuzz_app):
    with asgi_client(fuzz_app) as c:
        doc = c.get("/openapi.json").json()
    tags = {t["name"] for t in doc["tags"]}
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            label = f"{method.upper()} {path}"
            assert op.get("summary") and any("\u4e00" <= ch <= "\u9fff" for ch in op["summary"]), (
                f"{label} needs a Chinese summary"
            )
            assert op.get("tags") and set(op["tags"]) <= tags, f"{label} needs a declared tag"
            assert any(code.startswith("2") or code.startswith("3") for code in op["responses"]), label
            assert {"429", "500"} <= set(op["responses"]), f"{label}: error responses undocumented"
    schemas = doc["components"]["schemas"]
    for name in (
        "FacilityCreate",
        "FacilityUpdate",
        "FacilityPublic",
        "UserCreate",
        "UserPublic",
        "ErrorResponse",
        "FacilityCreateFeature",
        "FacilityUpdateFeaturePatch",
        "GeoJSONFeatureCollection",
    ):
        assert name in schemas, name
    assert schemas["FacilityCreate"].get("examples"), "FacilityCreate needs an example"
    unreadable = [n for n in schemas if "Annotated" in n or "__" in n or len(n) > 40]
    assert not unreadable, f"give these models explicit names: {unreadable}"


def _resolve(schema: dict, schemas: dict) -> dict:
    while "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _has_example(media: dict, schemas: dict) -> bool:
    """An example on the media type, on its schema, or (arrays) on the schema of its items."""
    if media.get("example") is not None or media.get("examples"):
        return True
    schema = _resolve(media.get("schema") or {}, schemas)
    if schema.get("examples") or schema.get("example") is not None:
        return True
    items = schema.get("items")
    return bool(items) and bool(_resolve(items, schemas).get("examples"))


def _successful_media(doc: dict):
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            for code, response in op["responses"].items():
                if code.startswith("2") and code != "204":
                    content = response.get("content") or {}
                    assert content, f"{method.upper()} {path} {code}: no content declared"
                    for media_type, media in content.items():
                        yield f"{method.upper()} {path} {code} {media_type}", media_type, media


def test_every_successful_response_has_a_schema_and_an_example(fuzz_app):
    """Files are string/binary (or CSV text), GeoJSON a FeatureCollection/Feature schema; every JSON, GeoJSON
    and CSV response shows an example (binary files cannot)."""
    with asgi_client(fuzz_app) as c:
        doc = c.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    missing_schema, missing_example = [], []
    for label, media_type, media in _successful_media(doc):
        schema = _resolve(media.get("schema") or {}, schemas)
        if not schema:
            missing_schema.append(label)
            continue
        if schema.get("format") != "binary" and not _has_example(media, schemas):
            missing_example.append(label)
        if media_type == "application/geo+json":
            assert schema.get("properties", {}).get("type", {}).get("const") in (
                "FeatureCollection",
                "Feature",
            ) or "features" in schema.get("properties", {}), f"{label}: not a GeoJSON schema"
    assert not missing_schema, f"responses with an empty schema: {missing_schema}"
    assert not missing_example, f"responses without an example: {missing_example}"


def test_the_completeness_check_can_fail():
    schemas = {"A": {"type": "object"}, "B": {"type": "object", "examples": [{}]}}
    assert not _has_example({"schema": {"$ref": "#/components/schemas/A"}}, schemas)
    assert _has_example({"schema": {"$ref": "#/components/schemas/B"}}, schemas)
    assert _has_example({"schema": {"type": "array", "items": {"$ref": "#/components/schemas/B"}}}, schemas)
    assert not _has_example(
        {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/A"}}}, schemas
    )
    assert _has_example({"schema": {"type": "string"}, "example": "a,b"}, schemas)


@schema.parametrize()
@FUZZ
def test_no_server_error_anonymous(case):
    case.call_and_validate(checks=[not_a_server_error])


@admin_schema.parametrize()
@FUZZ
def test_no_server_error_as_admin(case, admin_headers):
    case.call_and_validate(headers=admin_headers, checks=[not_a_server_error])
