"""Mapbox Vector Tiles made in PostGIS: ``ST_AsMVTGeom`` clips and quantises, ``ST_AsMVT`` encodes.

As tipg and pg_tileserv do, a tile is the features whose geometry meets the tile's Web-Mercator
envelope (``ST_TileEnvelope``, plus a margin of ``BUFFER`` tile units so lines and outlines do not
stop short at tile edges), transformed to EPSG:3857, simplified for the zoom (tolerance: half a
screen pixel of a 256 px tile, ``tolerance_m``) and clipped to the tile's 4096-unit grid.

One ``TileLayer`` per tile layer: most serve a collection of ``layers.features`` (the same source,
filters and data version as its GeoJSON), with only the properties the map popups need. Reading
is in two steps so that the properties go through the same privacy filter as the GeoJSON does (the
caller's, applied between the steps): ``tile_features`` reads the clipped geometries and the raw
properties, ``encode`` turns the rows the caller kept into one MVT layer with ``ST_AsMVT``
(properties as ``jsonb``: a ``null`` property is left out of the tile, as MVT has no null).

Roads thin out with the zoom (the base map's classes: main roads from the lowest zoom, residential
streets from ``ROAD_MINOR_ZOOM``, service roads and paths from ``ROAD_ALL_ZOOM``). The province
layer draws cities (the 4-digit code prefix of their counties, polygons merged) below
``PROVINCE_COUNTY_ZOOM`` and counties from it, with the roll-up of the latest finished province run.

Point layers with ``cluster_below`` are clustered per tile, as pg_tileserv and martin do it
(``tile`` with ``_cluster_sql``): every point belongs to exactly one tile (the tile its position falls in, no
buffer), and below ``cluster_below`` the points of one cell of a ``CLUSTER_CELLS`` × ``CLUSTER_CELLS``
grid over the tile become one point at their mean position with ``count``, their ``west`` / ``south``
/ ``east`` / ``north`` bounds (degrees) and ``n_<group>`` counts per ``cluster_by`` value (the public
map's categories), and no feature id; a point alone in its cell, and every point from
``cluster_below`` on, is the point itself with the layer's properties.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers import versions
from layers.errors import NotFound
from layers.features import LATEST_RUN, LAYERS, PROVINCE_RUN, Layer

EXTENT = 4096
"""Tile units along one side (the MVT default)."""
BUFFER = 64
"""Tile units drawn beyond each edge, so strokes join across tiles."""
WORLD_M = 40075016.68557849
"""Width of the Web-Mercator world, metres."""
MAX_ZOOM = 22
ROAD_MAJOR = (
    "motorway",
    "trunk",
    "primary",
    "motorway_link",
    "trunk_link",
    "primary_link",
    "secondary",
    "tertiary",
    "secondary_link",
    "tertiary_link",
)
ROAD_MINOR = ("residential", "unclassified", "living_street", "road")
ROAD_MINOR_ZOOM = 13
ROAD_ALL_ZOOM = 15
BUILDINGS_MIN_ZOOM = 16
"""Building footprints only close in (the base map draws them from this zoom on; a few hundred per tile)."""
BLOCK_CATEGORIES = ("estate", "zone", "park")
"""Place-name polygons the base map draws as built-up blocks and parks (``maps.basemap.block_features``)."""
SHAPES_MIN_ZOOM = 15
"""The place-name map draws the lines and outlines of named roads, rivers and estates close in only."""
PROVINCE_COUNTY_ZOOM = 8
"""From this zoom the province layer shows counties; below it cities."""
CLUSTER_CELLS = 8
"""Cells per side of a clustered tile: 64 px cells as the maps draw these tiles, 512 px wide (a tile of
zoom z drawn at map zoom z + 1: a quarter of the requests of 256 px tiles)."""
FACILITY_CLUSTER_BELOW = 16
PLACE_NAME_CLUSTER_BELOW = 15
"""Place-name cluster tiles from this zoom hold every name on its own (drawn at map zoom 16, where the
place-name map's former markercluster stopped clustering: ``disableClusteringAtZoom``)."""
"""Facility tiles from this zoom hold every facility on its own (the public map draws them from map zoom
17, markercluster's former ``disableClusteringAtZoom``)."""


FACILITY_PROPERTIES = (
    "facility_id",
    "type_code",
    "type_name",
    "category",
    "name",
    "address",
    "capacity",
    "opening_hours",
    "fees",
    "phone",
    "status",
)
"""What the public map's facility popups show: the ``facilities`` tiles and the single points of
``facility_clusters``."""
PLACE_NAME_CLUSTER_PROPERTIES = (
    "name_id",
    "name",
    "category",
    "status",
    "heritage",
    "sign_present",
    "result",
)
"""A single name of ``place_name_clusters``: enough to draw its dot (the popup reads the name's row)."""
_PLACE_NAME_RESULT = "coalesce(pr.result, 'ok')"
"""A name's stored check result (``place_name_results``, brought up to date before the tile is made)."""


@dataclass(frozen=True)
class TileLayer:
    """One tile layer: which rows, which properties, from which zoom."""

    id: str
    layer: Layer
    """Source, key, columns, filters and data version (a collection of ``layers.features`` or its own)."""
    properties: tuple[str, ...]
    """The properties the popups need (names of ``layer.columns`` or of ``extra``)."""
    collection: str | None = None
    """The GeoJSON collection whose access and privacy rules this layer shares (None: staff results, whose
    readers ``api.access`` lists under the tile layer's id)."""
    extra: Mapping[str, str] = field(default_factory=dict)
    """Further property → SQL expression (joins in ``joins``), e.g. a grid's community name."""
    joins: str = ""
    key: str | None = None
    """SQL of the integer MVT feature id (default: the layer's key)."""
    min_zoom: int = 0
    points: bool = False
    """Point layers are not simplified."""
    required: tuple[str, ...] = ()
    """Filters a request must give (one tile holds one facility type's shares, say)."""
    zoom_where: tuple[tuple[int, str], ...] = ()
    """(zoom below which, clause): more rows from higher zooms (roads by class)."""
    rows: str = "TRUE"
    """Which rows of the layer this tile layer holds (the base map's blocks: estate and park polygons)."""
    cluster_below: int = 0
    """Points are clustered per tile below this zoom (``tile`` with ``_cluster_sql``); 0: never."""
    cluster_by: str | None = None
    """SQL of the group a point counts in within its cluster (``n_<group>``), e.g. its category."""
    point: str | None = None
    """SQL of the point a clustered feature is drawn at (default the layer's geometry, then a point):
    e.g. a point on the surface of a named road or estate."""

    def where(self, z: int) -> str:
        clauses = [self.layer.where, self.rows, *(c for below, c in self.zoom_where if z < below)]
        return " AND ".join(f"({c})" for c in clauses)


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


_GRID_PARENTS = (
    "LEFT JOIN areas p1 ON p1.area_id = t.parent_id LEFT JOIN areas p2 ON p2.area_id = p1.parent_id "
    "LEFT JOIN areas p3 ON p3.area_id = p2.parent_id LEFT JOIN areas p4 ON p4.area_id = p3.parent_id"
)


def _ancestor(level: str, column: str = "name") -> str:
    """SQL: ``column`` (the name) of the nearest ancestor at ``level`` (joins ``_GRID_PARENTS``)."""
    return "CASE " + " ".join(f"WHEN p{i}.level = '{level}' THEN p{i}.{column}" for i in range(1, 5)) + " END"


_GAPS = Layer(
    id="gaps",
    title="服务缺口 Gaps",
    description="最近一次覆盖计算的缺口范围 (staff only).",
    source="coverage_gaps t",
    key="t.gap_id",
    columns={
        "gap_id": "t.gap_id",
        "type_code": "t.type_code",
        "rank": "t.rank",
        "households": "t.households",
        "population": "t.population",
        "elderly": "t.elderly",
        "children": "t.children",
        "residences": "t.residences",
    },
    where=f"t.run_id = {LATEST_RUN}",
    filters={"type_code": ("t.type_code", "str")},
    versioned_by=("areas",),  # plus the latest run id, see version_token
)
_CITY_NAME = (
    "coalesce((SELECT d.name FROM divisions d WHERE d.code = left(c.code, 4) || '00000000' LIMIT 1), "
    "left(c.code, 4))"
)
"""The city's official name (``divisions``), else its 4-digit code (``c.code`` grouped by city)."""
_PROVINCE = Layer(
    id="province",
    title="全省覆盖 Province",
    description="最近一次分县计算的县、市汇总 (staff only).",
    # One row per county, or per city (its counties merged) below PROVINCE_COUNTY_ZOOM: see _province_source.
    source="",
    key="t.code::bigint",
    columns={
        "level": "t.level",
        "code": "t.code",
        "name": "t.name",
        "type_code": "r.type_code",
        "circle": "r.circle",
        "homes": "r.homes",
        "population": "r.population",
        "population_covered": "r.population_covered",
        "share": "r.share",
    },
    geometry="t.geom",
    filters={"type_code": ("r.type_code", "str"), "circle": ("r.circle", "str")},
    versioned_by=("areas",),  # plus the latest province run id, see version_token
)


def _province_source(z: int) -> str:
    if z >= PROVINCE_COUNTY_ZOOM:
        counties = (
            "SELECT 'county'::text AS level, left(a.code, 6) AS code, a.name, a.geom FROM areas a "
            "WHERE a.level = 'district'"
        )
    else:
        counties = (
            f"SELECT 'city'::text AS level, c.code, {_CITY_NAME} AS name, c.geom FROM "
            "(SELECT left(a.code, 4) AS code, ST_Multi(ST_Union(a.geom)) AS geom FROM areas a "
            "WHERE a.level = 'district' GROUP BY left(a.code, 4)) c"
        )
    return (
        f"({counties}) t JOIN province_rollup r ON r.run_id = {PROVINCE_RUN} "
        "AND r.level = t.level AND r.code = t.code"
    )


TILE_LAYERS: dict[str, TileLayer] = {
    t.id: t
    for t in [
        TileLayer(
            "grids",
            LAYERS["grids"],
            collection="grids",
            properties=(
                "area_id",
                "parent_id",
                "level",
                "code",
                "name",
                "worker_name",
                "worker_phone",
                "households",
                "community",
                "community_id",
                "town",
            ),
            extra={
                "community": _ancestor("community"),
                "community_id": _ancestor("community", "area_id"),
                "town": _ancestor("town"),
            },
            joins=_GRID_PARENTS,
        ),
        TileLayer(
            "areas",
            LAYERS["areas"],
            collection="areas",
            properties=("area_id", "parent_id", "level", "code", "name", "urban", "households"),
        ),
        TileLayer(
            "facilities",
            LAYERS["facilities"],
            collection="facilities",
            points=True,
            properties=FACILITY_PROPERTIES,
        ),
        TileLayer(
            "facility_clusters",
            LAYERS["facilities"],
            collection="facilities",
            points=True,
            properties=FACILITY_PROPERTIES,
            cluster_below=FACILITY_CLUSTER_BELOW,
            cluster_by="coalesce(ft.category, 'other')",
        ),
        TileLayer(
            "place_names",
            LAYERS["place_names"],
            collection="place_names",
            properties=(
                "name_id",
                "name",
                "category",
                "area_id",
                "pinyin",
                "status",
                "heritage",
                "sign_present",
            ),
        ),
        TileLayer(
            "place_name_clusters",
            replace(LAYERS["place_names"], versioned_by=("place_names", "place_name_reviews")),
            points=True,
            point="ST_PointOnSurface(t.geom)",
            properties=PLACE_NAME_CLUSTER_PROPERTIES,
            extra={"result": _PLACE_NAME_RESULT},
            joins="LEFT JOIN place_name_results pr ON pr.name_id = t.name_id",
            cluster_below=PLACE_NAME_CLUSTER_BELOW,
            cluster_by=_PLACE_NAME_RESULT,
        ),
        TileLayer(
            "blocks",
            LAYERS["place_names"],
            collection="place_names",
            properties=("name_id", "category"),
            rows=f"t.category IN ({_in(BLOCK_CATEGORIES)}) AND ST_Dimension(t.geom) = 2",
            min_zoom=13,
        ),
        TileLayer(
            "place_name_shapes",
            LAYERS["place_names"],
            collection="place_names",
            properties=("name_id", "category"),
            rows="ST_Dimension(t.geom) > 0",
            min_zoom=SHAPES_MIN_ZOOM,
        ),
        TileLayer(
            "roads",
            LAYERS["roads"],
            collection="roads",
            properties=("edge_id", "highway", "name"),
            zoom_where=(
                (ROAD_MINOR_ZOOM, f"t.highway IN ({_in(ROAD_MAJOR)})"),
                (ROAD_ALL_ZOOM, f"t.highway IN ({_in(ROAD_MAJOR + ROAD_MINOR)})"),
            ),
            min_zoom=9,
        ),
        TileLayer("water", LAYERS["water"], collection="water", properties=("water_id", "kind", "name")),
        TileLayer(
            "buildings",
            LAYERS["buildings"],
            collection="buildings",
            properties=("building_id", "kind", "levels"),
            min_zoom=BUILDINGS_MIN_ZOOM,
        ),
        TileLayer(
            "coverage",
            LAYERS["coverage"],
            collection="coverage",
            key="t.area_id",
            required=("type_code",),
            properties=(
                "area_id",
                "code",
                "name",
                "level",
                "type_code",
                "applicable",
                "households",
                "households_covered",
                "population",
                "population_covered",
                "share",
            ),
        ),
        TileLayer(
            "gaps",
            _GAPS,
            required=("type_code",),
            properties=(
                "gap_id",
                "type_code",
                "rank",
                "households",
                "population",
                "elderly",
                "children",
                "residences",
            ),
        ),
        TileLayer(
            "province",
            _PROVINCE,
            required=("type_code", "circle"),
            properties=(
                "level",
                "code",
                "name",
                "type_code",
                "circle",
                "homes",
                "population",
                "population_covered",
                "share",
            ),
        ),
    ]
}
"""Every tile layer by URL name. Residences have none: they are never drawn from tiles."""


def tile_layer(name: str) -> TileLayer:
    """The tile layer ``name`` or ``NotFound`` naming the known ones."""
    try:
        return TILE_LAYERS[name]
    except KeyError:
        raise NotFound(f"there is no tile layer {name!r}: use one of {sorted(TILE_LAYERS)}") from None


def tolerance_m(z: int) -> float:
    """Simplification tolerance at zoom ``z``: half a pixel of a 256 px tile, in Web-Mercator metres."""
    return WORLD_M / (256 * 2**z) / 2


def version_token(snap: versions.Snapshot, tl: TileLayer) -> str:
    """Changes whenever what ``tl`` serves may change: its layers' ``data_versions`` and, for results,
    the latest finished run (``snap``: ``layers.versions``, read once per change)."""
    token = ",".join(
        f"{n}={snap.versions[n]}" for n in sorted(set(tl.layer.versioned_by)) if n in snap.versions
    )
    token = token or "0"
    if tl.id in ("coverage", "gaps"):
        token += f",run={snap.latest_run}"
    if tl.id == "province":
        token += f",province={snap.province_run}"
    return token


def _source(tl: TileLayer, z: int) -> str:
    if tl.id == "province":
        return _province_source(z)
    return f"{tl.layer.source} {tl.joins}"


def _features_sql(
    tl: TileLayer, z: int, x: int, y: int, filters: Mapping[str, Any] | None, properties: tuple[str, ...]
) -> tuple[str, dict[str, Any]]:
    """SELECT of the features of tile z/x/y: ``__id``, ``__geom`` (clipped, in tile units) and
    ``properties``, ordered by id (features smaller than a tile unit at this zoom are left out)."""
    lay = tl.layer
    exprs = {**lay.columns, **tl.extra}
    cols = "".join(f', {exprs[p]} AS "{p}"' for p in properties)
    geom = f"ST_Transform({lay.geometry}, 3857)"
    if not tl.points:
        geom = f"ST_Simplify({geom}, :tol, true)"
    params: dict[str, Any] = {"z": z, "x": x, "y": y, "tol": tolerance_m(z), "margin": BUFFER / EXTENT}
    clauses = [
        tl.where(z),
        f"{lay.geometry} && ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), 4326)",
    ]
    for i, (name, value) in enumerate((filters or {}).items()):
        clauses.append(f"{lay.filters[name][0]} = :f{i}")
        params[f"f{i}"] = value
    sql = (
        f"SELECT * FROM (SELECT {tl.key or lay.key} AS __id, ST_AsMVTGeom({geom}, "
        f"ST_TileEnvelope(:z, :x, :y), {EXTENT}, {BUFFER}, true) AS __geom{cols} "
        f"FROM {_source(tl, z)} WHERE {' AND '.join(clauses)}) q WHERE __geom IS NOT NULL ORDER BY __id"
    )
    return sql, params


def _cluster_sql(
    tl: TileLayer, z: int, x: int, y: int, filters: Mapping[str, Any] | None, properties: tuple[str, ...]
) -> tuple[str, dict[str, Any]]:
    """SELECT of the clustered points of tile z/x/y: ``__id`` (null for a cluster), ``__geom`` (in tile
    units) and ``p`` (jsonb properties: ``properties`` for a point, the cluster's for a cluster)."""
    lay = tl.layer
    exprs = {**lay.columns, **tl.extra}
    props = ", ".join(f"'{p}', {exprs[p]}" for p in properties)
    point = tl.point or lay.geometry
    # a point's tile and cell from its Web-Mercator position: each point is in exactly one tile
    merc = f"ST_Transform({point}, 3857)"
    params: dict[str, Any] = {"z": z, "x": x, "y": y, "n": 2**z, "half": WORLD_M / 2, "world": WORLD_M}
    clauses = [
        tl.where(z),
        f"{lay.geometry} && ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 0.01), 4326)",
    ]
    for i, (name, value) in enumerate((filters or {}).items()):
        clauses.append(f"{lay.filters[name][0]} = :f{i}")
        params[f"f{i}"] = value
    k = CLUSTER_CELLS
    cell = f"floor((q.fx - :x) * {k})::bigint * {k} + floor((q.fy - :y) * {k})::bigint"
    if z >= tl.cluster_below:
        cell = "q.__id"
    group = tl.cluster_by or "''"
    sql = f"""
        WITH q AS (
            SELECT {tl.key or lay.key} AS __id, {point} AS g, {merc} AS m, {group} AS grp,
                   jsonb_build_object({props}) AS p,
                   (ST_X({merc}) + :half) / :world * :n AS fx, (:half - ST_Y({merc})) / :world * :n AS fy
            FROM {_source(tl, z)} WHERE {" AND ".join(clauses)}
        ), c AS (
            SELECT q.*, {cell} AS cell FROM q WHERE floor(q.fx) = :x AND floor(q.fy) = :y
        ), k AS (
            SELECT cell, count(*) AS n, avg(ST_X(m)) AS mx, avg(ST_Y(m)) AS my, min(ST_X(g)) AS west,
                   min(ST_Y(g)) AS south, max(ST_X(g)) AS east, max(ST_Y(g)) AS north
            FROM c GROUP BY cell
        ), gk AS (
            SELECT cell, jsonb_object_agg('n_' || grp, n) AS groups
            FROM (SELECT cell, grp, count(*) AS n FROM c GROUP BY cell, grp) g GROUP BY cell
        ), pts AS (
            SELECT c.__id, c.m, c.p FROM c JOIN k USING (cell) WHERE k.n = 1
            UNION ALL
            SELECT NULL::bigint, ST_SetSRID(ST_MakePoint(k.mx, k.my), 3857),
                   jsonb_build_object('count', k.n, 'west', k.west, 'south', k.south, 'east', k.east,
                                      'north', k.north) || gk.groups
            FROM k JOIN gk USING (cell) WHERE k.n > 1
        )
        SELECT pts.__id, ST_AsMVTGeom(pts.m, ST_TileEnvelope(:z, :x, :y), {EXTENT}, 0, false) AS __geom,
               pts.p
        FROM pts ORDER BY pts.__id NULLS LAST"""
    return sql, params


def tile_features(
    s: Session, tl: TileLayer, z: int, x: int, y: int, *, filters: Mapping[str, Any] | None = None
) -> list[tuple[int, bytes, dict[str, Any]]]:
    """The features of tile z/x/y: ``(id, clipped geometry as WKB in tile units, raw properties)``.

    The properties are ``tl.properties`` as stored (no privacy applied: the caller filters them and
    hands the rows to ``encode``). ``z/x/y`` name a tile of the pyramid (``api.params.check_tile``).
    """
    if z < tl.min_zoom:
        return []
    sql, params = _features_sql(tl, z, x, y, filters, tl.properties)
    result = s.execute(
        text(
            f"SELECT __id, ST_AsBinary(__geom), {', '.join(f'q.{_q(p)}' for p in tl.properties)} "
            f"FROM ({sql}) q"
        ),
        params,
    )
    return [(int(r[0]), bytes(r[1]), dict(zip(tl.properties, r[2:], strict=True))) for r in result.fetchall()]


def _q(name: str) -> str:
    return f'"{name}"'


def tile(
    s: Session,
    tl: TileLayer,
    z: int,
    x: int,
    y: int,
    *,
    filters: Mapping[str, Any] | None = None,
    properties: tuple[str, ...],
) -> bytes:
    """Tile z/x/y of ``tl`` with ``properties`` (a subset of ``tl.properties``) as stored, in one query
    (``ST_AsMVT`` over the features; over the clusters and single points of a layer with
    ``cluster_below``, ``_cluster_sql``): for viewers whose filter only selects properties."""
    if z < tl.min_zoom:
        return b""
    sql, params = (_cluster_sql if tl.cluster_below else _features_sql)(tl, z, x, y, filters, properties)
    body = s.execute(
        text(f"SELECT ST_AsMVT(q, :name, {EXTENT}, '__geom', '__id') FROM ({sql}) q"),
        {**params, "name": tl.id},
    ).scalar()
    return bytes(body or b"")


def encode(s: Session, name: str, rows: list[tuple[int, bytes, dict[str, Any]]]) -> bytes:
    """One MVT layer ``name`` from ``(id, WKB in tile units, properties)`` rows, encoded by ``ST_AsMVT``
    (empty bytes when there are no rows)."""
    if not rows:
        return b""
    ids = [r[0] for r in rows]
    geoms = [r[1] for r in rows]
    props = [json.dumps(r[2], ensure_ascii=False, default=str) for r in rows]
    tile = s.execute(
        text(
            f"SELECT ST_AsMVT(q, :name, {EXTENT}, 'geom', 'fid') FROM "
            "(SELECT u.fid, ST_GeomFromWKB(u.g) AS geom, u.p::jsonb AS p "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:geoms AS bytea[]), CAST(:props AS text[])) "
            "AS u(fid, g, p)) q"
        ),
        {"name": name, "ids": ids, "geoms": geoms, "props": props},
    ).scalar()
    return bytes(tile or b"")
