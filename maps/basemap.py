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

from geo.crs import to_metric
from maps.page import js_json

# OSM highway → drawing class (wide to narrow); anything else is drawn as a path.
ROAD_CLASS = {
    "motorway": "major", "trunk": "major", "primary": "major",
    "motorway_link": "major", "trunk_link": "major", "primary_link": "major",
    "secondary": "secondary", "tertiary": "secondary", "secondary_link": "secondary",
    "tertiary_link": "secondary",
    "residential": "minor", "unclassified": "minor", "living_street": "minor", "road": "minor",
    "service": "service", "track": "service",
}
ROAD_ORDER = ("path", "service", "minor", "secondary", "major")
AREA_LEVELS = ("district", "town", "community")

OFFLINE_NAME = "本地底图(离线)"
OSM_NAME = "OpenStreetMap 在线地图"
TIANDITU_VEC_NAME = "天地图 矢量"
TIANDITU_IMG_NAME = "天地图 影像"
_TIANDITU = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
             "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
             "&TILECOL={x}&tk={tk}")
_TIANDITU_ATTR = "© 天地图 国家地理信息公共服务平台"
_OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_OSM_ATTR = "© OpenStreetMap contributors"
TILE_HOSTS = ("https://tile.openstreetmap.org", "https://*.tianditu.gov.cn")
"""Where the optional online base maps load their tiles from (the pages' CSP allows these images)."""


def _round(geom: Any, digits: int = 5) -> Any:
    # 5 decimals ≈ 1 m: plenty for display, and it halves the size of the JSON.
    return shapely.set_precision(geom, 10.0 ** -digits) if geom is not None else None


def simplify(frame: gpd.GeoDataFrame, *, tolerance_m: float) -> gpd.GeoSeries:
    """Geometries of ``frame`` simplified with ``tolerance_m`` metres in UTM, back in EPSG:4326."""
    if frame.empty:
        return frame.geometry
    metric = to_metric(frame.geometry)
    simple = metric.simplify(tolerance_m, preserve_topology=True)
    return simple.to_crs(4326).map(_round)


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
    merged = (frame.groupby(["c", "n"], sort=False)["geometry"]
              .apply(lambda g: shapely.line_merge(shapely.union_all(g.to_numpy())))
              .reset_index())
    merged = gpd.GeoDataFrame(merged, geometry="geometry", crs=4326)
    merged["rank"] = merged["c"].map({c: i for i, c in enumerate(ROAD_ORDER)})
    merged = merged.sort_values("rank").reset_index(drop=True)
    props = merged[["c", "n"]].replace({"n": {"": None}})
    return _collection(_features(simplify(merged, tolerance_m=tolerance_m), props))


def road_labels(edges: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """One label point per named public road: the middle of its longest piece, ``[lat, lon, name, class]``."""
    if edges.empty:
        return []
    named = edges[edges["name"].notna() & (edges["name"] != "")].copy()
    named = named[named["highway"].map(ROAD_CLASS).isin(["major", "secondary", "minor"])]
    if named.empty:
        return []
    named["metric_len"] = to_metric(named.geometry).length
    longest = named.sort_values("metric_len").groupby("name").tail(1)
    points = shapely.line_interpolate_point(longest.geometry.to_numpy(), 0.5, normalized=True)
    classes = longest["highway"].map(ROAD_CLASS)
    return [[round(p.y, 5), round(p.x, 5), n, c] for p, n, c in zip(points, longest["name"], classes,
                                                                    strict=True)]


def water_features(water: gpd.GeoDataFrame, *, tolerance_m: float = 5.0) -> dict[str, Any]:
    """Water polygons, simplified; properties ``k`` kind, ``n`` name, ``p`` label [lat, lon]."""
    if water.empty:
        return _collection([])
    props = water[["kind", "name"]].rename(columns={"kind": "k", "name": "n"})
    # A label point inside the water (the centre of a sea around an island is on land).
    labels = shapely.point_on_surface(water.geometry.to_numpy())
    props["p"] = [[round(p.y, 5), round(p.x, 5)] for p in labels]
    return _collection(_features(simplify(water, tolerance_m=tolerance_m), props))


def area_features(areas: gpd.GeoDataFrame, *, tolerance_m: float = 5.0) -> dict[str, Any]:
    """Outlines of district, towns and communities; properties ``l`` level, ``n`` name, ``p`` label [lat, lon]."""
    frame = areas[areas["level"].isin(AREA_LEVELS)].copy()
    if frame.empty:
        return _collection([])
    frame["geometry"] = shapely.boundary(frame.geometry.to_numpy())
    labels = shapely.point_on_surface(areas.loc[frame.index].geometry.to_numpy())
    props = pd.DataFrame({"l": frame["level"], "n": frame["name"],
                          "p": [[round(p.y, 5), round(p.x, 5)] for p in labels]}, index=frame.index)
    return _collection(_features(simplify(frame, tolerance_m=tolerance_m), props))


def offline_data(*, edges: gpd.GeoDataFrame, water: gpd.GeoDataFrame,
                 areas: gpd.GeoDataFrame) -> dict[str, Any]:
    """Everything the offline base map draws, as plain JSON-ready data (EPSG:4326, lon/lat)."""
    return {
        "roads": road_features(edges),
        "road_labels": road_labels(edges),
        "water": water_features(water),
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
    return {"url": _TIANDITU.replace("{layer}", layer).replace("{tk}", key),
            "options": {"subdomains": "01234567", "maxZoom": 18, "attribution": _TIANDITU_ATTR}}


def add_base_layers(m: folium.Map, data: dict[str, Any], *, tianditu_key: str | None = None) -> OfflineBase:
    """Add the offline base (shown) and the optional online bases (hidden) to ``m``."""
    base = OfflineBase(data)
    m.add_child(base)
    if tianditu_key:
        m.add_child(TileGroup(TIANDITU_VEC_NAME, [_tianditu("vec", tianditu_key),
                                                 _tianditu("cva", tianditu_key)]))
        m.add_child(TileGroup(TIANDITU_IMG_NAME, [_tianditu("img", tianditu_key),
                                                 _tianditu("cia", tianditu_key)]))
    m.add_child(TileGroup(OSM_NAME, [{"url": _OSM_URL,
                                      "options": {"maxZoom": 19, "attribution": _OSM_ATTR}}]))
    return base
