"""Service health."""

from __future__ import annotations

from pydantic import BaseModel


class Health(BaseModel):
    status: str = "ok"
    database: str = "ok"
    schema_revision: str | None = None
