"""Property-based fuzzing of every operation in the OpenAPI document (schemathesis): no 5xx, ever.

Runs twice over the whole API, anonymously and as an administrator (so write bodies get past the
login and reach validation and the database), against its own database holding the small fixture
district: whatever the fuzzer creates, changes or deletes stays out of the other tests' way.
Examples per operation are bounded (positive and negative, 12 each) so the module takes well
under a minute.
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
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck))


# Built at import: schemathesis needs the schema while collecting (its lazy fixture loader does not
# work with pytest 9). The database is attached by the ``fuzz_app`` fixture before any request.
APP = create_app(make_settings(), database_url="postgresql+psycopg://unset@127.0.0.1:1/unset")
CONFIG = SchemathesisConfig.from_dict({
    "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": True},
    # the coverage phase alone sends ~9000 requests (~2 min on 2 cores): positive and negative
    # random examples plus the schema's own examples keep the module under a minute
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
})
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)


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
            assert op.get("summary") and any("\u4e00" <= ch <= "\u9fff" for ch in op["summary"]), \
                f"{label} needs a Chinese summary"
            assert op.get("tags") and set(op["tags"]) <= tags, f"{label} needs a declared tag"
            assert any(code.startswith("2") or code.startswith("3") for code in op["responses"]), label
            assert {"429", "500"} <= set(op["responses"]), f"{label}: error responses undocumented"
    schemas = doc["components"]["schemas"]
    for name in ("FacilityCreate", "FacilityUpdate", "FacilityPublic", "UserCreate", "UserPublic", "ErrorResponse"):
        assert name in schemas, name
    assert schemas["FacilityCreate"].get("examples"), "FacilityCreate needs an example"


@schema.parametrize()
@FUZZ
def test_no_server_error_anonymous(case):
    case.call_and_validate(checks=[not_a_server_error])


@schema.parametrize()
@FUZZ
def test_no_server_error_as_admin(case, admin_headers):
    case.call_and_validate(headers=admin_headers, checks=[not_a_server_error])
