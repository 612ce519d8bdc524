"""``copy_frame(..., binary=True)`` writes COPY's binary format; what PostGIS reads back must be the
frame itself (floats bit for bit, the very geometries, instants to the microsecond, nulls), and the
same rows the text format stores."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from layers.db import driver_connection, session
from layers.load import binary
from layers.load.bulk import _copy_binary, copy_frame

TRICKY = ["plain", "tab\there", "new\nline", "back\\slash", "\\N", "", None, "引号\"'<>&", "末尾\\", "a"]
COLUMNS = ["k", "t", "i", "j", "f", "b", "c", "at"]
TABLE = (
    "(k bigint, t varchar(40), i bigint, j integer, f double precision, b boolean, c text, "
    "at timestamptz, g geometry, p geometry(Point, 4326), m geometry(MultiPolygon, 4326))"
)


@pytest.fixture()
def scratch(db_url):
    with session(db_url) as s:
        s.execute(text(f"CREATE TEMP TABLE as_text {TABLE} ON COMMIT DROP"))
        s.execute(text(f"CREATE TEMP TABLE as_binary {TABLE} ON COMMIT DROP"))
        yield s


def _frame() -> pd.DataFrame:
    n = len(TRICKY)
    rng = np.random.default_rng(7)
    base = datetime(2026, 6, 1, 8, 30, 15, 123456, tzinfo=UTC)
    return pd.DataFrame(
        {
            "k": np.arange(n, dtype=np.int64),
            "t": pd.Series(TRICKY, dtype=object),
            "i": pd.array([1, None, -(2**62), 0, 2**62, None, 3, 4, 5, 6], dtype="Int64"),
            "j": np.array([0, -1, 2**31 - 1, -(2**31), 5, 6, 7, 8, 9, 10], dtype=np.int64),
            "f": [0.1, np.nan, math.inf, -math.inf, 1e-300, 123456789.123456789, -0.0, 2.5, 5e-324, 1 / 3],
            "b": pd.array([True, False, None, True, False, None, True, True, False, False], dtype="boolean"),
            "c": pd.Categorical(["a", "b", None, "a", "b", "a", "a", None, "b", "街道"]),
            "at": pd.Series(
                [
                    base + timedelta(days=int(d), microseconds=int(u))
                    for d, u in zip(rng.integers(-9000, 9000, n), rng.integers(0, 10**6, n), strict=True)
                ],
                dtype="datetime64[us, UTC]",
            ).mask(pd.Series(np.arange(n) == 4)),
            "g": [
                shapely.Point(113.25, 21.5),
                None,
                shapely.Point(113.25, 21.5, 7.0),
                shapely.LineString([(113, 21), (113.1, 21.2), (113.3, 21.1)]),
                shapely.Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (2, 1), (2, 2), (1, 1)]]),
                shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)]),
                shapely.MultiLineString([[(0, 0), (1, 1)], [(2, 2), (3, 1)]]),
                shapely.GeometryCollection([shapely.Point(1, 2), shapely.LineString([(0, 0), (1, 0)])]),
                float("nan"),
                shapely.LineString([(1 / 3, 2 / 3), (1e-9, -1e9)]),
            ],
            "p": shapely.points(rng.uniform(-180, 180, n), rng.uniform(-90, 90, n)),
            "m": [shapely.MultiPolygon([shapely.box(k, k, k + 1 / 7, k + 1 / 3)]) for k in range(n)],
        }
    )


def test_binary_rows_are_the_frame(scratch):
    frame = _frame()
    raw = driver_connection(scratch)
    kinds = binary.column_types(raw, "as_binary")
    assert all(binary.cells(frame[c], kinds[c]) is not None for c in COLUMNS)  # no column falls back
    geometry = {"g": "g", "p": "p", "m": "m"}
    assert _copy_binary(raw, "as_binary", frame, COLUMNS, geometry, False, None) == len(frame)  # not as text
    got = scratch.execute(
        text(
            "SELECT k, t, i, j, f, b, c, at, ST_AsEWKB(g), ST_AsEWKB(p), ST_AsEWKB(m) "
            "FROM as_binary ORDER BY k"
        )
    ).all()
    assert len(got) == len(frame)
    for row, (_, want) in zip(got, frame.iterrows(), strict=True):
        k, t, i, j, f, b, c, at, g, p, m = row
        assert k == want.k
        assert t == want.t
        assert i == (None if pd.isna(want.i) else int(want.i))
        assert j == want.j
        if np.isnan(want.f):
            assert f is None
        else:  # bit for bit, the sign of zero too
            assert np.float64(f).tobytes() == np.float64(want.f).tobytes()
        assert b == (None if pd.isna(want.b) else bool(want.b))
        assert c == (None if pd.isna(want.c) else want.c)
        assert at == (None if pd.isna(want["at"]) else want["at"].to_pydatetime())
        for stored, geom in ((g, want.g), (p, want.p), (m, want.m)):
            if not isinstance(geom, shapely.Geometry):
                assert stored is None
                continue
            back = shapely.from_wkb(bytes(stored))
            assert shapely.get_srid(back) == 4326
            assert back.equals_exact(geom, 0)
            assert shapely.to_wkb(back, include_srid=False) == shapely.to_wkb(geom)  # the same doubles


def test_binary_and_text_store_the_same_rows(scratch):
    frame = _frame()
    for table, use_binary in (("as_text", False), ("as_binary", True)):
        copy_frame(
            scratch, table, frame, columns=COLUMNS, geometry={"g": "g", "p": "p", "m": "m"}, binary=use_binary
        )
    digest = "SELECT md5(string_agg(x::text, '|' ORDER BY k)) FROM {} AS x"
    assert (
        scratch.execute(text(digest.format("as_text"))).scalar()
        == scratch.execute(text(digest.format("as_binary"))).scalar()
    )


def test_many_rows_in_chunks(scratch):
    """More rows than a chunk: every row arrives once, in order of the frame."""
    n = 45_001
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "k": np.arange(n, dtype=np.int64),
            "f": rng.normal(0, 1e6, n),
            "t": pd.Series(rng.choice(["甲", "乙", None, "丙丁"], n), dtype=object),
            "p": shapely.points(rng.uniform(110, 120, n), rng.uniform(20, 25, n)),
        }
    )
    raw = driver_connection(scratch)
    assert _copy_binary(raw, "as_binary", frame, ["k", "f", "t"], {"p": "p"}, False, None) == n
    got = scratch.execute(text("SELECT k, f, t, ST_X(p), ST_Y(p) FROM as_binary ORDER BY k")).all()
    assert [r[0] for r in got] == list(range(n))
    assert np.array_equal(np.array([r[1] for r in got]), frame.f.to_numpy())
    assert [r[2] for r in got] == list(frame.t)
    xy = shapely.get_coordinates(frame.p.to_numpy())
    assert np.array_equal(np.array([(r[3], r[4]) for r in got]), xy)


def test_unknown_types_fall_back_to_text(scratch):
    """A column the binary format does not render here (an array) sends the table as text."""
    scratch.execute(text("CREATE TEMP TABLE with_array (k bigint, a text[]) ON COMMIT DROP"))
    frame = pd.DataFrame({"k": [1, 2], "a": ["{x,y}", "{}"]})
    kinds = binary.column_types(driver_connection(scratch), "with_array")
    assert binary.cells(frame["a"], kinds["a"]) is None
    copy_frame(scratch, "with_array", frame, columns=["k", "a"], binary=True)
    assert scratch.execute(text("SELECT k, a FROM with_array ORDER BY k")).all() == [(1, ["x", "y"]), (2, [])]
