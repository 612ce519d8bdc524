"""Gap areas: where uncovered residents live, as polygons ranked by the people affected.

Uncovered residence points are grouped by single linkage: two points within ``link_m`` metres
belong to the same gap. A gap's polygon is the concave hull of its points buffered by ``link_m/2``
(a lone point becomes a 16-gon around that disc, so every point lies well inside), built in the
metric CRS and returned in EPSG:4326. Polygons are for display and siting; coverage itself never
needs them.

For repeated use on one set of residences (every facility type, every recompute) build a
``PointIndex`` once: it holds the neighbour pairs and the ready-made lone-point polygons, so a type
only costs a filtered connected-components pass plus the hulls of its multi-point gaps.

Catchment areas (``catchment_areas``) are drawn the same way: a facility's catchment is the covered
residences whose nearest facility of the type it is (the residents its catchment counts add up),
grouped, hulled and buffered like a gap, all of a facility's groups united, then clipped to the
district's land. So it shows the streets its people live along, not a circle around the facility.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo.crs import WGS84, geometries_to, to_metric
from geo.pickled import packed, unpacked
from geo.snapping import with_lonlat

MEASURES = ["population", "households", "elderly", "children"]
GAP_COLUMNS = ["gap_rank", "points", *MEASURES, "geometry"]


@dataclass(frozen=True, eq=False)
class PointIndex:
    """Geometry of a fixed set of points, reused by ``gaps_of``.

    Attributes
    ----------
    xy : (n, 2) metric coordinates, metres in ``crs``.
    crs : metric CRS.
    pairs : (2, m) point pairs ``a < b`` within ``link_m`` metres.
    discs : (n,) EPSG:4326 polygons around each point (radius ``link_m / 2``).
    link_m : single-linkage distance, metres.
    """

    xy: np.ndarray
    crs: pyproj.CRS
    pairs: np.ndarray
    discs: np.ndarray
    link_m: float

    def __getstate__(self) -> dict:
        """The discs ``geo.pickled``: pickling one shapely object at a time is slow."""
        return {**self.__dict__, "discs": packed(self.discs)}

    def __setstate__(self, state: dict) -> None:
        """Rebuild from ``__getstate__``."""
        self.__dict__.update({**state, "discs": unpacked(state["discs"])})


def point_index(
    lon: np.ndarray, lat: np.ndarray, *, link_m: float = 250.0, crs: pyproj.CRS | None = None
) -> PointIndex:
    """Index points given in degrees (EPSG:4326) for gap searches with ``link_m`` metres."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    if len(lon) == 0:
        crs = crs or WGS84
        return PointIndex(
            np.empty((0, 2)), crs, np.empty((2, 0), np.int64), np.empty(0, object), float(link_m)
        )
    x, y, crs = to_metric((lon, lat), crs=crs)
    xy = np.column_stack([x, y])
    # every pair within link_m, a < b (a k-d tree: a tenth of an STRtree "dwithin" query's time)
    pairs = cKDTree(xy).query_pairs(link_m, output_type="ndarray")
    a, b = pairs.min(axis=1), pairs.max(axis=1)
    order = np.lexsort((b, a))  # row-major, so filtered pairs stay a sorted CSR
    a, b = a[order].astype(np.int32), b[order].astype(np.int32)
    discs = geometries_to(_discs(x, y, link_m / 2), crs, WGS84)
    return PointIndex(xy, crs, np.vstack([a, b]), discs, float(link_m))


def gap_areas(
    points: pd.DataFrame, *, link_m: float = 250.0, hull_ratio: float = 0.3, crs: pyproj.CRS | None = None
) -> gpd.GeoDataFrame:
    """Group uncovered residence points into ranked gap polygons.

    Parameters
    ----------
    points : frame with ``lon``, ``lat`` (degrees, EPSG:4326; or a point geometry) and the counts
        ``population``, ``households``, ``elderly``, ``children``.
    link_m : single-linkage distance, metres.
    hull_ratio : concave-hull ratio (0 = tightest, 1 = convex), see ``shapely.concave_hull``.
    crs : metric CRS; default the UTM zone of the points.

    Returns
    -------
    GeoDataFrame (EPSG:4326), one valid (Multi)Polygon per gap, with ``gap_rank`` (1 = most
    people), ``points`` and the summed counts; sorted by rank.
    """
    points = with_lonlat(points)
    index = point_index(points.lon.to_numpy(), points.lat.to_numpy(), link_m=link_m, crs=crs)
    return gaps_of(index, np.arange(len(points)), points[MEASURES], hull_ratio=hull_ratio).drop(
        columns="group"
    )


def gaps_of(
    index: PointIndex,
    selected: np.ndarray,
    counts: pd.DataFrame,
    *,
    group: np.ndarray | None = None,
    hull_ratio: float = 0.3,
) -> gpd.GeoDataFrame:
    """Gap areas of the points ``selected`` (positions in ``index``, ascending within a group).

    ``counts`` holds the ``MEASURES`` columns aligned with ``selected``. ``group`` (int per
    selected point, e.g. a facility type) keeps groups apart: gaps never mix groups and are ranked
    within their group; the result then has a ``group`` column. Same output as ``gap_areas``.
    """
    selected = np.asarray(selected, dtype=np.int64)
    group = np.zeros(len(selected), np.int64) if group is None else np.asarray(group, dtype=np.int64)
    if len(selected) == 0:
        return gpd.GeoDataFrame(columns=["group", *GAP_COLUMNS], geometry="geometry", crs=WGS84)
    label = np.empty(len(selected), dtype=np.int64)
    offset = 0
    for g in np.unique(group):  # clusters per group, numbered consecutively across groups
        at = np.flatnonzero(group == g)
        label[at] = _single_linkage(index, selected[at]) + offset
        offset = int(label[at].max()) + 1
    frame = _cluster_sums(counts, label)
    frame["group"] = np.zeros(len(frame), np.int64)
    frame.loc[label, "group"] = group
    frame["geometry"] = _cluster_polygons(index, selected, label, hull_ratio=hull_ratio)
    frame = frame.sort_values(
        ["group", "population", "households", "points", "first"], ascending=[True, False, False, False, True]
    )
    frame.insert(0, "gap_rank", frame.groupby("group").cumcount().to_numpy() + 1)
    return gpd.GeoDataFrame(
        frame[["group", *GAP_COLUMNS]].reset_index(drop=True), geometry="geometry", crs=WGS84
    )


def _single_linkage(index: PointIndex, selected: np.ndarray) -> np.ndarray:
    """Cluster label per selected point; labels numbered by each cluster's first point."""
    local = np.full(len(index.xy), -1, dtype=np.int32)
    local[selected] = np.arange(len(selected), dtype=np.int32)
    use = np.flatnonzero(local[index.pairs[0]] >= 0)  # cheap first cut, then the other end
    use = use[local[index.pairs[1][use]] >= 0]
    a, b = local[index.pairs[0][use]], local[index.pairs[1][use]]
    n = len(selected)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(a, minlength=n))]).astype(np.int32)
    graph = sp.csr_matrix((np.ones(len(a), dtype=np.float32), b, indptr), shape=(n, n))
    graph.has_sorted_indices = True
    _, label = connected_components(graph, directed=False)
    _, first, inverse = np.unique(label, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first, kind="stable"), kind="stable")[inverse]


def _cluster_polygons(
    index: PointIndex, selected: np.ndarray, label: np.ndarray, *, hull_ratio: float
) -> np.ndarray:
    """EPSG:4326 polygon per cluster: the ready-made disc of a lone point, else a buffered hull."""
    n = int(label.max()) + 1
    polygons = np.empty(n, dtype=object)
    lone = np.bincount(label, minlength=n)[label] == 1
    polygons[label[lone]] = index.discs[selected[lone]]
    if (~lone).any():
        groups, multi = _thinned(index, selected[~lone], label[~lone])
        link = index.link_m

        def hulls(points: np.ndarray) -> np.ndarray:
            hull = shapely.simplify(shapely.concave_hull(points, ratio=hull_ratio), link / 8)
            return shapely.buffer(hull, link / 2, quad_segs=2)

        polygons[groups] = valid_polygons(geometries_to(in_threads(hulls, multi), index.crs, WGS84))
    return polygons


def in_threads(fn, items: np.ndarray, *, min_chunk: int = 64) -> np.ndarray:
    """``fn(items)`` computed on one chunk of ``items`` per core in threads, concatenated in order.

    For element-wise vectorised GEOS/PROJ work (shapely releases the GIL there): the result is the
    same as one call, in a fraction of the time on several cores.
    """
    workers = min(os.cpu_count() or 1, len(items) // min_chunk)
    if workers < 2:
        return fn(items)
    with ThreadPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(fn, np.array_split(items, workers))))


def _thinned(index: PointIndex, points: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cluster labels, metric multipoints) of thinned clusters.

    Their concave hulls simplified by ``link/8`` and buffered by ``link/2`` make the gap polygons
    (``_cluster_polygons``).

    Dense clusters are thinned to one point per grid cell of ``link/4`` and the hull simplified
    by ``link/8``; the ``link/2`` buffer still covers every original point (cell diagonal
    ``0.354 link`` + simplification ``0.125 link`` < ``0.5 link``) at a fraction of the cost.
    """
    cell = index.link_m / 4
    xy = index.xy[points]
    # cells on a grid fixed by the whole index, not by this batch: a type's gaps must not depend
    # on which other types are computed with it (an incremental run equals a full one)
    ij = np.floor((xy - index.xy.min(axis=0)) / cell).astype(np.int64)
    span = ij.max(axis=0) + 1
    _, keep = np.unique((label * span[1] + ij[:, 1]) * span[0] + ij[:, 0], return_index=True)  # label-major
    groups, local = np.unique(label[keep], return_inverse=True)
    return groups, shapely.multipoints(xy[keep], indices=local)


def _discs(x: np.ndarray, y: np.ndarray, radius_m: float, *, sides: int = 16) -> np.ndarray:
    """Regular polygons circumscribing discs of ``radius_m`` around each point (vectorised)."""
    angle = np.linspace(0.0, 2 * np.pi, sides + 1)
    ring = np.column_stack([np.cos(angle), np.sin(angle)]) * (radius_m / np.cos(np.pi / sides))
    ring[-1] = ring[0]
    return shapely.polygons(np.column_stack([x, y])[:, None, :] + ring[None, :, :])


def _cluster_sums(counts: pd.DataFrame, label: np.ndarray) -> pd.DataFrame:
    n = int(label.max()) + 1
    sums = {
        m: np.bincount(label, weights=counts[m].to_numpy(float), minlength=n).astype(np.int64)
        for m in MEASURES
    }
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


CATCHMENT_COLUMNS = ["facility_id", "points", *MEASURES, "geometry"]


def catchment_areas(
    homes: pd.DataFrame,
    *,
    link_m: float = 250.0,
    hull_ratio: float = 0.3,
    clip: shapely.Geometry | None = None,
) -> gpd.GeoDataFrame:
    """One (Multi)Polygon per facility around the homes it serves.

    Parameters
    ----------
    homes : one row per served residence: ``facility_id``, ``lon``, ``lat`` (degrees, EPSG:4326) and the
        counts ``population``, ``households``, ``elderly``, ``children``.
    link_m : homes closer than this (metres) belong to one group.
    hull_ratio : concave-hull ratio of a group (0 tightest, 1 convex), see ``shapely.concave_hull``.
    clip : area (EPSG:4326) the polygons are cut to, e.g. the district; None keeps them whole.

    Returns
    -------
    GeoDataFrame (EPSG:4326): ``facility_id``, ``points`` (homes), the summed counts and ``geometry``,
    ordered by facility id.
    """
    if len(homes) == 0:
        return gpd.GeoDataFrame(columns=CATCHMENT_COLUMNS, geometry="geometry", crs=WGS84)
    homes = homes.sort_values("facility_id", kind="stable").reset_index(drop=True)
    ids, group = np.unique(homes.facility_id.to_numpy(np.int64), return_inverse=True)
    index = point_index(homes.lon.to_numpy(float), homes.lat.to_numpy(float), link_m=link_m)
    parts = gaps_of(index, np.arange(len(homes)), homes[MEASURES], group=group, hull_ratio=hull_ratio)
    whole = parts.groupby("group").agg({"points": "sum", **dict.fromkeys(MEASURES, "sum")})
    shapes = parts.groupby("group").geometry.apply(lambda g: shapely.union_all(g.to_numpy()))
    geometry = shapes.reindex(whole.index).to_numpy()
    if clip is not None:
        geometry = shapely.intersection(geometry, clip)
    out = whole.reset_index(drop=True).assign(facility_id=ids[whole.index.to_numpy()])
    return gpd.GeoDataFrame(out[CATCHMENT_COLUMNS[:-1]], geometry=geometry, crs=WGS84)
