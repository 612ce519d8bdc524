"""Scenarios: named, saved sets of what-if facility changes and their evaluated results (SQL only).

The result is derived data (recomputed from the changes at will), so writing it is not audited
row by row: ``set_result`` marks its statement as a bulk write for the audit trigger.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.errors import NotFound

COLUMNS = "scenario_id, name, description, changes, created_by, result, created_at, updated_at"
LIST_COLUMNS = (
    "scenario_id, name, description, jsonb_array_length(changes) AS n_changes, created_by, "
    "result ->> 'evaluated_at' AS evaluated_at, (result ->> 'run_id')::bigint AS run_id, "
    "created_at, updated_at"
)


def create(
    s: Session,
    *,
    name: str,
    changes: list[dict[str, Any]],
    description: str | None = None,
    created_by: str | None = None,
) -> dict[str, Any]:
    """Insert a scenario (not yet evaluated) and return its row."""
    row = (
        s.execute(
            text(
                f"INSERT INTO scenarios (name, description, changes, created_by) "
                f"VALUES (:n, :d, CAST(:c AS jsonb), :u) RETURNING {COLUMNS}"
            ),
            {"n": name, "d": description, "c": json.dumps(changes, ensure_ascii=False), "u": created_by},
        )
        .mappings()
        .one()
    )
    return dict(row)


def get(s: Session, scenario_id: int) -> dict[str, Any]:
    """The scenario row; ``NotFound`` naming the id otherwise."""
    row = (
        s.execute(text(f"SELECT {COLUMNS} FROM scenarios WHERE scenario_id = :i"), {"i": scenario_id})
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(
            f"scenario {scenario_id} does not exist: GET /scenarios (or `minqing plan scenario list`) "
            "lists the saved scenarios"
        )
    return dict(row)


def listing(s: Session, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Scenarios, newest first, without their results (count of changes, evaluation time)."""
    rows = s.execute(
        text(f"SELECT {LIST_COLUMNS} FROM scenarios ORDER BY scenario_id DESC LIMIT :l OFFSET :o"),
        {"l": limit, "o": offset},
    ).mappings()
    return [dict(r) for r in rows]


def set_result(s: Session, scenario_id: int, result: dict[str, Any]) -> None:
    """Store an evaluation result (JSON) on the scenario."""
    s.execute(text("SELECT set_config('minqing.bulk', 'on', true)"))
    try:
        s.execute(
            text("UPDATE scenarios SET result = CAST(:r AS jsonb) WHERE scenario_id = :i"),
            {"r": json.dumps(result, ensure_ascii=False, default=_plain), "i": scenario_id},
        )
    finally:
        s.execute(text("SELECT set_config('minqing.bulk', 'off', true)"))


def _plain(value: Any) -> Any:
    """numpy scalars → Python numbers for JSON."""
    item = getattr(value, "item", None)
    if item is not None:
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
