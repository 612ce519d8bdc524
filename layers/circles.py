"""Coverage of one life circle's residents per area (SQL only): the planner map's 生活圈 choice.

Coverage measures each residence with the circle of its community (``geo.coverage``); the run
stores, per area and type, the totals of each circle's residents (``coverage_area_circle``). An area
of a higher level (town, district) can hold both kinds; these totals keep only the residents of one
circle, so such an area shows how that circle's residents fare.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.orm import Session

from layers.queries import read_frame

MEASURES = ("households", "population", "elderly", "children")


def circle_totals(s: Session, run_id: int, *, level: str, type_code: str, urban: bool) -> pd.DataFrame:
    """Per area of ``level``: totals and covered counts of the residents of one circle (urban or rural).

    Columns ``area_id`` and, per measure m of ``MEASURES``, ``m`` and ``m_covered``; areas without
    residents of that circle are absent.
    """
    columns = ", ".join(f"c.{m}::bigint AS {m}, c.{m}_covered::bigint AS {m}_covered" for m in MEASURES)
    return read_frame(
        s,
        f"SELECT c.area_id, {columns} FROM coverage_area_circle c "
        "JOIN areas a ON a.area_id = c.area_id AND a.level = :level "
        "WHERE c.run_id = :run AND c.type_code = :type AND c.circle = :circle ORDER BY c.area_id",
        {"run": run_id, "type": type_code, "level": level, "circle": "urban" if urban else "rural"},
    )
