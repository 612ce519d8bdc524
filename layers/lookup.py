"""Point lookups for the public map: what lies at or near a point (EPSG:4326 lon/lat, metres).

The nearest named road and place name are ``layers.placenames.nearest_road`` and
``nearest_place_name`` (metric order on the spheroid); ``layers.placenames.reverse`` combines them
with :func:`areas_at`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.areas import ORDER
from layers.queries import read_frame

POINT = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"


def point_in_district(s: Session, lon: float, lat: float) -> bool | None:
    """Whether the point lies in the district area(s); None when no district is loaded."""
    return s.execute(
        text(f"SELECT bool_or(ST_Intersects(geom, {POINT})) FROM areas WHERE level = 'district'"),
        {"lon": lon, "lat": lat},
    ).scalar()


def areas_at(s: Session, lon: float, lat: float) -> list[dict[str, Any]]:
    """Every area containing the point, from the district down (public columns only)."""
    order = "CASE level " + " ".join(f"WHEN '{level}' THEN {i}" for level, i in ORDER.items()) + " END"
    rows = s.execute(
        text(
            "SELECT area_id, parent_id, level, code, name, worker_name, worker_phone FROM areas "
            f"WHERE ST_Intersects(geom, {POINT}) ORDER BY {order}, area_id"
        ),
        {"lon": lon, "lat": lat},
    ).mappings()
    return [dict(r) for r in rows]


def place_name_rows(s: Session) -> pd.DataFrame:
    """Names to search: every place name, then the former names from its history (``historical``).
    Every current name comes before any former one (``layers.placenames.name_index`` keeps each id's
    first row as its current one): a UNION ALL alone promises no order, and a parallel plan mixes
    the two."""
    frame = read_frame(
        s,
        (
            "SELECT * FROM ("
            "SELECT name_id AS id, name, status = 'historical' AS historical, category, pinyin, status, "
            "ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat, 0 AS former "
            "FROM place_names "
            "UNION ALL "
            "SELECT h.name_id, h.old_name, true, p.category, p.pinyin, p.status, "
            "ST_X(ST_PointOnSurface(p.geom)), ST_Y(ST_PointOnSurface(p.geom)), 1 FROM place_name_history h "
            "JOIN place_names p USING (name_id) WHERE h.old_name IS NOT NULL AND h.old_name <> p.name"
            ") names ORDER BY former, id, name"
        ),
    )
    return frame.drop(columns="former")


def facility_points(s: Session) -> pd.DataFrame:
    """Open facilities with their type's Chinese name and category: facility_id, name, type_code,
    type_name, category, lon, lat."""
    return read_frame(
        s,
        (
            "SELECT f.facility_id, f.name, f.type_code, t.name_zh AS type_name, t.category, "
            "ST_X(f.geom) AS lon, ST_Y(f.geom) AS lat FROM facilities f LEFT JOIN facility_types t "
            "ON t.code = f.type_code WHERE f.status = 'open' ORDER BY f.facility_id"
        ),
    )


def facility_point(s: Session, facility_id: int) -> tuple[float, float] | None:
    row = s.execute(
        text("SELECT ST_X(geom), ST_Y(geom) FROM facilities WHERE facility_id = :i"), {"i": facility_id}
    ).first()
    return None if row is None else (row[0], row[1])


def facility_search_rows(s: Session) -> pd.DataFrame:
    """Open facilities to search (public columns):
    facility_id, name, type_code, type_name, address, lon, lat.
    """
    return read_frame(
        s,
        (
            "SELECT f.facility_id, f.name, f.type_code, t.name_zh AS type_name, f.address, "
            "ST_X(f.geom) AS lon, ST_Y(f.geom) AS lat FROM facilities f LEFT JOIN facility_types t "
            "ON t.code = f.type_code WHERE f.status = 'open' ORDER BY f.facility_id"
        ),
    )


def facility_loads(s: Session, run_id: int) -> pd.DataFrame:
    """Per facility of coverage run ``run_id``: facility_id, load (demand of its catchment over its
    capacity; NULL when the type's capacity has no basis or the facility has no capacity)."""
    return read_frame(
        s,
        "SELECT facility_id, load FROM coverage_facility WHERE run_id = :r ORDER BY facility_id",
        {"r": run_id},
    )
