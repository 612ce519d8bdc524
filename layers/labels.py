"""Place labels for many points at once: "鹭田镇 西关社区 兴业路以南".

A label names the town and the community containing the point and where it lies relative to the
nearest named road: 以东/以西/以南/以北 of it, 沿线 when on it (within ``ON_ROAD_M``), or
"甲路与乙路路口" when another named road is that close too. The nearest road is the one lookup of
``GET /reverse`` (``layers.placenames.nearest_road`` calls :func:`nearest_roads`): a named street
edge or a registered road name within ``max_m`` metres on the WGS84 spheroid, whichever is nearer
(the street on a tie at 0.1 m), ties within a source broken by the lowest id.

Everything is one set-based query per call (LATERAL nearest-neighbour searches on the GiST
indexes), so thousands of gap areas or candidate sites label in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.nametables import road_categories
from layers.queries import read_frame, to_geoframe

ON_ROAD_M = 15.0
"""A point this close to a road (metres) lies on it: 沿线, or 路口 with a second road as close."""
ROAD_COLUMNS = ["road", "road_source", "highway", "road_name_id", "road_category", "road_distance_m"]
LABEL_COLUMNS = ["town", "community", *ROAD_COLUMNS, "position", "cross_road", "label"]
SIDES = {"east": "以东", "west": "以西", "north": "以北", "south": "以南"}

# half-widths (degrees) of a box holding every point within r metres of latitude lat: the same
# figures as layers.placenames._box_degrees (110,574 m: the shortest degree of latitude)
_DLAT = "({r} / 110574.0 * 1.01 + 1e-7)"
_DLON = "({r} / (111320.0 * cos(radians(least(abs(p.lat) + " + _DLAT + ", 89.0)))) * 1.01 + 1e-7)"


def _box(r: str) -> str:
    return f"ST_Expand(p.pt, {_DLON.format(r=r)}, {_DLAT.format(r=r)})"


def _nearest_sql(source: str, columns: str, tiebreak: str, alias: str, radius: str | None = None) -> str:
    """LATERAL join ``alias``: the feature of ``source`` (``t``, with filters) nearest to ``p.pt`` in
    metres (``d``, with ``geom``), within ``radius`` when given (an SQL expression, metres, where
    ``{bound}`` stands for the bound below).

    The bound: the KNN operator orders by planar degrees, which is not metric order, but its first
    hit bounds the true distance (planar degrees × ``M_PER_DEGREE`` is never shorter than the
    spheroid distance). Every feature in a box of the search radius (and within its planar degree
    equivalent) is ranked on the spheroid.
    """
    bound = (
        f"(SELECT ST_Distance(t.geom, p.pt) * {M_PER_DEGREE} + 1 FROM {source} "
        "ORDER BY t.geom <-> p.pt LIMIT 1)"
    )

    r = f"{alias}_b.r"
    return (
        f"LEFT JOIN LATERAL (SELECT least({(radius or '{bound}').format(bound=bound)}, :max_m) AS r) "
        f"{r[:-2]} ON true LEFT JOIN LATERAL (SELECT * FROM (SELECT {columns}, t.geom, "
        f"ST_Distance(t.geom::geography, p.pt::geography) AS d, {tiebreak} AS tb FROM {source} "
        f"AND t.geom && {_box(r)} AND ST_DWithin(t.geom, p.pt, {_DLON.format(r=r)})) c "
        f"WHERE c.d <= {r} ORDER BY c.d, c.tb LIMIT 1) {alias} ON true "
    )


M_PER_DEGREE = 111_700.0
"""Metres per degree, at least (the longest degree of latitude is 111,694 m; of longitude 111,320 m)."""
EDGES = "network_edges t WHERE t.name IS NOT NULL AND t.name <> ''"
REGISTRY = "place_names t WHERE t.status <> 'historical' AND t.category = ANY(:cats)"
POINTS = (
    "SELECT i, ST_SetSRID(ST_MakePoint(x, y), 4326) AS pt, y AS lat FROM "
    "unnest(CAST(:lon AS float8[]), CAST(:lat AS float8[])) WITH ORDINALITY AS u(x, y, i)"
)


def nearest_roads(
    s: Session,
    lon: Sequence[float],
    lat: Sequence[float],
    *,
    categories: Sequence[str],
    max_m: float = 1000.0,
) -> pd.DataFrame:
    """The nearest named road of each point (EPSG:4326): a frame in point order with ``road`` (None
    when nothing within ``max_m``), ``road_source`` (network|registry), ``highway``, ``road_name_id``,
    ``road_category``, ``road_distance_m`` (0.1 m) and the closest point of the road (``road_lon``,
    ``road_lat``). ``categories``: the place-name categories of roads (registry names)."""
    return _roads(s, lon, lat, categories=categories, max_m=max_m, cross_m=None)


def _roads(s: Session, lon, lat, *, categories, max_m: float, cross_m: float | None) -> pd.DataFrame:
    """``nearest_roads`` plus, with ``cross_m``, ``cross_road``: for points within ``cross_m`` of
    their road, the nearest other named street as close (None otherwise)."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    # a registered name wins only when its distance rounds (0.1 m) below the street's: search no farther
    registry_radius = "e.d + 0.1"
    cross, cross_col = "", ""
    if cross_m is not None:
        cross = (
            "LEFT JOIN LATERAL (SELECT c.name FROM (SELECT t.name, t.edge_id, "
            "ST_Distance(t.geom::geography, p.pt::geography) AS d FROM "
            + EDGES
            + f" AND t.name <> q.road AND t.geom && {_box(':cross_m')}) c "
            "WHERE q.road_distance_m <= :cross_m AND c.d <= :cross_m ORDER BY c.d, c.edge_id LIMIT 1) x "
            "ON true "
        )
        cross_col = ", x.name AS cross_road"
    pick = "(e.d IS NOT NULL AND (g.d IS NULL OR round(e.d::numeric, 1) <= round(g.d::numeric, 1)))"
    sql = (
        f"WITH p AS ({POINTS}), q AS (SELECT p.i, p.pt, p.lat, "
        f"CASE WHEN {pick} THEN 'network' WHEN g.d IS NOT NULL THEN 'registry' END AS road_source, "
        f"CASE WHEN {pick} THEN e.name ELSE g.name END AS road, "
        f"CASE WHEN {pick} THEN e.highway END AS highway, CASE WHEN NOT {pick} THEN g.name_id "
        f"END AS road_name_id, CASE WHEN NOT {pick} THEN g.category END AS road_category, "
        f"round((CASE WHEN {pick} THEN e.d ELSE g.d END)::numeric, 1)::float8 AS road_distance_m, "
        f"ST_ClosestPoint(CASE WHEN {pick} THEN e.geom ELSE g.geom END, p.pt) AS near FROM p "
        + _nearest_sql(EDGES, "t.name, t.highway", "t.edge_id", "e")
        + _nearest_sql(
            REGISTRY,
            "t.name, t.name_id, t.category",
            "t.name_id",
            "g",
            radius=f"coalesce({registry_radius}, {{bound}})",
        )
        + ") SELECT q.i, q.road, q.road_source, q.highway, q.road_name_id, q.road_category, "
        f"q.road_distance_m, ST_X(q.near) AS road_lon, ST_Y(q.near) AS road_lat{cross_col} FROM q "
        + cross.replace("p.pt", "q.pt").replace("p.lat", "q.lat")
        + "ORDER BY q.i"
    )
    params = {
        "lon": lon.tolist(),
        "lat": lat.tolist(),
        "cats": list(categories),
        "max_m": float(max_m),
        "cross_m": float(cross_m or 0.0),
    }
    s.execute(text("SET LOCAL jit = off"))  # compiling costs more than these short per-point plans
    out = read_frame(s, sql, params)
    if out.empty:
        out = pd.DataFrame(columns=["i", *ROAD_COLUMNS, "road_lon", "road_lat", "cross_road"])
    return out.drop(columns="i").reset_index(drop=True)


def areas_of(s: Session, lon: npt.ArrayLike, lat: npt.ArrayLike, *, levels: Sequence[str]) -> pd.DataFrame:
    """Per point (in order) the name of the area of each level containing it (``ST_Intersects``, as
    ``layers.lookup.areas_at``; the lowest ``area_id`` when several do, None when none does): one
    column per level. The few town and community polygons are tested in memory (an STRtree)."""
    areas = to_geoframe(
        read_frame(
            s,
            "SELECT area_id, level, name, ST_AsBinary(geom) AS wkb FROM areas "
            "WHERE level = ANY(:levels) ORDER BY area_id",
            {"levels": list(levels)},
        )
    )
    pts = shapely.points(np.asarray(lon, float), np.asarray(lat, float))
    out = pd.DataFrame({lvl: pd.Series([None] * len(pts), dtype=object) for lvl in levels})
    if len(areas) == 0 or len(pts) == 0:
        return out
    point, area = shapely.STRtree(areas.geometry.to_numpy()).query(pts, predicate="intersects")
    hits = pd.DataFrame({"point": point, "area": area}).sort_values(["point", "area"])  # areas by area_id
    hits["level"] = areas.level.to_numpy()[hits.area]
    first = hits.drop_duplicates(["point", "level"])
    for lvl in levels:
        rows = first[first.level == lvl]
        out.loc[rows.point.to_numpy(), lvl] = areas.name.to_numpy()[rows.area]
    return out


def place_labels(
    s: Session,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    max_m: float = 1000.0,
    on_road_m: float = ON_ROAD_M,
    categories: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Labels of points (EPSG:4326 degrees), one row per point in order: ``town``, ``community``, the
    nearest road's columns (``nearest_roads``), ``position`` (以东|以西|以南|以北|沿线|路口, None
    without a road), ``cross_road`` (the other road at a 路口) and ``label``
    ("鹭田镇 西关社区 兴业路以南"; the parts that exist, joined by spaces)."""
    if categories is None:
        categories = road_categories()
    lons, lats = np.asarray(lon, float), np.asarray(lat, float)
    if len(lons) == 0:
        return pd.DataFrame(columns=LABEL_COLUMNS)
    roads = _roads(s, lons, lats, categories=categories, max_m=max_m, cross_m=on_road_m)
    areas = areas_of(s, lons, lats, levels=("town", "community"))
    position = road_positions(
        lons,
        lats,
        roads.road_lon.to_numpy(float),
        roads.road_lat.to_numpy(float),
        roads.road_distance_m.to_numpy(float),
        on_road_m=on_road_m,
    )
    position = np.where(roads.cross_road.notna().to_numpy(), "路口", position)
    position[roads.road.isna().to_numpy()] = None  # object array
    out = pd.concat([areas, roads[ROAD_COLUMNS]], axis=1)
    out["position"] = position
    out["cross_road"] = roads.cross_road.where(roads.cross_road.notna(), None)
    out["label"] = [
        label_text(*row)
        for row in zip(out.town, out.community, out.road, out.position, out.cross_road, strict=True)
    ]
    return out[LABEL_COLUMNS]


def road_positions(
    lon: np.ndarray,
    lat: np.ndarray,
    road_lon: np.ndarray,
    road_lat: np.ndarray,
    distance_m: np.ndarray,
    *,
    on_road_m: float = ON_ROAD_M,
) -> np.ndarray:
    """Where each point lies from the closest point of its road: 沿线 within ``on_road_m`` metres,
    else 以北/以南 when the offset is mostly north-south, 以东/以西 when mostly east-west."""
    dx = (lon - road_lon) * np.cos(np.radians(lat))
    dy = lat - road_lat
    side = np.where(
        np.abs(dy) >= np.abs(dx),
        np.where(dy > 0, SIDES["north"], SIDES["south"]),
        np.where(dx > 0, SIDES["east"], SIDES["west"]),
    )
    return np.where(np.nan_to_num(distance_m, nan=np.inf) <= on_road_m, "沿线", side).astype(object)


def label_text(
    town: str | None,
    community: str | None,
    road: str | None,
    position: str | None,
    cross_road: str | None = None,
) -> str:
    """ "鹭田镇 西关社区 兴业路以南" from its parts (missing parts left out)."""
    road, position, cross_road = _text(road), _text(position), _text(cross_road)
    if road and position == "路口" and cross_road:
        where = f"{road}与{cross_road}路口"
    elif road and position:
        where = f"{road}{position}"
    else:
        where = None
    return " ".join(p for p in (_text(town), _text(community), where) if p)


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def label_points(geoms) -> tuple[np.ndarray, np.ndarray]:
    """The point a (multi)polygon is labelled at (degrees): its centroid when that lies inside it,
    else a point on its surface; points label themselves."""
    geoms = np.asarray(geoms, dtype=object)
    centre = shapely.centroid(geoms)
    inside = shapely.intersects(geoms, centre)
    point = np.where(inside, centre, shapely.point_on_surface(geoms))
    return shapely.get_x(point), shapely.get_y(point)


def polygon_labels(s: Session, geoms) -> pd.DataFrame:
    """``place_labels`` of polygons (EPSG:4326) at their ``label_points``, one row per polygon."""
    lon, lat = label_points(geoms)
    return place_labels(s, lon, lat)
