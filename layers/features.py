"""Generic feature access for the OGC API - Features collections: read pages, write with locking.

One ``Layer`` describes how a collection maps onto PostGIS (source, columns, geometry, key,
version column, filters, writable columns). Every function takes an open session, so a request is
one transaction; the audit triggers record the session's actor for every row written.

Optimistic locking: each writable layer has a version token (the ``version`` column, or the row's
``xmin`` where the table has no version column). Updates and deletes name the token they read;
a write whose token is stale changes nothing and raises ``Conflict`` (HTTP 412).
All geometries are EPSG:4326 (lon, lat).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import shapely
from shapely.geometry import shape
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from geo.areas import GRID_LEVELS
from layers import ids
from layers.errors import Conflict, LayersError, NotFound, ValidationFailed, check_rule

MAX_LIMIT = 10_000
METRES_PER_DEGREE = 111_320.0
"""Length of one degree of latitude (metres): turns a tolerance in metres into degrees."""


class BadParameter(LayersError):
    """A query parameter (bbox, filter, id) cannot be used; the message says which and why."""

    status = 400

    def __init__(self, message: str, *, fix: str | None = None):
        super().__init__(message)
        self.fix = fix


class GeometryRejected(ValidationFailed):
    """A submitted geometry is unreadable, invalid, of the wrong type or outside the district."""

    def __init__(self, message: str, *, fix: str):
        super().__init__(message)
        self.fix = fix


class ReferenceInUse(LayersError):
    """A row cannot be deleted because other rows still point at it."""

    status = 409

    def __init__(self, message: str, *, fix: str):
        super().__init__(message)
        self.fix = fix


FilterType = Literal["str", "int", "bool"]


@dataclass(frozen=True)
class Layer:
    """How one collection maps onto PostGIS. Identifiers here are trusted (never user input)."""

    id: str
    title: str
    description: str
    source: str
    """FROM clause; the main table is aliased ``t``."""
    key: str
    """SQL expression of the feature id."""
    columns: Mapping[str, str]
    """property name → SQL expression, in output order."""
    key_type: type = int
    geometry: str | None = "t.geom"
    geometry_types: tuple[str, ...] = ()
    """Accepted GeoJSON geometry types on write (empty: read-only or no geometry)."""
    where: str = "TRUE"
    filters: Mapping[str, tuple[str, FilterType]] = field(default_factory=dict)
    table: str | None = None
    """Table written by create/update/delete (None: read-only)."""
    key_column: str | None = None
    writable: tuple[str, ...] = ()
    version: str | None = None
    """SQL expression of the version token (``t.version`` or ``t.xmin::text``)."""
    multi: bool = False
    """Stored as Multi*: single parts are promoted with ST_Multi."""
    simplify_m: float | None = None
    """Served geometries are simplified with this tolerance (metres, converted to degrees)."""
    scope: Literal["tree", "spatial"] | None = None
    """How 'inside area X' is decided: by the area tree (``t.area_id``) or by geometry."""
    fixed: Mapping[str, Any] = field(default_factory=dict)
    hooks: str | None = None
    """Module that registers this layer's write hooks (``register_hooks``); imported on first write."""
    unique: tuple[str, ...] = ()
    """Properties whose values are unique in the table (checked before the write, with a clear message)."""
    delete_fix: str | None = None
    """What to do instead when a referenced row cannot be deleted
    (default: reassign or delete the referrers).
    """
    """Constraints every written row must satisfy, e.g. allowed levels: {"level": (...)}."""
    versioned_by: tuple[str, ...] = ()
    """``data_versions`` layers whose counters change whenever this collection's content changes."""

    @property
    def read_only(self) -> bool:
        return self.table is None


@dataclass
class FeatureRow:
    """One feature as read from PostGIS: geometry stays GeoJSON text (never parsed on the way out)."""

    id: int | str
    properties: dict[str, Any]
    geometry: str | None
    version: str | None


@dataclass
class Page:
    features: list[FeatureRow]
    number_matched: int


AREA_COLUMNS = {
    "area_id": "t.area_id",
    "parent_id": "t.parent_id",
    "level": "t.level",
    "code": "t.code",
    "name": "t.name",
    "urban": "t.urban",
    "urban_rural_code": "t.urban_rural_code",
    "worker_name": "t.worker_name",
    "worker_phone": "t.worker_phone",
    "households": "t.households",
    "source": "t.source",
}
AREA_WRITABLE = (
    "parent_id",
    "level",
    "code",
    "name",
    "urban",
    "urban_rural_code",
    "worker_name",
    "worker_phone",
    "households",
    "source",
)
ADMIN_LEVELS = ("district", "town", "community")
LATEST_RUN = (
    "(SELECT run_id FROM coverage_runs WHERE status = 'done' AND scenario_id IS NULL "
    "ORDER BY run_id DESC LIMIT 1)"
)
PROVINCE_RUN = "(SELECT run_id FROM province_runs WHERE status = 'done' ORDER BY run_id DESC LIMIT 1)"
"""The latest finished province run (the province tiles' roll-up)."""


def _area_layer(id_: str, title: str, description: str, levels: tuple[str, ...]) -> Layer:
    quoted = ", ".join(f"'{lv}'" for lv in levels)
    return Layer(
        id=id_,
        title=title,
        description=description,
        source="areas t",
        key="t.area_id",
        columns=AREA_COLUMNS,
        where=f"t.level IN ({quoted})",
        geometry_types=("Polygon", "MultiPolygon"),
        multi=True,
        filters={
            "level": ("t.level", "str"),
            "parent_id": ("t.parent_id", "int"),
            "code": ("t.code", "str"),
            "urban": ("t.urban", "bool"),
        },
        table="areas",
        key_column="area_id",
        writable=AREA_WRITABLE,
        version="t.version",
        fixed={"level": levels},
        versioned_by=("areas",),
        unique=("code",),
    )


LAYERS: dict[str, Layer] = {
    layer.id: layer
    for layer in [
        Layer(
            id="facilities",
            title="公共服务设施 Facilities",
            description="社区生活圈公共服务设施点位 (学校、卫生、养老、文体等). Public.",
            source="facilities t LEFT JOIN facility_types ft ON ft.code = t.type_code",
            key="t.facility_id",
            columns={
                "facility_id": "t.facility_id",
                "type_code": "t.type_code",
                "type_name": "ft.name_zh",
                "category": "ft.category",
                "name": "t.name",
                "address": "t.address",
                "floor_area_m2": "t.floor_area_m2",
                "capacity": "t.capacity",
                "opening_hours": "t.opening_hours",
                "fees": "t.fees",
                "phone": "t.phone",
                "operator": "t.operator",
                "status": "t.status",
                "source": "t.source",
            },
            geometry_types=("Point",),
            filters={
                "type_code": ("t.type_code", "str"),
                "status": ("t.status", "str"),
                "category": ("ft.category", "str"),
                "name": ("t.name", "str"),
            },
            table="facilities",
            key_column="facility_id",
            writable=(
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
            ),
            version="t.version",
            scope="spatial",
            versioned_by=("facilities", "facility_types"),
        ),
        Layer(
            id="facility_types",
            title="设施类型 Facility types",
            description="设施类型参考表: 服务层级、出行方式、时间与距离阈值 (data/facility_types.csv).",
            source="facility_types t",
            key="t.code",
            key_type=str,
            geometry=None,
            columns={
                "code": "t.code",
                "name_zh": "t.name_zh",
                "category": "t.category",
                "urban_tier": "t.urban_tier",
                "urban_profile": "t.urban_profile",
                "urban_max_time_min": "t.urban_max_time_min",
                "urban_max_distance_m": "t.urban_max_distance_m",
                "rural_tier": "t.rural_tier",
                "rural_profile": "t.rural_profile",
                "rural_max_time_min": "t.rural_max_time_min",
                "min_floor_area_m2": "t.min_floor_area_m2",
                "required": "t.required",
                "source": "t.source",
            },
            filters={
                "category": ("t.category", "str"),
                "urban_tier": ("t.urban_tier", "str"),
                "rural_tier": ("t.rural_tier", "str"),
                "required": ("t.required", "bool"),
            },
            versioned_by=("facility_types",),
        ),
        _area_layer(
            "grids", "网格 Grids", "三级网格 (大/中/小网格) 及网格员工作联系方式. Public.", GRID_LEVELS
        ),
        _area_layer("areas", "行政区划 Areas", "区、镇街、村(社区) 边界. Public.", ADMIN_LEVELS),
        Layer(
            id="place_names",
            title="地名 Place names",
            description="标准地名: 名称、类别、拼音、状态、地名标志. Public.",
            source="place_names t",
            key="t.name_id",
            columns={
                "name_id": "t.name_id",
                "name": "t.name",
                "category": "t.category",
                "area_id": "t.area_id",
                "proper": "t.proper",
                "generic": "t.generic",
                "pinyin": "t.pinyin",
                "status": "t.status",
                "heritage": "t.heritage",
                "sign_present": "t.sign_present",
                "approval": "t.approval",
                "meaning": "t.meaning",
            },
            geometry_types=(
                "Point",
                "MultiPoint",
                "LineString",
                "MultiLineString",
                "Polygon",
                "MultiPolygon",
            ),
            filters={
                "category": ("t.category", "str"),
                "status": ("t.status", "str"),
                "area_id": ("t.area_id", "int"),
                "name": ("t.name", "str"),
                "sign_present": ("t.sign_present", "bool"),
                "heritage": ("t.heritage", "bool"),
            },
            table="place_names",
            key_column="name_id",
            writable=(
                "name",
                "category",
                "area_id",
                "proper",
                "generic",
                "pinyin",
                "status",
                "heritage",
                "sign_present",
                "approval",
                "meaning",
            ),
            version="t.version",
            scope="tree",
            versioned_by=("place_names",),
            hooks="layers.placenames",  # the registry's rules hold on this path too: sign text, area, history
            delete_fix="set status='historical' instead: place names keep their history",
        ),
        Layer(
            id="roads",
            title="道路 Roads",
            description="路网 (简化后用于地图显示). Public.",
            source="network_edges t",
            key="t.edge_id",
            columns={
                "edge_id": "t.edge_id",
                "highway": "t.highway",
                "name": "t.name",
                "oneway": "t.oneway",
                "bridge": "t.bridge",
                "access": "t.access",
                "length_m": "t.length_m",
            },
            filters={
                "highway": ("t.highway", "str"),
                "name": ("t.name", "str"),
                "access": ("t.access", "str"),
            },
            simplify_m=3.0,
            versioned_by=("network_edges",),
        ),
        Layer(
            id="water",
            title="水系 Water",
            description="河流、海域、湖泊. Public.",
            source="water t",
            key="t.water_id",
            columns={"water_id": "t.water_id", "kind": "t.kind", "name": "t.name"},
            filters={"kind": ("t.kind", "str")},
            simplify_m=2.0,
            versioned_by=("water",),
        ),
        Layer(
            id="buildings",
            title="建筑 Buildings",
            description="建筑轮廓 (形态与层数, 不含住户信息). Public.",
            source="buildings t",
            key="t.building_id",
            columns={"building_id": "t.building_id", "kind": "t.kind", "levels": "t.levels"},
            filters={"kind": ("t.kind", "str")},
            versioned_by=("buildings",),
        ),
        Layer(
            id="coverage",
            title="生活圈覆盖 Coverage",
            description="最近一次覆盖计算的分区汇总 (小于阈值户数的计数不公开).",
            source="coverage_area t JOIN areas a ON a.area_id = t.area_id",
            key_type=str,
            key="t.area_id::text || ':' || t.type_code",
            geometry="a.geom",
            where=f"t.run_id = {LATEST_RUN}",
            columns={
                "run_id": "t.run_id",
                "area_id": "t.area_id",
                "code": "a.code",
                "name": "a.name",
                "level": "a.level",
                "type_code": "t.type_code",
                "applicable": "t.applicable",
                "households": "t.households",
                "households_covered": "t.households_covered",
                "population": "t.population",
                "population_covered": "t.population_covered",
                "elderly": "t.elderly",
                "elderly_covered": "t.elderly_covered",
                "children": "t.children",
                "children_covered": "t.children_covered",
                "share": "t.share",
                "households_estimated": "t.households_estimated",
                "population_estimated": "t.population_estimated",
                # some counts of the area are estimates (OSM building footprints, census shares)
                "estimated": "(t.households_estimated > 0 OR t.population_estimated > 0)",
                "estimated_share": "t.population_estimated::float8 / NULLIF(t.population, 0)",
            },
            filters={
                "type_code": ("t.type_code", "str"),
                "level": ("a.level", "str"),
                "area_id": ("t.area_id", "int"),
            },
            versioned_by=("areas",),  # plus the latest run id, see version_token
        ),
        Layer(
            id="residences",
            title="住户点 Residences",
            description="一标三实 汇总住户点 (户数、人口、老人、儿童). Protected: never public.",
            source="residences t",
            key="t.residence_id",
            columns={
                "residence_id": "t.residence_id",
                "address": "t.address",
                "area_id": "t.area_id",
                "households": "t.households",
                "population": "t.population",
                "elderly": "t.elderly",
                "children": "t.children",
                "estimated": "t.estimated",
                "source": "t.source",
            },
            geometry_types=("Point",),
            filters={"area_id": ("t.area_id", "int"), "estimated": ("t.estimated", "bool")},
            table="residences",
            key_column="residence_id",
            writable=(
                "address",
                "area_id",
                "households",
                "population",
                "elderly",
                "children",
                "estimated",
                "source",
            ),
            version="t.xmin::text",
            scope="tree",
        ),
    ]
}


def layer(collection_id: str) -> Layer:
    """The layer of ``collection_id`` or ``NotFound`` naming the known ids."""
    try:
        return LAYERS[collection_id]
    except KeyError:
        raise NotFound(f"collection {collection_id!r} does not exist: use one of {sorted(LAYERS)}") from None


# -- reading -------------------------------------------------------------------------------------


def _scope_clause(lay: Layer, params: dict[str, Any], within_area: int | None) -> str:
    if within_area is None:
        return ""
    params["scope_area"] = within_area
    if lay.scope == "tree":
        return (
            " AND t.area_id IN (WITH RECURSIVE sub AS (SELECT area_id FROM areas WHERE area_id = "
            ":scope_area UNION ALL SELECT a2.area_id FROM areas a2 JOIN sub ON a2.parent_id = sub.area_id) "
            "SELECT area_id FROM sub)"
        )
    if lay.scope == "spatial":
        return " AND ST_Intersects(t.geom, (SELECT geom FROM areas WHERE area_id = :scope_area))"
    raise LayersError(f"{lay.id} cannot be restricted to an area")


def _where(lay: Layer, *, bbox, filters: Mapping[str, Any], within_area: int | None) -> tuple[str, dict]:
    params: dict[str, Any] = {}
    clauses = [lay.where]
    if bbox is not None:
        if lay.geometry is None:
            raise BadParameter(f"{lay.id} has no geometry, so bbox cannot be used", fix="drop bbox")
        clauses.append(f"ST_Intersects({lay.geometry}, ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326))")
        params.update(zip(("minx", "miny", "maxx", "maxy"), bbox, strict=True))
    for i, (name, value) in enumerate(filters.items()):
        expr = lay.filters[name][0]
        clauses.append(f"{expr} = :f{i}")
        params[f"f{i}"] = value
    return " AND ".join(clauses) + _scope_clause(lay, params, within_area), params


def _select(lay: Layer) -> str:
    cols = ", ".join(f'{expr} AS "{name}"' for name, expr in lay.columns.items())
    geom = "NULL"
    if lay.geometry is not None:
        g = lay.geometry
        if lay.simplify_m:
            g = f"ST_Simplify({g}, {lay.simplify_m / METRES_PER_DEGREE!r}, true)"
        geom = f"ST_AsGeoJSON({g}, 6)"
    version = lay.version or "NULL"
    return f"SELECT {lay.key} AS __id, {geom} AS __geom, {version} AS __version, {cols} FROM {lay.source}"


def _rows(result) -> list[FeatureRow]:
    # Plain tuples zipped with the column names: several times faster than RowMapping access.
    names = list(result.keys())[3:]
    out = []
    for row in result.fetchall():
        version = row[2]
        out.append(
            FeatureRow(
                row[0],
                dict(zip(names, row[3:], strict=True)),
                row[1],
                None if version is None else str(version),
            )
        )
    return out


def items(
    s: Session,
    lay: Layer,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    filters: Mapping[str, Any] | None = None,
    limit: int = 100,
    offset: int = 0,
    within_area: int | None = None,
) -> Page:
    """One page of features ordered by id, and how many match in all.

    ``within_area`` restricts to features inside that area (a grid worker's own grid).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise BadParameter(f"limit={limit} is outside 1..{MAX_LIMIT}", fix=f"use a limit up to {MAX_LIMIT}")
    where, params = _where(lay, bbox=bbox, filters=filters or {}, within_area=within_area)
    sql = f"{_select(lay)} WHERE {where} ORDER BY __id LIMIT :limit OFFSET :offset"
    rows = _rows(s.execute(text(sql), {**params, "limit": limit, "offset": offset}))
    if len(rows) < limit and (rows or offset == 0):
        matched = offset + len(rows)  # the last page: no second query needed
    else:
        matched = s.execute(text(f"SELECT count(*) FROM {lay.source} WHERE {where}"), params).scalar_one()
    return Page(rows, matched)


def item(
    s: Session, lay: Layer, fid: int | str, *, within_area: int | None = None, for_update: bool = False
) -> FeatureRow:
    """One feature or ``NotFound``."""
    where, params = _where(lay, bbox=None, filters={}, within_area=within_area)
    lock = " FOR UPDATE OF t" if for_update else ""
    rows = _rows(
        s.execute(text(f"{_select(lay)} WHERE {where} AND {lay.key} = :fid{lock}"), {**params, "fid": fid})
    )
    if not rows:
        raise NotFound(f"{lay.id} has no feature {fid!r}" + (" in your grid" if within_area else ""))
    return rows[0]


def data_token(s: Session, layers: tuple[str, ...]) -> str:
    """The ``data_versions`` counters of ``layers`` as one string (changes on every write to them)."""
    row = s.execute(
        text(
            "SELECT string_agg(layer || '=' || version, ',' ORDER BY layer) FROM data_versions "
            "WHERE layer = ANY(:layers)"
        ),
        {"layers": list(layers)},
    ).scalar()
    return row or "0"


def version_token(s: Session, lay: Layer) -> str | None:
    """A token that changes whenever what ``lay`` serves may change; None: never cache it.

    Built from the ``data_versions`` counters (bumped by every write, see migration 0002) and, for
    coverage, the latest finished run.
    """
    if not lay.versioned_by:
        return None
    token = data_token(s, lay.versioned_by)
    if lay.id == "coverage":
        token += f",run={s.execute(text(f'SELECT {LATEST_RUN}')).scalar()}"
    return token


def district_extent(s: Session) -> tuple[float, float, float, float] | None:
    """Bounding box of the district area(s) (lon/lat), or None when no district is loaded."""
    row = s.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom) AS e FROM areas WHERE level = 'district') x"
        )
    ).one()
    return None if row[0] is None else (row[0], row[1], row[2], row[3])


# -- writing -------------------------------------------------------------------------------------


def check_geometry(s: Session, lay: Layer, geojson: Mapping[str, Any]) -> shapely.Geometry:
    """Read and check a GeoJSON geometry: type, validity, coordinates, inside the district."""
    try:
        geom = shape(geojson)
    except Exception as e:  # shapely raises several types for malformed input
        raise GeometryRejected(
            f"the geometry cannot be read as GeoJSON: {e}",
            fix='send {"type": "Point", "coordinates": [lon, lat]} or another GeoJSON geometry',
        ) from None
    kind = geom.geom_type
    if kind not in lay.geometry_types:
        raise GeometryRejected(
            f"{lay.id} holds {' or '.join(lay.geometry_types)} geometries, not {kind}",
            fix=f"send a {lay.geometry_types[0]} geometry",
        )
    if geom.is_empty:
        raise GeometryRejected("the geometry is empty", fix="send coordinates")
    _check_coordinates(geom)
    if not geom.is_valid:
        raise GeometryRejected(
            f"the geometry is not valid: {shapely.is_valid_reason(geom)}",
            fix="repair it (shapely.make_valid(geometry) or ST_MakeValid in PostGIS) and send it again",
        )
    _check_inside_district(s, geom)
    return geom


def _check_coordinates(geom: shapely.Geometry) -> None:
    coords = abs(shapely.get_coordinates(geom))
    if (coords[:, 0] <= 180).all() and (coords[:, 1] <= 90).all():
        return
    if (coords[:, 0] <= 90).all() and (coords[:, 1] <= 180).all():
        raise GeometryRejected(
            "a latitude is beyond ±90°, so the coordinates look like [lat, lon] "
            "(longitude and latitude swapped)",
            fix="GeoJSON order is [longitude, latitude]: swap the two numbers",
        )
    raise GeometryRejected(
        "coordinates are outside -180..180 / -90..90 degrees",
        fix="send WGS84 longitude, latitude (EPSG:4326), longitude first",
    )


def _check_inside_district(s: Session, geom: shapely.Geometry) -> None:
    row = s.execute(
        text(
            "WITH d AS (SELECT ST_Union(geom) AS g FROM areas WHERE level = 'district') "
            "SELECT d.g IS NULL, ST_Intersects(d.g, ST_GeomFromWKB(:g, 4326)), "
            "ST_Intersects(d.g, ST_FlipCoordinates(ST_GeomFromWKB(:g, 4326))) FROM d"
        ),
        {"g": shapely.to_wkb(geom)},
    ).one()
    no_district, inside, swapped_inside = row
    if no_district or inside:
        return
    if swapped_inside:
        raise GeometryRejected(
            "the geometry lies outside the district, but would lie inside with longitude and latitude "
            "swapped: the coordinates look like [lat, lon]",
            fix="GeoJSON order is [longitude, latitude]: swap the two numbers",
        )
    raise GeometryRejected(
        "the geometry lies outside the district",
        fix="check the coordinates are WGS84 lon/lat inside the district; coordinates picked on "
        "Amap/Tencent (GCJ-02) or Baidu (BD-09) maps must be converted first (imports accept crs=gcj02|bd09)",
    )


@dataclass(frozen=True)
class WriteHooks:
    """What a layer does around a generic write (create/update through ``/collections``).

    ``before(s, fid, props)`` runs before an update, may refuse it, and returns a value handed to
    ``after(s, fid, before=...)``, which runs after a create (``before=None``) or an update.
    """

    before: Callable[[Session, int, Mapping[str, Any]], Any] | None = None
    after: Callable[..., None] | None = None


_HOOKS: dict[str, WriteHooks] = {}


def register_hooks(table: str, hooks: WriteHooks) -> None:
    """Declare the write hooks of ``table`` (called by the layer's own module when it is imported)."""
    _HOOKS[table] = hooks


def hooks_of(lay: Layer) -> WriteHooks:
    """The write hooks of ``lay`` (none unless it names a ``hooks`` module, which registers them)."""
    if lay.hooks is None or lay.table is None:
        return WriteHooks()
    if lay.table not in _HOOKS:
        importlib.import_module(lay.hooks)  # deliberate late import: the hook module imports this one
    return _HOOKS.get(lay.table, WriteHooks())


def _check_properties(s: Session, lay: Layer, props: Mapping[str, Any]) -> None:
    for column, allowed in lay.fixed.items():
        if column in props and props[column] not in allowed:
            raise ValidationFailed(
                f"{lay.id} cannot hold {column}={props[column]!r}: use one of {list(allowed)}"
            )
    if props.get("type_code") is not None:
        known = [r[0] for r in s.execute(text("SELECT code FROM facility_types ORDER BY code"))]
        if props["type_code"] not in known:
            raise ValidationFailed(
                f"unknown facility type {props['type_code']!r}: valid type_code values are "
                f"{known} (edit data/facility_types.csv to add one)"
            )
    for ref in ("area_id", "parent_id"):
        if (
            props.get(ref) is not None
            and not s.execute(text("SELECT 1 FROM areas WHERE area_id = :a"), {"a": props[ref]}).first()
        ):
            raise ValidationFailed(
                f"{ref}={props[ref]} names no area: use the area_id of an existing area "
                "(see /collections/areas/items and /collections/grids/items)"
            )
    for column in lay.unique:
        if props.get(column) is None:
            continue
        clash = s.execute(
            text(f"SELECT {lay.key_column} FROM {lay.table} WHERE {column} = :v"), {"v": props[column]}
        ).first()
        if clash:
            raise ValidationFailed(
                f"{column} {props[column]!r} is already used by {lay.id}/{clash[0]}: "
                f"{column} values are unique"
            )


def _geom_sql(lay: Layer) -> str:
    g = "ST_GeomFromWKB(:geom, 4326)"
    return f"ST_Multi({g})" if lay.multi else g


def _writable(lay: Layer) -> str:
    """The table ``lay`` writes; NotFound when it is read-only."""
    if lay.table is None:  # read_only
        raise NotFound(f"{lay.id} is read-only: it cannot be created, changed or deleted through the API")
    return lay.table


def _version_column(lay: Layer) -> str:
    """The column holding the version token of a writable layer (``version`` or ``xmin::text``)."""
    if lay.version is None:
        raise ValueError(f"layer {lay.id} is writable but has no version token")
    return lay.version.replace("t.", "")


def create(
    s: Session, lay: Layer, *, properties: Mapping[str, Any], geometry: Mapping[str, Any]
) -> FeatureRow:
    """Insert one feature; returns it as read back (with its version token)."""
    table = _writable(lay)
    props = {k: v for k, v in properties.items() if k in lay.writable}
    _check_properties(s, lay, props)
    geom = check_geometry(s, lay, geometry)
    ids.advance(s, table)  # rows written with explicit keys (fixtures, psql) must not collide
    cols = list(props)
    sql = (
        f"INSERT INTO {table} ({', '.join([*cols, 'geom'])}) "
        f"VALUES ({', '.join([*(':' + c for c in cols), _geom_sql(lay)])}) RETURNING {lay.key_column}"
    )
    new_id = _execute(s, sql, {**props, "geom": shapely.to_wkb(geom)}).scalar_one()
    hooks = hooks_of(lay)
    if hooks.after is not None:
        hooks.after(s, new_id, before=None)
    return item(s, lay, new_id)


def update(
    s: Session,
    lay: Layer,
    fid: int | str,
    *,
    expected_version: str,
    properties: Mapping[str, Any],
    geometry: Mapping[str, Any] | None,
    within_area: int | None = None,
) -> FeatureRow:
    """Change one feature if its version token still equals ``expected_version``.

    Only the given properties change (send every writable property to replace them all).
    Raises ``NotFound``, or ``Conflict`` (412) when someone changed the row since it was read.
    """
    _writable(lay)
    current = item(s, lay, fid, within_area=within_area)
    props = {k: v for k, v in properties.items() if k in lay.writable}
    _check_properties(s, lay, props)
    hooks = hooks_of(lay)
    before = None if hooks.before is None else hooks.before(s, int(fid), props)
    sets = [f"{c} = :{c}" for c in props]
    params: dict[str, Any] = {**props, "fid": fid, "expected": expected_version}
    if geometry is not None:
        params["geom"] = shapely.to_wkb(check_geometry(s, lay, geometry))
        sets.append(f"geom = {_geom_sql(lay)}")
    if lay.version == "t.version":
        sets.append("version = version + 1")
    elif not sets:
        sets.append(f"{lay.key_column} = {lay.key_column}")  # still a write: the token changes
    token = _version_column(lay)
    sql = (
        f"UPDATE {lay.table} SET {', '.join(sets)} WHERE {lay.key_column} = :fid "
        f"AND {token}::text = :expected RETURNING {lay.key_column}"
    )
    if _execute(s, sql, params).first() is None:
        raise _conflict(lay, fid, expected_version, current.version)
    if hooks.after is not None:
        hooks.after(s, int(fid), before=before)
    return item(s, lay, fid)


def delete(s: Session, lay: Layer, fid: int | str, *, expected_version: str) -> None:
    """Delete one feature if its version token still equals ``expected_version``."""
    _writable(lay)
    current = item(s, lay, fid)
    _check_unreferenced(s, lay, fid)
    token = _version_column(lay)
    sql = f"DELETE FROM {lay.table} WHERE {lay.key_column} = :fid AND {token}::text = :expected"
    if _execute(s, sql, {"fid": fid, "expected": expected_version}).rowcount == 0:
        raise _conflict(lay, fid, expected_version, current.version)


def _conflict(lay: Layer, fid, expected: str, seen: str | None) -> Conflict:
    return Conflict(
        f"{lay.id}/{fid} has changed since you read it (your If-Match: {expected!r}, current "
        f"version: {seen!r}): nothing was written. Read it again (GET, which returns the new "
        "ETag), reapply your change and resend with that ETag in If-Match."
    )


REFERENCES = {
    "areas": [
        ("areas", "parent_id", "child areas"),
        ("residences", "area_id", "residences"),
        ("place_names", "area_id", "place names"),
        ("users", "area_id", "user accounts"),
        ("coverage_area", "area_id", "coverage results"),
    ],
    "place_names": [
        ("place_name_history", "name_id", "history entries"),
        ("place_name_reviews", "name_id", "review decisions"),
    ],
}


def _check_unreferenced(s: Session, lay: Layer, fid) -> None:
    for table, column, label in REFERENCES.get(lay.table or "", []):
        n = s.execute(text(f"SELECT count(*) FROM {table} WHERE {column} = :fid"), {"fid": fid}).scalar_one()
        if n:
            fix = lay.delete_fix or f"reassign or delete the {label} first"
            raise ReferenceInUse(f"{lay.id}/{fid} is still referenced by {n} {label}", fix=fix)


def _execute(s: Session, sql: str, params: dict[str, Any]):
    try:
        return s.execute(text(sql), params)
    except DataError as e:  # e.g. a value out of the column's range: say so, never show the SQL
        raise ValidationFailed(f"a value does not fit its column: {_first_line(e)}") from None
    except IntegrityError as e:  # a rule of the data (check constraint): name it and its fix
        rule = check_rule(e)
        if rule is None:
            raise
        raise ValidationFailed(f"{rule[0]}: {rule[1]}") from None


def _first_line(e: DataError) -> str:
    diag = getattr(e.orig, "diag", None)
    return (diag.message_primary if diag is not None else None) or "value rejected"
