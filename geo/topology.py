"""Topology of the areas tree: invalid polygons, overlaps, gaps, children outside their parent.

The rules (domain.md §3): polygons of one tier must not overlap, children must tile their parent
without gaps, and a child lies inside its parent. ``check_topology`` lists every breach with its
size in m² (measured in the UTM zone of the data); ``absorb_slivers`` repairs the breaches smaller
than a size (digitising slivers) and leaves the others for a person to fix.

Input frames follow docs/CONTRACTS.md (``area_id``, ``parent_id``, ``level``, geometry in
EPSG:4326); ``parent_id`` may point outside the frame (those parents are simply not checked).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.areas import PARENT_LEVEL
from geo.crs import to_metric, utm_crs_for

"""The level a parent must have (docs/CONTRACTS.md tree)."""
KINDS = ("invalid", "wrong_parent_level", "overlap", "outside_parent", "gap")
COLUMNS = ["kind", "area_id", "other_id", "level", "area_m2", "detail", "geometry"]


def check_topology(areas: gpd.GeoDataFrame, *, min_area_m2: float = 1.0) -> gpd.GeoDataFrame:
    """Every topology problem of ``areas`` larger than ``min_area_m2``.

    Set operations run on the stored lon/lat geometry (as PostGIS would); sizes are measured in
    the UTM zone of the data.

    Parameters
    ----------
    areas : GeoDataFrame ``area_id``, ``parent_id``, ``level``, geometry (EPSG:4326).
    min_area_m2 : overlaps, gaps and overhangs at most this large (m²) are not reported
        (floating-point noise along shared boundaries).

    Returns
    -------
    GeoDataFrame of ``COLUMNS``: ``kind`` (one of ``KINDS``), ``area_id`` (for a gap: the parent,
    None between top-level areas), ``other_id`` (the other area of an overlap, the parent of an
    overhanging child), ``level``, ``area_m2`` (size of the problem region, m²), ``detail``, and
    the problem region as geometry (EPSG:4326). Sorted by kind, then size (largest first).
    """
    frame = _prepared(areas)
    misplaced = _wrong_parent_level(frame)
    rows = _invalid(frame) + misplaced
    valid = frame[frame["valid"]]
    placed = valid[~valid["area_id"].isin([r["area_id"] for r in misplaced])]
    rows += _overlaps(valid) + _outside_parent(placed) + _gaps(placed)
    return _problem_frame(rows, metric_crs(frame), min_area_m2)


def metric_crs(areas: gpd.GeoDataFrame):
    """The UTM zone (metres) of the centre of ``areas`` (EPSG:4326)."""
    minx, miny, maxx, maxy = areas.total_bounds
    return utm_crs_for((minx + maxx) / 2, (miny + maxy) / 2)


def area_m2(geoms, crs) -> np.ndarray:
    """Areas (m²) of lon/lat geometries measured in the metric ``crs``; 0 for None."""
    series = gpd.GeoSeries(list(geoms), crs=4326)
    return to_metric(series, crs=crs).area.fillna(0.0).to_numpy()


def _prepared(areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """EPSG:4326 copy with a validity flag; ``parent_id`` as object (None: no parent)."""
    frame = (areas.set_crs(4326) if areas.crs is None else areas.to_crs(4326)).reset_index(drop=True)
    frame["valid"] = shapely.is_valid(frame.geometry.to_numpy()) & ~frame.geometry.is_empty
    frame["parent_id"] = frame["parent_id"].astype(object).where(frame["parent_id"].notna(), None)
    return frame


def _row(kind: str, area_id, other_id, level, geom, detail: str = "") -> dict:
    return {
        "kind": kind,
        "area_id": area_id,
        "other_id": other_id,
        "level": level,
        "detail": detail,
        "geometry": geom,
    }


def _invalid(frame: gpd.GeoDataFrame) -> list[dict]:
    bad = frame[~frame["valid"]]
    reasons = shapely.is_valid_reason(bad.geometry.to_numpy())
    return [
        _row("invalid", r.area_id, None, r.level, None, reason)
        for r, reason in zip(bad.itertuples(), reasons, strict=True)
    ]


def _wrong_parent_level(frame: gpd.GeoDataFrame) -> list[dict]:
    level_of = dict(zip(frame["area_id"], frame["level"], strict=True))
    rows = []
    for r in frame.itertuples():
        parent_level = level_of.get(r.parent_id)
        expected = PARENT_LEVEL.get(r.level)
        if parent_level is not None and parent_level != expected:
            rows.append(
                _row(
                    "wrong_parent_level",
                    r.area_id,
                    r.parent_id,
                    r.level,
                    None,
                    f"a {r.level} must lie under a {expected}, not a {parent_level}",
                )
            )
    return rows


def _polygonal(geom):
    """The polygonal part of an intersection/difference result (lines and points dropped)."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else None


def overlap_pairs(frame: gpd.GeoDataFrame) -> list[tuple[int, int]]:
    """Row pairs (i < j) of the same level whose polygons intersect."""
    pairs = []
    for _, rows in frame.groupby("level").indices.items():
        geoms = frame.geometry.to_numpy()[rows]
        left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
        keep = left < right
        pairs += list(zip(rows[left[keep]], rows[right[keep]], strict=True))
    return pairs


def _overlaps(frame: gpd.GeoDataFrame) -> list[dict]:
    rows, geoms = [], frame.geometry.to_numpy()
    for i, j in overlap_pairs(frame):
        shared = _polygonal(shapely.intersection(geoms[i], geoms[j]))
        if shared is not None:
            rows.append(
                _row(
                    "overlap", frame["area_id"].iat[i], frame["area_id"].iat[j], frame["level"].iat[i], shared
                )
            )
    return rows


def _outside_parent(frame: gpd.GeoDataFrame) -> list[dict]:
    geom_of = dict(zip(frame["area_id"], frame.geometry, strict=True))
    rows = []
    for r in frame.itertuples():
        parent = geom_of.get(r.parent_id)
        outside = None if parent is None else _polygonal(shapely.difference(r.geometry, parent))
        if outside is not None:
            rows.append(_row("outside_parent", r.area_id, r.parent_id, r.level, outside))
    return rows


def _gaps(frame: gpd.GeoDataFrame) -> list[dict]:
    rows = []
    for (parent_id, level), children in _families(frame):
        covered = shapely.union_all(children.geometry.to_numpy())
        if parent_id is None:
            holes = _holes(covered)
        else:
            parent = frame.geometry[frame["area_id"] == parent_id].iloc[0]
            holes = _parts(shapely.difference(parent, covered))
        rows += [_row("gap", parent_id, None, level, h) for h in holes]
    return rows


def _families(frame: gpd.GeoDataFrame):
    """((parent_id or None when the parent is not in the frame, level), children) groups."""
    known = set(frame["area_id"])
    key = frame["parent_id"].map(lambda p: p if p in known else -1)
    for (parent_id, level), rows in frame.groupby([key, frame["level"]]).indices.items():
        yield (None if parent_id == -1 else parent_id, level), frame.iloc[rows]


def _parts(geom) -> list:
    polygonal = _polygonal(geom)
    if polygonal is None:
        return []
    return list(getattr(polygonal, "geoms", [polygonal]))


def _holes(geom) -> list:
    """Interior rings of a (multi)polygon, as polygons."""
    return [shapely.Polygon(ring) for part in _parts(geom) for ring in part.interiors]


def _problem_frame(rows: list[dict], crs, min_m2: float) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "area_m2"]), geometry="geometry", crs=4326
    )
    frame.insert(4, "area_m2", area_m2(frame.geometry, crs) if len(frame) else [])
    sized = frame["kind"].isin(["overlap", "outside_parent", "gap"])
    frame = frame[~sized | (frame["area_m2"] > min_m2)]
    order = frame["kind"].map({k: i for i, k in enumerate(KINDS)})
    frame = frame.assign(_o=order).sort_values(["_o", "area_m2"], ascending=[True, False])
    return frame.drop(columns="_o").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# sliver absorption


def absorb_slivers(areas: gpd.GeoDataFrame, *, max_m2: float) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Repair overlaps, overhangs and gaps no larger than ``max_m2`` (m²).

    Overhangs are clipped to the parent; an overlap is cut from the area with the larger
    ``area_id``; a gap goes to the neighbouring sibling sharing the longest boundary with it.
    Larger problems are left alone (``check_topology`` still reports them).

    Returns
    -------
    (areas with repaired geometry — same index and columns, EPSG:4326, repaired polygons as
    MultiPolygon —, the problems absorbed).
    """
    problems = check_topology(areas, min_area_m2=0.0)
    small = problems[
        (problems["area_m2"] <= max_m2) & problems["kind"].isin(["overlap", "outside_parent", "gap"])
    ]
    frame = _prepared(areas)
    geoms = dict(zip(frame["area_id"], frame.geometry, strict=True))
    for kind in ("outside_parent", "overlap", "gap"):
        for p in small[small["kind"] == kind].itertuples():
            _absorb(kind, p, geoms, frame)
    fixed = frame.drop(columns="valid")
    changed = np.array([geoms[a] is not g for a, g in zip(fixed["area_id"], fixed.geometry, strict=True)])
    fixed.loc[changed, fixed.geometry.name] = [_multipolygon(geoms[a]) for a in fixed.loc[changed, "area_id"]]
    fixed["parent_id"] = areas["parent_id"].to_numpy()
    fixed.index = areas.index
    return fixed, small.reset_index(drop=True)


def _absorb(kind: str, p, geoms: dict, frame: gpd.GeoDataFrame) -> None:
    if kind == "outside_parent":
        geoms[p.area_id] = shapely.intersection(geoms[p.area_id], geoms[p.other_id])
    elif kind == "overlap":
        loser = max(p.area_id, p.other_id)
        geoms[loser] = shapely.difference(geoms[loser], p.geometry)
    else:
        winner = _longest_shared_boundary(p, geoms, frame)
        if winner is not None:
            geoms[winner] = shapely.union(geoms[winner], p.geometry)


def _longest_shared_boundary(gap, geoms: dict, frame: gpd.GeoDataFrame):
    """The area of the gap's level (and parent) sharing the longest boundary with the gap."""
    same = frame[(frame["level"] == gap.level)]
    if gap.area_id is not None and not pd.isna(gap.area_id):
        same = same[same["parent_id"] == gap.area_id]
    boundary = gap.geometry.boundary
    shared = {
        a: float(shapely.length(shapely.intersection(boundary, geoms[a].buffer(1e-9))))
        for a in same["area_id"]
    }
    best = max(shared, key=lambda a: shared[a], default=None)
    return best if best is not None and shared[best] > 0 else None


def _multipolygon(geom):
    polygonal = _polygonal(shapely.make_valid(geom))
    if polygonal is None:
        return None
    return polygonal if polygonal.geom_type == "MultiPolygon" else shapely.MultiPolygon([polygonal])
