"""Planner reads that the planning tools need beyond ``layers.queries`` / ``layers.store`` (SQL only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

DEMO_MARK = "%fictional demo data%"


def is_demo(s: Session) -> bool:
    """Whether the loaded areas or facilities are the fictional demo district."""
    return bool(s.execute(text(
        "SELECT EXISTS (SELECT 1 FROM areas WHERE source LIKE :m) OR EXISTS (SELECT 1 FROM facilities "
        "WHERE source LIKE :m)"), {"m": DEMO_MARK}).scalar())


def district_name(s: Session) -> str | None:
    """Name(s) of the district area(s), joined with 、."""
    names = s.execute(text("SELECT string_agg(name, '、' ORDER BY area_id) FROM areas WHERE level = 'district'"))
    return names.scalar()


def runs(s: Session, *, limit: int = 20, scenario_id: int | None = None) -> list[dict[str, Any]]:
    """Recent coverage runs (base runs, or those of one scenario), newest first."""
    cond = "scenario_id IS NULL" if scenario_id is None else "scenario_id = :sc"
    rows = s.execute(text(
        "SELECT run_id, status, scenario_id, started_at, finished_at, summary -> 'seconds' AS seconds "
        f"FROM coverage_runs WHERE {cond} ORDER BY run_id DESC LIMIT :l"), {"l": limit, "sc": scenario_id})
    return [dict(r) for r in rows.mappings()]
