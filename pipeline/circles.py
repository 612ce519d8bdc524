"""Coverage per area for the residents of one life circle (urban or rural): the planner map's 生活圈.

``reports.areas_table`` gives every area of a level with the run's figures for all its residents;
``areas_in_circle`` replaces them by those of one circle's residents (``layers.circles``), so an
area of the other class is left without residents (drawn grey, 不适用) and a mixed town shows how
its urban (or rural) residents fare. Targets follow the chosen circle.
"""

from __future__ import annotations

from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from geo import standards
from layers.circles import MEASURES, circle_totals
from pipeline.coverage import read_targets
from pipeline.reports import areas_table

Circle = Literal["urban", "rural"]


def areas_in_circle(
    s: Session,
    run_id: int,
    *,
    level: str | None,
    type_code: str,
    circle: Circle,
    min_share: float = standards.DEFAULT_MIN_SHARE,
) -> gpd.GeoDataFrame:
    """``areas_table`` rows of ``type_code`` at ``level`` counting only the residents of ``circle``.

    Adds ``in_circle`` (the area has residents of that circle); for other areas the counts are 0 and
    ``share``, ``target`` and ``pass`` are null. ``urban`` and ``circle`` stay the area's own class.
    """
    frame = areas_table(s, run_id, level=level, type_code=type_code, min_share=min_share)
    totals = pd.concat(
        [
            circle_totals(s, run_id, level=lvl, type_code=type_code, urban=circle == "urban")
            for lvl in sorted(set(frame.level))
        ]
        or [pd.DataFrame(columns=["area_id", *MEASURES, *(f"{m}_covered" for m in MEASURES)])]
    )
    totals = totals.set_index("area_id")
    inside = frame.area_id.isin(totals.index).to_numpy()
    for m in MEASURES:
        for col in (m, f"{m}_covered"):
            frame[col] = frame.area_id.map(totals[col]).fillna(0).astype(np.int64).to_numpy()
    frame["share"] = (frame.population_covered / frame.population.where(frame.population > 0)).where(inside)
    # The targets of the chosen circle (the area keeps its own urban flag and class).
    targets = standards.area_targets(frame.assign(urban=circle == "urban"), read_targets(), default=min_share)
    frame["target"] = pd.Series(targets, index=frame.index).where(inside)
    frame["pass"] = pd.array(
        (frame.share >= frame.target - 1e-12).where(frame.share.notna()), dtype="boolean"
    )
    frame["in_circle"] = inside
    return frame
