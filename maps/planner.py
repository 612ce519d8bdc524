"""The planner map (``/planner``, planner/admin): coverage, gaps, catchments, scenarios, compliance.

The page embeds the offline base map, the facility-type table and the latest coverage run; the
numbers themselves come from the planner JSON endpoints of docs/API_CONTRACT.md, fetched by
``maps/static/planner.js`` when the planner picks a facility type, a life circle and a grid tier:
``/coverage/runs/{id}/areas`` (with ``circle`` for one life circle's residents), ``/gaps``,
``/facilities``, ``/catchments``, ``/scenarios``, ``/compliance``. Community polygons are embedded for
the compliance layer (joined to ``/compliance`` by ``area_id``).

The choropleth shows the measure the planner picks, named as officials name them (data/measures.csv,
embedded with their one-line definitions for tooltips): 设施覆盖社区比例 (presence), 服务半径覆盖率
(radius), 步行可达覆盖率 / 半小时可达覆盖率 (network), or the words that say what is wrong per
community (未设置 / 步行可达不足 / 容量不足 / 达标). Siting (``POST /siting``, a polled job) and
scenarios edited by clicking (``POST /scenarios``) run from the panel.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import pandas as pd

from maps.basemap import add_base_layers, simplify
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
from maps.public import map_centre

LEVELS = [
    ("grid_small", "小网格"),
    ("grid_middle", "中网格"),
    ("grid_large", "大网格"),
    ("community", "村(社区)"),
    ("town", "镇(街道)"),
]
CIRCLES = [
    ("all", "全部生活圈"),
    ("5min", "城镇 5分钟生活圈"),
    ("10min", "城镇 10分钟生活圈"),
    ("15min", "城镇 15分钟生活圈"),
    ("village", "乡村 村/组层级"),
    ("township", "乡村 乡集镇层级"),
]
# Which residents a circle applies to: coverage measures a residence with the urban tier when its
# community is urban, else the rural tier (geo.coverage); the map then greys the other class.
CIRCLE_CLASS = {"5min": "urban", "10min": "urban", "15min": "urban", "village": "rural", "township": "rural"}
BASIS_ZH = {"population": "常住人口", "households": "户", "elderly": "60岁以上老人", "children": "0-14岁儿童"}
DEFAULT_TYPE = "elderly_daycare"
# The first view: communities coloured by presence (设施覆盖社区比例, how 民政 reports day-care coverage),
# with the network gaps hatched on top and named; the other measures are one click away.
DEFAULT_LEVEL = "community"
SIMPLIFY_M = 3.0
"""How far (m) the page lets the run's outlines move when drawn (``simplify`` of the run routes)."""
DEFAULT_MEASURE = "presence"
MEASURES_CSV = Path(__file__).resolve().parents[1] / "data" / "measures.csv"
# Before data/measures.csv ships: the same names and definitions (measures.md).
FALLBACK_MEASURES = {
    "presence": (
        "设施覆盖社区比例",
        "设施覆盖行政村比例",
        "设有该类开放设施的社区占社区总数的比例；城市社区与农村社区分别统计",
    ),
    "radius": (
        "服务半径覆盖率",
        "服务半径覆盖率",
        "住所与最近的该类设施直线距离不超过标准服务半径的居民占居民总数的比例",
    ),
    "network": (
        "步行可达覆盖率",
        "半小时可达覆盖率",
        "沿实际道路网络在生活圈时限内可到达该类设施的居民占居民总数的比例",
    ),
    "composite": (
        "生活圈基本公共服务全覆盖率",
        "半小时生活圈基本公共服务全覆盖率",
        "沿道路网络在各自时限内可到达本级全部应配建设施的居民占居民总数的比例",
    ),
}
# Words for what is wrong (measures.md "Words"), with their colours on the map and in the legend.
STATUS_CLASSES = [
    ("达标", "#1a9850", "达标：设有设施，目标比例的居民可达，未超负荷"),
    ("容量不足", "#7b1fa2", "容量不足：可达，但设施服务人数超过设计容量"),
    ("步行可达不足", "#fc8d59", "步行可达不足（农村：可达不足）：有设施，但可达居民不足目标比例"),
    ("未设置", "#d73027", "未设置：社区内没有该类设施，也没有按服务范围规则指定的设施"),
]
# Share of residents covered → colour (lower bound inclusive), red to green; the legend reads it too.
SHARE_CLASSES = [
    (0.95, "#1a9850", "≥95%"),
    (0.80, "#91cf60", "80%–95%"),
    (0.50, "#fee08b", "50%–80%"),
    (0.20, "#fc8d59", "20%–50%"),
    (0.0, "#d73027", "<20%"),
]


def measure_names(path: Path = MEASURES_CSV) -> dict[str, dict[str, str]]:
    """The measures as officials name them: code → ``name``, ``name_rural``, ``definition`` (one line)."""
    if path.exists():
        table = pd.read_csv(path, dtype=str).fillna("")
        return {
            r["code"]: {
                "name": r["name_zh"],
                "name_rural": r["name_rural_zh"] or r["name_zh"],
                "definition": r["definition_zh"],
            }
            for r in table.to_dict("records")
        }
    return {
        code: {"name": n, "name_rural": r, "definition": d} for code, (n, r, d) in FALLBACK_MEASURES.items()
    }


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) or value == "" else str(value)


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) or value == "" else float(value)


def _types(facility_types: pd.DataFrame) -> list[dict[str, Any]]:
    """Types with their tiers and what their capacity is counted in (unit, basis, people per unit)."""
    out = []
    for r in facility_types.sort_values(["category", "code"]).to_dict("records"):
        unit = _text(r.get("capacity_unit"))
        out.append(
            {
                "code": r["code"],
                "name": r["name_zh"],
                "category": r["category"],
                "urban_tier": _text(r["urban_tier"]),
                "rural_tier": _text(r["rural_tier"]),
                "required": bool(r["required"]) if pd.notna(r["required"]) else False,
                "unit": unit.split()[0] if unit else None,
                "basis": _text(r.get("capacity_basis")),
                "per_unit": _number(r.get("basis_per_unit")),
            }
        )
    return out


def _default_type(types: list[dict[str, Any]]) -> str | None:
    return (
        DEFAULT_TYPE
        if any(t["code"] == DEFAULT_TYPE for t in types)
        else (types[0]["code"] if types else None)
    )


def first_view(facility_types: pd.DataFrame) -> tuple[str | None, str, float]:
    """The facility type, area level and simplification (m) of the run results the page asks for
    first (``maps/static/planner.js``, ``load``): what ``api.warm`` builds before anyone asks."""
    return _default_type(_types(facility_types)), DEFAULT_LEVEL, SIMPLIFY_M


def community_features(communities: gpd.GeoDataFrame | None, *, tolerance_m: float = 4.0) -> dict[str, Any]:
    """Community polygons (simplified) with ``id``, ``n`` name and ``u`` urban flag,
    for the compliance layer.
    """
    if communities is None or communities.empty:
        return {"type": "FeatureCollection", "features": []}
    geoms = simplify(communities, tolerance_m=tolerance_m)
    feats = [
        {
            "type": "Feature",
            "properties": {
                "id": int(r["area_id"]),
                "n": r["name"],
                "u": None if pd.isna(r["urban"]) else bool(r["urban"]),
            },
            "geometry": g.__geo_interface__,
        }
        for (_, r), g in zip(communities.iterrows(), geoms, strict=True)
        if g is not None and not g.is_empty
    ]
    return {"type": "FeatureCollection", "features": feats}


def _run(run: dict[str, Any] | None, *, stale: bool) -> dict[str, Any] | None:
    if not run:
        return None
    finished = run.get("finished_at")
    return {
        "run_id": int(run["run_id"]),
        "stale": bool(stale),
        "finished_at": finished.strftime("%Y-%m-%d %H:%M") if isinstance(finished, date) else finished,
    }


def build_planner_map(
    *,
    district: dict[str, Any],
    facility_types: pd.DataFrame,
    basemap: dict[str, Any],
    run: dict[str, Any] | None,
    stale: bool = False,
    communities: gpd.GeoDataFrame | None = None,
    gap_tiles: str | None = None,
    tianditu_key: str | None = None,
) -> PageHtml:
    """The planner page: its HTML and the hashes of its inline scripts (``PageHtml``).

    Parameters
    ----------
    district : ``{"name", "bounds", "demo"}`` (``maps.sources.district``).
    facility_types : the facility type table.
    basemap : ``maps.basemap.offline_data`` output.
    run : the latest finished coverage run (``layers.store.latest_run``) or None.
    stale : True when the data changed since ``run`` was computed.
    communities : community polygons (area_id, name, urban, geometry; EPSG:4326) for the compliance layer.
    gap_tiles : URL template of the gap polygons' vector tiles (``/tiles/gaps/{z}/{x}/{y}.mvt?v=…``; the page
        adds the facility type): the gaps are drawn from them and listed from ``/gaps?geometry=false``.
        None: the gap polygons come as GeoJSON.
    tianditu_key : 天地图 ``tk``; when None the 天地图 layers are not offered.
    """
    m = page_map(
        title=f"民情地图 · {district['name']} · 生活圈规划分析",
        page="planner",
        center=map_centre(district.get("bounds")),
        zoom=13,
    )
    if district.get("bounds"):
        m.add_child(DistrictView(district["bounds"]))  # before the base map: its tiles are made for this view
    add_base_layers(m, basemap, tianditu_key=tianditu_key)
    groups = {
        "coverage": folium.FeatureGroup(name="覆盖率分区", show=True),
        "gaps": folium.FeatureGroup(name="服务缺口", show=True),
        "catchments": folium.FeatureGroup(name="设施服务范围", show=True),
        "facilities": folium.FeatureGroup(name="设施与负荷", show=True),
        "scenario": folium.FeatureGroup(name="情景方案(前后对比)", show=True),
        "compliance": folium.FeatureGroup(name="社区配置达标", show=False),
        "siting": folium.FeatureGroup(name="选址结果", show=True),
        "draft": folium.FeatureGroup(name="方案编辑", show=True),
    }
    for g in groups.values():
        m.add_child(g)
    m.add_child(ResponsiveLayerControl(position="topright", collapsed=False))
    types = _types(facility_types)
    default = _default_type(types)
    data = {
        "district": district,
        "types": types,
        "default_type": default,
        "levels": [{"code": c, "name": n} for c, n in LEVELS],
        "circles": [{"code": c, "name": n, "class": CIRCLE_CLASS.get(c)} for c, n in CIRCLES],
        "basis_zh": BASIS_ZH,
        "communities": community_features(communities),
        "share_classes": [{"min": lo, "color": col, "label": lab} for lo, col, lab in SHARE_CLASSES],
        "status_classes": [{"word": w, "color": col, "label": lab} for w, col, lab in STATUS_CLASSES],
        "measures": measure_names(),
        "default_level": DEFAULT_LEVEL,
        "default_measure": DEFAULT_MEASURE,
        "simplify_m": SIMPLIFY_M,
        "run": _run(run, stale=stale),
        "gap_tiles": gap_tiles,
    }
    m.add_child(AttachScript("minqing.planner", layers=groups, data=data))
    add_html(
        m,
        render(
            "planner_panel.html",
            page="planner",
            district=district["name"],
            subtitle="生活圈规划分析",
            demo=district.get("demo", False),
            search=False,
            levels=LEVELS,
            circles=CIRCLES,
            default_level=DEFAULT_LEVEL,
            run=data["run"],
        ),
    )
    return finish(m)
