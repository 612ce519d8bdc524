"""Coordinate reference systems.

Metric projection helpers (this part): data are stored in EPSG:4326 (lon, lat); lengths, areas
and buffers are measured in the UTM zone of the data, chosen by ``utm_crs_for``.
"""

from __future__ import annotations

from functools import lru_cache

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from geo import chinacrs

WGS84 = pyproj.CRS.from_epsg(4326)


def utm_crs_for(lon: float, lat: float) -> pyproj.CRS:
    """UTM zone (WGS84 datum, metres) containing the point ``lon, lat`` (degrees, EPSG:4326)."""
    zone = int(np.clip(np.floor((float(lon) + 180.0) / 6.0) + 1, 1, 60))
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


@lru_cache(maxsize=64)
def transformer(src: pyproj.CRS, dst: pyproj.CRS) -> pyproj.Transformer:
    """Cached always-x,y (lon, lat order) transformer from ``src`` to ``dst``."""
    return pyproj.Transformer.from_crs(src, dst, always_xy=True)


def to_metric(data, *, crs: pyproj.CRS | None = None):
    """Project lon/lat data to metres.

    Parameters
    ----------
    data : GeoDataFrame/GeoSeries in any CRS, or a tuple ``(lon, lat)`` of arrays in degrees
        (EPSG:4326).
    crs : metric CRS to use; default the UTM zone of the centre of the data's bounds.

    Returns
    -------
    The projected GeoDataFrame/GeoSeries, or ``(x, y, crs)`` with x, y arrays in metres.
    """
    if isinstance(data, gpd.GeoDataFrame | gpd.GeoSeries):
        if crs is None:
            minx, miny, maxx, maxy = data.to_crs(WGS84).total_bounds
            crs = utm_crs_for((minx + maxx) / 2, (miny + maxy) / 2)
        return data.to_crs(crs)
    lon, lat = (np.asarray(a, dtype=float) for a in data)
    if crs is None:
        crs = utm_crs_for((np.nanmin(lon) + np.nanmax(lon)) / 2, (np.nanmin(lat) + np.nanmax(lat)) / 2)
    x, y = transformer(WGS84, crs).transform(lon, lat)
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float), crs


def simplify_m(geoms: gpd.GeoSeries, tolerance_m: float) -> gpd.GeoSeries:
    """Geometries simplified in metres, keeping their topology.

    Parameters
    ----------
    geoms : geometries in any CRS.
    tolerance_m : largest distance, metres, between a simplified geometry and its original (Douglas-Peucker
        in the UTM zone of the data, ``to_metric``).

    Returns
    -------
    geopandas.GeoSeries
        The simplified geometries in EPSG:4326, same index.
    """
    if geoms.empty:
        return geoms.to_crs(WGS84)
    return to_metric(geoms).simplify(tolerance_m, preserve_topology=True).to_crs(WGS84)


def geometries_to(geoms, src: pyproj.CRS, dst: pyproj.CRS):
    """Reproject an array of shapely geometries from ``src`` to ``dst`` (all coordinates at once)."""
    project = transformer(src, dst)
    return shapely.transform(geoms, lambda c: np.column_stack(project.transform(c[:, 0], c[:, 1])))


def to_wgs84(x, y, *, crs: str | pyproj.CRS) -> tuple[np.ndarray, np.ndarray]:
    """Convert coordinates to WGS84 degrees: the one conversion every import and query uses.

    Parameters
    ----------
    x, y : array-like
        Coordinates in ``crs`` (degrees or metres).
    crs : str or pyproj.CRS
        A Chinese web-map system or datum name ('wgs84', 'cgcs2000', 'gcj02', 'bd09'; see
        ``geo.chinacrs.normalise_crs``), any ``EPSG:`` code, or a pyproj CRS (e.g. the metric CRS
        of ``to_metric``, making this its inverse).

    Returns
    -------
    tuple of numpy.ndarray
        ``(lon, lat)`` float arrays in degrees, EPSG:4326.

    Raises
    ------
    UnknownCRSError
        When ``crs`` is a name that is neither a known system nor a valid EPSG code.
    """
    if isinstance(crs, pyproj.CRS):
        lon, lat = transformer(crs, WGS84).transform(np.asarray(x, float), np.asarray(y, float))
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    try:
        return chinacrs.china_to_wgs84(x, y, crs=crs)
    except chinacrs.UnknownCRSError:
        if not str(crs).lower().startswith("epsg:"):
            raise
        try:
            source = pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError:
            raise chinacrs.UnknownCRSError(crs) from None
        return to_wgs84(x, y, crs=source)


def geometries_to_wgs84(geoms, *, crs: str | pyproj.CRS) -> np.ndarray:
    """Shapely geometries (one or an array) with every vertex converted from ``crs`` by ``to_wgs84``."""
    return shapely.transform(geoms, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], crs=crs)))


def check_crs(crs: str) -> None:
    """Raise ``UnknownCRSError`` now (before any data is read) for a name ``to_wgs84`` cannot convert from."""
    to_wgs84([0.0], [0.0], crs=crs)
