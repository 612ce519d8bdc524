"""Load the demo's 民情 (data.demo.minqing): key households, visits, events and their history,
replacing those tables' contents in one transaction.

``homes`` reads what the generator needs from the loaded district: each residence point of a small
grid with its community, town, household figures, grid worker's name and whether it lies in the old
town (a polygon the caller passes as WKT).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import shapely
from pyproj import Geod
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.db import set_actor
from layers.load.bulk import copy_frame, indexes_deferred, record_import

EVENT_COLS = (
    "event_id",
    "tracking_code",
    "category",
    "description",
    "status",
    "level",
    "source",
    "grid_id",
    "community_id",
    "town_id",
    "department",
    "address",
    "reported_by",
    "reported_at",
    "due_at",
    "overdue",
    "escalations",
    "resolved_at",
    "result_note",
    "satisfaction",
)
HISTORY_COLS = ("event_id", "action", "from_status", "to_status", "actor", "at", "note", "department")
HOUSEHOLD_COLS = (
    "household_id",
    "residence_id",
    "groups",
    "head_name",
    "address",
    "grid_id",
    "community_id",
    "town_id",
    "registered_at",
)
VISIT_COLS = ("household_id", "worker", "visited_at", "notes", "needs", "event_id")
INTEGER = {
    "satisfaction",
    "escalations",
    "grid_id",
    "community_id",
    "town_id",
    "residence_id",
    "event_id",
    "household_id",
}


def homes(s: Session, old_town_wkt: str) -> pd.DataFrame:
    """Residence points of small grids with what the demo generator reads (``kind``: old_town,
    village — a rural community —, or urban)."""
    rows = s.execute(
        text("""
        SELECT r.residence_id, g.area_id AS grid_id, c.area_id AS community_id, t.area_id AS town_id,
               CASE WHEN ST_Covers(ST_GeomFromText(:old, 4326), r.geom) THEN 'old_town'
                    WHEN NOT c.urban THEN 'village' ELSE 'urban' END AS kind,
               r.households, r.elderly, r.children, ST_X(r.geom) AS lon, ST_Y(r.geom) AS lat, r.address,
               g.worker_name AS worker
        FROM residences r
        JOIN areas g ON g.area_id = r.area_id AND g.level = 'grid_small'
        JOIN areas m ON m.area_id = g.parent_id
        JOIN areas c ON c.area_id = m.parent_id AND c.level = 'community'
        JOIN areas t ON t.area_id = c.parent_id AND t.level = 'town'
        ORDER BY r.residence_id"""),
        {"old": old_town_wkt},
    ).mappings()
    return pd.DataFrame([dict(r) for r in rows])


TABLES = ("events", "event_history", "key_households", "visits")
"""The tables the demo's 民情 replaces."""
TIMESTAMPS = {"reported_at", "due_at", "resolved_at", "registered_at", "visited_at", "at"}
ARRAYS = {"groups"}


def _array(values: Sequence[str]) -> str:
    """A PostgreSQL array literal of text ``values``."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


def _seventh(values: np.ndarray) -> np.ndarray:
    """Degrees to 7 decimals, as PostgreSQL reads them from text: the double nearest the decimal."""
    return np.array([float(f"{v:.7f}") for v in np.asarray(values, dtype=float).tolist()])


def _columns(frame: pd.DataFrame, columns: Sequence[str], *, point: bool = False) -> pd.DataFrame:
    """``frame``'s ``columns`` typed for a column-wise COPY (``copy_frame``): integers as nullable
    integers, instants in UTC, lists as arrays; with ``point``, ``geometry``: the point at lon/lat
    to 7 decimals."""
    out = {}
    for c in columns:
        col = frame[c] if c in frame else pd.Series([None] * len(frame), index=frame.index, dtype=object)
        if c in INTEGER:
            col = col.astype("Int64")
        elif c in TIMESTAMPS:
            col = pd.to_datetime(col, utc=True)
        elif c in ARRAYS:
            col = col.map(_array)
        out[c] = col
    if point:
        out["geometry"] = shapely.points(
            _seventh(frame["lon"].to_numpy(float)), _seventh(frame["lat"].to_numpy(float))
        )
    return pd.DataFrame(out, index=frame.index)


def _copy(s: Session, table: str, columns: Sequence[str], frame: pd.DataFrame, *, point: bool = False) -> int:
    if frame.empty:
        return 0
    rows = _columns(frame, columns, point=point)
    return copy_frame(
        s, table, rows, columns=list(columns), geometry={"geometry": "geom"} if point else None, binary=True
    )


def _local(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The generator's local indices in ``column`` (none in an empty frame)."""
    return frame[column].to_numpy(np.int64) if column in frame else np.empty(0, dtype=np.int64)


def _ids(s: Session, sequence: str, n: int) -> np.ndarray:
    rows = s.execute(
        text("SELECT nextval(CAST(:q AS regclass)) FROM generate_series(1, :n)"), {"q": sequence, "n": n}
    )
    return np.array([r[0] for r in rows], dtype=np.int64)


def replace_minqing(
    s: Session, demo, *, actor: str = "demo-loader", with_district: bool = False
) -> dict[str, int]:
    """Replace all events, their history and photos, key households and visits with ``demo`` (a
    ``data.demo.minqing.MinqingDemo``); each event goes to its grid's grid worker account if there is
    one; each visit's distance from its household is measured. Returns row counts.

    ``with_district``: the district was replaced earlier in this transaction (``layers.load.demo``),
    which holds its areas and residences against readers already: the keys to them are made once
    after the rows too (one join each instead of a look-up per row and key)."""
    set_actor(s, actor, bulk=True, audit_rows=False)  # generated rows: the summary row says what was loaded
    s.execute(text("TRUNCATE visits, key_households, event_photos, event_history, events"))
    event_ids = _ids(s, "events_event_id_seq", len(demo.events))
    household_ids = _ids(s, "key_households_household_id_seq", len(demo.households))
    with indexes_deferred(s, TABLES, locked=("areas", "residences") if with_district else ()):
        counts = _copy_all(s, demo, event_ids, household_ids)
        s.execute(
            text(
                "UPDATE events e SET worker_id = w.user_id FROM (SELECT area_id, min(user_id) AS user_id "
                "FROM users WHERE role = 'grid_worker' AND active GROUP BY area_id) w "
                "WHERE w.area_id = e.grid_id"
            )
        )
    s.execute(text("ANALYZE events; ANALYZE visits; ANALYZE key_households"))
    record_import(s, actor=actor, layer="demo_minqing", summary=counts)
    return counts


def _copy_all(s: Session, demo, event_ids: np.ndarray, household_ids: np.ndarray) -> dict[str, int]:
    events, history, households, visits = demo.events, demo.history, demo.households, demo.visits
    visit_ev = _local(visits, "ev")
    return {
        "events": _copy(
            s, "events", EVENT_COLS, events.assign(event_id=event_ids[_local(events, "ev")]), point=True
        ),
        "event_history": _copy(
            s,
            "event_history",
            HISTORY_COLS,
            history.assign(event_id=event_ids[_local(history, "ev")]),
        ),
        "key_households": _copy(
            s,
            "key_households",
            HOUSEHOLD_COLS,
            households.assign(household_id=household_ids[_local(households, "hh")]),
        ),
        "visits": _visits(
            s,
            visits.assign(
                household_id=household_ids[_local(visits, "hh")],
                event_id=pd.Series(
                    event_ids[np.maximum(visit_ev, 0)], index=visits.index, dtype="Int64"
                ).where(visit_ev >= 0),  # −1: no event
            ),
            _local(households, "residence_id")[_local(visits, "hh")],
        ),
    }


def _visits(s: Session, visits: pd.DataFrame, residence_ids: np.ndarray) -> int:
    """COPY the visits in their order, each with its distance from its household's residence
    (``residence_ids``, one per visit): written once, with the distance already measured."""
    if visits.empty:
        return 0
    x, y = _seventh(visits["lon"].to_numpy(float)), _seventh(visits["lat"].to_numpy(float))  # as stored
    measured = visits.assign(distance_m=_distances(s, x, y, residence_ids))
    return _copy(s, "visits", (*VISIT_COLS, "distance_m"), measured, point=True)


DISTANCE_SQL = (
    "SELECT round(ST_Distance(ST_SetSRID(ST_MakePoint(v.x, v.y), 4326)::geography, "
    "r.geom::geography)::numeric, 1)::float8 FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[]), "
    "CAST(:r AS bigint[])) WITH ORDINALITY AS v(x, y, residence_id, i) "
    "LEFT JOIN residences r ON r.residence_id = v.residence_id ORDER BY v.i"
)
"""PostGIS's distance in metres on the spheroid, rounded to 0.1 m (NULL without a residence)."""
NEAR_HALF = 1e-4
"""How close (in tenths of a metre) to a rounding boundary a distance measured in Python must be to
be measured again in PostGIS: the two geodesics differ by about 1e-8 m."""


def _distances(s: Session, x: np.ndarray, y: np.ndarray, residence_ids: np.ndarray) -> np.ndarray:
    """Metres (0.1 m) from each point (lon ``x``, lat ``y``) to its residence, as ``DISTANCE_SQL``
    gives them: the geodesic on WGS 84 by pyproj (GeographicLib), the few within ``NEAR_HALF`` of a
    rounding boundary measured in PostGIS; NaN where the residence is missing."""
    homes = s.execute(text("SELECT residence_id, ST_X(geom), ST_Y(geom) FROM residences")).all()
    at = pd.Index(np.array([h[0] for h in homes], dtype=np.int64))
    where = at.get_indexer(residence_ids)
    hx = np.array([h[1] for h in homes], dtype=float)[where]
    hy = np.array([h[2] for h in homes], dtype=float)[where]
    _, _, d = Geod(ellps="WGS84").inv(x, y, hx, hy)
    tenths = np.asarray(d, dtype=float) * 10
    out = np.rint(tenths) / 10
    out[where < 0] = np.nan
    again = np.flatnonzero((np.abs(tenths - np.floor(tenths) - 0.5) < NEAR_HALF) & (where >= 0))
    if len(again):
        exact = s.execute(
            text(DISTANCE_SQL),
            {"x": x[again].tolist(), "y": y[again].tolist(), "r": residence_ids[again].tolist()},
        ).scalars()
        out[again] = [np.nan if v is None else v for v in exact]
    return out
