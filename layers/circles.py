"""Coverage of one life circle's residents per area (SQL only): the planner map's 生活圈 choice.

Coverage measures each residence with the circle of its community (``geo.coverage``), and the run
stores that circle per home (``coverage_residence.circle``). An area of a higher level (town,
district) can hold both kinds; these sums keep only the residents of one circle, so such an area
shows how that circle's residents fare.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.orm import Session

from layers.queries import read_frame

MEASURES = ("households", "population", "elderly", "children")

_SQL = """
WITH RECURSIVE up(area_id, anc, depth) AS (
    SELECT area_id, area_id, 0 FROM areas
    UNION ALL
    SELECT up.area_id, a.parent_id, up.depth + 1 FROM up JOIN areas a ON a.area_id = up.anc
    WHERE a.parent_id IS NOT NULL AND up.depth < 32
)
SELECT up.anc AS area_id, {sums}
FROM coverage_residence r
JOIN residences h USING (residence_id)
JOIN up ON up.area_id = h.area_id
JOIN areas t ON t.area_id = up.anc AND t.level = :level
WHERE r.run_id = :run AND r.type_code = :type AND r.circle = :circle
GROUP BY up.anc ORDER BY up.anc
"""


def circle_totals(s: Session, run_id: int, *, level: str, type_code: str, urban: bool) -> pd.DataFrame:
    """Per area of ``level``: totals and covered counts of the residents of one circle (urban or rural).

    Columns ``area_id`` and, per measure m of ``MEASURES``, ``m`` and ``m_covered``; areas without
    residents of that circle are absent.
    """
    sums = ", ".join(f"sum(h.{m})::bigint AS {m}, (sum(h.{m}) FILTER (WHERE r.covered))::bigint AS {m}_covered"
                     for m in MEASURES)
    frame = read_frame(s, _SQL.format(sums=sums), {"run": run_id, "type": type_code, "level": level,
                                                  "circle": "urban" if urban else "rural"})
    covered = [f"{m}_covered" for m in MEASURES]
    frame[covered] = frame[covered].fillna(0).astype("int64")
    return frame
