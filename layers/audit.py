"""The audit log (who wrote what, when, before/after).

Filled by the database triggers (row writes; per-row records of bulk imports, migration 0007) and,
for actions that are not a row write of their own (starting a coverage run, evaluating a
scenario, an import's summary), by ``record``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Entry:
    audit_id: int
    at: datetime
    actor: str
    action: str
    layer: str
    object_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def record(
    s: Session,
    *,
    actor: str,
    action: str,
    layer: str,
    object_id: str | int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Write one audit entry in the session's transaction (``action`` ≤ 12 characters)."""
    s.execute(
        text(
            "INSERT INTO audit_log (actor, action, layer, object_id, before, after) "
            "VALUES (:a, :act, :l, :o, CAST(:b AS jsonb), CAST(:j AS jsonb))"
        ),
        {
            "a": actor[:60],
            "act": action,
            "l": layer,
            "o": None if object_id is None else str(object_id)[:40],
            "b": _json(before),
            "j": _json(after),
        },
    )


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def entries(
    s: Session,
    *,
    layer: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Entry], int]:
    """Newest first; returns a page and the number of entries matching."""
    clauses, params = ["TRUE"], {}
    for name, value, op in (
        ("layer", layer, "="),
        ("actor", actor, "="),
        ("action", action, "="),
        ("object_id", object_id, "="),
        ("at", since, ">="),
    ):
        if value is not None:
            clauses.append(f"{name} {op} :{name}")
            params[name] = value
    where = " AND ".join(clauses)
    rows = s.execute(
        text(
            "SELECT audit_id, at, actor, action, layer, object_id, before, after FROM audit_log "
            f"WHERE {where} ORDER BY audit_id DESC LIMIT :limit OFFSET :offset"
        ),
        {**params, "limit": limit, "offset": offset},
    )
    total = s.execute(text(f"SELECT count(*) FROM audit_log WHERE {where}"), params).scalar_one()
    return [Entry(*r) for r in rows], total
