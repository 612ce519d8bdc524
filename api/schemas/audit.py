"""Audit log entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api.schemas.common import Link


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
    items: list[AuditEntry]
    numberMatched: int  # noqa: N815
    numberReturned: int  # noqa: N815
    links: list[Link]
