"""``copy_frame`` writes column-wise COPY text; every awkward value must come back as it went in."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from layers.db import session
from layers.load.bulk import _ewkb_hex, _text_cells, copy_frame

TRICKY = [
    "plain",
    "tab\there",
    "new\nline",
    "carriage\rreturn",
    "back\\slash",
    "\\N",
    "",
    None,
    "引号\"'<>&",
    "末尾\\",
]


@pytest.fixture()
def scratch(db_url):
    with session(db_url) as s:
        s.execute(
            text(
                "CREATE TEMP TABLE scratch (t text, i bigint, f double precision, b boolean, c text, "
                "g geometry(Point, 4326)) ON COMMIT DROP"
            )
        )
        yield s


def test_round_trip_of_awkward_values(scratch):
    n = len(TRICKY)
    frame = pd.DataFrame(
        {
            "t": pd.Series(TRICKY, dtype=object),
            "i": pd.array([1, None, -(2**62), 0, 7, None, 3, 4, 5, 6], dtype="Int64"),
            "f": [0.1, np.nan, math.inf, -math.inf, 1e-300, 123456789.123456789, -0.0, 2.5, 1e20, 1 / 3],
            "b": pd.array([True, False, None, True, False, None, True, True, False, False], dtype="boolean"),
            "c": pd.Categorical(["a", "b", None, "a", "b", "a", "a", None, "b", "a"]),
            "geometry": [shapely.Point(113.0 + k / 7, 21.0 - k / 9) if k % 3 else None for k in range(n)],
        }
    )
    frame.insert(0, "row", range(n))
    assert all(_text_cells(frame[c]) is not None for c in ("t", "i", "f", "b", "c"))  # the column-wise path
    copy_frame(scratch, "scratch", frame, columns=["t", "i", "f", "b", "c"], geometry={"geometry": "g"})
    back = scratch.execute(text("SELECT t, i, f, b, c, ST_X(g), ST_Y(g) FROM scratch")).all()
    assert len(back) == n
    got = {(r[0], r[1]) for r in back}
    want = {(t, None if pd.isna(i) else int(i)) for t, i in zip(frame.t, frame.i, strict=True)}
    assert got == want
    by_i = {r[1]: r for r in back if r[1] is not None}
    for k in range(n):
        if pd.isna(frame.i[k]):
            continue
        row = by_i[int(frame.i[k])]
        f = frame.f[k]
        assert (row[2] is None) if np.isnan(f) else row[2] == f  # exact, inf included
        assert row[3] == (None if pd.isna(frame.b[k]) else bool(frame.b[k]))
        assert row[4] == (None if pd.isna(frame.c[k]) else frame.c[k])
        g = frame.geometry[k]
        assert (row[5], row[6]) == ((None, None) if g is None else (g.x, g.y))


def test_values_only_rows_can_render_still_go_in(scratch):
    """A column of other objects (here Python ints in an object column mixed with text) takes the
    row-by-row path and still arrives."""
    frame = pd.DataFrame({"t": pd.Series(["x", 1], dtype=object), "i": [1, 2]})
    assert _text_cells(frame.t) is None
    copy_frame(scratch, "scratch", frame, columns=["t", "i"])
    assert sorted(scratch.execute(text("SELECT t, i FROM scratch")).all()) == [("1", 2), ("x", 1)]


def test_ewkb_is_that_of_geos_with_the_srid(scratch):
    """The SRID put into the WKB headers by hand gives GEOS's own EWKB, byte for byte, for every kind of
    geometry (3D, multi-part and collections too), and PostGIS reads it with SRID 4326."""
    geoms = np.array(
        [
            shapely.Point(113.25, 21.5),
            shapely.Point(113.25, 21.5, 7.0),
            shapely.LineString([(113, 21), (113.1, 21.2), (113.3, 21.1)]),
            shapely.Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (2, 1), (2, 2), (1, 1)]]),
            shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)]),
            shapely.MultiLineString([[(0, 0), (1, 1)], [(2, 2), (3, 1)]]),
            shapely.GeometryCollection([shapely.Point(1, 2), shapely.LineString([(0, 0), (1, 0)])]),
        ],
        dtype=object,
    )
    geos = shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)
    mine = _ewkb_hex(geoms)
    assert mine == [h.lower() for h in geos]
    back = scratch.execute(
        text(
            "SELECT ST_SRID(g), ST_AsText(g) FROM unnest(CAST(:h AS text[])) AS x(h), "
            "ST_GeomFromEWKB(decode(h, 'hex')) AS g"
        ),
        {"h": mine},
    ).all()
    assert [r[0] for r in back] == [4326] * len(geoms)
    assert [shapely.from_wkt(r[1]).equals(g) for r, g in zip(back, geoms, strict=True)] == [True] * len(geoms)
