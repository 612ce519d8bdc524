"""The public map (``/``): services near me, who my grid worker is, 15 minutes on foot.

Facilities by category with our own DivIcons, drawn from the clustered facility tiles
(``/tiles/facility_clusters``, 512 px tiles: one bubble with its count per cell of a tile below tile zoom
``layers.tiles.FACILITY_CLUSTER_BELOW``, each facility from it on; one switch per category in the layer
control); their rows (popups, search, lists) come after the map is up from ``/map-data/facilities``;
small grids with the grid worker's public work contact, the offline base map, place-name search and
the "15分钟内能到哪里" isochrones fetched from ``/isochrones``. Nothing personal: no residences, no
household counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import folium
import numpy as np
import pandas as pd

from geo.chinacrs import wgs84_to_bd09, wgs84_to_gcj02
from layers.tiles import FACILITY_CLUSTER_BELOW
from maps.basemap import add_base_layers
from maps.page import (
    AttachScript,
    DistrictView,
    PageHtml,
    ResponsiveLayerControl,
    add_html,
    finish,
    page_map,
    render,
)


@dataclass(frozen=True)
class Category:
    name: str
    color: str
    glyph: str


# Facility category (data/facility_types.csv `category`) → legend name, colour, one-character glyph.
CATEGORIES: dict[str, Category] = {
    "education": Category("教育", "#1e6fd9", "教"),
    "health": Category("医疗卫生", "#d93025", "医"),
    "elderly": Category("养老服务", "#e8710a", "老"),
    "admin": Category("社区服务", "#3f51b5", "服"),
    "culture": Category("文化", "#8e24aa", "文"),
    "sports": Category("体育健身", "#188038", "体"),
    "commerce": Category("菜市场", "#c2185b", "市"),
    "social": Category("儿童与社工", "#00838f", "童"),
    "municipal": Category("环卫设施", "#6d4c41", "环"),
    "other": Category("其他", "#5f6b7a", "其"),
}
ISOCHRONE_MINUTES = (5, 10, 15)
ISOCHRONE_PROFILES = {"walk": "步行", "walk_elderly": "老年人步行"}
"""Travel profiles offered for "15分钟内能到哪里" (data/profiles.csv) and how the panel names them."""
FACILITY_COLUMNS = [
    "id",
    "lat",
    "lon",
    "type",
    "name",
    "address",
    "hours",
    "phone",
    "status",
    "capacity",
    "fees",
    "intake",
    "gcj",
    "bd",
]
FACILITY_PART_ROWS = 2_500
"""Facility rows per part when they travel beside the page (about 110 KB gzip a part)."""
FULL_LOAD = 1.0
"""A facility whose load (its catchment's demand over its capacity, latest coverage run) reaches this is
shown as 已满 (full); below it 可接收; without a load (no run, a stale run, no capacity) 不详."""


def _clean(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value


def intake(facilities: pd.DataFrame, loads: pd.DataFrame | None) -> pd.Series:
    """Per facility ``"open"`` (takes new users), ``"full"`` or None (unknown), from ``loads``
    (facility_id, load of the latest coverage run; None when there is no current run)."""
    if loads is None or loads.empty:
        return pd.Series([None] * len(facilities), index=facilities.index, dtype=object)
    load = (
        facilities["facility_id"]
        .map(dict(zip(loads["facility_id"], loads["load"], strict=True)))
        .astype(float)
    )
    state = np.where(load >= FULL_LOAD, "full", "open").astype(object)
    state[load.isna().to_numpy()] = None
    return pd.Series(state, index=facilities.index, dtype=object)


def facility_rows(facilities: pd.DataFrame, loads: pd.DataFrame | None = None) -> list[list[Any]]:
    """Compact rows in ``FACILITY_COLUMNS`` order (JSON arrays are a third of the size of objects);
    ``gcj`` / ``bd``: the position in GCJ-02 / BD-09 for the navigation apps (``geo.chinacrs``)."""
    cols = [
        "facility_id",
        "lat",
        "lon",
        "type_code",
        "name",
        "address",
        "opening_hours",
        "phone",
        "status",
        "capacity",
        "fees",
    ]
    gcj = np.column_stack(
        wgs84_to_gcj02(facilities["lon"].to_numpy(float), facilities["lat"].to_numpy(float))
    )
    bd = np.column_stack(wgs84_to_bd09(facilities["lon"].to_numpy(float), facilities["lat"].to_numpy(float)))
    taking = intake(facilities, loads).tolist()
    return [
        [_clean(v) for v in row]
        + [taking[i], [round(float(c), 6) for c in gcj[i]], [round(float(c), 6) for c in bd[i]]]
        for i, row in enumerate(facilities.reindex(columns=cols).itertuples(index=False, name=None))
    ]


def facility_parts(rows: list[list[Any]], *, size: int = FACILITY_PART_ROWS) -> list[list[list[Any]]]:
    """``facility_rows`` in parts of at most ``size`` rows (at least one part, empty without facilities)."""
    return [rows[i : i + size] for i in range(0, max(len(rows), 1), size)]


def _categories(facilities: pd.DataFrame, types: pd.DataFrame) -> list[dict[str, Any]]:
    category_of = types.set_index("code")["category"].to_dict()
    counts = (
        facilities["type_code"]
        .map(category_of)
        .fillna("other")
        .where(lambda c: c.isin(list(CATEGORIES)), "other")
        .value_counts()
    )
    return [
        {"code": code, "name": c.name, "color": c.color, "glyph": c.glyph, "count": int(counts.get(code, 0))}
        for code, c in CATEGORIES.items()
        if counts.get(code, 0)
    ]


def _unit(capacity_unit: Any) -> str | None:
    """The Chinese unit of a type's capacity: ``"床位 beds"`` → ``"床位"``."""
    return capacity_unit.split()[0] if isinstance(capacity_unit, str) and capacity_unit.strip() else None


def map_centre(bounds: list[list[float]] | None) -> tuple[float, float]:
    if not bounds:
        return (23.0, 113.3)
    (s, w), (n, e) = bounds
    return ((s + n) / 2, (w + e) / 2)


def build_public_map(
    *,
    district: dict[str, Any],
    facilities: pd.DataFrame,
    facility_types: pd.DataFrame,
    grid_tiles: str,
    basemap: dict[str, Any],
    placename_categories: dict[str, str] | None = None,
    tianditu_key: str | None = None,
    loads: pd.DataFrame | None = None,
    facility_parts: tuple[str, int] | None = None,
    facility_tiles: str | None = None,
) -> PageHtml:
    """The public map page: its HTML and the hashes of its inline scripts (``PageHtml``).

    Parameters
    ----------
    district : ``{"name", "bounds": [[south, west], [north, east]], "demo"}`` (degrees, EPSG:4326).
    facilities : open facilities with public columns (``maps.sources.public_facilities``).
    facility_types : the facility type table (code, name_zh, category).
    grid_tiles : URL template of the small grids' vector tiles
        (``/tiles/grids/{z}/{x}/{y}.mvt?level=grid_small``): the grids with the grid worker's public work
        contact are drawn from them, not embedded.
    basemap : ``maps.basemap.offline_data`` output.
    placename_categories : place-name category code → Chinese name (for search results).
    tianditu_key : 天地图 ``tk``; when None the 天地图 layers are not offered.
    loads : facility_id, load of the latest current coverage run (None: whether a facility takes new
        users is shown as unknown).
    facility_parts : (URL with ``{part}``, number of parts): the facility rows (``facility_parts``) are read
        from there in parallel instead of travelling in the page; None: in the page.
    facility_tiles : URL template of the clustered facility tiles
        (``/tiles/facility_clusters/{z}/{x}/{y}.mvt?status=open``): the map draws the facilities from them
        and reads the rows (``facility_parts``) once it is up, for popups, search and lists; None: no
        facility is drawn (the rows still serve search and lists).
    """
    m = page_map(
        title=f"民情地图 · {district['name']} · 公共服务地图",
        page="public",
        center=map_centre(district.get("bounds")),
        zoom=13,
    )
    if district.get("bounds"):
        m.add_child(DistrictView(district["bounds"]))  # before the base map: its tiles are made for this view
    add_base_layers(m, basemap, tianditu_key=tianditu_key)

    categories = _categories(facilities, facility_types)
    switches: dict[str, Any] = {}
    for c in categories:  # one switch per category in the layer control (the markers come from the tiles)
        label = (
            f'<span class="mq-icon" style="background:{c["color"]}">{c["glyph"]}</span>'
            f'{c["name"]} <span class="mq-count">{c["count"]}</span>'
        )
        switch = folium.FeatureGroup(name=label, show=True)
        m.add_child(switch)
        switches[f"cat_{c['code']}"] = switch
    grid_group = folium.FeatureGroup(name='<span class="mq-swatch mq-sw-grid"></span>网格与网格员', show=True)
    m.add_child(grid_group)
    iso_group = folium.FeatureGroup(name="步行可达范围", control=False)
    m.add_child(iso_group)
    m.add_child(ResponsiveLayerControl(position="topright", collapsed=False))

    types = {
        r.code: {
            "name": r.name_zh,
            "category": r.category if r.category in CATEGORIES else "other",
            "unit": _unit(getattr(r, "capacity_unit", None)),
        }
        for r in facility_types.itertuples()
    }
    data = {
        "district": district,
        "categories": categories,
        "types": types,
        "facility_columns": FACILITY_COLUMNS,
        "facilities": [] if facility_parts else facility_rows(facilities, loads),
        "facility_parts": {"url": facility_parts[0], "parts": facility_parts[1]} if facility_parts else None,
        "facility_tiles": facility_tiles,
        "facility_cluster_below": FACILITY_CLUSTER_BELOW
        + 1,  # map zoom: the page draws tiles of zoom z at z + 1
        "grid_tiles": grid_tiles,
        "placename_categories": placename_categories or {},
        "isochrone": {"minutes": list(ISOCHRONE_MINUTES), "profile": "walk", "profiles": ISOCHRONE_PROFILES},
    }
    m.add_child(
        AttachScript(
            "minqing.public",
            layers={"grids": grid_group, "isochrones": iso_group, **switches},
            data=data,
        )
    )
    add_html(
        m,
        render(
            "public_panel.html",
            page="public",
            district=district["name"],
            subtitle="公共服务地图",
            demo=district.get("demo", False),
            search=True,
            categories=categories,
        ),
    )
    return finish(m)
