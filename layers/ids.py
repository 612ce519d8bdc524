"""The one id allocator: every layer's key comes from its PostgreSQL sequence.

A key is never picked as ``max(id) + 1``: two writers that read the same maximum pick the same
id, and the second blocks on the first's unique index, then fails (an API create during an import
got 409). Sequences hand out distinct values to concurrent transactions without waiting.

* ``allocate`` takes fresh ids for rows a loader writes with explicit ids (it needs them before
  the write: parents, history rows, area links);
* ``advance`` moves a sequence past ids that came from elsewhere (the demo district, OpenStreetMap
  node ids, a test's fixture rows), in the same transaction as the rows it covers;
* rows inserted without a key take the column default ``nextval(...)``.

Migration 0013 (keys_from_sequences) set every sequence past the keys stored before this rule.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

KEYS = {
    "areas": "area_id",
    "facilities": "facility_id",
    "residences": "residence_id",
    "place_names": "name_id",
    "network_nodes": "node_id",
    "network_edges": "edge_id",
    "water": "water_id",
    "buildings": "building_id",
}
"""The layer tables whose keys loaders write, and their key column."""


def sequence(table: str) -> str:
    """The sequence behind ``table``'s key (the serial column's default)."""
    return f"{table}_{KEYS[table]}_seq"


def allocate(s: Session, table: str, n: int) -> np.ndarray:
    """``n`` fresh keys of ``table`` (int64, ascending; distinct from any other caller's).

    Not necessarily consecutive: concurrent writers interleave. A rolled-back transaction leaves
    a gap, never a duplicate. The sequence is first moved past keys written without it
    (``advance``), so rows loaded by hand or by a fixture cannot collide either.
    """
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    advance(s, table)
    ids = (
        s.execute(
            text("SELECT nextval(CAST(:seq AS regclass)) FROM generate_series(1, :n)"),
            {"seq": sequence(table), "n": int(n)},
        )
        .scalars()
        .all()
    )
    return np.sort(np.asarray(ids, dtype=np.int64))


def advance(s: Session, *tables: str) -> None:
    """Move each table's sequence past its largest stored key (never backwards).

    Call it after writing rows with keys that did not come from ``allocate``.
    """
    for table in tables:
        key, seq = KEYS[table], sequence(table)
        s.execute(
            text(
                f"SELECT setval(CAST(:seq AS regclass), m) FROM (SELECT max({key}) AS m FROM {table}) x "
                "WHERE m IS NOT NULL AND m > "
                f"(SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {seq})"
            ),
            {"seq": seq},
        )
