"""Service health."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# --- response examples (OpenAPI) ---

_HEALTH_EXAMPLE = {"status": "ok", "database": "ok", "schema_revision": "0007"}


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_HEALTH_EXAMPLE]})

    status: str = "ok"
    database: str = "ok"
    schema_revision: str | None = None
