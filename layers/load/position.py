"""Where imported rows are: coordinates and their systems, the expected extent, geocoding by address."""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo import chinacrs
from geo.crs import to_wgs84
from layers.load.report import ImportReport
from layers.load.source import Source, number_column, text_column
from layers.planning import is_demo


def stored_extent(s: Session) -> tuple[float, float, float, float] | None:
    """(lon_min, lat_min, lon_max, lat_max) of the stored areas, or None when there are none."""
    box = s.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(geom) AS e FROM areas) q"
        )
    ).one()
    if box[0] is None:
        return None
    lon_min, lat_min, lon_max, lat_max = (float(v) for v in box)
    return lon_min, lat_min, lon_max, lat_max


def _demo_stored(s: Session) -> bool:

    return is_demo(s)


@dataclass
class Extent:
    """Where the data is expected: for swap detection and the outside-of-area checks."""

    bbox: tuple[float, float, float, float]
    strict: bool
    label: str


WORLD = (-180.0, -90.0, 180.0, 90.0)


def expected_extent(s: Session, bbox, *, outside_china: bool = False) -> Extent:
    """An explicit ``bbox`` (strict), else the stored areas (buffered, warnings), else China (strict)
    — or anywhere with ``outside_china`` (test or foreign data, e.g. an OSM extract of Helsinki):
    the China guard catches swapped or foreign coordinates in Chinese data, so leaving it is asked
    for explicitly."""
    if bbox is not None:
        return Extent(tuple(bbox), True, f"the given bbox {tuple(bbox)}")
    if outside_china and stored_extent(s) is None:
        return Extent(WORLD, True, "anywhere (--outside-china)")
    stored = stored_extent(s)
    if stored is not None and _demo_stored(s):
        # the demo lies in open sea: a city's real data never belongs beside it
        return Extent(
            stored,
            True,
            "the fictional demo district still stored (remove it first: "
            "`minqing demo remove`, or import the grids with --replace-demo)",
        )
    if stored is not None:
        pad = 0.05  # ~5 km: facilities just across a boundary still serve residents
        return Extent(
            (stored[0] - pad, stored[1] - pad, stored[2] + pad, stored[3] + pad),
            False,
            "this district (the stored areas)",
        )
    return Extent(chinacrs.CHINA_BBOX, True, "China")


def check_positions(
    lon: np.ndarray,
    lat: np.ndarray,
    rows: np.ndarray,
    extent: Extent,
    report: ImportReport,
    *,
    columns: tuple[str, str] = ("经度", "纬度"),
) -> np.ndarray:
    """Report projected, out-of-range, swapped and out-of-area positions; True where usable."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    present = ~(np.isnan(lon) | np.isnan(lat))
    swapped = present & (
        chinacrs.looks_swapped(lon, lat, bbox=extent.bbox)
        | chinacrs.looks_swapped(lon, lat, bbox=chinacrs.CHINA_BBOX)
    )
    projected = present & ~swapped & ((np.abs(lon) > 180) | (np.abs(lat) > 90))
    outside = present & ~projected & ~swapped & ~chinacrs.in_box(lon, lat, extent.bbox)
    for i in np.flatnonzero(projected):
        report.add(
            int(rows[i]),
            "/".join(columns),
            f"{columns[0]} {lon[i]:g} / {columns[1]} {lat[i]:g} are not degrees (projected metres?)",
            "give longitude/latitude in degrees, or pass the file's EPSG code as the CRS "
            "(e.g. --crs epsg:4547)",
        )
    for i in np.flatnonzero(swapped):
        report.add(
            int(rows[i]),
            "/".join(columns),
            f"{columns[0]} {lon[i]:g} / {columns[1]} {lat[i]:g} look swapped for {extent.label}",
            "swap the columns or fix the values (经度 = longitude, east; 纬度 = latitude, north)",
        )
    for i in np.flatnonzero(outside):
        where = f"{columns[0]} {lon[i]:g} / {columns[1]} {lat[i]:g} lies outside {extent.label}"
        (report.add if extent.strict else report.warn)(
            int(rows[i]),
            "/".join(columns),
            where,
            "check the values and the CRS (--crs gcj02 for 高德, bd09 for 百度)",
        )
    return present & ~projected & ~swapped & (~outside | (not extent.strict))


def normalise_address(value: str) -> str:
    """Address key: NFKC, no spaces or punctuation."""
    v = unicodedata.normalize("NFKC", str(value))
    return re.sub(r"[\s,，。.、;；:：\-—_#()（）]", "", v)


def gazetteer(s: Session) -> pd.DataFrame:
    """Standard addresses (residences) and place names with a point each, keyed by normalised text."""
    rows = s.execute(
        text(
            "SELECT address AS text, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM residences "
            "WHERE address IS NOT NULL UNION ALL SELECT name, ST_X(ST_PointOnSurface(geom)), "
            "ST_Y(ST_PointOnSurface(geom)) FROM place_names"
        )
    ).all()
    frame = pd.DataFrame(rows, columns=["text", "lon", "lat"])
    frame["key"] = frame["text"].map(normalise_address)
    return frame.drop_duplicates("key")


def locate(
    frame: pd.DataFrame, source: Source, report: ImportReport, *, s: Session, crs: str, extent: Extent
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lon/lat (WGS84) per row from lon/lat columns, a WKT column, the file's geometry or the address.

    Returns (lon, lat, ok) arrays; rows that cannot be placed are reported.
    """
    n = len(frame)
    lon, lat = np.full(n, np.nan), np.full(n, np.nan)
    given = _given_positions(frame, source, report)
    have = ~np.isnan(given[0])
    if have.any():
        lon[have], lat[have] = to_wgs84(given[0][have], given[1][have], crs=crs)
    ok = check_positions(np.where(have, lon, np.nan), lat, source.row, extent, report) & have
    invalid_given = have & ~ok
    todo = ~have & ~_bad_position_rows(report, source)
    if todo.any():
        lon, lat, ok = _geocode(frame, source, report, s, todo, lon, lat, ok)
    return lon, lat, ok & ~invalid_given


def _given_positions(
    frame: pd.DataFrame, source: Source, report: ImportReport
) -> tuple[np.ndarray, np.ndarray]:
    """Raw x/y per row (NaN when the row has none): lon/lat columns, else WKT, else file geometry."""
    x = number_column(frame, "lon", source, report, minimum=None).to_numpy(dtype=float)
    y = number_column(frame, "lat", source, report, minimum=None).to_numpy(dtype=float)
    x, y = np.where(np.isnan(y), np.nan, x), np.where(np.isnan(x), np.nan, y)
    geoms = row_geometries(frame, source, report)
    use = np.isnan(x) & np.array([g is not None for g in geoms], dtype=bool)
    if use.any():
        points = _point_of(np.asarray(geoms, dtype=object)[use])
        x[use], y[use] = shapely.get_x(points), shapely.get_y(points)
    return x, y


def row_geometries(frame: pd.DataFrame, source: Source, report: ImportReport) -> list:
    """Geometry per row from the WKT column or the vector file (None when absent); bad WKT reported."""
    if source.geometry is not None:
        return [None if g is None or g.is_empty else g for g in source.geometry]
    wkt = text_column(frame, "wkt")
    out = []
    for i, value in enumerate(wkt):
        geom = None
        if value:
            try:
                geom = shapely.from_wkt(value)
            except shapely.errors.GEOSException as e:
                report.add(
                    int(source.row[i]), "wkt", f"unreadable WKT ({e})", "write e.g. POINT (113.26 23.13)"
                )
        out.append(geom)
    return out


def _point_of(geoms: np.ndarray) -> np.ndarray:
    """The geometry itself when a point, else a point on its surface (polygon) or line."""
    return shapely.point_on_surface(geoms)


def _bad_position_rows(report: ImportReport, source: Source) -> np.ndarray:
    """Rows whose lon/lat or WKT could not be read (already reported: not to be geocoded)."""
    rows = {
        p["row"] for p in report.problems if p["row"] is not None and p["column"] in ("lon", "lat", "wkt")
    }
    return np.isin(source.row, list(rows))


def _geocode(frame, source, report, s, todo, lon, lat, ok, *, hints: int = 50):
    """Place rows by their address (exact match after normalisation); the first ``hints``
    unmatched rows get the closest stored text as a suggestion (fuzzy matching is slow)."""
    addresses = text_column(frame, "address")
    book = gazetteer(s).set_index("key")
    for i in np.flatnonzero(todo):
        address = addresses.iat[i]
        if not address:
            report.add(
                int(source.row[i]),
                "经度 lon,纬度 lat",
                "no coordinates, WKT or address",
                "fill in 经度/纬度 (or a WKT column, or a standard address)",
            )
            continue
        key = normalise_address(address)
        if key in book.index:
            lon[i], lat[i], ok[i] = book.at[key, "lon"], book.at[key, "lat"], True
            continue
        close = difflib.get_close_matches(key, book.index.tolist(), n=1, cutoff=0.6) if hints > 0 else []
        hints -= 1
        hint = f" (closest stored: {book.at[close[0], 'text']})" if close else ""
        report.add(
            int(source.row[i]),
            "地址 address",
            f"address {address!r} matches no standard address or place name{hint}",
            "add 经度/纬度, or correct the address to the standard address",
        )
    return lon, lat, ok
