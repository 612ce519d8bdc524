"""Fast, transactional bulk writes of frames into layer tables (PostgreSQL COPY).

Geometries go in as hex EWKB (SRID 4326); NaN/None become NULL. Callers pass an open SQLAlchemy
session so that a whole import is one transaction: any error rolls everything back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers import audit
from layers.models import SRID

FACILITY_COLS = ["facility_id", "type_code", "name", "address", "floor_area_m2", "capacity", "opening_hours",
                 "fees", "phone", "operator", "status", "source"]
"""Columns an import writes to ``facilities`` (OSM and government files alike)."""
RESIDENCE_COLS = ["residence_id", "address", "households", "population", "elderly", "children", "estimated",
                  "households_estimated", "source"]
"""Columns an import writes to ``residences`` (the area is added where it is known)."""

Progress = Callable[[int, int], None]
"""Called with (rows done, rows in all) while rows are written: progress bars."""
PROGRESS_EVERY = 5_000

_MULTI = {"Polygon": shapely.MultiPolygon, "LineString": shapely.MultiLineString, "Point": shapely.MultiPoint}


def as_multi(geoms) -> np.ndarray:
    """Single-part geometries wrapped as their multi-part type (for MULTI* columns)."""
    arr = np.asarray(geoms, dtype=object)
    return np.array([_MULTI[g.geom_type]([g]) if g is not None and g.geom_type in _MULTI else g for g in arr],
                    dtype=object)


def _geometry_column(series: pd.Series, *, multi: bool = False) -> list[str | None]:
    geoms = np.asarray(series, dtype=object)
    if multi:
        geoms = as_multi(geoms)
    out: list[str | None] = [None] * len(geoms)
    present = np.array([g is not None and not (isinstance(g, float) and math.isnan(g)) for g in geoms])
    if present.any():
        with_srid = shapely.set_srid(geoms[present], SRID)
        hexes = shapely.to_wkb(with_srid, hex=True, include_srid=True)
        for i, h in zip(np.flatnonzero(present), hexes, strict=True):
            out[i] = h
    return out


def _cell(value):
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def copy_frame(
    s: Session,
    table: str,
    frame: pd.DataFrame,
    *,
    columns: Sequence[str],
    geometry: dict[str, str] | None = None,
    multi: bool = False,
    progress: Progress | None = None,
) -> int:
    """COPY ``frame[columns]`` into ``table``; ``geometry`` maps frame column → table column.

    ``multi`` wraps single-part geometries into multi-part ones (for MULTIPOLYGON columns).
    ``progress`` is called every ``PROGRESS_EVERY`` rows and at the end with (rows sent, rows).

    Returns the number of rows written.
    """
    geometry = geometry or {}
    cols = list(columns) + list(geometry.values())
    data: list[Iterable] = [frame[c].tolist() for c in columns]
    data += [_geometry_column(frame[src], multi=multi) for src in geometry]
    raw = s.connection().connection.driver_connection
    n = 0
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
        for row in zip(*data, strict=True):
            cp.write_row([_cell(v) for v in row])
            n += 1
            if progress is not None and n % PROGRESS_EVERY == 0:
                progress(n, len(frame))
    if progress is not None:
        progress(n, len(frame))
    return n


def copy_plain(s: Session, table: str, frame: pd.DataFrame, *, columns: Sequence[str]) -> int:
    """COPY ``frame[columns]`` (no geometry: numbers, booleans, short text without line breaks) into
    ``table`` as CSV written by pandas in one go, not cell by cell: for large result tables.
    Floats keep every digit (shortest round-trip form); NaN and NA become NULL. Returns the rows."""
    import io

    buffer = io.StringIO()
    frame[list(columns)].to_csv(buffer, header=False, index=False, na_rep="")
    raw = s.connection().connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)") as cp:
        cp.write(buffer.getvalue())
    return len(frame)


def record_import(s: Session, *, actor: str, layer: str, summary: dict) -> None:
    """The summary audit row of a bulk load (action ``import``: what was loaded, counts).

    The rows themselves are recorded by the statement triggers of the imported tables (object id,
    before, after; migration 0007), except for the demo loader, which turns them off.
    """
    audit.record(s, actor=actor, action="import", layer=layer,
                 after=json.loads(pd.Series(summary, dtype=object).to_json(force_ascii=False)))


@contextmanager
def read_only(s: Session, *, enabled: bool = True) -> Iterator[None]:
    """A savepoint in which the database refuses every write (dry runs), rolled back at the end.

    The caller's transaction is read-write again afterwards.
    """
    if not enabled:
        yield
        return
    savepoint = s.begin_nested()
    try:
        s.execute(text("SET TRANSACTION READ ONLY"))
        yield
    finally:
        savepoint.rollback()
