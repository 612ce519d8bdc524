"""OpenStreetMap data → the layer frames of docs/CONTRACTS.md (pure: no database, no network).

Readers (``layers.load.osm``) turn an ``.osm``/``.osm.bz2``/``.osm.pbf`` file or an online download
into an ``OsmExtract``: node coordinates, ways with their node lists and tags, and tagged features
(points, lines, polygons). The functions here build from it

* the street network: ways split at every node shared with another way (and at gaps in the data)
  into ``u → v`` edges with their length in metres along the geometry (WGS84 ellipsoid);
  ``oneway=-1`` ways are reversed so that ``oneway`` always means "only u → v";
* facilities, through the editable table ``data/osm_facility_mapping.csv``;
* place names (``place=*`` and other named features through ``data/osm_placename_mapping.csv``,
  plus named streets);
* residence candidates from building footprints: households estimated from footprint area ×
  storeys with the documented parameters of ``data/household_estimate.csv`` (``estimated=True``).

All coordinates are EPSG:4326 (lon, lat); areas are measured in the UTM zone of the data.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geo.crs import to_metric
from geo.errors import GeoError
from geo.profiles import Profile, edge_rules

NETWORK_TYPES = ("walk", "bike", "drive", "all")
NOT_ROUTABLE = frozenset(
    {
        "proposed",
        "construction",
        "planned",
        "abandoned",
        "disused",
        "razed",
        "raceway",
        "bus_guideway",
        "platform",
        "elevator",
        "escalator",
        "no",
        "rest_area",
        "services",
        "bus_stop",
        "emergency_bay",
    }
)
NOT_FOR_FOOT = frozenset({"motorway", "motorway_link"})
NOT_FOR_CARS = frozenset({"footway", "pedestrian", "path", "steps", "cycleway", "bridleway", "corridor"})
ONEWAY_FORWARD = frozenset({"yes", "true", "1"})
ONEWAY_REVERSE = frozenset({"-1", "reverse"})
CONTRAFLOW_CYCLEWAY = frozenset({"opposite", "opposite_lane", "opposite_track", "opposite_share_busway"})
WAY_KEYS = (
    "highway",
    "oneway",
    "oneway:bicycle",
    "cycleway",
    "junction",
    "access",
    "foot",
    "bicycle",
    "bridge",
    "name",
    "name:zh",
    "area",
)
FEATURE_KEYS = (
    "name",
    "name:zh",
    "building",
    "building:levels",
    "height",
    "addr:full",
    "addr:street",
    "addr:housenumber",
    "phone",
    "contact:phone",
    "opening_hours",
    "operator",
    "fee",
    "charge",
)
EDGE_COLUMNS = [
    "edge_id",
    "u",
    "v",
    "length_m",
    "highway",
    "oneway",
    "access",
    "foot",
    "bicycle",
    "bridge",
    "name",
    "geometry",
]
GEOD = pyproj.Geod(ellps="WGS84")


class OsmDataError(GeoError):
    """OSM input that cannot give a street network or a usable table."""

    status = 422


@dataclass(frozen=True)
class OsmExtract:
    """Raw OSM data in plain frames (what every reader produces).

    Attributes
    ----------
    coords : DataFrame ``node_id`` int64, ``lon``, ``lat`` (degrees, EPSG:4326) of every node
        with a known position.
    ways : DataFrame ``way_id`` int64, ``nodes`` (sequence of node ids) and one column per key of
        ``WAY_KEYS`` (str or None): the candidate street ways.
    features : GeoDataFrame ``osm_type`` ('node'/'way'/'relation'), ``osm_id``, ``geometry``
        (EPSG:4326) and one column per tag key read (str or None).
    """

    coords: pd.DataFrame
    ways: pd.DataFrame
    features: gpd.GeoDataFrame = field(default_factory=lambda: empty_features())
    notes: dict = field(default_factory=dict)
    """What the reader could not use, for the import report: ``relations_incomplete`` (ids of
    multipolygons whose rings do not close), ``relations_other`` (ids of tagged relations of other
    types, e.g. boundaries and routes, which are not areas of ours)."""


def empty_features() -> gpd.GeoDataFrame:
    """A features frame without rows (``OsmExtract.features``)."""
    return gpd.GeoDataFrame({"osm_type": [], "osm_id": []}, geometry=[], crs=4326)


@dataclass(frozen=True)
class HouseholdParameters:
    """Parameters of the household estimate (see data/household_estimate.csv for sources)."""

    m2_per_household: float
    persons_per_household: float
    elderly_share: float
    children_share: float
    storey_height_m: float
    min_footprint_m2: float
    max_levels: float
    residential_share: dict[str, float]
    default_levels: dict[str, float]
    real_data_radius_m: float = 30.0
    """No estimate for a building within this distance (metres) of a real (一标三实) address."""


# ---------------------------------------------------------------------------------------------
# editable tables


def read_facility_mapping(path: str | Path) -> pd.DataFrame:
    """Read ``data/osm_facility_mapping.csv``: rows ``key, value, name_contains, type_code``.

    Rows are tried in order; the first whose tag matches (and whose ``name_contains`` pattern,
    '|'-separated, matches the name when given) decides; an empty ``type_code`` means "known, but
    not one of our facility types".
    """
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    _require(table, ["key", "value", "name_contains", "type_code"], path)
    return table


def read_placename_mapping(path: str | Path) -> pd.DataFrame:
    """Read ``data/osm_placename_mapping.csv``: rows ``key, value, category`` tried in order."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    _require(table, ["key", "value", "category"], path)
    return table


def read_household_parameters(path: str | Path) -> HouseholdParameters:
    """Read ``data/household_estimate.csv`` (long format: ``parameter, building, value``)."""
    table = pd.read_csv(path, dtype={"parameter": str, "building": str}, keep_default_na=False)
    _require(table, ["parameter", "building", "value"], path)
    table["value"] = pd.to_numeric(table["value"], errors="raise")
    scalars = table[table["building"] == ""].set_index("parameter")["value"].to_dict()
    per_type = {
        p: rows.set_index("building")["value"].to_dict()
        for p, rows in table[table["building"] != ""].groupby("parameter")
    }
    names = [
        "m2_per_household",
        "persons_per_household",
        "elderly_share",
        "children_share",
        "storey_height_m",
        "min_footprint_m2",
        "max_levels",
    ]
    missing = [n for n in names if n not in scalars]
    if missing:
        raise OsmDataError(f"{path}: parameters {missing} missing; add a row 'NAME,,VALUE' for each")
    optional = {n: float(scalars[n]) for n in ("real_data_radius_m",) if n in scalars}
    return HouseholdParameters(
        **{n: float(scalars[n]) for n in names},
        **optional,
        residential_share=per_type.get("residential_share", {}),
        default_levels=per_type.get("default_levels", {}),
    )


def _require(table: pd.DataFrame, columns: list[str], path) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise OsmDataError(f"{path}: missing columns {missing}; the header must include {columns}")


def feature_keys(facility_mapping: pd.DataFrame, placename_mapping: pd.DataFrame) -> list[str]:
    """Every tag key a reader must keep for ``facilities``, ``place_names`` and ``residences``."""
    keys = list(FEATURE_KEYS) + facility_mapping["key"].tolist() + placename_mapping["key"].tolist()
    return list(dict.fromkeys(keys))


# ---------------------------------------------------------------------------------------------
# small helpers


def tag(frame: pd.DataFrame, key: str) -> pd.Series:
    """Column ``key`` as stripped strings, None for missing or empty values (object dtype)."""
    if key not in frame.columns:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    values = [_text(v) for v in frame[key].to_numpy()]
    return pd.Series(np.array(values + [None], dtype=object)[:-1], index=frame.index, dtype=object)


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return str(value).strip() or None


def display_name(frame: pd.DataFrame) -> pd.Series:
    """The Chinese name when tagged (``name:zh``), else ``name`` (None when neither)."""
    zh, name = tag(frame, "name:zh"), tag(frame, "name")
    return zh.where(zh.notna(), name).astype(object)


def clip(extract: OsmExtract, bbox: tuple[float, float, float, float]) -> OsmExtract:
    """Keep what lies inside ``bbox`` = (lon_min, lat_min, lon_max, lat_max), degrees.

    Ways keep their node lists; nodes outside the box lose their coordinates, which splits the
    ways there (see ``network``). Features are kept when their representative point (the one
    facilities and residences are placed at) lies in the box.
    """
    c = extract.coords
    inside = c["lon"].between(bbox[0], bbox[2]) & c["lat"].between(bbox[1], bbox[3])
    feats = extract.features
    if len(feats):
        lon, lat = _representative_points(feats.geometry.to_numpy())
        feats = feats[(lon >= bbox[0]) & (lon <= bbox[2]) & (lat >= bbox[1]) & (lat <= bbox[3])]
    return OsmExtract(
        coords=c[inside].reset_index(drop=True), ways=extract.ways, features=feats, notes=extract.notes
    )


# ---------------------------------------------------------------------------------------------
# street network


def routable(ways: pd.DataFrame, *, network: str = "all", bike: Profile | None = None) -> np.ndarray:
    """Boolean mask of ways usable by ``network`` ('walk', 'bike', 'drive' or 'all').

    Every existing highway is kept (the travel profiles of data/profiles.csv decide speeds and
    usability later), except classes that do not exist yet or are not ways at all; 'walk' drops
    motorways and ``foot=no``; 'drive' drops foot/cycle-only classes. ``access=private`` ways are
    kept: gated compounds are routed through their gates.

    'bike' keeps exactly the ways the bicycle profile ``bike`` (the ``ebike`` rows of
    data/profiles.csv) may use, so that a bike import and an 'all' import give that profile the
    same streets: classes the profile excludes (motorways) unless ``bicycle=yes/designated/
    permissive``, never ``bicycle=no`` (or ``access=no`` without a bicycle tag); footways, steps
    and pedestrian streets stay where the profile walks or carries the bike along them.
    """
    if network not in NETWORK_TYPES:
        raise OsmDataError(f"unknown network type {network!r}: use one of {list(NETWORK_TYPES)}")
    highway = tag(ways, "highway")
    keep = highway.notna() & ~highway.isin(NOT_ROUTABLE) & (tag(ways, "area") != "yes")
    if network == "walk":
        keep &= ~highway.isin(NOT_FOR_FOOT) & (tag(ways, "foot") != "no")
    elif network == "drive":
        keep &= ~highway.isin(NOT_FOR_CARS)
    elif network == "bike":
        keep &= _bike_usable(ways, bike)
    return keep.to_numpy(dtype=bool)


def _bike_usable(ways: pd.DataFrame, bike: Profile | None) -> np.ndarray:
    if bike is None or bike.mode != "bicycle":
        raise OsmDataError(
            "the 'bike' network follows a bicycle profile: pass bike=load_profiles(...)['ebike'] "
            "(a profile of mode 'bicycle' in data/profiles.csv)"
        )
    frame = pd.DataFrame(
        {
            "highway": tag(ways, "highway"),
            "access": tag(ways, "access"),
            "bicycle": tag(ways, "bicycle"),
            "oneway": False,
        },
        index=ways.index,
    )
    return edge_rules(bike, frame).usable


def oneway_direction(ways: pd.DataFrame, *, network: str = "all") -> np.ndarray:
    """Per way: 1 one-way along the node order, -1 one-way against it, 0 two-way (for vehicles).

    For the 'bike' network ``oneway:bicycle`` decides where it is tagged, and ``oneway:bicycle=no``
    or a contraflow ``cycleway=opposite*`` makes a one-way street two-way for bicycles.
    """
    oneway = tag(ways, "oneway").str.lower()
    junction = tag(ways, "junction")
    forward = oneway.isin(ONEWAY_FORWARD) | (junction.isin({"roundabout", "circular"}) & (oneway != "no"))
    reverse = oneway.isin(ONEWAY_REVERSE)
    direction = np.where(reverse, -1, np.where(forward, 1, 0))
    if network != "bike":
        return direction
    own = tag(ways, "oneway:bicycle").str.lower()
    two_way = ((own == "no") | tag(ways, "cycleway").str.lower().isin(CONTRAFLOW_CYCLEWAY)).to_numpy(bool)
    direction = np.where(two_way, 0, direction)
    return np.where(own.isin(ONEWAY_FORWARD), 1, np.where(own.isin(ONEWAY_REVERSE), -1, direction))


@dataclass(frozen=True)
class StreetNetwork:
    """A street network and what building it dropped (for the import report).

    ``nodes``/``edges`` as returned by ``network``; ``dropped_pieces`` connected pieces of
    ``dropped_edges`` edges, ``dropped_m`` metres of street in all, were too small to keep.
    """

    nodes: pd.DataFrame
    edges: gpd.GeoDataFrame
    dropped_pieces: int = 0
    dropped_edges: int = 0
    dropped_m: float = 0.0


def network(
    ways: pd.DataFrame,
    coords: pd.DataFrame,
    *,
    network: str = "all",
    bike: Profile | None = None,
    min_component_m: float = 300.0,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Street network frames (docs/CONTRACTS.md) from OSM ways.

    Parameters
    ----------
    ways : ``OsmExtract.ways``.
    coords : ``OsmExtract.coords`` (EPSG:4326 degrees).
    network : 'walk', 'bike', 'drive' or 'all' (see ``routable``).
    bike : the bicycle profile whose rules define the 'bike' network.
    min_component_m : connected pieces whose streets add up to less than this (metres) are
        dropped — fragments left at the edge of a clipped extract would strand the residents
        snapped to them; the longest piece is always kept.

    Returns
    -------
    nodes : DataFrame ``node_id`` (OSM id), ``lon``, ``lat``.
    edges : GeoDataFrame of EDGE_COLUMNS, EPSG:4326; ``length_m`` in metres on the WGS84 ellipsoid.
    """
    built = street_network(ways, coords, network=network, bike=bike, min_component_m=min_component_m)
    return built.nodes, built.edges


def street_network(
    ways: pd.DataFrame,
    coords: pd.DataFrame,
    *,
    network: str = "all",
    bike: Profile | None = None,
    min_component_m: float = 300.0,
) -> StreetNetwork:
    """``network`` with the count of what was dropped as fragments (same parameters)."""
    ways = ways[routable(ways, network=network, bike=bike)].reset_index(drop=True)
    if ways.empty:
        raise OsmDataError(f"no {network!r} street ways in the data: check the file or the bounding box")
    direction = oneway_direction(ways, network=network)
    lists = [list(n)[::-1] if d == -1 else list(n) for n, d in zip(ways["nodes"], direction, strict=True)]
    way_of, node, lon, lat = _flatten(lists, coords)
    pieces = _pieces(way_of, node, lon, lat)
    edges = _edge_frame(ways, direction, pieces)
    kept = drop_fragments(edges, min_component_m)
    return StreetNetwork(
        *kept_nodes(kept.edges, coords), kept.dropped_pieces, kept.dropped_edges, kept.dropped_m
    )


def kept_nodes(edges: gpd.GeoDataFrame, coords: pd.DataFrame) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """The nodes that ``edges`` use (``node_id``, ``lon``, ``lat``), and the edges."""
    used = np.unique(np.concatenate([edges["u"].to_numpy(), edges["v"].to_numpy()]))
    nodes = coords.drop_duplicates("node_id").set_index("node_id").loc[used, ["lon", "lat"]]
    return nodes.reset_index(), edges


def _flatten(lists: list[list[int]], coords: pd.DataFrame):
    """Concatenate node lists (consecutive repeats removed) with each node's coordinates (NaN: unknown)."""
    counts = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    way_of = np.repeat(np.arange(len(lists)), counts)
    node = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64, count=int(counts.sum()))
    keep = np.ones(len(node), dtype=bool)
    keep[1:] = ~((way_of[1:] == way_of[:-1]) & (node[1:] == node[:-1]))
    way_of, node = way_of[keep], node[keep]
    table = coords.drop_duplicates("node_id")
    at = pd.Index(table["node_id"].to_numpy(dtype=np.int64)).get_indexer(node)
    lon = np.where(at >= 0, table["lon"].to_numpy(dtype=float)[at], np.nan)
    lat = np.where(at >= 0, table["lat"].to_numpy(dtype=float)[at], np.nan)
    return way_of, node, lon, lat


@dataclass(frozen=True)
class _Pieces:
    way: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length_m: np.ndarray
    geometry: np.ndarray


def _pieces(way_of: np.ndarray, node: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> _Pieces:
    """Split the flattened ways at shared nodes and at gaps into u → v pieces."""
    known = ~np.isnan(lon)
    pair_ok = (way_of[:-1] == way_of[1:]) & known[:-1] & known[1:]
    shared = _shared_nodes(node[known])
    split = np.isin(node[:-1], shared)
    previous_ok = np.concatenate([[False], pair_ok[:-1]])
    start = pair_ok & (~previous_ok | split)
    piece_of_pair = np.cumsum(start) - 1
    pairs = np.flatnonzero(pair_ok)
    piece = piece_of_pair[pairs]
    _, _, seg = GEOD.inv(lon[pairs], lat[pairs], lon[pairs + 1], lat[pairs + 1])
    n = int(piece.max()) + 1 if len(piece) else 0
    first = pairs[np.r_[0, np.flatnonzero(np.diff(piece)) + 1]] if n else pairs
    last = pairs[np.r_[np.flatnonzero(np.diff(piece)), len(pairs) - 1]] if n else pairs
    vertex = np.concatenate([pairs, last + 1])
    vertex_piece = np.concatenate([piece, np.arange(n)])
    order = np.lexsort((vertex, vertex_piece))
    geometry = shapely.linestrings(
        np.column_stack([lon[vertex[order]], lat[vertex[order]]]), indices=vertex_piece[order]
    )
    return _Pieces(
        way=way_of[first],
        u=node[first],
        v=node[last + 1],
        length_m=np.bincount(piece, weights=seg, minlength=n),
        geometry=np.asarray(geometry),
    )


def _shared_nodes(node: np.ndarray) -> np.ndarray:
    """Nodes that occur more than once (in two ways, or twice in one way)."""
    values, counts = np.unique(node, return_counts=True)
    return values[counts > 1]


def _edge_frame(ways: pd.DataFrame, direction: np.ndarray, p: _Pieces) -> gpd.GeoDataFrame:
    bridge = tag(ways, "bridge")
    frame = pd.DataFrame(
        {
            "edge_id": np.arange(1, len(p.u) + 1, dtype=np.int64),
            "u": p.u,
            "v": p.v,
            "length_m": p.length_m,
            "highway": tag(ways, "highway").to_numpy()[p.way],
            "oneway": direction[p.way] != 0,
            "access": tag(ways, "access").to_numpy()[p.way],
            "foot": tag(ways, "foot").to_numpy()[p.way],
            "bicycle": tag(ways, "bicycle").to_numpy()[p.way],
            "bridge": (bridge.notna() & (bridge != "no")).to_numpy()[p.way],
            "name": display_name(ways).to_numpy()[p.way],
        }
    )
    return gpd.GeoDataFrame(frame, geometry=p.geometry, crs=4326)[EDGE_COLUMNS]


def drop_fragments(edges: gpd.GeoDataFrame, min_m: float) -> StreetNetwork:
    """Keep edges of connected components (ignoring direction) at least ``min_m`` metres long.

    The longest component is kept too; edge ids are renumbered. ``nodes`` of the result is left empty.
    """
    ids, inverse = np.unique(np.concatenate([edges["u"], edges["v"]]), return_inverse=True)
    m = len(edges)
    graph = coo_matrix((np.ones(m), (inverse[:m], inverse[m:])), shape=(len(ids), len(ids)))
    _, label = connected_components(graph, directed=False)
    edge_label = label[inverse[:m]]
    total = np.bincount(edge_label, weights=edges["length_m"].to_numpy())
    keep_label = (total >= min_m) | (total == total.max())
    present = np.bincount(edge_label, minlength=len(total)) > 0
    kept = edges[keep_label[edge_label]].copy()
    kept["edge_id"] = np.arange(1, len(kept) + 1, dtype=np.int64)
    return StreetNetwork(
        nodes=pd.DataFrame(columns=["node_id", "lon", "lat"]),
        edges=kept.reset_index(drop=True),
        dropped_pieces=int((present & ~keep_label).sum()),
        dropped_edges=m - len(kept),
        dropped_m=float(total[present & ~keep_label].sum()),
    )


# ---------------------------------------------------------------------------------------------
# features: geometry of ways, facilities, place names, residences


def way_geometries(ways: pd.DataFrame, coords: pd.DataFrame, *, polygon: np.ndarray) -> np.ndarray:
    """Shapely geometry per way (EPSG:4326).

    A Polygon where ``polygon`` is True and the way is closed, else a LineString; None when fewer than
    two of its nodes have coordinates.
    """
    way_of, _, lon, lat = _flatten([list(n) for n in ways["nodes"]], coords)
    known = ~np.isnan(lon)
    way_of, xy = way_of[known], np.column_stack([lon[known], lat[known]])
    counts = np.bincount(way_of, minlength=len(ways))
    start = np.cumsum(counts) - counts
    has = counts > 0
    ends_meet = np.zeros(len(ways), dtype=bool)
    ends_meet[has] = np.all(xy[start[has]] == xy[start[has] + counts[has] - 1], axis=1)
    closed = np.asarray(polygon, dtype=bool) & (counts >= 4) & ends_meet
    line = (counts >= 2) & ~closed
    out = np.full(len(ways), None, dtype=object)
    for wanted, build in ((line, shapely.linestrings), (closed, _polygons)):
        rows = wanted[way_of]
        if rows.any():
            compact = np.unique(way_of[rows], return_inverse=True)[1]
            out[wanted] = build(xy[rows], indices=compact)
    return out


def multipolygons(
    relations: pd.DataFrame, way_nodes: Mapping[int, Sequence[int]], coords: pd.DataFrame
) -> tuple[gpd.GeoDataFrame, list[int]]:
    """Polygons of ``type=multipolygon`` relations from their member ways (EPSG:4326).

    Parameters
    ----------
    relations : ``relation_id``, ``members`` (sequence of ``(way id, role)``) and one column per
        tag kept.
    way_nodes : node list of every way that may be a member.
    coords : ``OsmExtract.coords``.

    Returns
    -------
    features : GeoDataFrame ``osm_type`` 'relation', ``osm_id``, the tag columns and a
        (Multi)Polygon: the rings of the outer members (role 'outer' or empty; a ring may be made
        of several ways) minus those of the inner members.
    incomplete : ids of relations whose outer rings do not close (member ways or nodes missing,
        e.g. cut off by the edge of an extract); they are left out, as pyrosm does.
    """
    rows, geoms, incomplete = [], [], []
    for rel in relations.itertuples(index=False):
        geom = _assemble(rel.members, way_nodes, coords)
        if geom is None:
            incomplete.append(int(rel.relation_id))
            continue
        rows.append(rel)
        geoms.append(geom)
    frame = pd.DataFrame(rows, columns=relations.columns).drop(columns="members")
    frame = frame.rename(columns={"relation_id": "osm_id"}).assign(osm_type="relation")
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=4326), incomplete


def _assemble(
    members: Sequence[tuple[int, str]], way_nodes: Mapping[int, Sequence[int]], coords: pd.DataFrame
):
    """Outer rings minus inner rings of one relation; None when no outer ring closes."""
    rings = {}
    for part in ("outer", "inner"):
        refs = [ref for ref, role in members if (role or "outer") == part and ref in way_nodes]
        lists = [list(way_nodes[ref]) for ref in refs]
        lines = _member_lines(lists, coords) if lists else []
        rings[part] = shapely.union_all(shapely.get_parts(shapely.polygonize(lines))) if lines else None
    outer = rings["outer"]
    if outer is None or outer.is_empty:
        return None
    inner = rings["inner"]
    geom = outer if inner is None or inner.is_empty else shapely.difference(outer, inner)
    return None if geom.is_empty else geom


def _member_lines(lists: list[list[int]], coords: pd.DataFrame) -> list:
    """LineStrings of member ways all of whose nodes have coordinates (others cannot close a ring)."""
    way_of, _, lon, lat = _flatten(lists, coords)
    known = ~np.isnan(lon)
    complete = np.bincount(way_of[~known], minlength=len(lists)) == 0
    counts = np.bincount(way_of, minlength=len(lists))
    usable = complete & (counts >= 2)
    rows = usable[way_of]
    if not rows.any():
        return []
    compact = np.unique(way_of[rows], return_inverse=True)[1]
    return list(shapely.linestrings(np.column_stack([lon[rows], lat[rows]]), indices=compact))


def _polygons(xy: np.ndarray, *, indices: np.ndarray) -> np.ndarray:
    return shapely.polygons(shapely.linearrings(xy, indices=indices))


def _representative_points(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat of a point on each geometry (the point itself, a point inside a polygon, a line's middle)."""
    geoms = np.asarray(geoms, dtype=object)
    kind = shapely.get_type_id(geoms)
    lines = np.isin(kind, [1, 5])
    points = shapely.point_on_surface(geoms)
    if lines.any():
        points[lines] = shapely.line_interpolate_point(geoms[lines], 0.5, normalized=True)
    return shapely.get_x(points), shapely.get_y(points)


def _matches(features: pd.DataFrame, key: str, value: str, names: pd.Series, pattern: str) -> pd.Series:
    hit = tag(features, key) == value
    if pattern:
        hit &= names.fillna("").str.contains(pattern, regex=True)
    return hit


def classify(features: pd.DataFrame, mapping: pd.DataFrame, *, target: str) -> pd.Series:
    """Per feature, the ``target`` column of the first mapping row that matches (None: no row).

    Rows with an empty target still claim the feature (it stays None).
    """
    return _classify(features, mapping, target)[0]


def _classify(features: pd.DataFrame, mapping: pd.DataFrame, target: str) -> tuple[pd.Series, pd.Series]:
    """``classify`` and whether any mapping row claimed each feature."""
    names = display_name(features)
    result = pd.Series([None] * len(features), index=features.index, dtype=object)
    claimed = pd.Series(False, index=features.index)
    for row in mapping.itertuples(index=False):
        pattern = getattr(row, "name_contains", "") or ""
        hit = _matches(features, row.key, row.value, names, pattern) & ~claimed
        result[hit] = getattr(row, target) or None
        claimed |= hit
    return result, claimed


def _address(features: pd.DataFrame) -> pd.Series:
    street = tag(features, "addr:street").fillna("") + tag(features, "addr:housenumber").fillna("")
    return tag(features, "addr:full").fillna(street.where(street != "", None))


def facilities(
    features: gpd.GeoDataFrame,
    mapping: pd.DataFrame,
    *,
    type_names: dict[str, str] | None = None,
    duplicate_m: float = 150.0,
) -> pd.DataFrame:
    """Facilities (docs/CONTRACTS.md columns plus address, phone, opening_hours, fees, operator, source).

    ``fees``: the ``charge`` tag as written, else 免费 where ``fee=no``.

    Parameters
    ----------
    features : ``OsmExtract.features``.
    mapping : ``read_facility_mapping`` table.
    type_names : code → Chinese name, used to name unnamed facilities ("幼儿园（未命名）").
    duplicate_m : a feature of the same type and name within this distance (metres) of an earlier
        one is the same facility mapped twice (a node and a polygon) and is dropped.
    """
    codes = classify(features, mapping, target="type_code")
    feats = features[codes.notna()]
    codes = codes[codes.notna()]
    lon, lat = _representative_points(feats.geometry.to_numpy())
    names = display_name(feats)
    fallback = codes.map(lambda c: f"{(type_names or {}).get(c, c)}（未命名）")
    frame = pd.DataFrame(
        {
            "type_code": codes.to_numpy(),
            "name": names.fillna(fallback).to_numpy(),
            "lon": lon,
            "lat": lat,
            "address": _address(feats).to_numpy(),
            "phone": tag(feats, "phone").fillna(tag(feats, "contact:phone")).to_numpy(),
            "opening_hours": tag(feats, "opening_hours").to_numpy(),
            "fees": _fees(feats).to_numpy(),
            "operator": tag(feats, "operator").to_numpy(),
            "status": "open",
            "capacity": np.nan,
            "floor_area_m2": np.nan,
            "source": ("osm:" + feats["osm_type"].astype(str) + "/" + feats["osm_id"].astype(str)).to_numpy(),
        }
    )
    frame = _drop_duplicates(frame, names.notna().to_numpy(), duplicate_m)
    frame.insert(0, "facility_id", np.arange(1, len(frame) + 1, dtype=np.int64))
    return frame


def _fees(features: pd.DataFrame) -> pd.Series:
    """Published fees: the ``charge`` tag, else 免费 where ``fee=no`` (None when unknown)."""
    free = tag(features, "fee").isin(["no", "free"])
    charge = tag(features, "charge")
    return charge.mask(charge.isna() & free, "免费")


def _drop_duplicates(frame: pd.DataFrame, named: np.ndarray, within_m: float) -> pd.DataFrame:
    """Drop named rows repeating the type and name of an earlier row lying within ``within_m`` metres."""
    drop = np.zeros(len(frame), dtype=bool)
    positions = np.flatnonzero(named & frame.duplicated(["type_code", "name"], keep=False).to_numpy())
    for rows in frame.iloc[positions].groupby(["type_code", "name"]).indices.values():
        at = positions[rows]
        lon, lat = frame["lon"].to_numpy()[at], frame["lat"].to_numpy()[at]
        for k in range(1, len(at)):
            earlier = ~drop[at[:k]]
            d = GEOD.inv(np.full(k, lon[k]), np.full(k, lat[k]), lon[:k], lat[:k])[2]
            drop[at[k]] = bool(np.any(earlier & (d < within_m)))
    return frame[~drop].reset_index(drop=True)


def place_names(
    features: gpd.GeoDataFrame, edges: gpd.GeoDataFrame | None, mapping: pd.DataFrame
) -> gpd.GeoDataFrame:
    """Place-name rows: named features mapped to categories, plus named streets of ``edges``.

    Streets sharing a name and category become one row whose geometry joins their edges.

    Returns
    -------
    GeoDataFrame ``name_id``, ``name``, ``category``, ``source``, geometry (EPSG:4326).
    """
    parts = [_named_features(features, mapping)]
    if edges is not None and len(edges):
        parts.append(_named_streets(edges, mapping))
    names = pd.concat(parts, ignore_index=True).drop_duplicates(["name", "category"])
    names = gpd.GeoDataFrame(names, geometry="geometry", crs=4326).reset_index(drop=True)
    names.insert(0, "name_id", np.arange(1, len(names) + 1, dtype=np.int64))
    return names


def _named_features(features: gpd.GeoDataFrame, mapping: pd.DataFrame) -> pd.DataFrame:
    category = classify(features, mapping.assign(name_contains=""), target="category")
    names = display_name(features)
    keep = category.notna() & names.notna() & features.geometry.notna()
    feats = features[keep]
    return pd.DataFrame(
        {
            "name": names[keep].to_numpy(),
            "category": category[keep].to_numpy(),
            "source": ("osm:" + feats["osm_type"].astype(str) + "/" + feats["osm_id"].astype(str)).to_numpy(),
            "geometry": feats.geometry.to_numpy(),
        }
    )


def _named_streets(edges: gpd.GeoDataFrame, mapping: pd.DataFrame) -> pd.DataFrame:
    roads = mapping[mapping["key"] == "highway"].drop_duplicates("value").set_index("value")["category"]
    named = edges[edges["name"].notna()].assign(category=lambda e: e["highway"].map(roads))
    named = named[named["category"].notna()]
    rows = [
        {
            "name": name,
            "category": cat,
            "source": "osm:streets",
            "geometry": shapely.line_merge(shapely.union_all(group.geometry.to_numpy())),
        }
        for (name, cat), group in named.groupby(["name", "category"], sort=False)
    ]
    return pd.DataFrame(rows, columns=["name", "category", "source", "geometry"])


def storeys(features: pd.DataFrame, params: HouseholdParameters) -> np.ndarray:
    """Storeys per building.

    ``building:levels``, else ``height`` / storey height, else the default of its building type;
    implausible values (< 1 or > ``max_levels``) fall back to the default.
    """
    kind = tag(features, "building").str.lower().fillna("yes")
    default = kind.map(params.default_levels).fillna(params.default_levels.get("yes", 1.0))
    levels = _first_number(tag(features, "building:levels"))
    height = _first_number(tag(features, "height")) / params.storey_height_m
    levels = levels.fillna(np.round(height))
    plausible = levels.between(1, params.max_levels)
    return levels.where(plausible, default).to_numpy(dtype=float)


# ---------------------------------------------------------------------------------------------
# findings for the import report


def feature_findings(
    features: gpd.GeoDataFrame,
    facility_mapping: pd.DataFrame,
    placename_mapping: pd.DataFrame,
    params: HouseholdParameters,
    *,
    examples: int = 5,
) -> list[dict]:
    """What an import should tell its user about the features, as dicts ``column``, ``problem``, ``fix``.

    The findings:

    * per tag key of the facility mapping: features that no row of either mapping claims (the
      most frequent values listed), so a city can extend data/osm_facility_mapping.csv;
    * facilities without a name (stored as '幼儿园（未命名）'), per type;
    * features of a place-name category (streets aside) without a name, which give no place name;
    * buildings whose ``building:levels`` / ``height`` is implausible (replaced by the default).
    """
    if features.empty:
        return []
    codes, fac_claimed = _classify(features, facility_mapping, "type_code")
    category, place_claimed = _classify(features, placename_mapping.assign(name_contains=""), "category")
    names = display_name(features)
    ids = ("osm:" + features["osm_type"].astype(str) + "/" + features["osm_id"].astype(str)).to_numpy()
    found = _unmapped(features, facility_mapping, ~(fac_claimed | place_claimed))
    for code, rows in pd.Series(np.flatnonzero((codes.notna() & names.isna()).to_numpy())).groupby(
        codes[codes.notna() & names.isna()].to_numpy(), sort=True
    ):
        found.append(
            {
                "column": f"name ({code})",
                "problem": f"{len(rows)} {code} facilities have no name: stored as "
                f"'…（未命名）', e.g. {', '.join(ids[rows.to_numpy()[:examples]])}",
                "fix": "add name=* in OpenStreetMap, or rename them in the facilities layer",
            }
        )
    streets = placename_mapping.loc[placename_mapping["key"] == "highway", "category"]
    nameless = category.notna() & names.isna() & ~category.isin(set(streets))
    for cat, rows in pd.Series(np.flatnonzero(nameless.to_numpy())).groupby(category[nameless].to_numpy()):
        found.append(
            {
                "column": f"name ({cat})",
                "problem": f"{len(rows)} unnamed {cat} features give no place "
                f"name, e.g. {', '.join(ids[rows.to_numpy()[:examples]])}",
                "fix": "add name=* in OpenStreetMap, or register the names with `minqing import place-names`",
            }
        )
    return found + _storey_findings(features, params, ids, examples)


def _unmapped(features: pd.DataFrame, mapping: pd.DataFrame, unclaimed: pd.Series) -> list[dict]:
    found = []
    for key in dict.fromkeys(k for k in mapping["key"] if k not in ("building", "highway")):
        values = tag(features, key)[unclaimed & tag(features, key).notna()]
        if values.empty:
            continue
        top = values.value_counts()
        listed = ", ".join(f"{v} {n}" for v, n in top.head(8).items()) + (", …" if len(top) > 8 else "")
        found.append(
            {
                "column": key,
                "problem": f"{len(values)} features tagged {key}=* of {len(top)} values match "
                f"no facility type: {listed}",
                "fix": f"if one is a facility type of ours, add a row '{key},VALUE,,TYPE_CODE' to "
                "data/osm_facility_mapping.csv and import again",
            }
        )
    return found


def _storey_findings(
    features: pd.DataFrame, params: HouseholdParameters, ids: np.ndarray, examples: int
) -> list:
    kind = tag(features, "building").str.lower()
    homes = (kind.map(params.residential_share).fillna(0.0) > 0).to_numpy()
    found = []
    for key, scale in (("building:levels", 1.0), ("height", params.storey_height_m)):
        raw = tag(features, key)
        number = _first_number(raw) / scale
        number = number.round() if key == "height" else number  # as ``storeys`` reads it
        bad = homes & raw.notna().to_numpy() & ~number.between(1, params.max_levels).to_numpy()
        if key == "height":  # height counts only where no building:levels is given
            bad &= tag(features, "building:levels").isna().to_numpy()
        if bad.any():
            shown = ", ".join(
                f"{i} ({v})" for i, v in zip(ids[bad][:examples], raw[bad][:examples], strict=True)
            )
            found.append(
                {
                    "column": key,
                    "problem": f"{int(bad.sum())} buildings have an implausible {key} (storeys "
                    f"outside 1..{params.max_levels:g}): their type's default storeys are used, e.g. {shown}",
                    "fix": "correct the tag in OpenStreetMap, or the defaults in data/household_estimate.csv",
                }
            )
    return found


def _first_number(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values.fillna("").str.extract(r"(\d+(?:\.\d+)?)", expand=False), errors="coerce")


def residences(features: gpd.GeoDataFrame, params: HouseholdParameters) -> gpd.GeoDataFrame:
    """Residence candidates from building footprints, households estimated (``estimated=True``).

    households = round(footprint m² × storeys × residential share / m² per household); population,
    elderly and children follow from the shares of ``params``. Footprints smaller than
    ``min_footprint_m2`` and buildings of types without a residential share are skipped.

    Returns
    -------
    GeoDataFrame ``residence_id``, ``lon``, ``lat``, ``address``, ``households``, ``population``,
    ``elderly``, ``children``, ``estimated`` and ``households_estimated`` (both True), ``source``,
    ``footprint`` (Polygon), geometry (points), EPSG:4326.
    """
    kind = tag(features, "building").str.lower()
    is_polygon = features.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    shares = kind.map(params.residential_share).fillna(0.0)
    b = features[kind.notna() & (kind != "no") & is_polygon & (shares > 0)]
    if b.empty:
        return _empty_residences()
    area = to_metric(gpd.GeoSeries(b.geometry.to_numpy(), crs=4326)).area.to_numpy()
    households = np.round(area * storeys(b, params) * shares[b.index].to_numpy() / params.m2_per_household)
    keep = (area >= params.min_footprint_m2) & (households >= 1)
    return _residence_frame(b[keep], households[keep].astype(np.int64), params)


def _residence_frame(
    b: gpd.GeoDataFrame, households: np.ndarray, params: HouseholdParameters
) -> gpd.GeoDataFrame:
    lon, lat = _representative_points(b.geometry.to_numpy())
    population = np.round(households * params.persons_per_household).astype(np.int64)
    frame = pd.DataFrame(
        {
            "residence_id": np.arange(1, len(b) + 1, dtype=np.int64),
            "lon": lon,
            "lat": lat,
            "address": _address(b).to_numpy(),
            "households": households,
            "population": population,
            "elderly": np.round(population * params.elderly_share).astype(np.int64),
            "children": np.round(population * params.children_share).astype(np.int64),
            "estimated": True,
            "households_estimated": True,
            "source": ("osm:" + b["osm_type"].astype(str) + "/" + b["osm_id"].astype(str)).to_numpy(),
            "footprint": [_largest_polygon(g) for g in b.geometry.to_numpy()],
        }
    )
    return gpd.GeoDataFrame(frame, geometry=shapely.points(lon, lat), crs=4326)


def _largest_polygon(geom):
    if geom.geom_type == "Polygon":
        return geom
    return max(geom.geoms, key=lambda g: g.area)


def _empty_residences() -> gpd.GeoDataFrame:
    columns = [
        "residence_id",
        "lon",
        "lat",
        "address",
        "households",
        "population",
        "elderly",
        "children",
        "estimated",
        "households_estimated",
        "source",
        "footprint",
    ]
    return gpd.GeoDataFrame(pd.DataFrame({c: [] for c in columns}), geometry=[], crs=4326)


# ---------------------------------------------------------------------------------------------
# osmnx graphs (online downloads)


def _first(value):
    """A tag value of an osmnx edge: lists (merged ways) give their first element."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value)


def frames_from_graph(graph, *, network: str = "all") -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Network frames from an osmnx MultiDiGraph (node attributes ``x``/``y``, EPSG:4326).

    osmnx stores a two-way street as two opposite edges; one of each pair is kept (``oneway``
    False). Lengths are recomputed in metres along the geometry on the WGS84 ellipsoid. For the
    'bike' network a one-way street open to bicycles both ways (``oneway:bicycle=no``, contraflow
    ``cycleway=opposite*``) is two-way, as in ``oneway_direction``.
    """
    xy = {n: (d["x"], d["y"]) for n, d in graph.nodes(data=True)}
    rows, seen = [], set()
    for u, v, key, data in graph.edges(keys=True, data=True):
        oneway = bool(data.get("oneway", False))
        if network == "bike" and oneway and _bike_contraflow(data):
            oneway = False
        pair = (min(u, v), max(u, v), key)
        if not oneway and pair in seen:
            continue
        seen.add(pair)
        rows.append(_graph_edge(u, v, data, oneway, xy))
    if not rows:
        raise OsmDataError("the downloaded graph has no edges: widen the area or check the place name")
    edges = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=4326)
    edges["length_m"] = _geodesic_lengths(edges.geometry.to_numpy())
    edges.insert(0, "edge_id", np.arange(1, len(edges) + 1, dtype=np.int64))
    used = pd.unique(np.concatenate([edges["u"].to_numpy(), edges["v"].to_numpy()]))
    nodes = pd.DataFrame(
        {"node_id": used.astype(np.int64), "lon": [xy[n][0] for n in used], "lat": [xy[n][1] for n in used]}
    )
    return nodes, edges[EDGE_COLUMNS]


def _bike_contraflow(data: dict) -> bool:
    own = (_first(data.get("oneway:bicycle")) or "").lower()
    return own == "no" or (_first(data.get("cycleway")) or "").lower() in CONTRAFLOW_CYCLEWAY


def _graph_edge(u, v, data: dict, oneway: bool, xy: dict) -> dict:
    geometry = data.get("geometry") or shapely.LineString([xy[u], xy[v]])
    bridge = _first(data.get("bridge"))
    return {
        "u": int(u),
        "v": int(v),
        "highway": _first(data.get("highway")),
        "oneway": oneway,
        "access": _first(data.get("access")),
        "foot": _first(data.get("foot")),
        "bicycle": _first(data.get("bicycle")),
        "bridge": bridge not in (None, "no"),
        "name": _first(data.get("name")),
        "geometry": geometry,
    }


def _geodesic_lengths(geoms: np.ndarray) -> np.ndarray:
    """Length (metres, WGS84 ellipsoid) of each lon/lat LineString."""
    xy, index = shapely.get_coordinates(geoms, return_index=True)
    same = index[1:] == index[:-1]
    _, _, seg = GEOD.inv(xy[:-1, 0][same], xy[:-1, 1][same], xy[1:, 0][same], xy[1:, 1][same])
    return np.bincount(index[:-1][same], weights=seg, minlength=len(geoms))


def features_from_osmnx(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``OsmExtract.features`` from an osmnx features frame (index ``element``, ``id``)."""
    flat = frame.reset_index().rename(
        columns={"element": "osm_type", "element_type": "osm_type", "id": "osm_id", "osmid": "osm_id"}
    )
    return gpd.GeoDataFrame(flat, geometry="geometry", crs=frame.crs or 4326).to_crs(4326)
