"""Planner reads that the planning tools need beyond ``layers.queries`` / ``layers.store`` (SQL only)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

DEMO_MARK = "%fictional demo data%"


def is_demo(s: Session) -> bool:
    """Whether the loaded areas or facilities are the fictional demo district."""
    return bool(
        s.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM areas WHERE source LIKE :m) "
                "OR EXISTS (SELECT 1 FROM facilities WHERE source LIKE :m)"
            ),
            {"m": DEMO_MARK},
        ).scalar()
    )


def district_name(s: Session) -> str | None:
    """Name(s) of the district area(s), joined with 、."""
    names = s.execute(
        text("SELECT string_agg(name, '、' ORDER BY area_id) FROM areas WHERE level = 'district'")
    )
    return names.scalar()


def outside_district(s: Session, lon: list[float], lat: list[float]) -> list[int]:
    """Positions (0-based) of the points (WGS84) that lie in no district area (all, when none is loaded)."""
    rows = s.execute(
        text(
            "SELECT p.i - 1 FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) "
            "WITH ORDINALITY AS p(x, y, i) WHERE NOT EXISTS (SELECT 1 FROM areas a "
            "WHERE a.level = 'district' AND ST_Intersects(a.geom, ST_SetSRID(ST_Point(p.x, p.y), 4326))) "
            "ORDER BY p.i"
        ),
        {"x": [float(v) for v in lon], "y": [float(v) for v in lat]},
    )
    return [int(i) for i in rows.scalars()]
