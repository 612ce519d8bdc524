"""The homes each facility serves in a coverage run (SQL only), for drawing catchment areas.

A facility's catchment is the set of covered residences whose nearest facility of the type it is
(``coverage_residence.facility_id`` with ``covered``), the same residents its ``catchment_*``
counts add up. Only planners see these points' areas (never a public response).
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.orm import Session

from layers.queries import _frame


def catchment_homes(s: Session, run_id: int, type_code: str) -> pd.DataFrame:
    """Per covered residence of ``type_code`` in run ``run_id``: ``facility_id``, ``lon``, ``lat``
    (degrees, EPSG:4326) and ``population``, ``households``, ``elderly``, ``children``."""
    return _frame(
        s,
        "SELECT c.facility_id, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat, h.population, h.households, "
        "h.elderly, h.children FROM coverage_residence c JOIN residences h USING (residence_id) "
        "WHERE c.run_id = :r AND c.type_code = :t AND c.covered AND c.facility_id IS NOT NULL "
        "ORDER BY c.facility_id, c.residence_id",
        {"r": run_id, "t": type_code},
    )


def district_outline(s: Session) -> pd.DataFrame:
    """The district polygon(s) as WKB (``wkb``), to clip drawn areas to the land of the district."""
    return _frame(s, "SELECT ST_AsBinary(ST_Union(geom)) AS wkb FROM areas WHERE level = 'district'")
