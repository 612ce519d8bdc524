"""Planner reads that the planning tools need beyond ``layers.queries`` / ``layers.store`` (SQL only)."""

from __future__ import annotations

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

