"""Planner reports of a coverage run: XLSX workbook, CSV/GeoJSON/GeoPackage exports, gap map PNG.

File writing lives here (never in ``geo``). Everything is built in memory and returned as bytes
(the API streams them, the CLI writes them). The map is drawn offline with matplotlib (Agg, no
pyplot) in the run district's UTM zone with the Noto CJK font of Debian's ``fonts-noto-cjk``;
maps and the workbook of the demo district say that its data are fictional.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from api import spreadsheets
from api.errors import ApiError
from api.services import compliance as comp
from api.services.coverage import measure_name, read_targets
from api.services.runs import known_types, resolve_run
from api.services.scenarios import area_records
from geo import measures, standards
from geo.crs import to_metric
from layers import planning, queries, store
from layers import scenarios as scenario_table

NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
DEMO_LABEL = "虚构演示数据 fictional demo data"
LEVEL_ZH = {"district": "区县", "town": "镇街", "grid_large": "大网格", "community": "村居", "grid_middle": "中网格",
            "grid_small": "小网格"}
LEVEL_ORDER = list(LEVEL_ZH)
AREA_FORMATS = {"geojson": ("application/geo+json", "GeoJSON"), "gpkg": ("application/geopackage+sqlite3", "GPKG"),
                "csv": ("text/csv; charset=utf-8", None)}
AREA_COLUMNS = ["run_id", "area_id", "code", "name", "level", "level_name", "urban", "circle", "type_code",
                "type_name", "households", "households_covered", "population", "population_covered", "elderly",
                "elderly_covered", "children", "children_covered", "households_estimated", "population_estimated",
                "share", "target", "pass", "population_in_radius", "radius_share", "present", "presence_source",
                "communities", "communities_present", "presence_share", "status"]
AREA_ZH = {"code": "区域编码", "name": "区域名称", "level_name": "层级", "circle": "城乡", "households": "户数",
           "households_covered": "覆盖户数", "population": "人口", "population_covered": "覆盖人口", "share": "覆盖率",
           "elderly": "老年人(60+)", "elderly_covered": "覆盖老年人", "children": "儿童(0-14)",
           "children_covered": "覆盖儿童", "households_estimated": "其中估算户数",
           "population_estimated": "其中估算人口", "target": "目标覆盖率", "pass": "是否达标"}
ESTIMATE_NOTE = ("估算户数: 由 OpenStreetMap 建筑轮廓按占地面积×层数估算 (参数见 data/household_estimate.csv); "
                 "估算人口: 估算户数的人口, 以及一标三实中缺人口列、按普查比例由户数推算的人口。估算数字仅供参考, "
                 "导入一标三实实有人口数据后自动替换。")


class FontMissing(ApiError):
    """The CJK font for Chinese map labels is not installed."""

    status, code = 503, "font_missing"


# --- tables ---------------------------------------------------------------------------------------


def areas_table(s: Session, run_id: int, *, level: str | None = None, type_code: str | None = None,
                min_share: float = standards.DEFAULT_MIN_SHARE, with_geometry: bool = True) -> pd.DataFrame:
    """Areas with the run's coverage attributes, one row per area and type (GeoDataFrame in
    EPSG:4326 ``with_geometry``).

    ``target`` is the area's target share for the type (``geo.standards.area_targets``) and
    ``pass`` whether ``share`` reaches it.
    """
    frame = store.area_results(s, run_id, level=level, type_code=type_code, with_geometry=with_geometry)
    types = queries.facility_types(s)
    frame["type_name"] = frame.type_code.map(dict(zip(types.code, types.name_zh, strict=True)))
    frame["level_name"] = frame.level.map(LEVEL_ZH)
    frame["circle"] = frame.urban.map({True: "城市", False: "农村"})
    frame["target"] = standards.area_targets(frame, read_targets(), default=min_share)
    frame["pass"] = pd.array((frame.share >= frame.target - 1e-12).where(frame.share.notna()), dtype="boolean")
    frame = with_presence(s, run_id, frame)
    order = frame.level.map({lvl: i for i, lvl in enumerate(LEVEL_ORDER)})
    frame = frame.assign(_o=order).sort_values(["type_code", "_o", "code"]).drop(columns="_o")
    cols = [*AREA_COLUMNS, *(["geometry"] if with_geometry else [])]
    out = frame[cols].reset_index(drop=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=4326) if with_geometry else pd.DataFrame(out)


def with_presence(s: Session, run_id: int, frame: pd.DataFrame) -> pd.DataFrame:
    """Add the presence measure to per-area rows (``area_id``, ``level``, ``type_code``, ``share``,
    ``target``, ``urban``): for a community ``present`` and ``presence_source`` (inside | town |
    assigned); for larger areas ``communities``, ``communities_present`` and ``presence_share`` (all
    communities below, both classes); for a community the ``status`` word (未设置 / 步行可达不足 /
    可达不足 / 达标)."""
    rows = store.presence_results(s, run_id)
    shares = measures.presence_shares(rows, queries.areas(s, with_geometry=False),
                                      levels=("district", "town", "grid_large"))
    total = shares.groupby(["area_id", "type_code"], as_index=False)[["communities", "present"]].sum()
    total = total.rename(columns={"present": "communities_present"})
    own = rows[["area_id", "type_code", "present", "source"]].rename(columns={"source": "presence_source"})
    out = frame.merge(own, on=["area_id", "type_code"], how="left").merge(total, on=["area_id", "type_code"],
                                                                          how="left")
    is_comm = out.level == "community"
    out["communities"] = out.communities.where(~is_comm, 1).astype("Int64")
    out["communities_present"] = out.communities_present.where(~is_comm, out.present.astype(float)).astype("Int64")
    out["presence_share"] = (out.communities_present / out.communities).astype("Float64")
    out["present"] = out.present.astype("boolean")
    out["status"] = [measures.status_word(present=None if pd.isna(p) else bool(p),
                                          share=None if pd.isna(sh) else float(sh), target=float(t),
                                          circle="rural" if u is False else "urban") if lvl == "community" else None
                     for p, sh, t, u, lvl in zip(out.present, out.share, out.target, out.urban.astype(object), out.level,
                                                 strict=True)]
    return out


def areas_wide(s: Session, run_id: int, *, level: str | None = None,
               min_share: float = standards.DEFAULT_MIN_SHARE) -> gpd.GeoDataFrame:
    """One row per area (EPSG:4326): its attributes, then per type ``<code>__covered`` (population
    covered), ``<code>__share`` and ``<code>__pass`` — one polygon each, for GIS."""
    long = areas_table(s, run_id, level=level, min_share=min_share, with_geometry=False)
    parts = []
    for value, suffix, dtype in (("population_covered", "covered", "Int64"), ("share", "share", "Float64"),
                                 ("pass", "pass", "boolean")):
        part = long.pivot(index="area_id", columns="type_code", values=value).astype(dtype)
        parts.append(part.rename(columns=lambda code, suffix=suffix: f"{code}__{suffix}"))
    wide = pd.concat(parts, axis=1)
    wide = wide[sorted(wide.columns)]
    areas = queries.areas(s, levels=(level,) if level else None)
    base = areas[["area_id", "code", "name", "level", "urban", "geometry"]].assign(
        level_name=areas.level.map(LEVEL_ZH), run_id=run_id)
    counts = ["households", "population", "households_estimated", "population_estimated"]
    people = long.groupby("area_id")[counts].max()
    # merge on plain columns: a level without results (no large grids) pivots to an empty frame whose
    # index and columns both answer to 'area_id' (pandas: ambiguous → it was a 500)
    out = base.merge(_keyed(people), on="area_id").merge(_keyed(wide), on="area_id")
    order = ["run_id", "area_id", "code", "name", "level", "level_name", "urban", *counts]
    out = out[[*order, *wide.columns, "geometry"]].reset_index(drop=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=4326)


def _keyed(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` indexed by area id → the same with a plain ``area_id`` column (no index or column names)."""
    out = frame.rename_axis(index=None, columns=None)
    out.insert(0, "area_id", out.index.to_numpy(dtype=np.int64))
    return out.reset_index(drop=True)


def gaps_table(s: Session, run_id: int, *, type_code: str | None = None) -> gpd.GeoDataFrame:
    """Gap polygons of the run with type names (EPSG:4326), ranked per type."""
    gaps = store.gap_results(s, run_id, type_code=type_code)
    types = queries.facility_types(s)
    gaps.insert(2, "type_name", gaps.type_code.map(dict(zip(types.code, types.name_zh, strict=True))))
    gaps.insert(0, "run_id", run_id)
    return gaps


# --- exports --------------------------------------------------------------------------------------


@dataclass
class Export:
    """A file built in memory."""

    content: bytes
    media_type: str
    filename: str


def export_areas(s: Session, run_id: int, fmt: str, *, level: str | None = None,
                 type_code: str | None = None) -> Export:
    """Areas with coverage attributes as ``geojson``, ``gpkg`` or ``csv`` (UTF-8 with BOM, no geometry).

    CSV and any export of one ``type_code`` hold one row per area and type (``areas_table``);
    GeoJSON/GeoPackage of every type hold one polygon per area with per-type columns
    (``areas_wide``), so each polygon is written once.
    """
    run = resolve_run(s, run_id)["run_id"]
    _check_format(fmt)
    known_types(s, type_code)
    if fmt == "csv" or type_code is not None:
        frame = areas_table(s, run, level=level, type_code=type_code, with_geometry=fmt != "csv")
    else:
        frame = areas_wide(s, run, level=level)
    suffix = "".join(f"_{v}" for v in (level, type_code) if v)
    return _export(frame, fmt, f"areas_run{run}{suffix}", layer="areas")


def export_gaps(s: Session, run_id: int, fmt: str, *, type_code: str | None = None) -> Export:
    """Gap polygons as ``geojson``, ``gpkg`` or ``csv`` (with WKT geometry)."""
    run = resolve_run(s, run_id)["run_id"]
    _check_format(fmt)
    known_types(s, type_code)
    frame = gaps_table(s, run, type_code=type_code)
    return _export(frame, fmt, f"gaps_run{run_id}", layer="gaps")


def _check_format(fmt: str) -> None:
    if fmt not in AREA_FORMATS:
        raise ApiError(f"format {fmt!r} is not one of {sorted(AREA_FORMATS)}", fix="use geojson, gpkg or csv")


def _export(frame: pd.DataFrame, fmt: str, stem: str, *, layer: str) -> Export:
    _check_format(fmt)
    media, driver = AREA_FORMATS[fmt]
    if driver is None:
        table = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
        if layer == "gaps":
            table["wkt"] = shapely.to_wkt(frame.geometry.to_numpy(), rounding_precision=6)
        return Export(spreadsheets.csv_bytes(table), media, f"{stem}.csv")
    with tempfile.TemporaryDirectory(prefix="minqing-export-") as tmp:
        path = Path(tmp) / f"{stem}.{fmt}"
        options = {"layer": layer} if driver == "GPKG" else {"COORDINATE_PRECISION": 6, "RFC7946": "YES"}
        frame.to_file(path, driver=driver, engine="pyogrio", **options)
        return Export(path.read_bytes(), media, path.name)


# --- workbook -------------------------------------------------------------------------------------


def workbook(s: Session, run_id: int | None = None, *, scenario_id: int | None = None,
             min_share: float = standards.DEFAULT_MIN_SHARE) -> bytes:
    """XLSX (Chinese headers): 说明, 达标目标, one sheet per facility type, 社区达标, 社区用房, 覆盖缺口,
    and 情景对比 when ``scenario_id`` is given."""
    from openpyxl import Workbook

    run = resolve_run(s, run_id)
    c = comp.compliance(s, run_id=run["run_id"], min_share=min_share)
    wb = Workbook()
    _about(wb.active, s, run, c, scenario_id)
    _sheet(wb, "达标目标", _targets_frame(c.targets, _type_names(s)), percent=("目标值", "实际值"))
    areas = areas_table(s, run["run_id"], min_share=min_share, with_geometry=False)
    for (_, name), part in areas.groupby(["type_code", "type_name"], sort=True):
        _sheet(wb, _sheet_title(wb, str(name)), _area_frame(part), percent=("覆盖率", "目标覆盖率"))
    _sheet(wb, "社区达标", _tiers_frame(c.tiers), percent=())
    _sheet(wb, "社区用房", _floor_frame(c.floor_area), percent=())
    _sheet(wb, "覆盖缺口", _gaps_frame(gaps_table(s, run["run_id"])), percent=())
    if scenario_id is not None:
        _sheet(wb, "情景对比", _scenario_frame(s, scenario_id), percent=("覆盖率(前)", "覆盖率(后)", "覆盖率变化"))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _about(ws, s: Session, run: dict, c: comp.Compliance, scenario_id: int | None) -> None:
    ws.title = "说明"
    rows = [("民情地图 社区生活圈覆盖报告", ""), ("区域", planning.district_name(s) or ""),
            ("覆盖分析运行编号", run["run_id"]), ("完成时间", _text(run.get("finished_at"))),
            ("数据是否已变化(需重算)", "是" if run["stale"] else "否"),
            ("必配设施在生活圈内的判定", f"社区至少 {c.min_share:.0%} 的居民可达"), ("判定说明", comp.DEFINITION),
            ("估算数据", _estimate_summary(s, run["run_id"]))]
    if scenario_id is not None:
        rows.append(("情景", f"{scenario_id} {scenario_table.get(s, scenario_id)['name']}"))
    if planning.is_demo(s):
        rows.append(("注意", DEMO_LABEL))
    for row in rows:
        ws.append(list(row))
    ws.column_dimensions["A"].width, ws.column_dimensions["B"].width = 28, 80


def _estimate_summary(s: Session, run_id: int) -> str:
    """How much of the run's households and residents are estimates (district totals), and what that means."""
    top = store.area_results(s, run_id, level="district")
    if top.empty or not (top.households_estimated.max() or top.population_estimated.max()):
        return "无: 户数和人口均为实际数据 (一标三实)"
    households, estimated, people = (int(top[c].max()) for c in
                                     ("households", "households_estimated", "population_estimated"))
    share = f" ({estimated / households:.0%})" if households else ""
    return f"其中估算户数 {estimated}{share}, 估算人口 {people}; 各区域见“其中估算户数/其中估算人口”列。{ESTIMATE_NOTE}"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _sheet_title(wb, name: str) -> str:
    """A valid, unique sheet title (≤ 31 characters, none of []:*?/\\)."""
    clean = "".join("_" if ch in "[]:*?/\\" else ch for ch in name)[:31]
    title, n = clean, 2
    while title in wb.sheetnames:
        title = f"{clean[:28]}_{n}"
        n += 1
    return title


def _sheet(wb, title: str, frame: pd.DataFrame, *, percent: tuple[str, ...]) -> None:
    from openpyxl.styles import Font

    ws = wb.create_sheet(title)
    ws.append(list(frame.columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None):
        ws.append([_cell(v) for v in row])
    for j, name in enumerate(frame.columns, start=1):
        letter = ws.cell(row=1, column=j).column_letter
        ws.column_dimensions[letter].width = min(40, max(10, 2 * len(str(name)) + 2))
        if name in percent:
            for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                cell.number_format = "0.0%"
    ws.freeze_panes = "A2"


def _cell(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list | tuple):
        return "、".join(map(str, value))
    return value


def _area_frame(part: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(part[list(AREA_ZH)]).rename(columns=AREA_ZH)


def _type_names(s: Session) -> dict[str, str]:
    """Facility type code → Chinese name; ``*`` (every type with a service circle) → 全部设施类型."""
    types = queries.facility_types(s)
    return {"*": "全部设施类型", **dict(zip(types.code, types.name_zh, strict=True))}


def _targets_frame(targets: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    circle = {"urban": "城市", "rural": "农村", "both": "城乡"}
    return pd.DataFrame({"目标": targets.label_zh, "设施类型": targets.type_code.map(lambda c: names.get(c, c)),
                         "范围": targets.circle.map(circle),
                         "指标": [measure_name(m, c) for m, c in zip(targets.measure, targets.circle, strict=True)], "目标值": targets.threshold.astype(float),
                         "实际值": pd.to_numeric(targets["value"], errors="coerce"), "是否达标": targets["pass"],
                         "依据": targets.source})


def _tiers_frame(tiers: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"社区编号": tiers.area_id, "社区": tiers.name, "城乡": tiers.circle.map({"urban": "城市", "rural": "农村"}),
                         "生活圈层级": tiers.tier_label, "必配设施类型数": tiers.required, "在生活圈内": tiers.within,
                         "是否达标": tiers["pass"], "缺少的设施": tiers.missing})


def _floor_frame(floor: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"社区编号": floor.area_id, "社区": floor.name, "户数": floor.households,
                         "社区服务设施数": floor.facilities, "建筑面积(m²)": floor.floor_area_m2.round(1),
                         "应配面积(m²,每百户30m²)": floor.required_m2.round(1),
                         "每百户面积(m²)": floor.m2_per_100_households.round(1), "是否达标": floor["pass"],
                         "面积未知的设施数": floor.unknown_area})


def _gaps_frame(gaps: gpd.GeoDataFrame) -> pd.DataFrame:
    centre = shapely.centroid(gaps.geometry.to_numpy()) if len(gaps) else np.empty(0, object)
    return pd.DataFrame({"设施类型": gaps.type_name, "排名": gaps["rank"], "户数": gaps.households,
                         "人口": gaps.population, "老年人": gaps.elderly, "儿童": gaps.children,
                         "住户点数": gaps.residences, "中心经度": np.round(shapely.get_x(centre), 6),
                         "中心纬度": np.round(shapely.get_y(centre), 6)})


SCENARIO_ZH = {"name": "区域名称", "code": "区域编码", "level": "层级", "type_code": "设施类型", "population": "人口",
               "population_covered_before": "覆盖人口(前)", "population_covered_after": "覆盖人口(后)",
               "share_before": "覆盖率(前)", "share_after": "覆盖率(后)", "share_delta": "覆盖率变化",
               "population_gained": "新增覆盖人口", "population_lost": "失去覆盖人口",
               "households_gained": "新增覆盖户数", "households_lost": "失去覆盖户数",
               "elderly_gained": "新增覆盖老年人", "elderly_lost": "失去覆盖老年人",
               "children_gained": "新增覆盖儿童", "children_lost": "失去覆盖儿童"}


def _scenario_frame(s: Session, scenario_id: int) -> pd.DataFrame:
    scenario = scenario_table.get(s, scenario_id)
    if not scenario["result"]:
        raise ApiError(f"scenario {scenario_id} has not been evaluated yet",
                       fix=f"POST /scenarios/{scenario_id}/evaluate (or `minqing plan scenario evaluate {scenario_id}`)")
    rows = pd.DataFrame(area_records(scenario["result"]), columns=scenario["result"]["areas"]["columns"])
    rows["level"] = rows.level.map(LEVEL_ZH)
    return rows[list(SCENARIO_ZH)].rename(columns=SCENARIO_ZH)


# --- gap map --------------------------------------------------------------------------------------


def gap_map(s: Session, run_id: int, type_code: str, *, dpi: int = 150) -> bytes:
    """PNG map of the gaps of ``type_code``: community outlines, streets, gap polygons shaded by
    population, the type's open facilities, Chinese title and legend (demo data labelled)."""
    font = _font()
    run = resolve_run(s, run_id)
    types = queries.facility_types(s)
    names = dict(zip(types.code, types.name_zh, strict=True))
    if type_code not in names:
        raise ApiError(f"unknown facility type {type_code!r}", fix="use a code of GET /collections/facility_types/items")
    layers = _map_layers(s, run["run_id"], type_code)
    title = f"{planning.district_name(s) or ''} {names[type_code]} 生活圈覆盖缺口 (运行 {run['run_id']})"
    return _draw(layers, title=title, font=font, demo=planning.is_demo(s), dpi=dpi)


def _font():
    from matplotlib.font_manager import FontProperties

    if not NOTO_CJK.exists():
        raise FontMissing(f"the Chinese font {NOTO_CJK} is missing",
                          fix="install it: sudo apt-get install fonts-noto-cjk")
    return FontProperties(fname=str(NOTO_CJK))


def _map_layers(s: Session, run_id: int, type_code: str) -> dict[str, gpd.GeoSeries | gpd.GeoDataFrame]:
    """The map's layers projected to the district's UTM zone (metres)."""
    areas = queries.areas(s, levels=("district", "community"))
    district = to_metric(areas[areas.level == "district"])
    crs = district.crs
    edges = queries.edges(s)
    fac = queries.facilities(s)
    fac = fac[fac.type_code == type_code]
    return {
        "district": district, "communities": areas[areas.level == "community"].to_crs(crs),
        "roads": edges[["highway", "geometry"]].to_crs(crs), "gaps": store.gap_results(s, run_id, type_code=type_code).to_crs(crs),
        "facilities": gpd.GeoDataFrame(fac, geometry=gpd.points_from_xy(fac.lon, fac.lat), crs=4326).to_crs(crs),
    }


def _draw(layers: dict, *, title: str, font, demo: bool, dpi: int) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 10.5), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.03, 0.08, 0.94, 0.84))
    _roads(ax, layers["roads"])
    _outlines(ax, layers["communities"].geometry, color="#8a8a8a", width=0.6)
    _outlines(ax, layers["district"].geometry, color="#333333", width=1.4)
    gaps = layers["gaps"]
    mappable = _gap_patches(ax, gaps)
    fac = layers["facilities"]
    ax.scatter(shapely.get_x(fac.geometry.to_numpy()), shapely.get_y(fac.geometry.to_numpy()), s=28, marker="^",
               color="#1f5fbf", edgecolor="white", linewidth=0.6, zorder=5)
    _finish(fig, ax, layers, mappable, title=title, font=font, demo=demo, n_gaps=len(gaps), n_fac=len(fac))
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=dpi)
    return out.getvalue()


def _roads(ax, roads: gpd.GeoDataFrame) -> None:
    from matplotlib.collections import LineCollection

    major = roads.highway.isin(["motorway", "trunk", "primary", "secondary"]).to_numpy()
    for mask, width, color in ((~major, 0.25, "#c8c8c8"), (major, 0.8, "#9a9a9a")):
        lines = _coords(roads.geometry.to_numpy()[mask])
        ax.add_collection(LineCollection(lines, linewidths=width, colors=color, zorder=1))


def _outlines(ax, geoms: gpd.GeoSeries, *, color: str, width: float) -> None:
    from matplotlib.collections import LineCollection

    ax.add_collection(LineCollection(_coords(shapely.boundary(geoms.to_numpy())), linewidths=width, colors=color,
                                     zorder=3))


def _coords(lines: np.ndarray) -> list[np.ndarray]:
    """Coordinate arrays of every part of (multi)line geometries."""
    parts = shapely.get_parts(lines[~shapely.is_empty(lines)])
    coords, index = shapely.get_coordinates(parts, return_index=True)
    return np.split(coords, np.flatnonzero(np.diff(index)) + 1) if len(coords) else []


def _gap_patches(ax, gaps: gpd.GeoDataFrame):
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import PatchCollection
    from matplotlib.colors import Normalize
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MplPath

    norm = Normalize(vmin=0, vmax=max(1.0, float(gaps.population.max()) if len(gaps) else 1.0))
    mappable = ScalarMappable(norm=norm, cmap="OrRd")
    patches, values = [], []
    for geom, pop in zip(gaps.geometry, gaps.population, strict=True):
        for poly in shapely.get_parts(geom):
            rings = [poly.exterior, *poly.interiors]
            patches.append(PathPatch(MplPath.make_compound_path(*[MplPath(np.asarray(r.coords), closed=True)
                                                                  for r in rings])))
            values.append(pop)
    if patches:
        coll = PatchCollection(patches, cmap="OrRd", norm=norm, alpha=0.8, edgecolor="#b30000", linewidth=0.4,
                               zorder=4)
        coll.set_array(np.asarray(values, float))
        ax.add_collection(coll)
    return mappable


def _finish(fig, ax, layers, mappable, *, title: str, font, demo: bool, n_gaps: int, n_fac: int) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    minx, miny, maxx, maxy = layers["district"].total_bounds
    pad = 0.03 * max(maxx - minx, maxy - miny)
    ax.set_xlim(minx - pad, maxx + pad)
    ax.set_ylim(miny - pad, maxy + pad)
    ax.set_aspect("equal")
    ax.set_axis_off()
    fig.suptitle(title, fontproperties=font, fontsize=15, y=0.975)
    handles = [Patch(facecolor="#fc8d59", edgecolor="#b30000", label=f"覆盖缺口 ({n_gaps} 处, 颜色深浅=人口)"),
               Line2D([], [], marker="^", color="#1f5fbf", linestyle="", label=f"现有设施 ({n_fac} 处)"),
               Line2D([], [], color="#8a8a8a", label="村居边界"), Line2D([], [], color="#c8c8c8", label="道路")]
    ax.legend(handles=handles, loc="upper left", prop=font, framealpha=0.9)
    cax = fig.add_axes((0.25, 0.045, 0.5, 0.015))
    bar = fig.colorbar(mappable, cax=cax, orientation="horizontal")
    bar.set_label("缺口人口 (人)", fontproperties=font)
    _scale_bar(ax, minx, miny, maxx - minx, font)
    if demo:
        fig.text(0.98, 0.012, DEMO_LABEL, ha="right", va="bottom", color="#c00000", fontproperties=font, fontsize=11)


def _scale_bar(ax, x0: float, y0: float, width: float, font) -> None:
    length = 10 ** np.floor(np.log10(max(width, 1.0) / 4))
    ax.plot([x0, x0 + length], [y0, y0], color="black", linewidth=2.5, zorder=6)
    label = f"{length / 1000:g} 公里" if length >= 1000 else f"{length:g} 米"
    ax.text(x0 + length / 2, y0 + 0.01 * width, label, ha="center", va="bottom", fontproperties=font, fontsize=9)
