"""Load the demo's 民情 (data.demo.minqing): key households, visits, events and their history,
replacing those tables' contents in one transaction.

``homes`` reads what the generator needs from the loaded district: each residence point of a small
grid with its community, town, household figures, grid worker's name and whether it lies in the old
town (a polygon the caller passes as WKT).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import Geod
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.db import driver_connection, set_actor
from layers.load import binary
from layers.load.binary import Cells
from layers.load.bulk import binary_cells, copy_cells, copy_frame, indexes_deferred, record_import

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


def _columns(
    frame: pd.DataFrame, columns: Sequence[str], *, points: tuple[np.ndarray, np.ndarray] | None = None
) -> pd.DataFrame:
    """``frame``'s ``columns`` typed for a column-wise COPY (``copy_frame``): integers as nullable
    integers, instants in UTC, lists as arrays; with ``points`` (lon, lat), ``geometry``: those points."""
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
    if points is not None:
        out["geometry"] = shapely.points(*points)
    return pd.DataFrame(out, index=frame.index)


def _stored_points(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The points stored for ``frame``'s lon/lat: 7 decimals, as the EWKT written before gave them."""
    return _seventh(frame["lon"].to_numpy(float)), _seventh(frame["lat"].to_numpy(float))


def _local(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The generator's local indices in ``column`` (none in an empty frame)."""
    return frame[column].to_numpy(np.int64) if column in frame else np.empty(0, dtype=np.int64)


def _ids(s: Session, sequence: str, n: int) -> np.ndarray:
    rows = s.execute(
        text("SELECT nextval(CAST(:q AS regclass)) FROM generate_series(1, :n)"), {"q": sequence, "n": n}
    )
    return np.array([r[0] for r in rows], dtype=np.int64)


IDS = {
    "events": ("event_id",),
    "event_history": ("event_id",),
    "key_households": ("household_id",),
    "visits": ("household_id", "event_id", "distance_m"),
}
"""Per table, the columns known only when the rows are stored: the ids the sequences give, the
visits' distances measured again in PostGIS."""


def column_kinds(s: Session) -> dict[str, dict[str, str]]:
    """The column types of the 民情's tables (``binary.column_types``), for ``ready``."""
    raw = driver_connection(s)
    return {table: binary.column_types(raw, table) for table in TABLES}


def residence_points(s: Session) -> pd.DataFrame:
    """residence_id, x (lon) and y (lat) of every stored residence."""
    rows = s.execute(text("SELECT residence_id, ST_X(geom), ST_Y(geom) FROM residences")).all()
    return pd.DataFrame(
        {
            "residence_id": np.array([r[0] for r in rows], dtype=np.int64),
            "x": np.array([r[1] for r in rows], dtype=float),
            "y": np.array([r[2] for r in rows], dtype=float),
        }
    )


@dataclass
class Table:
    """A table's rows made ready but for the columns of ``IDS``."""

    columns: list[str]
    """COPY's columns of ``cells`` (the geometry, ``geom``, last)."""
    frame: pd.DataFrame
    """The typed columns (``_columns``), the geometry in ``geometry``: for the text format."""
    cells: list[Cells] | None
    """The binary cells of ``columns``; None: the text format, from ``frame``."""


@dataclass
class Ready:
    """The 民情 (a ``data.demo.minqing.MinqingDemo``) made ready to be stored (``ready``): every
    column of every row but the ids the database gives and the few visit distances PostGIS measures."""

    demo: Any
    tables: dict[str, Table]
    visit_points: tuple[np.ndarray, np.ndarray]
    visit_residences: np.ndarray
    distances: np.ndarray
    """Each visit's metres from its residence (0.1 m), NaN without one."""
    again: np.ndarray
    """The visits whose distance PostGIS measures again (``_measured``)."""


def ready(demo, kinds: dict[str, dict[str, str]], homes: pd.DataFrame) -> Ready:
    """``demo`` rendered for COPY (column types ``kinds``: ``column_kinds``) with the visits'
    distances from the residences ``homes`` (``residence_points``): no database, so it can be made
    while the district is stored."""
    events, history, households, visits = demo.events, demo.history, demo.households, demo.visits

    def table(name: str, frame: pd.DataFrame, columns: Sequence[str], *, point: bool = False) -> Table:
        rest = [c for c in columns if c not in IDS[name]]
        if frame.empty:
            return Table(rest, pd.DataFrame(index=frame.index), None)
        typed = _columns(frame, rest, points=_stored_points(frame) if point else None)
        geometry = {"geometry": "geom"} if point else None
        cells = binary_cells(kinds[name], typed, rest, geometry)
        return Table([*rest, *(geometry or {}).values()], typed, cells)

    residence_ids = _local(households, "residence_id")[_local(visits, "hh")]
    x, y = _stored_points(visits) if not visits.empty else (np.empty(0), np.empty(0))
    distances, again = _measured(x, y, residence_ids, homes)
    return Ready(
        demo=demo,
        tables={
            "events": table("events", events, EVENT_COLS, point=True),
            "event_history": table("event_history", history, HISTORY_COLS),
            "key_households": table("key_households", households, HOUSEHOLD_COLS),
            "visits": table("visits", visits, (*VISIT_COLS, "distance_m"), point=True),
        },
        visit_points=(x, y),
        visit_residences=residence_ids,
        distances=distances,
        again=again,
    )


def replace_minqing(
    s: Session, demo, *, actor: str = "demo-loader", with_district: bool = False
) -> dict[str, int]:
    """Replace all events, their history and photos, key households and visits with ``demo`` (a
    ``data.demo.minqing.MinqingDemo``, or one made ``ready``); each event goes to its grid's grid
    worker account if there is one; each visit's distance from its household is measured. Returns
    row counts.

    ``with_district``: the district was replaced earlier in this transaction (``layers.load.demo``),
    which holds its areas and residences against readers already: the keys to them are made once
    after the rows too (one join each instead of a look-up per row and key)."""
    if not isinstance(demo, Ready):
        demo = ready(demo, column_kinds(s), residence_points(s))
    set_actor(s, actor, bulk=True, audit_rows=False)  # generated rows: the summary row says what was loaded
    s.execute(text("TRUNCATE visits, key_households, event_photos, event_history, events"))
    event_ids = _ids(s, "events_event_id_seq", len(demo.demo.events))
    household_ids = _ids(s, "key_households_household_id_seq", len(demo.demo.households))
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


def _copy_all(s: Session, r: Ready, event_ids: np.ndarray, household_ids: np.ndarray) -> dict[str, int]:
    events, history, households, visits = r.demo.events, r.demo.history, r.demo.households, r.demo.visits
    visit_ev = _local(visits, "ev")
    return {
        "events": _write(s, "events", r.tables["events"], {"event_id": event_ids[_local(events, "ev")]}),
        "event_history": _write(
            s, "event_history", r.tables["event_history"], {"event_id": event_ids[_local(history, "ev")]}
        ),
        "key_households": _write(
            s,
            "key_households",
            r.tables["key_households"],
            {"household_id": household_ids[_local(households, "hh")]},
        ),
        "visits": _write(
            s,
            "visits",
            r.tables["visits"],
            {
                "household_id": household_ids[_local(visits, "hh")],
                "event_id": event_ids[np.maximum(visit_ev, 0)] if len(event_ids) else np.zeros_like(visit_ev),
                "distance_m": _distances(s, r),
            },
            null={"event_id": visit_ev < 0},  # −1: no event
        ),
    }


def _write(
    s: Session, name: str, t: Table, late: dict[str, Any], *, null: dict[str, np.ndarray] | None = None
) -> int:
    """COPY the rows of ``t`` with the columns ``late`` (values in the rows' order; ``null``: where
    a column is NULL)."""
    if t.frame.empty:
        return 0
    index = t.frame.index
    columns = {c: pd.Series(v, index=index) for c, v in late.items()}
    for c, where in (null or {}).items():
        columns[c] = columns[c].astype("Int64").mask(pd.Series(where, index=index))
    raw = driver_connection(s)
    if t.cells is not None:
        kinds = binary.column_types(raw, name)
        more = [binary.cells(v, kinds.get(c, "")) for c, v in columns.items()]
        if all(m is not None for m in more):
            return copy_cells(
                raw, name, [*t.columns, *columns], [*t.cells, *(m for m in more if m is not None)]
            )
    rows = t.frame.assign(**columns)
    point = "geometry" in rows
    return copy_frame(
        s,
        name,
        rows,
        columns=[c for c in rows.columns if c != "geometry"],
        geometry={"geometry": "geom"} if point else None,
    )


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


def _measured(
    x: np.ndarray, y: np.ndarray, residence_ids: np.ndarray, homes: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Metres (0.1 m) from each point (lon ``x``, lat ``y``) to its residence (``homes``: residence_id,
    x, y), the geodesic on WGS 84 by pyproj (GeographicLib), NaN where the residence is missing; and
    the points within ``NEAR_HALF`` of a rounding boundary, for PostGIS to measure again
    (``_distances``)."""
    at = pd.Index(homes["residence_id"].to_numpy(np.int64))
    where = at.get_indexer(residence_ids)
    hx = homes["x"].to_numpy(float)[where]
    hy = homes["y"].to_numpy(float)[where]
    _, _, d = Geod(ellps="WGS84").inv(x, y, hx, hy)
    tenths = np.asarray(d, dtype=float) * 10
    out = np.rint(tenths) / 10
    out[where < 0] = np.nan
    again = np.flatnonzero((np.abs(tenths - np.floor(tenths) - 0.5) < NEAR_HALF) & (where >= 0))
    return out, again


def _distances(s: Session, r: Ready) -> np.ndarray:
    """The visits' metres as ``DISTANCE_SQL`` gives them: ``r``'s, those near a rounding boundary
    measured again in PostGIS."""
    out = r.distances.copy()
    again, (x, y) = r.again, r.visit_points
    if len(again):
        exact = s.execute(
            text(DISTANCE_SQL),
            {"x": x[again].tolist(), "y": y[again].tolist(), "r": r.visit_residences[again].tolist()},
        ).scalars()
        out[again] = [np.nan if v is None else v for v in exact]
    return out
