"""Facility isochrones stored with a coverage run (``facility_isochrones``, migrations 0030 and 0035;
issue 19.3).

One row per (run, facility, travel profile, minutes): the polygon, where the facility stood, and the
open facilities (but itself) reachable within the minutes, quickest first, with their seconds. Rows
are written with COPY in the run's transaction, once, under the run that computed them
(``facility_isochrone_rows``); a later run holds the unchanged facilities' rows by reference
(``facility_isochrone_sources``, ``copy``) and writes only the others. Readers use the view
``facility_isochrones``, which gives every run the rows it holds.
"""

from __future__ import annotations

import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.load.bulk import copy_frame
from layers.queries import read_frame

COLUMNS = ["run_id", "facility_id", "profile", "minutes", "lon", "lat", "reached_id", "reached_s"]
METRES_PER_DEGREE = 111_000.0


def _array(values) -> str:
    """A PostgreSQL array literal (COPY text) of numbers; floats keep every digit (``repr``)."""
    return "{" + ",".join(repr(float(v)) if isinstance(v, float) else str(int(v)) for v in values) + "}"


def add(s: Session, run_id: int, rows: pd.DataFrame) -> int:
    """Write ``rows`` (facility_id, profile, minutes, lon, lat, geometry (shapely, EPSG:4326 or None),
    reached_id, reached_s: sequences) as isochrones of ``run_id``. Returns the rows written."""
    if len(rows) == 0:
        return 0
    frame = rows.assign(
        run_id=run_id,
        reached_id=[_array(v) for v in rows.reached_id],
        reached_s=[_array([float(x) for x in v]) for v in rows.reached_s],
    )
    written = copy_frame(s, "facility_isochrone_rows", frame, columns=COLUMNS, geometry={"geometry": "geom"})
    held = frame[["profile", "facility_id"]].drop_duplicates()
    s.execute(
        text(
            "INSERT INTO facility_isochrone_sources (run_id, profile, facility_id, source_run_id) "
            "SELECT :r, p, f, :r FROM unnest(CAST(:p AS text[]), CAST(:f AS bigint[])) AS u(p, f)"
        ),
        {"r": run_id, "p": held.profile.astype(str).tolist(), "f": held.facility_id.astype(int).tolist()},
    )
    return written


def copy(s: Session, source_run: int, target_run: int, *, profile: str, skip: list[int]) -> int:
    """Let ``target_run`` hold the isochrones of ``profile`` that ``source_run`` holds, but those of the
    facilities ``skip``: by reference, the rows stay where they were written. Returns the rows held so."""
    s.execute(
        text(
            "INSERT INTO facility_isochrone_sources (run_id, profile, facility_id, source_run_id) "
            "SELECT :dst, profile, facility_id, source_run_id FROM facility_isochrone_sources "
            "WHERE run_id = :src AND profile = :p AND NOT (facility_id = ANY(:skip))"
        ),
        {"src": source_run, "dst": target_run, "p": profile, "skip": [int(i) for i in skip]},
    )
    return s.execute(
        text(
            "SELECT count(*) FROM facility_isochrones WHERE run_id = :dst AND profile = :p "
            "AND NOT (facility_id = ANY(:skip))"
        ),
        {"dst": target_run, "p": profile, "skip": [int(i) for i in skip]},
    ).scalar_one()


def origins(s: Session, run_id: int, profile: str) -> pd.DataFrame:
    """facility_id, lon, lat of every facility with an isochrone of ``profile`` in the run."""
    return read_frame(
        s,
        "SELECT DISTINCT facility_id, lon, lat FROM facility_isochrones WHERE run_id = :r "
        "AND profile = :p ORDER BY facility_id",
        {"r": run_id, "p": profile},
    )


def reaching(s: Session, run_id: int, profile: str, facility_ids: list[int]) -> set[int]:
    """Facilities whose isochrone of ``profile`` lists any of ``facility_ids`` as reachable."""
    rows = s.execute(
        text(
            "SELECT DISTINCT facility_id FROM facility_isochrones "
            "WHERE run_id = :r AND profile = :p AND reached_id && CAST(:ids AS bigint[])"
        ),
        {"r": run_id, "p": profile, "ids": [int(i) for i in facility_ids]},
    ).scalars()
    return set(rows)


def near(
    s: Session, run_id: int, profile: str, lon: list[float], lat: list[float], metres: float
) -> set[int]:
    """Facilities with an isochrone polygon of ``profile`` within ``metres`` of any of the points
    (on the spheroid; a bounding-box test first uses the spatial index)."""
    if not lon:
        return set()
    rows = s.execute(
        text(
            "SELECT DISTINCT i.facility_id FROM facility_isochrones i "
            "JOIN unnest(CAST(:lon AS float8[]), CAST(:lat AS float8[])) AS p(lon, lat) "
            "ON i.geom && ST_Expand(ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326), :deg) "
            "AND ST_DWithin(i.geom::geography, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)::geography, :m) "
            "WHERE i.run_id = :r AND i.profile = :p"
        ),
        {
            "r": run_id,
            "p": profile,
            "lon": [float(v) for v in lon],
            "lat": [float(v) for v in lat],
            "m": float(metres),
            "deg": 3.0 * metres / METRES_PER_DEGREE,
        },
    ).scalars()
    return set(rows)


def polygons(s: Session, run_id: int, facility_id: int, profile: str, minutes: list[float]) -> pd.DataFrame:
    """minutes, geometry (shapely or None) of the facility's stored isochrones of those ``minutes``,
    ascending; fewer rows when some are not stored."""
    frame = read_frame(
        s,
        "SELECT minutes, ST_AsBinary(geom) AS wkb FROM facility_isochrones "
        "WHERE run_id = :r AND facility_id = :f AND profile = :p AND minutes = ANY(:m) "
        "ORDER BY minutes",
        {"r": run_id, "f": facility_id, "p": profile, "m": [float(m) for m in minutes]},
    )
    wkb = [bytes(b) if b is not None else None for b in frame.pop("wkb")]
    return frame.assign(geometry=list(shapely.from_wkb(wkb)) if wkb else [])


def reached(s: Session, run_id: int, facility_id: int, profile: str, minutes: float) -> pd.DataFrame:
    """The open facilities the stored isochrone of ``minutes`` reaches, quickest first: facility_id,
    name, type_code, type_name (public columns, as they are now), time_s."""
    return read_frame(
        s,
        (
            "SELECT r.facility_id, f.name, f.type_code, t.name_zh AS type_name, r.time_s "
            "FROM facility_isochrones i "
            "CROSS JOIN LATERAL unnest(i.reached_id, i.reached_s) "
            "WITH ORDINALITY AS r(facility_id, time_s, k) JOIN facilities f ON f.facility_id = r.facility_id "
            "LEFT JOIN facility_types t ON t.code = f.type_code "
            "WHERE i.run_id = :r AND i.facility_id = :f AND i.profile = :p AND i.minutes = :m ORDER BY r.k"
        ),
        {"r": run_id, "f": facility_id, "p": profile, "m": float(minutes)},
    )
