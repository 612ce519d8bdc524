"""Planner reports of a coverage run: the XLSX report and the one-page PDF 摘要, CSV/GeoJSON/GeoPackage
exports, gap map PNGs.

File writing lives here (never in ``geo``); every spreadsheet cell goes through ``pipeline.spreadsheets``
(formula-safe, Chinese widths, Beijing time). Everything is built in memory and returned as bytes
(the API streams them, the CLI writes them). Maps are drawn offline with matplotlib (Agg/PDF, no
pyplot) in the district's UTM zone with 文泉驿正黑 (Debian ``fonts-wqy-zenhei``), whose TrueType
outlines the PDF embeds as a subset. Reports and maps of the demo district say its data are
fictional (演示数据(虚构)). The 摘要's sentences come from ``pipeline.summary``.
"""

from __future__ import annotations

import io
import re
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from data import DEMO_LABEL
from geo import measures, standards
from geo.areas import LEVEL_ZH, LEVELS
from geo.crs import to_metric
from layers import planning, queries, store
from layers import scenarios as scenario_table
from pipeline import compliance as comp
from pipeline import spreadsheets, summary
from pipeline.coverage import measure_name, measure_table, read_targets, target_table
from pipeline.errors import Invalid, Unavailable
from pipeline.runs import known_types, resolve_run
from pipeline.scenarios import area_records

LEVEL_ORDER = list(LEVELS)
AREA_FORMATS = {
    "geojson": ("application/geo+json", "GeoJSON"),
    "gpkg": ("application/geopackage+sqlite3", "GPKG"),
    "csv": ("text/csv; charset=utf-8", None),
}
AREA_COLUMNS = [
    "run_id",
    "area_id",
    "code",
    "name",
    "level",
    "level_name",
    "urban",
    "circle",
    "type_code",
    "type_name",
    "households",
    "households_covered",
    "population",
    "population_covered",
    "elderly",
    "elderly_covered",
    "children",
    "children_covered",
    "households_estimated",
    "population_estimated",
    "share",
    "target",
    "pass",
    "population_in_radius",
    "radius_share",
    "present",
    "presence_source",
    "communities",
    "communities_present",
    "presence_share",
    "status",
]


class FontMissing(Unavailable):
    """The CJK font for Chinese maps and PDF reports is not installed."""

    code = "font_missing"


# --- tables ---------------------------------------------------------------------------------------


def areas_table(
    s: Session,
    run_id: int,
    *,
    level: str | None = None,
    type_code: str | None = None,
    min_share: float = standards.DEFAULT_MIN_SHARE,
    with_geometry: bool = True,
) -> pd.DataFrame:
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
    frame["pass"] = pd.array(
        (frame.share >= frame.target - 1e-12).where(frame.share.notna()), dtype="boolean"
    )
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
    shares = measures.presence_shares(
        rows, queries.areas(s, with_geometry=False), levels=("district", "town", "grid_large")
    )
    total = shares.groupby(["area_id", "type_code"], as_index=False)[["communities", "present"]].sum()
    total = total.rename(columns={"present": "communities_present"})
    own = rows[["area_id", "type_code", "present", "source"]].rename(columns={"source": "presence_source"})
    out = frame.merge(own, on=["area_id", "type_code"], how="left").merge(
        total, on=["area_id", "type_code"], how="left"
    )
    is_comm = out.level == "community"
    out["communities"] = out.communities.where(~is_comm, 1).astype("Int64")
    out["communities_present"] = out.communities_present.where(~is_comm, out.present.astype(float)).astype(
        "Int64"
    )
    out["presence_share"] = (out.communities_present / out.communities).astype("Float64")
    out["present"] = out.present.astype("boolean")
    out["status"] = [
        measures.status_word(
            present=None if pd.isna(p) else bool(p),
            share=None if pd.isna(sh) else float(sh),
            target=float(t),
            circle="rural" if u is False else "urban",
        )
        if lvl == "community"
        else None
        for p, sh, t, u, lvl in zip(
            out.present, out.share, out.target, out.urban.astype(object), out.level, strict=True
        )
    ]
    return out


def areas_wide(
    s: Session, run_id: int, *, level: str | None = None, min_share: float = standards.DEFAULT_MIN_SHARE
) -> gpd.GeoDataFrame:
    """One row per area (EPSG:4326): its attributes, then per type ``<code>__covered`` (population
    covered), ``<code>__share`` and ``<code>__pass`` — one polygon each, for GIS."""
    long = areas_table(s, run_id, level=level, min_share=min_share, with_geometry=False)
    parts = []
    for value, suffix, dtype in (
        ("population_covered", "covered", "Int64"),
        ("share", "share", "Float64"),
        ("pass", "pass", "boolean"),
    ):
        part = long.pivot(index="area_id", columns="type_code", values=value).astype(dtype)
        parts.append(part.rename(columns=lambda code, suffix=suffix: f"{code}__{suffix}"))
    wide = pd.concat(parts, axis=1)
    wide = wide[sorted(wide.columns)]
    areas = queries.areas(s, levels=(level,) if level else None)
    base = areas[["area_id", "code", "name", "level", "urban", "geometry"]].assign(
        level_name=areas.level.map(LEVEL_ZH), run_id=run_id
    )
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


def export_areas(
    s: Session, run_id: int, fmt: str, *, level: str | None = None, type_code: str | None = None
) -> Export:
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
        raise Invalid(f"format {fmt!r} is not one of {sorted(AREA_FORMATS)}", fix="use geojson, gpkg or csv")


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

REPORT_LEVELS = (("district", "区县"), ("town", "镇街"), ("community", "村居"))
"""The ranked tables of the report, one sheet per level."""
GAPS_LISTED = summary.GAPS_LISTED
PRESENCE_SOURCE_ZH = {"inside": "有", "town": "有（由镇街设施服务）", "assigned": "有（由邻近社区设施服务）"}


def workbook(
    s: Session,
    run_id: int | None = None,
    *,
    scenario_id: int | None = None,
    min_share: float = standards.DEFAULT_MIN_SHARE,
) -> bytes:
    """The XLSX report of a run, for people: 摘要 (sentences), one ranked table per level (区县,
    镇街, 村居) with the three measures side by side, 达标目标, 生活圈分级达标, 社区用房, 覆盖缺口 (the
    largest gaps by place name), 缺口地图 (the map as a picture), and 情景对比 with ``scenario_id``.
    Chinese only; Beijing time to the minute; cells written by ``pipeline.spreadsheets``."""
    run = resolve_run(s, run_id)
    c = comp.compliance(s, run_id=run["run_id"], min_share=min_share)
    brief = summary.build(s, run, c)
    names = summary.type_names(s)
    wb = spreadsheets.new_workbook()
    spreadsheets.text_sheet(
        wb, "摘要", [*brief.lines(), (f"报告生成于 {spreadsheets.now_beijing()}（北京时间）。", False)]
    )
    notes = measure_notes()
    for level, title in REPORT_LEVELS:
        frame = level_table(s, run["run_id"], level, min_share=min_share)
        if len(frame):
            _table(wb, title, frame, notes=notes)
    _table(wb, "达标目标", targets_frame(c.targets, names))
    _table(wb, "生活圈分级达标", _tiers_frame(c.tiers, summary.town_names(s)))
    _table(wb, "社区用房", _floor_frame(c.floor_area))
    _table(
        wb,
        "覆盖缺口",
        gaps_frame(brief.gap_rows, brief.largest, names),
        notes=[f"每类设施列出居民最多的 {GAPS_LISTED} 处缺口；其余缺口只计数，完整清单可导出覆盖缺口表。"],
    )
    _map_sheet(wb, s, run, brief)
    if scenario_id is not None:
        _table(wb, "情景对比", _scenario_frame(s, scenario_id, names))
    return spreadsheets.xlsx_bytes(wb)


def _table(wb, title: str, frame: pd.DataFrame, *, notes: list[str] | None = None) -> None:
    percent = [c for c in frame.columns if c in share_headers()]
    ws = spreadsheets.table_sheet(wb, title, frame, percent=percent, notes=notes or ())
    ws.auto_filter.ref = (
        f"A{len(notes or []) + 1}:{ws.cell(row=1, column=max(1, frame.shape[1])).column_letter}{ws.max_row}"
    )


PERCENT_COLUMNS = {"目标值", "实际值", "覆盖率(前)", "覆盖率(后)", "覆盖率变化"}


def share_headers() -> set[str]:
    """Columns shown as percentages: every measure's column and ``PERCENT_COLUMNS``."""
    return {*(measure_name(code) for code in measure_table()), network_header(), *PERCENT_COLUMNS}


def measure_notes() -> list[str]:
    """One note line per measure (its Chinese name and definition) above each level table."""
    return [f"{m['name_zh']}：{m['definition_zh']}" for m in measure_table().values()]


def network_header() -> str:
    """The network measure's column heading: the urban name, the rural one in brackets."""
    return f"{measure_name('network')}（农村：{measure_name('network', 'rural')}）"


def level_table(
    s: Session, run_id: int, level: str, *, min_share: float = standards.DEFAULT_MIN_SHARE
) -> pd.DataFrame:
    """The ranked table of one level: one row per area and facility type, areas ranked by the share of
    residents reaching every required type (composite, best first), the three measures side by
    side, the community's status word, and the verdicts of the targets judged in the area."""
    long = areas_table(s, run_id, level=level, min_share=min_share, with_geometry=False)
    if long.empty:
        return pd.DataFrame()
    whole = _composite_share(store.composite_results(s, run_id, level=level))
    people = long.groupby("area_id").population.max()
    ranking = pd.DataFrame(
        {
            "whole": whole.reindex(people.index),
            "population": people,
            "name": long.groupby("area_id").name.first(),
        }
    )
    ranking = ranking.sort_values(["whole", "name"], ascending=[False, True], na_position="last")
    rank = {a: i for i, a in enumerate(ranking.index, start=1)}
    verdicts = _verdicts(s, run_id, level)
    types = queries.facility_types(s)
    required = set(types.code[types.required.astype(str).isin(["1", "1.0", "True", "true"])])
    long = long.assign(_rank=long.area_id.map(rank), _req=~long.type_code.isin(required))
    long = long.sort_values(["_rank", "_req", "type_name"], kind="stable")
    out = pd.DataFrame({"排名": long._rank.to_numpy()})
    if level == "community":
        towns = summary.town_names(s)
        out["镇街"] = long.area_id.map(towns).to_numpy()
    out["区域"] = long.name.to_numpy()
    if level == "community":
        out["城乡"] = long.urban.map({True: "城市社区", False: "农村社区"}).to_numpy()
    out["人口"] = long.area_id.map(people).to_numpy()
    out["其中估算人口"] = long.area_id.map(long.groupby("area_id").population_estimated.max()).to_numpy()
    out[measure_name("composite")] = long.area_id.map(whole).to_numpy(float)
    out["设施类型"] = long.type_name.to_numpy()
    out["是否应配建"] = np.where(long._req.to_numpy(), "宜配建", "应配建")
    presence = measure_name("presence")
    if level == "community":
        out[f"{presence}（本社区是否设有）"] = [
            PRESENCE_SOURCE_ZH.get(src, "有") if p is True else ("无" if p is False else "")
            for p, src in zip(long.present.astype(object), long.presence_source, strict=True)
        ]
    else:
        out[presence] = long.presence_share.astype(float).to_numpy()
        out["设有该类设施的社区"] = [
            f"{int(p)}/{int(n)}" if pd.notna(n) and n else ""
            for p, n in zip(long.communities_present.fillna(0), long.communities, strict=True)
        ]
    out[measure_name("radius")] = long.radius_share.astype(float).to_numpy()
    out[network_header()] = long.share.astype(float).to_numpy()
    if level == "community":
        out["状态"] = long.status.to_numpy()
    keys = list(zip(long.area_id, long.type_code, strict=True))
    out["目标"] = [verdicts.get(k, ("", ""))[0] for k in keys]
    out["目标判定"] = [verdicts.get(k, ("", ""))[1] for k in keys]
    return out.reset_index(drop=True)


def _composite_share(rows: pd.DataFrame) -> pd.Series:
    """Per area: residents reaching every required type / residents (both circles together)."""
    if rows.empty:
        return pd.Series(dtype=float)
    sums = rows.groupby("area_id")[["population", "population_covered"]].sum()
    return sums.population_covered / sums.population.where(sums.population > 0)


def _verdicts(s: Session, run_id: int, level: str) -> dict[tuple[int, str], tuple[str, str]]:
    """(area, type) → (the targets judged there, their verdicts), each naming its measure and value."""
    out: dict[tuple[int, str], tuple[list[str], list[str]]] = {}
    for r in target_table(s, run_id, level=level):
        if r["type_code"] == "*":
            continue
        labels, words = out.setdefault((r["area_id"], r["type_code"]), ([], []))
        labels.append(r["label_zh"] or "")
        value = "无数据" if r["value"] is None else f"{r['value']:.1%}"
        verdict = "" if r["pass"] is None else ("达标" if r["pass"] else "未达标")
        words.append(f"{r['measure_zh']} {value} {verdict}".strip())
    return {k: ("；".join(a), "；".join(b)) for k, (a, b) in out.items()}


CIRCLE_ZH = {"urban": "城市", "rural": "农村", "both": "城乡"}


def targets_frame(targets: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """The district against each target (``evaluate_targets`` rows), in Chinese: the target, its
    measure and definition, threshold, value, communities counted, verdict and source."""
    counted = [
        f"{int(r)}/{int(n)}" if m == "presence" and pd.notna(n) and n else ""
        for m, r, n in zip(
            targets.measure, targets.communities_reached.fillna(0), targets.communities, strict=True
        )
    ]
    return pd.DataFrame(
        {
            "目标": targets.label_zh,
            "设施类型": targets.type_code.map(lambda c: names.get(c, c)),
            "范围": targets.circle.map(CIRCLE_ZH),
            "指标": targets.measure_zh,
            "指标定义": targets.definition_zh,
            "目标值": targets.threshold.astype(float),
            "实际值": pd.to_numeric(targets["value"], errors="coerce"),
            "设有该类设施的社区": counted,
            "是否达标": [
                "达标" if p else ("未达标" if pd.notna(v) else "无数据")
                for p, v in zip(
                    targets["pass"], pd.to_numeric(targets["value"], errors="coerce"), strict=True
                )
            ],
            "依据": targets.source.map(_source_text),
        }
    )


def _source_text(value: Any) -> str:
    """A target's source without the editors' marks ("(check)")."""
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    return re.sub(r"\s*[(（]check[)）]", "", text, flags=re.IGNORECASE).strip()


def _tiers_frame(tiers: pd.DataFrame, towns: dict[int, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "镇街": tiers.area_id.map(towns),
            "社区": tiers.name,
            "城乡": tiers.circle.map({"urban": "城市", "rural": "农村"}),
            "生活圈层级": tiers.tier_label,
            "应配设施类型数": tiers.required,
            "在生活圈内": tiers.within,
            "是否达标": tiers["pass"].map({True: "达标", False: "未达标"}),
            "未达标的设施": tiers.missing,
        }
    )


def _floor_frame(floor: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "社区": floor.name,
            "户数": floor.households,
            "社区服务设施数": floor.facilities,
            "建筑面积(m²)": floor.floor_area_m2.round(1),
            "应配面积(m²,每百户30m²)": floor.required_m2.round(1),
            "每百户面积(m²)": floor.m2_per_100_households.round(1),
            "是否达标": floor["pass"].map({True: "达标", False: "未达标"}),
            "面积未知的设施数": floor.unknown_area,
        }
    )


GAP_ZH = {
    "type_name": "设施类型",
    "rank": "排名",
    "place": "位置",
    "town": "镇街",
    "community": "村居",
    "road": "最近道路",
    "households": "户数",
    "population": "人口",
    "elderly": "老年人(60+)",
    "children": "儿童(0-14)",
    "residences": "住户点数",
}


def gaps_frame(gaps: pd.DataFrame, largest: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """The largest gaps of each type by residents (``largest``: ``summary.largest_gaps``) with their
    place names; after each type's list a line counting the other ``gaps`` and their residents."""
    if gaps.empty:
        return pd.DataFrame(columns=list(GAP_ZH.values()))
    parts = []
    counts = ("households", "population", "elderly", "children", "residences")
    for code, part in largest.groupby("type_code", sort=True):
        top = part.assign(rank=range(1, len(part) + 1), type_name=names.get(code, code))
        parts.append(pd.DataFrame(top[list(GAP_ZH)]))
        rest = gaps[(gaps.type_code == code) & ~gaps.gap_id.isin(part.gap_id)]
        if len(rest):
            parts.append(
                pd.DataFrame(
                    [
                        {
                            "type_name": names.get(code, code),
                            "rank": None,
                            "place": f"其余 {len(rest):,} 处较小的缺口（合计）",
                            "town": None,
                            "community": None,
                            "road": None,
                            **{c: int(rest[c].sum()) for c in counts},
                        }
                    ]
                )
            )
    return pd.concat(parts, ignore_index=True).rename(columns=GAP_ZH)


SCENARIO_ZH = {
    "name": "区域名称",
    "level": "层级",
    "type_code": "设施类型",
    "population": "人口",
    "population_covered_before": "覆盖人口(前)",
    "population_covered_after": "覆盖人口(后)",
    "share_before": "覆盖率(前)",
    "share_after": "覆盖率(后)",
    "share_delta": "覆盖率变化",
    "population_gained": "新增覆盖人口",
    "population_lost": "失去覆盖人口",
    "households_gained": "新增覆盖户数",
    "households_lost": "失去覆盖户数",
    "elderly_gained": "新增覆盖老年人",
    "elderly_lost": "失去覆盖老年人",
    "children_gained": "新增覆盖儿童",
    "children_lost": "失去覆盖儿童",
}


def _scenario_frame(s: Session, scenario_id: int, names: dict[str, str]) -> pd.DataFrame:
    scenario = scenario_table.get(s, scenario_id)
    if not scenario["result"]:
        raise Invalid(
            f"scenario {scenario_id} has not been evaluated yet",
            fix=f"POST /scenarios/{scenario_id}/evaluate (or `minqing plan scenario evaluate {scenario_id}`)",
        )
    rows = pd.DataFrame(area_records(scenario["result"]), columns=scenario["result"]["areas"]["columns"])
    rows["level"] = rows.level.map(LEVEL_ZH)
    rows["type_code"] = rows.type_code.map(lambda c: names.get(c, c))
    return rows[list(SCENARIO_ZH)].rename(columns=SCENARIO_ZH)


def _map_sheet(wb, s: Session, run: dict[str, Any], brief: summary.Summary) -> None:
    """The overview gap map as a picture, with a caption."""
    # late: matplotlib/openpyxl drawing loads only when a report is drawn
    from openpyxl.drawing.image import Image

    png = overview_map(s, run, brief, dpi=110)
    ws = wb.create_sheet("缺口地图")
    spreadsheets.put(
        ws,
        1,
        1,
        f"{brief.district} 应配建设施覆盖缺口（第 {brief.run_id} 次运行，数据日期 {brief.data_date}）",
    )
    picture = Image(io.BytesIO(png))
    picture.anchor = "A3"
    ws.add_image(picture)


# --- maps -----------------------------------------------------------------------------------------

REPORT_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
"""文泉驿正黑 (Debian fonts-wqy-zenhei): TrueType outlines, so PDFs embed it as a CID TrueType subset."""


def gap_map(s: Session, run_id: int, type_code: str, *, dpi: int = 150) -> bytes:
    """PNG map of the gaps of ``type_code``: community outlines, streets, gap polygons shaded by
    population, the type's open facilities, Chinese title, legend, scale bar and north arrow (demo
    data labelled)."""
    font = _font()
    run = resolve_run(s, run_id)
    names = summary.type_names(s)
    if type_code not in names or type_code == "*":
        raise Invalid(
            f"unknown facility type {type_code!r}", fix="use a code of GET /collections/facility_types/items"
        )
    layers = _map_layers(s, run["run_id"], [type_code])
    title = (
        f"{planning.district_name(s) or ''} {names[type_code]} 生活圈覆盖缺口（第 {run['run_id']} 次运行）"
    )
    return _png(layers, title=title, font=font, demo=planning.is_demo(s), dpi=dpi)


def overview_map(s: Session, run: dict[str, Any], brief: summary.Summary, *, dpi: int = 150) -> bytes:
    """PNG map of the gaps of every required (应配建) type, for the report."""
    layers = _map_layers(s, brief.run_id, summary.required_codes(s))
    title = f"{brief.district} 应配建设施覆盖缺口（第 {brief.run_id} 次运行）"
    return _png(layers, title=title, font=_font(), demo=brief.demo, dpi=dpi)


def _font(size: float | None = None):
    # late: matplotlib/openpyxl drawing loads only when a report is drawn
    from matplotlib.font_manager import FontProperties

    if not REPORT_FONT.exists():
        raise FontMissing(
            "the Chinese font 文泉驿正黑 (WenQuanYi Zen Hei) for maps and PDF reports is not installed",
            fix="install it: sudo apt-get install fonts-wqy-zenhei (or run scripts/system-deps.sh)",
        )
    return FontProperties(fname=str(REPORT_FONT), size=size)


def _map_layers(
    s: Session, run_id: int, type_codes: list[str]
) -> dict[str, gpd.GeoSeries | gpd.GeoDataFrame]:
    """The map's layers projected to the district's UTM zone (metres)."""
    areas = queries.areas(s, levels=("district", "community"))
    district = to_metric(areas[areas.level == "district"])
    crs = district.crs
    edges = queries.edges(s)
    fac = queries.facilities(s)
    fac = fac[fac.type_code.isin(type_codes)]  # open ones (the default)
    gaps = store.gap_results(s, run_id, labelled=False)
    return {
        "district": district,
        "communities": areas[areas.level == "community"].to_crs(crs),
        "roads": edges[["highway", "geometry"]].to_crs(crs),
        "gaps": gaps[gaps.type_code.isin(type_codes)].to_crs(crs),
        "facilities": gpd.GeoDataFrame(fac, geometry=gpd.points_from_xy(fac.lon, fac.lat), crs=4326).to_crs(
            crs
        ),
    }


def _png(layers: dict, *, title: str, font, demo: bool, dpi: int) -> bytes:
    # late: matplotlib/openpyxl drawing loads only when a report is drawn
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 10.5), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.03, 0.08, 0.94, 0.84))
    mappable = draw_map(ax, layers, font=font)
    fig.suptitle(title, fontproperties=font, fontsize=15, y=0.975)
    cax = fig.add_axes((0.25, 0.045, 0.5, 0.015))
    bar = fig.colorbar(mappable, cax=cax, orientation="horizontal")
    bar.set_label("缺口人口（人）", fontproperties=font)
    if demo:
        fig.text(
            0.98,
            0.012,
            DEMO_LABEL,
            ha="right",
            va="bottom",
            color="#c00000",
            fontproperties=font,
            fontsize=12,
        )
    out = io.BytesIO()
    with _rare_glyphs_as_boxes():
        fig.savefig(out, format="png", dpi=dpi)
    return out.getvalue()


@contextmanager
def _rare_glyphs_as_boxes():
    """A rare character outside the CJK font (e.g. 𣒍 of CJK Extension B, kept in place names on
    purpose) is drawn as a box instead of failing the whole map or PDF."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        yield


def draw_map(ax, layers: dict, *, font):
    """Draw the gap map into ``ax``: streets, community and district outlines, gaps shaded by
    residents, facilities, legend, scale bar and north arrow; the gaps' colour scale."""
    _roads(ax, layers["roads"])
    _outlines(ax, layers["communities"].geometry, color="#8a8a8a", width=0.6)
    _outlines(ax, layers["district"].geometry, color="#333333", width=1.4)
    gaps = layers["gaps"]
    mappable = _gap_patches(ax, gaps)
    fac = layers["facilities"]
    ax.scatter(
        shapely.get_x(fac.geometry.to_numpy()),
        shapely.get_y(fac.geometry.to_numpy()),
        s=18,
        marker="^",
        color="#1f5fbf",
        edgecolor="white",
        linewidth=0.5,
        zorder=5,
    )
    _frame(ax, layers, font=font, n_gaps=len(gaps), n_fac=len(fac))
    return mappable


def _roads(ax, roads: gpd.GeoDataFrame) -> None:
    # late: matplotlib/openpyxl drawing loads only when a report is drawn
    from matplotlib.collections import LineCollection

    major = roads.highway.isin(["motorway", "trunk", "primary", "secondary"]).to_numpy()
    for mask, width, color in ((~major, 0.25, "#c8c8c8"), (major, 0.8, "#9a9a9a")):
        lines = _coords(roads.geometry.to_numpy()[mask])
        ax.add_collection(LineCollection(lines, linewidths=width, colors=color, zorder=1))


def _outlines(ax, geoms: gpd.GeoSeries, *, color: str, width: float) -> None:
    # late: matplotlib/openpyxl drawing loads only when a report is drawn
    from matplotlib.collections import LineCollection

    ax.add_collection(
        LineCollection(_coords(shapely.boundary(geoms.to_numpy())), linewidths=width, colors=color, zorder=3)
    )


def _coords(lines: np.ndarray) -> list[np.ndarray]:
    """Coordinate arrays of every part of (multi)line geometries."""
    parts = shapely.get_parts(lines[~shapely.is_empty(lines)])
    coords, index = shapely.get_coordinates(parts, return_index=True)
    return np.split(coords, np.flatnonzero(np.diff(index)) + 1) if len(coords) else []


def _gap_patches(ax, gaps: gpd.GeoDataFrame):
    # late: matplotlib/openpyxl drawing loads only when a report is drawn
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
            patches.append(
                PathPatch(
                    MplPath.make_compound_path(*[MplPath(np.asarray(r.coords), closed=True) for r in rings])
                )
            )
            values.append(pop)
    if patches:
        coll = PatchCollection(
            patches, cmap="OrRd", norm=norm, alpha=0.8, edgecolor="#b30000", linewidth=0.4, zorder=4
        )
        coll.set_array(np.asarray(values, float))
        ax.add_collection(coll)
    return mappable


def _frame(ax, layers, *, font, n_gaps: int, n_fac: int) -> None:
    # late: matplotlib/openpyxl drawing loads only when a report is drawn
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    minx, miny, maxx, maxy = layers["district"].total_bounds
    pad = 0.04 * max(maxx - minx, maxy - miny)
    ax.set_xlim(minx - pad, maxx + pad)
    ax.set_ylim(miny - pad, maxy + pad)
    ax.set_aspect("equal")
    ax.set_axis_off()
    handles = [
        Patch(facecolor="#fc8d59", edgecolor="#b30000", label=f"覆盖缺口（{n_gaps} 处，颜色越深人口越多）"),
        Line2D([], [], marker="^", color="#1f5fbf", linestyle="", label=f"现有设施（{n_fac} 处）"),
        Line2D([], [], color="#8a8a8a", label="村居边界"),
        Line2D([], [], color="#c8c8c8", label="道路"),
    ]
    ax.legend(handles=handles, loc="upper left", prop=_sized(font, 8), framealpha=0.9)
    _scale_bar(ax, minx, miny - pad / 2, maxx - minx, font)
    _north_arrow(ax, font)


def _sized(font, size: float):
    copy = font.copy()
    copy.set_size(size)
    return copy


def _scale_bar(ax, x0: float, y0: float, width: float, font) -> None:
    """A bar of a round length (1, 2 or 5 × 10ⁿ metres, about a fifth of the map) with its length."""
    raw = max(width, 1.0) / 5
    base = 10 ** np.floor(np.log10(raw))
    length = max(m * base for m in (1, 2, 5) if m * base <= raw)
    ax.plot([x0, x0 + length], [y0, y0], color="black", linewidth=2.5, zorder=6, solid_capstyle="butt")
    label = f"{length / 1000:g} 公里" if length >= 1000 else f"{length:g} 米"
    ax.text(
        x0 + length / 2, y0 + 0.01 * width, label, ha="center", va="bottom", fontproperties=_sized(font, 8)
    )


def _north_arrow(ax, font) -> None:
    """An arrow pointing up with 北 (the map is in the district's UTM zone: up is north)."""
    ax.annotate(
        "北",
        xy=(0.95, 0.97),
        xytext=(0.95, 0.87),
        xycoords="axes fraction",
        textcoords="axes fraction",
        ha="center",
        va="top",
        fontproperties=_sized(font, 11),
        zorder=7,
        arrowprops={
            "facecolor": "black",
            "edgecolor": "black",
            "width": 3,
            "headwidth": 10,
            "headlength": 10,
        },
    )


# --- one-page PDF ---------------------------------------------------------------------------------

A4_LANDSCAPE = (11.69, 8.27)
"""Inches."""


def pdf(s: Session, run_id: int | None = None, *, min_share: float = standards.DEFAULT_MIN_SHARE) -> bytes:
    """The 摘要 of a run on one A4 landscape page with its gap map (north arrow, scale bar, legend),
    the data date and 演示数据（虚构） for the demo district; the Chinese font embedded (subset)."""
    # late: matplotlib/openpyxl drawing loads only when a report is drawn
    import matplotlib
    from matplotlib.backends.backend_pdf import FigureCanvasPdf
    from matplotlib.figure import Figure

    font = _font()
    run = resolve_run(s, run_id)
    c = comp.compliance(s, run_id=run["run_id"], min_share=min_share)
    brief = summary.build(s, run, c)
    layers = _map_layers(s, brief.run_id, summary.required_codes(s))
    fig = Figure(figsize=A4_LANDSCAPE)
    FigureCanvasPdf(fig)
    fig.text(0.03, 0.955, brief.title.replace("报告", "摘要"), fontproperties=_sized(font, 16), va="center")
    fig.text(0.03, 0.918, brief.facts(), fontproperties=_sized(font, 8.5), va="center", color="#333333")
    if brief.demo:
        fig.text(
            0.97, 0.955, DEMO_LABEL, fontproperties=_sized(font, 14), color="#c00000", ha="right", va="center"
        )
    ax = fig.add_axes((0.02, 0.06, 0.5, 0.82))
    draw_map(ax, layers, font=font)
    for artist in ax.collections:  # tens of thousands of street segments: an image, the words stay text
        artist.set_rasterized(True)
    ax.set_title("应配建设施覆盖缺口", fontproperties=_sized(font, 10))
    _page_text(fig, brief, font)
    fig.text(
        0.03,
        0.022,
        f"民情地图 · 第 {brief.run_id} 次覆盖分析 · 数据日期 {brief.data_date} · "
        f"生成于 {spreadsheets.now_beijing()}（北京时间）",
        fontproperties=_sized(font, 7.5),
        color="#555555",
    )
    out = io.BytesIO()
    with matplotlib.rc_context({"pdf.fonttype": 42}), _rare_glyphs_as_boxes():  # TrueType subset, embedded
        fig.savefig(out, format="pdf", dpi=200, metadata={"Title": brief.title, "Creator": "民情地图"})
    return out.getvalue()


PAGE_TEXT_X, PAGE_TEXT_TOP, PAGE_TEXT_BOTTOM = 0.545, 0.885, 0.05
PAGE_TEXT_UNITS = 84
"""Width of the page's text column in ``spreadsheets.text_width`` units (a CJK character is 2) at 8 pt."""


def _page_text(fig, brief: summary.Summary, font) -> None:
    """The 摘要's sections in the right column, wrapped, each item cut to a few lines ("…"); what does
    not fit ends in a pointer to the XLSX report."""
    line_h = 0.0205
    y = PAGE_TEXT_TOP
    dark, grey = "#222222", "#555555"
    blocks: list[tuple[str, list[tuple[str, str]], int]] = [
        (
            "一、全区对照目标",
            [(t, "#1b7f3b" if ok else ("#c00000" if ok is False else dark)) for t, ok in brief.targets]
            or [("目标表中没有目标。", dark)],
            2,
        ),
        (
            "二、最需关注的社区",
            [(t, dark) for t in brief.worst] or [("所有社区的应配设施均已达标。", dark)],
            2,
        ),
        ("三、建议新增设施选址", [(t, dark) for t in brief.sites], 3),
        ("四、覆盖缺口", [(t, dark) for t in brief.gaps[:3]], 2),
        ("指标说明", [(t, grey) for t in brief.measures], 2),
    ]
    for heading, lines, most in blocks:
        if y - 2 * line_h < PAGE_TEXT_BOTTOM:
            break
        fig.text(PAGE_TEXT_X, y, heading, fontproperties=_sized(font, 10), color="#0b3d91", va="top")
        y -= line_h * 1.25
        for text, color in lines:
            wrapped = wrap(text, PAGE_TEXT_UNITS)
            if len(wrapped) > most:
                wrapped = [*wrapped[: most - 1], wrapped[most - 1][:-1] + "…"]
            if y - line_h * len(wrapped) < PAGE_TEXT_BOTTOM:
                fig.text(
                    PAGE_TEXT_X, y, "……（完整内容见 XLSX 报告）", fontproperties=_sized(font, 8), va="top"
                )
                return
            for part in wrapped:
                fig.text(PAGE_TEXT_X, y, part, fontproperties=_sized(font, 8), color=color, va="top")
                y -= line_h
        y -= line_h * 0.4


def wrap(text: str, units: float) -> list[str]:
    """``text`` cut into lines of at most ``units`` display units (CJK characters count two)."""
    lines, current, width = [], "", 0.0
    for ch in text:
        w = spreadsheets.text_width(ch)
        if width + w > units and current:
            lines.append(current)
            current, width = "", 0.0
        current += ch
        width += w
    if current:
        lines.append(current)
    return lines
