"""Audit log entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from api.schemas.common import Link

# --- response examples (OpenAPI) ---

_AUDIT_PAGE_EXAMPLE: JsonDict = {
    "items": [
        {
            "audit_id": 912,
            "at": "2026-12-04T09:31:02+08:00",
            "actor": "admin",
            "action": "update",
            "layer": "areas",
            "object_id": "10001",
            "before": {"area_id": 10001, "name": "第一网格"},
            "after": {"area_id": 10001, "name": "滨河第一网格"},
        }
    ],
    "numberMatched": 1,
    "numberReturned": 1,
    "links": [{"href": "/audit?layer=areas", "rel": "self"}],
}


class AuditEntry(BaseModel):
    """一次写操作 one write: who, when, what, before/after."""

    audit_id: int
    at: datetime
    actor: str = Field(description="操作人 username (or the loader's name)")
    action: str = Field(examples=["update"], description="insert, update, delete or import")
    layer: str = Field(examples=["facilities"])
    object_id: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class AuditPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_AUDIT_PAGE_EXAMPLE]})

    items: list[AuditEntry]
    numberMatched: int  # noqa: N815
    numberReturned: int  # noqa: N815
    links: list[Link]
