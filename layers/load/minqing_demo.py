"""Load the demo's 民情 (data.demo.minqing): key households, visits, events and their history,
replacing those tables' contents in one transaction.

``homes`` reads what the generator needs from the loaded district: each residence point of a small
grid with its community, town, household figures, grid worker's name and whether it lies in the old
town (a polygon the caller passes as WKT).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.db import set_actor
from layers.load.bulk import record_import

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


def _clean(column: str, value: Any) -> Any:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer) or (column in INTEGER and isinstance(value, float | np.floating)):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _copy(
    s: Session, table: str, columns: Sequence[str], rows: Iterable[dict], *, point: bool = False
) -> int:
    cols = list(columns) + (["geom"] if point else [])
    raw = s.connection().connection.driver_connection
    n = 0
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
        for row in rows:
            values = [_clean(c, row.get(c)) for c in columns]
            if point:
                values.append(f"SRID=4326;POINT({float(row['lon']):.7f} {float(row['lat']):.7f})")
            cp.write_row(values)
            n += 1
    return n


def _ids(s: Session, sequence: str, n: int) -> np.ndarray:
    rows = s.execute(
        text("SELECT nextval(CAST(:q AS regclass)) FROM generate_series(1, :n)"), {"q": sequence, "n": n}
    )
    return np.array([r[0] for r in rows], dtype=np.int64)


def replace_minqing(s: Session, demo, *, actor: str = "demo-loader") -> dict[str, int]:
    """Replace all events, their history and photos, key households and visits with ``demo`` (a
    ``data.demo.minqing.MinqingDemo``); each event goes to its grid's grid worker account if there is
    one; each visit's distance from its household is measured. Returns row counts."""
    set_actor(s, actor, bulk=True, audit_rows=False)  # generated rows: the summary row says what was loaded
    s.execute(text("TRUNCATE visits, key_households, event_photos, event_history, events"))
    events, history, households, visits = demo.events, demo.history, demo.households, demo.visits
    event_ids = _ids(s, "events_event_id_seq", len(events))
    household_ids = _ids(s, "key_households_household_id_seq", len(households))
    counts = {
        "events": _copy(
            s,
            "events",
            EVENT_COLS,
            ({**r, "event_id": event_ids[r["ev"]]} for r in events.to_dict("records")),
            point=True,
        ),
        "event_history": _copy(
            s,
            "event_history",
            HISTORY_COLS,
            ({**r, "event_id": event_ids[r["ev"]]} for r in history.to_dict("records")),
        ),
        "key_households": _copy(
            s,
            "key_households",
            HOUSEHOLD_COLS,
            ({**r, "household_id": household_ids[r["hh"]]} for r in households.to_dict("records")),
        ),
        "visits": _copy(
            s,
            "visits",
            VISIT_COLS,
            (
                {
                    **r,
                    "household_id": household_ids[r["hh"]],
                    "event_id": event_ids[r["ev"]] if r["ev"] >= 0 else None,
                }
                for r in visits.to_dict("records")
            ),
            point=True,
        ),
    }
    s.execute(
        text(
            "UPDATE events e SET worker_id = w.user_id FROM (SELECT area_id, min(user_id) AS user_id FROM users "
            "WHERE role = 'grid_worker' AND active GROUP BY area_id) w WHERE w.area_id = e.grid_id"
        )
    )
    s.execute(
        text(
            "UPDATE visits v SET distance_m = round(ST_Distance(v.geom::geography, r.geom::geography)::numeric, 1) "
            "FROM key_households h JOIN residences r USING (residence_id) WHERE h.household_id = v.household_id"
        )
    )
    s.execute(text("ANALYZE events; ANALYZE visits; ANALYZE key_households"))
    record_import(s, actor=actor, layer="demo_minqing", summary=counts)
    return counts
