"""Gap areas: where uncovered residents live, as polygons ranked by the people affected.

Uncovered residence points are grouped by single linkage: two points within ``link_m`` metres
belong to the same gap. A gap's polygon is the concave hull of its points buffered by ``link_m/2``
(so a lone point becomes a disc and every point lies well inside), built in the metric CRS and
returned in EPSG:4326. Polygons are for display and siting; coverage itself never needs them.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from geo.crs import WGS84, geometries_to, to_metric

MEASURES = ["population", "households", "elderly", "children"]
GAP_COLUMNS = ["gap_rank", "points", *MEASURES, "geometry"]


def gap_areas(
    points: pd.DataFrame, *, link_m: float = 250.0, hull_ratio: float = 0.3, crs: pyproj.CRS | None = None
) -> gpd.GeoDataFrame:
    """Group uncovered residence points into ranked gap polygons.

    Parameters
    ----------
    points : frame with ``lon``, ``lat`` (degrees, EPSG:4326) and the counts ``population``,
        ``households``, ``elderly``, ``children``.
    link_m : single-linkage distance, metres.
    hull_ratio : concave-hull ratio (0 = tightest, 1 = convex), see ``shapely.concave_hull``.
    crs : metric CRS; default the UTM zone of the points.

    Returns
    -------
    GeoDataFrame (EPSG:4326), one valid (Multi)Polygon per gap, with ``gap_rank`` (1 = most
    people), ``points`` and the summed counts; sorted by rank.
    """
    if len(points) == 0:
        return gpd.GeoDataFrame(columns=GAP_COLUMNS, geometry="geometry", crs=WGS84)
    x, y, crs = to_metric((points.lon.to_numpy(), points.lat.to_numpy()), crs=crs)
    label = _single_linkage(x, y, link_m)
    polygons = _cluster_polygons(x, y, label, buffer_m=link_m / 2, hull_ratio=hull_ratio)
    frame = _cluster_sums(points, label)
    frame["geometry"] = valid_polygons(geometries_to(polygons, crs, WGS84))
    frame = frame.sort_values(["population", "households", "points", "first"], ascending=[False, False, False, True])
    frame.insert(0, "gap_rank", np.arange(1, len(frame) + 1))
    return gpd.GeoDataFrame(frame[GAP_COLUMNS].reset_index(drop=True), geometry="geometry", crs=WGS84)


def _single_linkage(x: np.ndarray, y: np.ndarray, link_m: float) -> np.ndarray:
    """Cluster label per point; labels numbered by each cluster's first point (deterministic)."""
    points = shapely.points(x, y)
    a, b = shapely.STRtree(points).query(points, predicate="dwithin", distance=link_m)
    n = len(points)
    _, label = connected_components(sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)
    _, first, inverse = np.unique(label, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first, kind="stable"), kind="stable")[inverse]


def _cluster_polygons(x, y, label, *, buffer_m: float, hull_ratio: float) -> np.ndarray:
    order = np.argsort(label, kind="stable")
    multi = shapely.multipoints(np.column_stack([x, y])[order], indices=label[order])
    return shapely.buffer(shapely.concave_hull(multi, ratio=hull_ratio), buffer_m, quad_segs=8)


def _cluster_sums(points: pd.DataFrame, label: np.ndarray) -> pd.DataFrame:
    n = int(label.max()) + 1
    sums = {m: np.bincount(label, weights=points[m].to_numpy(float), minlength=n).astype(np.int64) for m in MEASURES}
    first = np.full(n, len(label))
    np.minimum.at(first, label, np.arange(len(label)))
    return pd.DataFrame({"points": np.bincount(label, minlength=n), **sums, "first": first})


def valid_polygons(geoms: np.ndarray) -> np.ndarray:
    """Repair the rare polygon that reprojection made invalid, keeping only its areal part."""
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        fixed = shapely.make_valid(geoms[bad])
        geoms[bad] = [_areal(g) for g in fixed]
    return geoms


def _areal(geom):
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts)
