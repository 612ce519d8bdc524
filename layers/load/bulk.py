"""Fast, transactional bulk writes of frames into layer tables (PostgreSQL COPY).

Geometries go in as hex EWKB (SRID 4326); NaN/None become NULL. Callers pass an open SQLAlchemy
session so that a whole import is one transaction: any error rolls everything back.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
import shapely
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers import audit
from layers.db import driver_connection
from layers.load import binary

FACILITY_COLS = [
    "facility_id",
    "type_code",
    "name",
    "address",
    "floor_area_m2",
    "capacity",
    "opening_hours",
    "fees",
    "phone",
    "operator",
    "status",
    "source",
]
"""Columns an import writes to ``facilities`` (OSM and government files alike)."""
RESIDENCE_COLS = [
    "residence_id",
    "address",
    "households",
    "population",
    "elderly",
    "children",
    "estimated",
    "households_estimated",
    "source",
]
"""Columns an import writes to ``residences`` (the area is added where it is known)."""

Progress = Callable[[int, int], None]
"""Called with (rows done, rows in all) while rows are written: progress bars."""
PROGRESS_EVERY = 5_000

_MULTI = (
    (shapely.GeometryType.POLYGON, shapely.multipolygons),
    (shapely.GeometryType.LINESTRING, shapely.multilinestrings),
    (shapely.GeometryType.POINT, shapely.multipoints),
)


def as_multi(geoms) -> np.ndarray:
    """Single-part geometries wrapped as their multi-part type (for MULTI* columns), in one call per
    type; anything else (multi-part geometries, None) is left as it is."""
    arr = np.asarray(geoms, dtype=object)
    out = arr.copy()
    shapes = np.array([isinstance(g, shapely.Geometry) for g in arr], dtype=bool)
    kind = np.full(len(arr), -1)
    kind[shapes] = shapely.get_type_id(arr[shapes])
    for single, make in _MULTI:
        at = np.flatnonzero(kind == single)
        if len(at):
            out[at] = make(arr[at], indices=np.arange(len(at)))
    return out


def _geometry_column(series: pd.Series, *, multi: bool = False) -> list[str | None]:
    geoms = np.asarray(series, dtype=object)
    if multi:
        geoms = as_multi(geoms)
    out: list[str | None] = [None] * len(geoms)
    present = np.array([g is not None and not (isinstance(g, float) and math.isnan(g)) for g in geoms])
    if present.any():
        for i, h in zip(np.flatnonzero(present), _ewkb_hex(geoms[present]), strict=True):
            out[i] = h
    return out


def _ewkb_hex(geoms: np.ndarray) -> list[str]:
    """Hex EWKB with SRID ``SRID`` of ``geoms`` (``binary.ewkb``, in lower case: the text format's)."""
    return [one.hex() for one in binary.ewkb(geoms)]


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
    binary: bool = False,
) -> int:
    """COPY ``frame[columns]`` into ``table``; ``geometry`` maps frame column → table column.

    ``multi`` wraps single-part geometries into multi-part ones (for MULTIPOLYGON columns).
    ``progress`` is called every ``PROGRESS_EVERY`` rows and at the end with (rows sent, rows).
    ``binary``: in COPY's binary format (``layers.load.binary``: the same rows, cheaper to make and
    to read) when it renders every column, else as text.

    Returns the number of rows written.
    """
    geometry = geometry or {}
    cols = list(columns) + list(geometry.values())
    raw = driver_connection(s)
    if binary and (done := _copy_binary(raw, table, frame, columns, geometry, multi, progress)) is not None:
        return done
    columnwise = [_text_cells(frame[c]) for c in columns]
    cells = [c for c in columnwise if c is not None]
    if len(cells) == len(columnwise):
        for src in geometry:  # hex EWKB text or None: always rendered column-wise
            wkb = _text_cells(pd.Series(_geometry_column(frame[src], multi=multi), dtype=object))
            if wkb is None:
                raise TypeError(f"the geometries of {src} did not render as COPY text")
            cells.append(wkb)
        return _copy_text(raw, table, cols, cells, progress)
    data: list[Iterable] = [frame[c].tolist() for c in columns]
    data += [_geometry_column(frame[src], multi=multi) for src in geometry]
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


def _copy_binary(
    raw,
    table: str,
    frame: pd.DataFrame,
    columns: Sequence[str],
    geometry: dict[str, str],
    multi: bool,
    progress: Progress | None,
) -> int | None:
    """``copy_frame`` in the binary format; None (nothing sent) when a column does not render so."""
    cells = binary_cells(binary.column_types(raw, table), frame, columns, geometry, multi=multi)
    if cells is None:
        return None
    return copy_cells(raw, table, [*columns, *geometry.values()], cells, progress)


def binary_cells(
    kinds: dict[str, str],
    frame: pd.DataFrame,
    columns: Sequence[str],
    geometry: dict[str, str] | None = None,
    *,
    multi: bool = False,
) -> list[binary.Cells] | None:
    """The cells of ``frame``'s ``columns`` and geometries (``copy_frame``'s arguments) in the binary
    format for the table whose column types are ``kinds`` (``binary.column_types``); None when one
    does not render so. Pure: made anywhere, sent later by ``copy_cells``."""
    geometry = geometry or {}
    rendered = [binary.cells(frame[c], kinds.get(c, "")) for c in columns]
    if any(c is None for c in rendered) or any(kinds.get(c) != "geometry" for c in geometry.values()):
        return None
    out = [c for c in rendered if c is not None]
    for src in geometry:
        geoms = np.asarray(frame[src], dtype=object)
        geoms = np.array([g if isinstance(g, shapely.Geometry) else None for g in geoms], dtype=object)
        out.append(binary.geometry_cells(as_multi(geoms) if multi else geoms))
    return out


def copy_cells(
    raw, table: str, columns: Sequence[str], cells: Sequence[binary.Cells], progress: Progress | None = None
) -> int:
    """COPY the binary ``cells`` (``binary_cells``, one per column of ``columns``) into ``table``."""
    n = len(cells[0]) if cells else 0
    with (
        raw.cursor() as cur,
        # the rows sent by a thread of psycopg's: the next chunk is rendered while PostgreSQL reads
        cur.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)", writer=QueuedLibpqWriter(cur)
        ) as cp,
    ):
        for done, chunk in binary.rows(cells, PROGRESS_EVERY * 4):
            cp.write(chunk)
            if progress is not None:
                progress(done, n)
    return n


def copy_plain(s: Session, table: str, frame: pd.DataFrame, *, columns: Sequence[str]) -> int:
    """COPY ``frame[columns]`` (no geometry: numbers, booleans, short text without line breaks) into
    ``table`` as CSV written by pandas in one go, not cell by cell: for large result tables.
    Floats keep every digit (shortest round-trip form); NaN and NA become NULL. Returns the rows."""

    buffer = io.StringIO()
    frame[list(columns)].to_csv(buffer, header=False, index=False, na_rep="")
    raw = driver_connection(s)
    with (
        raw.cursor() as cur,
        cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)") as cp,
    ):
        cp.write(buffer.getvalue())
    return len(frame)


_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
NULL = "\\N"


def _text_cells(series: pd.Series) -> np.ndarray | None:
    """The column as cells of COPY's text format (an object array of str, ``\\N`` for null), built
    column-wise; None for values rendered only row by row (naive dates, JSON, arrays ...)."""
    null = series.isna().to_numpy(bool)
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        series, dtype = series.astype(object), np.dtype(object)
    if isinstance(dtype, pd.DatetimeTZDtype):  # an instant: written in UTC, to the microsecond
        utc = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
        out = np.char.add(np.datetime_as_string(utc, unit="us"), "+00").astype(object)
    elif pd.api.types.is_bool_dtype(dtype):
        out = np.where(series.fillna(False).to_numpy(bool), "t", "f").astype(object)
    elif pd.api.types.is_integer_dtype(dtype):
        out = np.array(list(map(str, series.fillna(0).to_numpy(np.int64).tolist())), dtype=object)
    elif pd.api.types.is_float_dtype(dtype):
        values = series.to_numpy(float, na_value=np.nan)
        # Python's repr: the shortest text that reads back as the same double, made in C
        out = np.array(list(map(repr, values.tolist())), dtype=object)
        out[np.isposinf(values)], out[np.isneginf(values)] = "Infinity", "-Infinity"
    elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        kind = pd.api.types.infer_dtype(series, skipna=True)
        if kind == "boolean":
            out = np.where(series.to_numpy(object) == True, "t", "f").astype(object)  # noqa: E712
        elif kind in ("string", "empty"):
            out = series.astype(object).where(~null, "").astype(str).to_numpy(object)
            blob = "".join(out)  # one pass in C tells whether any cell needs escaping at all
            for old, new in _ESCAPES:
                if old in blob:
                    out = np.array([cell.replace(old, new) for cell in out], dtype=object)
        else:
            return None
    else:
        return None
    out[null] = NULL
    return out


def _copy_text(raw, table: str, cols: list[str], cells: list[np.ndarray], progress: Progress | None) -> int:
    """COPY whole chunks of ``PROGRESS_EVERY`` rows at once from column-wise text cells (``_text_cells``),
    reporting progress after each chunk."""
    n = len(cells[0]) if cells else 0
    chunk = PROGRESS_EVERY
    with (
        raw.cursor() as cur,
        # the rows sent by a thread of psycopg's: the next chunk is rendered while PostgreSQL reads
        cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN", writer=QueuedLibpqWriter(cur)) as cp,
    ):
        for start in range(0, n, chunk):
            rows = zip(*(c[start : start + chunk].tolist() for c in cells), strict=True)
            cp.write(("\n".join(map("\t".join, rows)) + "\n").encode())
            if progress is not None:
                progress(min(start + chunk, n), n)
    if progress is not None and n == 0:
        progress(0, 0)
    return n


def record_import(s: Session, *, actor: str, layer: str, summary: dict) -> None:
    """The summary audit row of a bulk load (action ``import``: what was loaded, counts).

    The rows themselves are recorded by the statement triggers of the imported tables (object id,
    before, after; migration 0007), except for the demo loader, which turns them off.
    """
    audit.record(
        s,
        actor=actor,
        action="import",
        layer=layer,
        after=json.loads(pd.Series(summary, dtype=object).to_json(force_ascii=False)),
    )


@contextmanager
def indexes_deferred(s: Session, tables: Sequence[str], *, locked: Sequence[str] = ()) -> Iterator[None]:
    """Bulk writes into ``tables`` emptied in this transaction, with their secondary indexes and
    their foreign keys among themselves made once afterwards (a sorted index build and one join each,
    instead of one index insert and one key look-up per row): the same indexes and keys, by the same
    names.

    Primary keys, unique indexes and keys to other tables stay in place (dropping a key would lock
    the table it refers to against readers until the end of the transaction), but for keys to the
    tables ``locked``: tables this transaction already holds against readers (rewritten in it
    with their own keys deferred), whose keys from ``tables`` are made afterwards too. An error anywhere
    rolls the drops back with the rest of the transaction; a row breaking a foreign key fails when
    its key is made again.
    """
    names = list(tables)
    keys = s.execute(
        text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid = ANY(CAST(:t AS regclass[])) "
            "AND confrelid = ANY(CAST(:r AS regclass[])) ORDER BY conrelid, conname"
        ),
        {"t": names, "r": [*names, *locked]},
    ).all()
    indexes = s.execute(
        text(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = ANY(CAST(:t AS regclass[])) AND NOT i.indisprimary AND NOT i.indisunique "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
            "ORDER BY i.indrelid, i.indexrelid"
        ),
        {"t": names},
    ).all()
    for table, name, _ in keys:
        s.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    for name, _ in indexes:
        s.execute(text(f"DROP INDEX {name}"))
    yield
    for _, definition in indexes:
        s.execute(text(definition))
    for table, name, definition in keys:
        s.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))


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
