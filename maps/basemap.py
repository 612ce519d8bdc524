"""Base maps: an offline one drawn from our own layers (the default), tiles only when asked for.

The offline base map is GeoJSON of roads merged by class and name, water polygons and area outlines
with label points, simplified in the metric (UTM) projection and drawn by Leaflet's canvas renderer
in ``maps/static/minqing.js``. It needs no request to any other host.

天地图 (vector or imagery, each with its label layer; key from the caller) and OpenStreetMap are
added to the layer control as optional base layers with ``show=False``: folium never adds them to
the map, so not one tile is requested unless the user picks them.
"""

from __future__ import annotations

from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.map import Layer
from folium.template import Template

from geo.crs import simplify_m, to_metric
from maps.page import js_json

# OSM highway → drawing class (wide to narrow); anything else is drawn as a path.
ROAD_CLASS = {
    "motorway": "major",
    "trunk": "major",
    "primary": "major",
    "motorway_link": "major",
    "trunk_link": "major",
    "primary_link": "major",
    "secondary": "secondary",
    "tertiary": "secondary",
    "secondary_link": "secondary",
    "tertiary_link": "secondary",
    "residential": "minor",
    "unclassified": "minor",
    "living_street": "minor",
    "road": "minor",
    "service": "service",
    "track": "service",
}
ROAD_ORDER = ("path", "service", "minor", "secondary", "major")
AREA_LEVELS = ("district", "town", "community")

OFFLINE_NAME = "本地底图(离线)"
OSM_NAME = "OpenStreetMap 在线地图"
TIANDITU_VEC_NAME = "天地图 矢量"
TIANDITU_IMG_NAME = "天地图 影像"
_TIANDITU = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
    "&TILECOL={x}&tk={tk}"
)
_TIANDITU_ATTR = "© 天地图 国家地理信息公共服务平台"
_OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_OSM_ATTR = "© OpenStreetMap contributors"
TILE_HOSTS = ("https://tile.openstreetmap.org", "https://*.tianditu.gov.cn")
"""Where the optional online base maps load their tiles from (the pages' CSP allows these images)."""


def _round(geom: Any, digits: int = 5) -> Any:
    # 5 decimals ≈ 1 m: plenty for display, and it halves the size of the JSON.
    return shapely.set_precision(geom, 10.0**-digits) if geom is not None else None


def simplify(frame: gpd.GeoDataFrame, *, tolerance_m: float) -> gpd.GeoSeries:
    """Geometries of ``frame`` simplified with ``tolerance_m`` metres in UTM, back in EPSG:4326."""
    if frame.empty:
        return frame.geometry
    return simplify_m(frame.geometry, tolerance_m).map(_round)


def _features(geoms: gpd.GeoSeries, props: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for geom, (_, row) in zip(geoms, props.iterrows(), strict=True):
        if geom is None or geom.is_empty:
            continue
        clean = {k: (None if (isinstance(v, float) and np.isnan(v)) else v) for k, v in row.items()}
        out.append({"type": "Feature", "properties": clean, "geometry": shapely.geometry.mapping(geom)})
    return out


def _collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def road_features(edges: gpd.GeoDataFrame, *, tolerance_m: float = 3.0) -> dict[str, Any]:
    """Roads merged per (class, name) into multilines, simplified; properties ``c`` class, ``n`` name.

    Gated compounds' private roads (``access='private'``) are drawn as service roads: they are streets
    on the ground, only not public.
    """
    if edges.empty:
        return _collection([])
    frame = edges[["highway", "name", "geometry"]].copy()
    frame["c"] = frame["highway"].map(ROAD_CLASS).fillna("path")
    frame["n"] = frame["name"].where(frame["name"].notna(), "")
    merged = (
        frame.groupby(["c", "n"], sort=False)["geometry"]
        .apply(lambda g: shapely.line_merge(shapely.union_all(g.to_numpy())))
        .reset_index()
    )
    merged = gpd.GeoDataFrame(merged, geometry="geometry", crs=4326)
    merged["rank"] = merged["c"].map({c: i for i, c in enumerate(ROAD_ORDER)})
    merged = merged.sort_values("rank").reset_index(drop=True)
    props = merged[["c", "n"]].replace({"n": {"": None}})
    return _collection(_features(simplify(merged, tolerance_m=tolerance_m), props))


def road_labels(edges: gpd.GeoDataFrame) -> list[list[float | str]]:
    """One label per named public road at the middle of its longest piece, written along the street:
    ``[lat, lon, name, class, angle]`` (degrees clockwise from east on screen, within ±90 so it reads
    left to right)."""
    if edges.empty:
        return []
    named = edges[edges["name"].notna() & (edges["name"] != "")].copy()
    named = named[named["highway"].map(ROAD_CLASS).isin(["major", "secondary", "minor"])]
    if named.empty:
        return []
    named["metric_len"] = to_metric(named.geometry).length
    longest = named.sort_values("metric_len").groupby("name").tail(1)
    points = shapely.line_interpolate_point(longest.geometry.to_numpy(), 0.5, normalized=True)
    metric = to_metric(longest.geometry).to_numpy()
    ahead = shapely.line_interpolate_point(metric, 0.55, normalized=True)
    behind = shapely.line_interpolate_point(metric, 0.45, normalized=True)
    dx, dy = shapely.get_x(ahead) - shapely.get_x(behind), shapely.get_y(ahead) - shapely.get_y(behind)
    angle = -np.degrees(np.arctan2(dy, dx))  # screen y points down
    angle = np.where(angle > 90, angle - 180, np.where(angle <= -90, angle + 180, angle))
    classes = longest["highway"].map(ROAD_CLASS)
    return [
        [round(p.y, 5), round(p.x, 5), n, c, round(float(a), 1)]
        for p, n, c, a in zip(points, longest["name"], classes, angle, strict=True)
    ]


SEA_BANDS = ((600.0, 1.0), (1200.0, 0.75), (2000.0, 0.5), (3000.0, 0.25))
"""The sea is drawn as bands following the coast: (distance from the land, metres; opacity). Beyond the
last band the map's paper shows, so the sea fades out instead of ending in its data's rectangle."""


def sea_features(
    water: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, *, tolerance_m: float = 8.0
) -> dict[str, Any]:
    """The sea as bands along the coast (properties ``o`` opacity, ``b`` band) and the coastline
    (``b`` = ``"coast"``): the land is the district's area(s) plus the islands (holes) of the sea."""
    sea = water[water["kind"] == "sea"] if "kind" in water.columns else water.iloc[:0]
    district = areas[areas["level"] == "district"] if "level" in areas.columns else areas.iloc[:0]
    if sea.empty:
        return _collection([])
    metric = to_metric(sea.geometry)
    sea_m, crs = shapely.union_all(metric.to_numpy()), metric.crs
    parts = shapely.get_parts(sea_m)
    # islands inside the sea
    holes = [
        shapely.Polygon(shapely.get_interior_ring(p, i))
        for p in parts
        for i in range(shapely.get_num_interior_rings(p))
    ]
    land = [*to_metric(district.geometry).to_numpy(), *holes] if not district.empty else holes
    land_m = shapely.union_all(land) if land else shapely.Polygon()
    if land_m.is_empty:  # no land to follow: the sea as it is
        simple = metric.simplify(tolerance_m, preserve_topology=True).to_crs(4326).map(_round)
        return _collection(_features(simple, pd.DataFrame({"b": 0, "o": 1.0}, index=sea.index)))
    # Beyond the sea data's extent the sea is taken to go on, so no band is cut straight by its edge.
    extent = to_metric(gpd.GeoSeries([shapely.box(*sea.total_bounds)], crs=4326)).iloc[0]
    far = shapely.buffer(land_m, SEA_BANDS[-1][0], quad_segs=4)
    water_m = shapely.difference(
        shapely.union_all([sea_m, shapely.difference(far, shapely.buffer(extent, -5.0))]), land_m
    )
    geoms, inner = [], shapely.Polygon()
    props: list[dict[str, int | float | str]] = []
    for i, (dist, opacity) in enumerate(SEA_BANDS):
        reach = shapely.buffer(land_m, dist, quad_segs=4)
        band = shapely.difference(shapely.intersection(water_m, reach), inner)
        inner = reach
        geoms.append(band)
        props.append({"b": i, "o": opacity})
    coast = shapely.intersection(shapely.boundary(land_m), shapely.buffer(sea_m, 2.0))
    geoms.append(coast)
    props.append({"b": "coast", "o": 1.0})
    frame = gpd.GeoDataFrame(geometry=gpd.GeoSeries(geoms, crs=crs))
    simple = frame.geometry.simplify(tolerance_m, preserve_topology=True).to_crs(4326).map(_round)
    return _collection(_features(simple, pd.DataFrame(props)))


def block_features(place_names: gpd.GeoDataFrame | None, *, tolerance_m: float = 3.0) -> dict[str, Any]:
    """Built-up blocks and parks where the data has them (the polygons of estates, zones and parks in
    the place-name registry); property ``k``: ``built`` or ``park``."""
    if place_names is None or place_names.empty:
        return _collection([])
    kinds = {"estate": "built", "zone": "built", "park": "park"}
    polys = place_names[
        place_names["category"].isin(list(kinds))
        & place_names.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    ]
    if polys.empty:
        return _collection([])
    props = pd.DataFrame({"k": polys["category"].map(kinds)}, index=polys.index)
    return _collection(_features(simplify(polys, tolerance_m=tolerance_m), props))


def water_features(water: gpd.GeoDataFrame, *, tolerance_m: float = 5.0) -> dict[str, Any]:
    """Inland water polygons (the sea: ``sea_features``), simplified; properties ``k`` kind, ``n``
    name, ``p`` label [lat, lon] (the sea's label too, with no geometry drawn)."""
    if water.empty:
        return _collection([])
    props = water[["kind", "name"]].rename(columns={"kind": "k", "name": "n"})
    # A label point inside the water (the centre of a sea around an island is on land).
    labels = shapely.point_on_surface(water.geometry.to_numpy())
    props["p"] = [[round(p.y, 5), round(p.x, 5)] for p in labels]
    geoms = simplify(water, tolerance_m=tolerance_m)
    sea = (water["kind"] == "sea").to_numpy()
    # the sea keeps only its label (a point near the coast, in the first band), drawn by sea_features
    geoms = gpd.GeoSeries(
        [shapely.Point(p[1], p[0]) if s else g for g, p, s in zip(geoms, props["p"], sea, strict=True)],
        crs=4326,
    )
    return _collection(_features(geoms, props))


def area_features(areas: gpd.GeoDataFrame, *, tolerance_m: float = 5.0) -> dict[str, Any]:
    """Outlines of district, towns and communities;
    properties ``l`` level, ``n`` name, ``p`` label [lat, lon].
    """
    frame = areas[areas["level"].isin(AREA_LEVELS)].copy()
    if frame.empty:
        return _collection([])
    frame["geometry"] = shapely.boundary(frame.geometry.to_numpy())
    labels = shapely.point_on_surface(areas.loc[frame.index].geometry.to_numpy())
    props = pd.DataFrame(
        {"l": frame["level"], "n": frame["name"], "p": [[round(p.y, 5), round(p.x, 5)] for p in labels]},
        index=frame.index,
    )
    return _collection(_features(simplify(frame, tolerance_m=tolerance_m), props))


def area_labels(areas: gpd.GeoDataFrame) -> list[list[Any]]:
    """One label per town and community inside its polygon: ``[lat, lon, name, level]``."""
    frame = areas[areas["level"].isin(("town", "community"))]
    points = shapely.point_on_surface(frame.geometry.to_numpy())
    return [
        [round(p.y, 5), round(p.x, 5), n, lv]
        for p, n, lv in zip(points, frame["name"], frame["level"], strict=True)
    ]


def offline_data(
    *,
    edges: gpd.GeoDataFrame,
    water: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    place_names: gpd.GeoDataFrame | None = None,
    tiles: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Everything the offline base map draws, as plain JSON-ready data (EPSG:4326, lon/lat).

    With ``tiles`` (tile layer → URL template, ``/tiles/roads/{z}/{x}/{y}.mvt?v=…``) roads, area
    outlines and blocks are drawn from vector tiles (``layers.tiles``) and only the labels, water and
    sea are embedded: the page stays small whatever the size of the city.
    """
    if tiles:
        return {
            "tiles": tiles,
            "road_class": ROAD_CLASS,
            "road_labels": road_labels(edges),
            "water": water_features(water),
            "sea": sea_features(water, areas),
            "area_labels": area_labels(areas),
        }
    return {
        "roads": road_features(edges),
        "road_labels": road_labels(edges),
        "water": water_features(water),
        "sea": sea_features(water, areas),
        "blocks": block_features(place_names),
        "areas": area_features(areas),
    }


class OfflineBase(Layer):
    """The offline base layer: a ``L.featureGroup`` filled by ``minqing.basemap`` from embedded data."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.featureGroup();
            minqing.basemap({{ this._parent.get_name() }}, {{ this.get_name() }}, {{ this.json }});
        {% endmacro %}
        """
    )

    def __init__(self, data: dict[str, Any], *, name: str = OFFLINE_NAME) -> None:
        super().__init__(name=name, overlay=False, control=True, show=True)
        self._name = "OfflineBase"
        self.json = js_json(data)


class TileGroup(Layer):
    """An optional tile base layer (possibly a stack, e.g. 天地图 vector + labels), not shown at start."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.layerGroup([
            {%- for t in this.tiles %}
                L.tileLayer({{ t.url|tojson }}, {{ t.options|tojson }}),
            {%- endfor %}
            ]);
        {% endmacro %}
        """
    )

    def __init__(self, name: str, tiles: list[dict[str, Any]]) -> None:
        super().__init__(name=name, overlay=False, control=True, show=False)
        self._name = "TileGroup"
        self.tiles = tiles


def _tianditu(layer: str, key: str) -> dict[str, Any]:
    return {
        "url": _TIANDITU.replace("{layer}", layer).replace("{tk}", key),
        "options": {"subdomains": "01234567", "maxZoom": 18, "attribution": _TIANDITU_ATTR},
    }


def add_base_layers(m: folium.Map, data: dict[str, Any], *, tianditu_key: str | None = None) -> OfflineBase:
    """Add the offline base (shown) and the optional online bases (hidden) to ``m``."""
    base = OfflineBase(data)
    m.add_child(base)
    if tianditu_key:
        m.add_child(
            TileGroup(TIANDITU_VEC_NAME, [_tianditu("vec", tianditu_key), _tianditu("cva", tianditu_key)])
        )
        m.add_child(
            TileGroup(TIANDITU_IMG_NAME, [_tianditu("img", tianditu_key), _tianditu("cia", tianditu_key)])
        )
    m.add_child(
        TileGroup(OSM_NAME, [{"url": _OSM_URL, "options": {"maxZoom": 19, "attribution": _OSM_ATTR}}])
    )
    return base
