"""Import OpenStreetMap: offline files (.osm, .osm.bz2, .osm.pbf) or an online download (osmnx).

``read_osm`` turns a file into a ``geo.osm.OsmExtract``; ``build_layers`` derives the layer frames
(pure ``geo.osm``); ``write_layers`` writes them in the caller's transaction (``layers.db.session``):
either everything is stored or nothing changes.

What is replaced: the street network always (network_nodes/edges). Facilities and residences
imported from OSM earlier (``source`` 'osm:...') are replaced; with ``replace_all`` every facility
and residence goes (e.g. to drop the demo district). Place names are only added (name and category
not yet present): officers' names and their history are never touched.
"""

from __future__ import annotations

import bz2
import socket
import time
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo import osm as geo_osm
from geo.profiles import Profile, load_profiles
from layers import ids
from layers.db import set_actor
from layers.errors import LayersError, ValidationFailed
from layers.load.bulk import FACILITY_COLS, RESIDENCE_COLS, Progress, copy_frame, read_only, record_import
from layers.load.estimates import Superseded, drop_superseded_estimates, superseded_by_new
from layers.load.names import assign_place_name_areas
from layers.load.reference import DATA_DIR, ensure_facility_types, read_facility_types
from layers.load.report import ImportReport
from layers.load.residences import assign_residence_areas
from layers.placenames import fill_pinyin

LAYERS = ("network", "facilities", "place_names", "residences")
LINE_KEYS = ("highway", "waterway", "railway", "barrier")
EDGE_COLS = [
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
]
WIDTHS = {
    "highway": 30,
    "access": 20,
    "foot": 20,
    "bicycle": 20,
    "name": 120,
    "address": 300,
    "opening_hours": 120,
    "fees": 200,
    "phone": 40,
    "operator": 200,
    "source": 200,
}
Step = Callable[[str], None]


class OsmUnavailable(LayersError):
    """The Overpass server cannot be reached (offline machine or blocked network)."""

    status = 503


@dataclass(frozen=True)
class MappingTables:
    """The editable tables that steer an OSM import (data/*.csv)."""

    facilities: pd.DataFrame
    place_names: pd.DataFrame
    households: geo_osm.HouseholdParameters
    bike: Profile | None = None
    """The bicycle profile of data/profiles.csv whose rules define the 'bike' network."""

    @classmethod
    def read(cls, data_dir: Path = DATA_DIR) -> MappingTables:
        return cls(
            geo_osm.read_facility_mapping(data_dir / "osm_facility_mapping.csv"),
            geo_osm.read_placename_mapping(data_dir / "osm_placename_mapping.csv"),
            geo_osm.read_household_parameters(data_dir / "household_estimate.csv"),
            bike_profile(data_dir / "profiles.csv"),
        )

    def keys(self) -> list[str]:
        """Tag keys to keep as columns."""
        return geo_osm.feature_keys(self.facilities, self.place_names)

    def selecting_keys(self) -> list[str]:
        """Keys that make an element a feature (a facility, a named place or a building)."""
        keys = self.facilities["key"].tolist() + self.place_names["key"].tolist() + ["building"]
        return [k for k in dict.fromkeys(keys) if k != "highway"]


@dataclass(frozen=True)
class OsmLayers:
    """Frames ready to be written (docs/CONTRACTS.md columns, EPSG:4326)."""

    nodes: pd.DataFrame
    edges: gpd.GeoDataFrame
    facilities: pd.DataFrame
    place_names: gpd.GeoDataFrame
    residences: gpd.GeoDataFrame
    findings: list[dict] = field(default_factory=list)
    """Warnings found while building (``column``, ``problem``, ``fix``): see ``import_osm``."""
    elements: int = 0
    """OSM elements read (street ways and features)."""

    def counts(self) -> dict[str, int]:
        return {
            "network_nodes": len(self.nodes),
            "network_edges": len(self.edges),
            "facilities": len(self.facilities),
            "place_names": len(self.place_names),
            "residences": len(self.residences),
        }


def bike_profile(path: Path) -> Profile | None:
    """The bicycle profile of the profiles table (``ebike`` when there are several; None: none)."""
    bikes = {name: p for name, p in load_profiles(path).items() if p.mode == "bicycle"}
    return bikes.get("ebike") or next(iter(sorted(bikes.items())), (None, None))[1]


# ---------------------------------------------------------------------------------------------
# readers


def read_osm(
    path: str | Path,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    tables: MappingTables | None = None,
    step: Step | None = None,
) -> geo_osm.OsmExtract:
    """Read an OSM file (.osm / .osm.bz2 XML or .osm.pbf) offline into an ``OsmExtract``.

    Parameters
    ----------
    path : the file.
    bbox : (lon_min, lat_min, lon_max, lat_max) degrees WGS84 to keep (default: everything).
    tables : mapping tables (default: the shipped data/*.csv).
    step : called with a label at each phase of a .osm.pbf read (nodes, streets, features), the
        slow part of an import: progress bars and log lines.
    """
    path = Path(path)
    tables = tables or MappingTables.read()
    if not path.is_file():
        raise ValidationFailed(f"{path}: no such file — give the path of a .osm, .osm.bz2 or .osm.pbf file")
    name = path.name.lower()
    if name.endswith(".pbf"):
        extract = _read_pbf(path, bbox, tables, step or (lambda _label: None))
    elif name.endswith((".osm", ".osm.bz2", ".xml", ".xml.bz2")):
        extract = _read_xml(path, tables)
    else:
        raise ValidationFailed(
            f"{path}: unknown OSM file type — use .osm, .osm.bz2 or .osm.pbf "
            "(e.g. from download.geofabrik.de or an Overpass/JOSM export)"
        )
    return geo_osm.clip(extract, bbox) if bbox else extract


def _read_pbf(path: Path, bbox, tables: MappingTables, step: Step) -> geo_osm.OsmExtract:
    # late: heavy, needed only when an OSM extract is read
    import pyrosm

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyrosm warns about empty layers; emptiness is checked below
            osm = pyrosm.OSM(str(path), bounding_box=list(bbox) if bbox else None, keep_node_info=True)
            step("读取节点 .pbf nodes")
            nodes, _ = osm.get_network(network_type="all", nodes=True)
            step("读取街道 .pbf streets")
            ways = osm.get_network(
                network_type="all",
                extra_attributes=["junction", "area", "name:zh", "oneway:bicycle", "cycleway"],
            )
            step("读取要素 .pbf features")
            feats = osm.get_data_by_custom_criteria(
                custom_filter=None,
                osm_keys_to_keep=tables.selecting_keys(),
                tags_as_columns=tables.keys(),
                keep_other_tags=False,
            )
    except Exception as e:  # pyrosm raises assorted errors for damaged files
        raise ValidationFailed(
            f"{path}: cannot read this .osm.pbf file ({type(e).__name__}: {e}) — "
            "download it again or convert it with osmium"
        ) from e
    if nodes is None or ways is None:
        raise ValidationFailed(
            f"{path}: no streets in this file (or in the bounding box) — check the extract"
        )
    coords = pd.DataFrame({"node_id": nodes["id"].astype(np.int64), "lon": nodes["lon"], "lat": nodes["lat"]})
    ways = ways.rename(columns={"id": "way_id"})
    return geo_osm.OsmExtract(
        coords=coords, ways=pd.DataFrame(ways.drop(columns="geometry")), features=_pbf_features(feats)
    )


def _pbf_features(feats) -> gpd.GeoDataFrame:
    if feats is None or feats.empty:
        return geo_osm.empty_features()
    feats = feats.rename(columns={"id": "osm_id"}).drop(columns=["nodes"], errors="ignore")
    return gpd.GeoDataFrame(feats, geometry="geometry", crs=4326)


def _read_xml(path: Path, tables: MappingTables) -> geo_osm.OsmExtract:
    keys = set(tables.keys()) | set(geo_osm.WAY_KEYS)
    selecting = set(tables.selecting_keys())
    opener = bz2.open if path.name.lower().endswith(".bz2") else open
    parts = _XmlParts()
    try:
        with opener(path, "rb") as fh:
            for _, el in ET.iterparse(fh, events=("end",)):
                _collect(el, keys, selecting, parts)
    except (ET.ParseError, OSError, EOFError) as e:
        raise ValidationFailed(
            f"{path}: not a readable OSM XML file ({e}) — download or export it again "
            "(.osm from JOSM/Overpass, .osm.bz2 from Geofabrik)"
        ) from e
    return _xml_extract(parts, selecting)


@dataclass
class _XmlParts:
    """What the XML reader keeps: node coordinates, tagged nodes, tagged ways, the node lists of
    untagged ways (members of multipolygons), multipolygon relations and other tagged relations."""

    coords: list = field(default_factory=list)
    points: list = field(default_factory=list)
    ways: list = field(default_factory=list)
    spare: dict = field(default_factory=dict)
    relations: list = field(default_factory=list)
    other_relations: list = field(default_factory=list)


def _collect(el, keys: set, selecting: set, parts: _XmlParts) -> None:
    """Keep what one parsed <node>, <way> or <relation> element holds; free it (the files are large)."""
    if el.tag == "node":
        node = (int(el.get("id")), float(el.get("lon")), float(el.get("lat")))
        parts.coords.append(node)
        tags = _tags(el, keys)
        if selecting.intersection(tags):
            parts.points.append((*node, tags))
        el.clear()
    elif el.tag == "way":
        tags = _tags(el, keys)
        nodes = [int(nd.get("ref")) for nd in el.iter("nd")]
        if tags:
            parts.ways.append((int(el.get("id")), nodes, tags))
        else:  # may be part of a multipolygon relation, which comes later in the file
            parts.spare[int(el.get("id"))] = np.asarray(nodes, dtype=np.int64)
        el.clear()
    elif el.tag == "relation":
        _collect_relation(el, keys, selecting, parts)
        el.clear()


def _collect_relation(el, keys: set, selecting: set, parts: _XmlParts) -> None:
    tags = _tags(el, keys | {"type"})
    if not selecting.intersection(tags):
        return
    if tags.get("type") != "multipolygon":
        parts.other_relations.append(int(el.get("id")))
        return
    members = [(int(m.get("ref")), m.get("role") or "") for m in el.iter("member") if m.get("type") == "way"]
    parts.relations.append((int(el.get("id")), members, tags))


def _tags(el, keys: set) -> dict[str, str]:
    return {t.get("k"): t.get("v") for t in el.iter("tag") if t.get("k") in keys}


def _xml_extract(parts: _XmlParts, selecting: set) -> geo_osm.OsmExtract:
    ways = parts.ways
    coord_frame = pd.DataFrame(parts.coords, columns=["node_id", "lon", "lat"])
    way_frame = pd.DataFrame({"way_id": [w[0] for w in ways], "nodes": [w[1] for w in ways]})
    way_frame = pd.concat([way_frame, pd.DataFrame([w[2] for w in ways], index=way_frame.index)], axis=1)
    points = parts.points
    point_frame = pd.DataFrame([p[3] for p in points])
    point_frame = gpd.GeoDataFrame(
        point_frame.assign(osm_type="node", osm_id=[p[0] for p in points]),
        geometry=shapely.points([p[1] for p in points], [p[2] for p in points]),
        crs=4326,
    )
    is_feature = np.array([bool(selecting.intersection(w[2])) for w in ways], dtype=bool)
    features = _way_features(way_frame[is_feature] if len(ways) else way_frame, coord_frame)
    areas, incomplete = _relation_features(parts, coord_frame)
    every = pd.concat([point_frame, features, areas], ignore_index=True)
    every["osm_id"] = every["osm_id"].astype(np.int64)
    return geo_osm.OsmExtract(
        coords=coord_frame,
        ways=way_frame,
        features=every,
        notes={"relations_incomplete": incomplete, "relations_other": parts.other_relations},
    )


def _relation_features(parts: _XmlParts, coords: pd.DataFrame) -> tuple[gpd.GeoDataFrame, list[int]]:
    """Multipolygon relations assembled from their member ways (``geo.osm.multipolygons``)."""
    if not parts.relations:
        return geo_osm.empty_features(), []
    relations = pd.DataFrame(
        {"relation_id": [r[0] for r in parts.relations], "members": [r[1] for r in parts.relations]}
    )
    tags = pd.DataFrame([{k: v for k, v in r[2].items() if k != "type"} for r in parts.relations])
    relations = pd.concat([relations, tags], axis=1)
    way_nodes = {**parts.spare, **{w[0]: w[1] for w in parts.ways}}
    return geo_osm.multipolygons(relations, way_nodes, coords)


def _way_features(ways: pd.DataFrame, coords: pd.DataFrame) -> gpd.GeoDataFrame:
    """Tagged ways as features: closed ways are polygons unless they are lines by nature."""
    line_like = np.zeros(len(ways), dtype=bool)
    for key in LINE_KEYS:
        line_like |= geo_osm.tag(ways, key).notna().to_numpy()
    polygon = ~line_like | (geo_osm.tag(ways, "area") == "yes").to_numpy()
    geometry: np.ndarray | list[None] = (
        geo_osm.way_geometries(ways, coords, polygon=polygon) if len(ways) else []
    )
    frame = ways.drop(columns="nodes").rename(columns={"way_id": "osm_id"}).assign(osm_type="way")
    frame = gpd.GeoDataFrame(frame, geometry=list(geometry), crs=4326)
    return frame[frame.geometry.notna()]


# ---------------------------------------------------------------------------------------------
# online


def check_reachable(url: str, *, timeout_s: float = 5.0) -> None:
    """Raise ``OsmUnavailable`` unless a TCP connection to ``url``'s host opens within ``timeout_s``."""
    parts = urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout_s).close()
    except OSError as e:
        raise OsmUnavailable(
            f"cannot reach the OpenStreetMap Overpass server {url} ({e}): this machine seems to be offline. "
            "Download an extract on a connected machine (e.g. https://download.geofabrik.de/asia/china.html "
            "→ the province's .osm.pbf), copy it here and run `minqing import osm --file FILE --bbox ...`"
        ) from e


def read_polygon(path: str | Path) -> shapely.Geometry:
    """The area of a GeoJSON/GPKG/SHP file as one (Multi)Polygon in EPSG:4326 (all features joined;
    a file without a CRS is taken as WGS84)."""
    path = Path(path)
    try:
        frame = gpd.read_file(path)
    except Exception as e:  # pyogrio raises DataSourceError and friends
        raise ValidationFailed(
            f"{path}: cannot read the polygon file ({type(e).__name__}: {e}) — give a GeoJSON, "
            "GeoPackage or zipped Shapefile with the area's polygon"
        ) from e
    if frame.crs is not None:
        frame = frame.to_crs(4326)
    polygons = frame.geometry[frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if polygons.empty:
        raise ValidationFailed(
            f"{path}: no polygon in the file — draw the area as a polygon (e.g. in QGIS or "
            "geojson.io) and save it as GeoJSON"
        )
    area = shapely.make_valid(shapely.union_all(polygons.to_numpy()))
    lon0, lat0, lon1, lat1 = area.bounds
    if not (-180 <= lon0 <= lon1 <= 180 and -90 <= lat0 <= lat1 <= 90):
        raise ValidationFailed(
            f"{path}: the polygon's coordinates are not longitude/latitude — save it in "
            "WGS84 (EPSG:4326) or with its coordinate system declared"
        )
    return area


def download_osm(
    *,
    place: str | None = None,
    polygon=None,
    bbox=None,
    network: str = "all",
    tables: MappingTables | None = None,
    min_component_m: float = 300.0,
) -> tuple[geo_osm.StreetNetwork, gpd.GeoDataFrame]:
    """Download the street network and features online with osmnx (needs the internet).

    Give exactly one of ``place`` (a name geocoded by Nominatim, e.g. '汕尾市城区'), ``polygon``
    (shapely, EPSG:4326) or ``bbox`` (lon_min, lat_min, lon_max, lat_max).

    Returns
    -------
    The street network (filtered for ``network``, fragments below ``min_component_m`` metres
    dropped, as offline) and the features (``OsmExtract.features``).
    """
    # late: heavy, needed only when an OSM extract is read
    import osmnx as ox

    if sum(x is not None for x in (place, polygon, bbox)) != 1:
        raise ValidationFailed("give exactly one of --place, --polygon or --bbox")
    check_reachable(ox.settings.overpass_url)
    tables = tables or MappingTables.read()
    tags: dict[str, bool | str | list[str]] = dict.fromkeys(tables.selecting_keys(), True)
    try:
        if place is not None:  # osmnx geocodes the name with Nominatim
            polygon = ox.geocode_to_gdf(place).geometry.iloc[0]
        polygon = polygon if polygon is not None else shapely.box(*bbox)
        kept = ox.settings.useful_tags_way
        ox.settings.useful_tags_way = list(dict.fromkeys([*kept, *geo_osm.WAY_KEYS]))
        try:  # 'all' keeps private roads (gated compounds); routable() applies our network filter
            graph = ox.graph_from_polygon(polygon, network_type="all", retain_all=True)
        finally:
            ox.settings.useful_tags_way = kept
        feats = ox.features_from_polygon(polygon, tags)
    except Exception as e:  # requests/osmnx errors: say what to do instead of a stack trace
        raise OsmUnavailable(
            f"OpenStreetMap download failed ({type(e).__name__}: {e}) — check the place name "
            "or use an offline extract with --file"
        ) from e
    nodes, edges = geo_osm.frames_from_graph(graph, network=network)
    edges = edges[geo_osm.routable(edges, network=network, bike=tables.bike)].reset_index(drop=True)
    if edges.empty:
        raise geo_osm.OsmDataError(f"no {network!r} streets in the downloaded area: widen the area")
    kept_edges = geo_osm.drop_fragments(edges, min_component_m)
    net = geo_osm.StreetNetwork(
        *geo_osm.kept_nodes(kept_edges.edges, nodes),
        kept_edges.dropped_pieces,
        kept_edges.dropped_edges,
        kept_edges.dropped_m,
    )
    return net, geo_osm.features_from_osmnx(feats)


# ---------------------------------------------------------------------------------------------
# building and writing the layers


def build_layers(
    extract: geo_osm.OsmExtract,
    *,
    network: str = "all",
    tables: MappingTables | None = None,
    type_names: dict[str, str] | None = None,
    step: Step | None = None,
) -> OsmLayers:
    """Every layer frame of an ``OsmExtract`` (pure computation through ``geo.osm``)."""
    step = step or (lambda _label: None)
    tables = tables or MappingTables.read()
    step("路网 network")
    net = geo_osm.street_network(extract.ways, extract.coords, network=network, bike=tables.bike)
    layers = layers_from(net, extract.features, tables=tables, type_names=type_names, step=step)
    findings = _relation_findings(extract.notes) + layers.findings
    return replace(layers, findings=findings, elements=len(extract.ways) + len(extract.features))


def layers_from(
    net: geo_osm.StreetNetwork,
    features: gpd.GeoDataFrame,
    *,
    tables: MappingTables,
    type_names: dict[str, str] | None = None,
    step: Step | None = None,
) -> OsmLayers:
    """Layer frames from a street network and features (offline files and online downloads alike)."""
    step = step or (lambda _label: None)
    if type_names is None:
        types = read_facility_types()
        type_names = dict(zip(types["code"], types["name_zh"], strict=True))
    step("设施 facilities")
    facilities = geo_osm.facilities(features, tables.facilities, type_names=type_names)
    step("地名 place names")
    names = geo_osm.place_names(features, net.edges, tables.place_names)
    step("住户估算 residences")
    homes = geo_osm.residences(features, tables.households)
    findings = _fragment_findings(net) + geo_osm.feature_findings(
        features, tables.facilities, tables.place_names, tables.households
    )
    return OsmLayers(
        nodes=net.nodes,
        edges=net.edges,
        facilities=facilities,
        place_names=names,
        residences=homes,
        findings=findings,
        elements=len(net.edges) + len(features),
    )


def _fragment_findings(net: geo_osm.StreetNetwork) -> list[dict]:
    if not net.dropped_edges:
        return []
    return [
        {
            "column": "highway",
            "problem": f"{net.dropped_pieces} street pieces unconnected to the rest "
            f"({net.dropped_edges} edges, {net.dropped_m:.0f} m in all) were dropped: "
            "residents snapped to them would be stranded",
            "fix": "usually cut off by the edge of the extract or the bounding box: widen "
            "--bbox, or connect them in OpenStreetMap",
        }
    ]


def _relation_findings(notes: dict) -> list[dict]:
    found = []
    incomplete, other = notes.get("relations_incomplete", []), notes.get("relations_other", [])
    if incomplete:
        found.append(
            {
                "column": "relation",
                "problem": f"{len(incomplete)} multipolygon relations have member ways "
                f"or nodes missing and were left out, e.g. {', '.join(map(str, incomplete[:5]))}",
                "fix": "export the area with complete relations (JOSM: download the relation's members; "
                "osmium extract --strategy complete_ways) or use a .osm.pbf extract",
            }
        )
    if other:
        found.append(
            {
                "column": "relation",
                "problem": f"{len(other)} tagged relations of other types (boundaries, "
                f"routes, sites) are not areas of ours: ignored, e.g. {', '.join(map(str, other[:5]))}",
                "fix": "nothing to do, unless one should be a facility or place: map it as a node or a "
                "multipolygon",
            }
        )
    return found


def write_layers(
    s: Session,
    layers: OsmLayers,
    *,
    include: Iterable[str] = LAYERS,
    replace_all: bool = False,
    actor: str = "osm-import",
    step: Step | None = None,
    report: ImportReport | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Write ``layers`` in the caller's transaction; returns the rows written per table.

    Parameters
    ----------
    include : which of ``LAYERS`` to write; the network is always replaced.
    replace_all : also remove facilities and residences that did not come from OSM.
    report : receives warnings about what was not written (estimates superseded by real
        residences, names already registered).
    progress : called with (rows written, rows) while each table's rows are written.
    """
    include = _included(include)
    step = step or (lambda _label: None)
    report = report if report is not None else ImportReport(layer="osm", path="")
    set_actor(s, actor, bulk=True)
    counts: dict[str, int] = {}
    counts.update(_write_network(s, layers.nodes, layers.edges, step=step, progress=progress))
    if "facilities" in include:
        step("写入设施 writing facilities")
        counts["facilities"] = _write_facilities(
            s, layers.facilities, replace_all=replace_all, progress=progress
        )
    if "residences" in include:
        step("写入住户 writing residences")
        counts["residences"] = _write_residences(
            s, layers.residences, replace_all=replace_all, report=report, progress=progress
        )
    if "place_names" in include:
        step("写入地名 writing place names")
        counts["place_names"] = _write_place_names(
            s, layers.place_names, actor=actor, report=report, progress=progress
        )
    record_import(s, actor=actor, layer="osm", summary={**counts, "replace_all": replace_all})
    return counts


def _included(include: Iterable[str]) -> set[str]:
    """The layers to write: ``include`` and the network (always); unknown names refused."""
    chosen = set(include) | {"network"}
    unknown = chosen - set(LAYERS)
    if unknown:
        raise ValidationFailed(f"unknown layers {sorted(unknown)}: choose from {list(LAYERS)}")
    return chosen


def preview_layers(
    s: Session,
    layers: OsmLayers,
    *,
    include: Iterable[str] = LAYERS,
    replace_all: bool = False,
    report: ImportReport,
) -> dict[str, int]:
    """What ``write_layers`` would write and report, by read queries only (dry runs)."""
    include = _included(include)
    counts = {"network_nodes": len(layers.nodes), "network_edges": len(layers.edges)}
    if "facilities" in include:
        counts["facilities"] = len(layers.facilities)
    if "residences" in include:
        homes = layers.residences
        new = pd.DataFrame(
            {
                "lon": shapely.get_x(homes.geometry.to_numpy()),
                "lat": shapely.get_y(homes.geometry.to_numpy()),
                "households": homes["households"].to_numpy(),
                "households_estimated": True,
                "footprint": list(homes["footprint"]),
            }
        )
        dropped = superseded_by_new(s, new, keep="none" if replace_all else "not_osm")
        counts["residences"] = len(homes) - _report_skipped_estimates(dropped, report)
    if "place_names" in include:
        counts["place_names"] = len(_new_place_names(s, layers.place_names, report))
    return counts


def _fit(frame: pd.DataFrame) -> pd.DataFrame:
    """Cut text to the column widths of the tables (OSM values are occasionally longer)."""
    frame = frame.copy()
    for column, width in WIDTHS.items():
        if column in frame.columns:
            frame[column] = frame[column].map(lambda v, w=width: v[:w] if isinstance(v, str) else v)
    return frame


def _write_network(
    s: Session, nodes: pd.DataFrame, edges: gpd.GeoDataFrame, *, step: Step, progress: Progress | None = None
) -> dict[str, int]:
    step("写入路网节点 writing network nodes")
    s.execute(text("TRUNCATE network_edges, network_nodes"))
    points = nodes.assign(geometry=shapely.points(nodes["lon"].to_numpy(), nodes["lat"].to_numpy()))
    counts = {
        "network_nodes": copy_frame(
            s, "network_nodes", points, columns=["node_id"], geometry={"geometry": "geom"}, progress=progress
        )
    }
    step("写入路段 writing network edges")
    counts["network_edges"] = copy_frame(
        s, "network_edges", _fit(edges), columns=EDGE_COLS, geometry={"geometry": "geom"}, progress=progress
    )
    ids.advance(s, "network_nodes", "network_edges")  # OSM node ids and the edges' own ids
    return counts


def _write_facilities(
    s: Session, facilities: pd.DataFrame, *, replace_all: bool, progress: Progress | None = None
) -> int:
    s.execute(text("DELETE FROM facilities" + ("" if replace_all else " WHERE source LIKE 'osm:%'")))
    ensure_facility_types(s, facilities["type_code"].unique())
    frame = _fit(facilities).assign(
        facility_id=ids.allocate(s, "facilities", len(facilities)),
        geometry=shapely.points(facilities["lon"].to_numpy(), facilities["lat"].to_numpy()),
    )
    return copy_frame(
        s, "facilities", frame, columns=FACILITY_COLS, geometry={"geometry": "geom"}, progress=progress
    )


def _write_residences(
    s: Session,
    homes: gpd.GeoDataFrame,
    *,
    replace_all: bool,
    report: ImportReport,
    progress: Progress | None = None,
) -> int:
    """Replace the OSM estimates; those that real residences supersede are dropped (and reported)."""

    s.execute(text("DELETE FROM residences" + ("" if replace_all else " WHERE source LIKE 'osm:%'")))
    frame = _fit(homes).assign(residence_id=ids.allocate(s, "residences", len(homes)))
    n = copy_frame(
        s,
        "residences",
        frame,
        columns=RESIDENCE_COLS,
        geometry={"geometry": "geom", "footprint": "footprint"},
        progress=progress,
    )
    assign_residence_areas(s)
    return n - _report_skipped_estimates(drop_superseded_estimates(s), report)


def _report_skipped_estimates(dropped: Superseded, report: ImportReport) -> int:
    """Report the estimates real residences supersede; returns how many."""
    report.summary["estimates_skipped"] = int(dropped["removed"])
    if dropped["removed"]:
        report.warn(
            None,
            "building",
            f"{dropped['removed']:.0f} building estimates ({dropped['households']:.0f} "
            f"households) skipped because real residences (一标三实) exist there: {dropped['near_real']:.0f} "
            f"within {dropped['radius_m']:g} m of a real address, {dropped['in_real_grid']:.0f} elsewhere in "
            "a small grid with real addresses",
            "nothing to do: real counts replace estimates (the distance is real_data_radius_m of "
            "data/household_estimate.csv)",
        )
    return int(dropped["removed"])


def _write_place_names(
    s: Session, names: gpd.GeoDataFrame, *, actor: str, report: ImportReport, progress: Progress | None = None
) -> int:
    """Add names not yet registered (same name and category) with their sign text; officers' names
    are never touched."""

    new = _new_place_names(s, names, report)
    new = new.assign(name_id=ids.allocate(s, "place_names", len(new)))
    n = copy_frame(
        s,
        "place_names",
        new,
        columns=["name_id", "name", "category"],
        geometry={"geometry": "geom"},
        progress=progress,
    )
    fill_pinyin(s, name_ids=new["name_id"].tolist())  # sign text: proper part, generic part, pinyin
    s.execute(
        text(
            "INSERT INTO place_name_history (name_id, action, new_name, changed_by, after) "
            "SELECT name_id, 'create', name, :a, jsonb_build_object('name', name, 'pinyin', pinyin, "
            "'source', 'OpenStreetMap') FROM place_names WHERE name_id = ANY(:ids)"
        ),
        {"a": actor, "ids": new["name_id"].tolist()},
    )
    assign_place_name_areas(s)
    return n


def _new_place_names(s: Session, names: gpd.GeoDataFrame, report: ImportReport) -> gpd.GeoDataFrame:
    """The names to add: too long ones and those registered with the same category are left out
    (and reported)."""
    stored = pd.DataFrame(
        s.execute(text("SELECT name, category FROM place_names")).all(), columns=["name", "category"]
    )
    too_long = names["name"].str.len() > WIDTHS["name"]
    if too_long.any():
        report.warn(
            None,
            "name",
            f"{int(too_long.sum())} names longer than {WIDTHS['name']} characters skipped, "
            f"e.g. {names.loc[too_long, 'source'].iloc[0]}",
            "shorten the name in OpenStreetMap",
        )
    names = names[~too_long]
    new = names.merge(stored.assign(_stored=True), on=["name", "category"], how="left")
    repeat = new["_stored"].notna()
    if repeat.any():
        shown = "、".join(new.loc[repeat, "name"].head(8)) + ("…" if repeat.sum() > 8 else "")
        report.warn(
            None,
            "name",
            f"{int(repeat.sum())} names already registered with the same category were skipped: {shown}",
            "edit registered names in the registry (their history is kept there)",
        )
    report.summary["names_already_registered"] = int(repeat.sum())
    return new[~repeat].drop(columns="_stored")


def source_label(*, path=None, place=None, polygon=None, bbox=None) -> str:
    """What was imported, for the report: the file, else the online area."""
    if path is not None:
        return str(path)
    if place is not None:
        return f"OpenStreetMap online: {place}"
    return "OpenStreetMap online: " + (
        "polygon" if polygon is not None else f"bbox {','.join(map(str, bbox or ()))}"
    )


def import_osm(
    s: Session,
    *,
    path: str | Path | None = None,
    place: str | None = None,
    polygon=None,
    bbox: tuple[float, float, float, float] | None = None,
    network: str = "all",
    include: Iterable[str] = LAYERS,
    replace_all: bool = False,
    actor: str = "osm-import",
    dry_run: bool = False,
    step: Step | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Read (offline ``path``, else online by ``place``/``polygon``/``bbox``), build and write.

    One transaction: the caller's session. ``dry_run`` writes nothing (a read-only savepoint):
    ``preview_layers`` counts what would be written and skipped with read queries.

    Returns
    -------
    ImportReport: ``summary`` holds the rows written per table (``would_write`` on a dry run),
    ``estimates_skipped``, ``names_already_registered``, ``network`` and ``seconds``; ``warnings``
    say what was dropped or not mapped: street fragments, multipolygons that could not be
    assembled, tags matching no facility type, unnamed facilities and places, implausible
    ``building:levels``, names already registered, estimates superseded by real residences.
    """
    t0 = time.perf_counter()
    step = step or (lambda _label: None)
    report = ImportReport(
        layer="osm", path=source_label(path=path, place=place, polygon=polygon, bbox=bbox), dry_run=dry_run
    )
    tables = MappingTables.read()
    step("读取 reading OSM")
    if path is not None:
        layers = build_layers(
            read_osm(path, bbox=bbox, tables=tables, step=step), network=network, tables=tables, step=step
        )
    else:
        net, feats = download_osm(place=place, polygon=polygon, bbox=bbox, network=network, tables=tables)
        step("路网 network")
        layers = layers_from(net, feats, tables=tables, step=step)
    report.rows = layers.elements
    for f in layers.findings:
        report.warn(None, f["column"], f["problem"], f["fix"])
    if dry_run:
        with read_only(s):
            counts = preview_layers(s, layers, include=include, replace_all=replace_all, report=report)
        report.summary["would_write"] = sum(counts.values())
    else:
        counts = write_layers(
            s,
            layers,
            include=include,
            replace_all=replace_all,
            actor=actor,
            step=step,
            report=report,
            progress=progress,
        )
        report.written = sum(counts.values())
    report.summary = {
        **counts,
        **report.summary,
        "network": network,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return report
