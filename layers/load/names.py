"""Import standard place names (标准地名) with their sign text."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.areas import DEPTH
from geo.crs import geometries_to_wgs84, to_wgs84
from geo.placenames.errors import UnknownCategoryError
from geo.placenames.tables import PlaceNameTables, category_code
from layers import ids
from layers.db import cursor_result
from layers.load.bulk import Progress, copy_frame, record_import
from layers.load.position import check_positions, expected_extent, row_geometries
from layers.load.report import ImportReport, Rejected, write_all_or_nothing
from layers.load.source import (
    Source,
    check_widths,
    map_columns,
    number_column,
    read_source,
    require_columns,
    required_text,
    text_column,
)
from layers.nametables import configured_tables
from layers.placenames import fill_pinyin, sign_parts


def assign_place_name_areas(s: Session) -> int:
    """Give place names without an area the deepest area containing them."""
    depth = " ".join(f"WHEN '{lvl}' THEN {d}" for lvl, d in DEPTH.items())
    return cursor_result(
        s.execute(
            text(
                "UPDATE place_names p SET area_id = (SELECT a.area_id FROM areas a "
                "WHERE ST_Contains(a.geom, ST_PointOnSurface(p.geom)) "
                f"ORDER BY CASE a.level {depth} END DESC LIMIT 1) WHERE p.area_id IS NULL"
            )
        )
    ).rowcount


PLACE_STATUS_WORDS = {
    "standard": ("standard", "标准", "规范"),
    "irregular": ("irregular", "不规范"),
    "historical": ("historical", "历史", "曾用"),
}


PLACE_WIDTHS = {"name": 120, "proper": 120, "generic": 40, "pinyin": 300, "approval": 200}


PLACE_COLS = ["name_id", "name", "category", "proper", "generic", "pinyin", "status", "approval", "meaning"]


def import_place_names(
    s: Session,
    path: Path,
    report: ImportReport,
    *,
    crs,
    dry_run,
    actor,
    column_map,
    bbox,
    step,
    max_rows,
    progress,
    outside_china=False,
    **_ignored,
) -> None:
    step("读取 reading")
    source = read_source(path, report, crs=crs, max_rows=max_rows)
    frame = map_columns(source.frame, "place_names", report, column_map)
    located = source.geometry is not None or "wkt" in frame.columns
    require_columns(frame, "place_names", ["name", "category"] + ([] if located else ["lon", "lat"]), report)
    if not report.ok:
        raise Rejected
    step("检查 checking rows")
    rows = _place_rows(s, frame, source, report, extent=expected_extent(s, bbox, outside_china=outside_china))
    if report.ok:
        rows = _skip_stored_names(s, rows, report)
        step("写入 writing")
        write_all_or_nothing(
            s,
            report,
            lambda: _write_place_names(s, rows, actor=actor, progress=progress),
            actor=actor,
            dry_run=dry_run,
            preview=lambda: len(rows),
        )


def _category_or_none(value: str, tables: PlaceNameTables) -> str | None:
    """The category code of a file's value, by the rule ``names check`` uses (``category_code``)."""
    try:
        return category_code(value, tables=tables) or None
    except UnknownCategoryError:
        return None


def _place_rows(s, frame, source, report, *, extent) -> gpd.GeoDataFrame:
    names = required_text(frame, "name", source, report)
    check_widths(frame, source, report, PLACE_WIDTHS)
    tables = configured_tables()
    values = required_text(frame, "category", source, report)
    category = values.map(lambda v: _category_or_none(v, tables))
    for i in np.flatnonzero((category.isna() & (values != "")).to_numpy()):
        report.add(
            int(source.row[i]),
            "类别 category",
            f"unknown category {values.iat[i]!r}",
            f"use a code or Chinese name of data/placenames/categories.csv: "
            f"{'; '.join(f'{code} {cat.name_zh}' for code, cat in tables.categories.items())}",
        )
    words = {w: st for st, ws in PLACE_STATUS_WORDS.items() for w in ws}
    status_text = text_column(frame, "status", nfkc=True)
    status = status_text.map(lambda v: "standard" if v == "" else words.get(v.lower()))
    for i in np.flatnonzero(status.isna().to_numpy()):
        report.add(
            int(source.row[i]),
            "状态 status",
            f"unknown status {status_text.iat[i]!r}",
            "write 标准 (standard), 不规范 (irregular) or 历史 (historical)",
        )
    _check_sign_text(names, category, text_column(frame, "pinyin"), source, report)
    geoms = _place_geometries(frame, source, report, extent)
    return gpd.GeoDataFrame(
        {
            "row": source.row,
            "name": names,
            "category": category,
            "status": status,
            **{
                c: text_column(frame, c).replace("", None)
                for c in ("proper", "generic", "pinyin", "approval", "meaning")
            },
        },
        geometry=list(geoms),
        crs=4326,
    )


def _check_sign_text(
    names: pd.Series, category: pd.Series, pinyin: pd.Series, source: Source, report: ImportReport
) -> None:
    """The sign text computed after writing (``layers.placenames.fill_pinyin``) must fit its columns:
    checked now, so that a dry run finds it too. Only long names can overflow (≤ 7 letters a syllable)."""

    widths = {"pinyin": PLACE_WIDTHS["pinyin"], "generic": PLACE_WIDTHS["generic"]}
    long = (names.str.len() > min(widths["generic"], widths["pinyin"] // 7)).to_numpy()
    for i in np.flatnonzero(long):
        if not isinstance(category.iat[i], str):
            continue  # the unknown category is reported already
        parts = sign_parts(names.iat[i], category.iat[i])
        for column, width in widths.items():
            if column == "pinyin" and pinyin.iat[i]:
                continue  # the file's own pinyin is kept (its width is checked with the others)
            sign = parts[column] or ""
            if len(sign) > width:
                report.add(
                    int(source.row[i]),
                    "名称 name",
                    f"the sign text ({column}) of this name would be "
                    f"{len(sign)} characters, more than {width}",
                    "shorten the name"
                    + (", or give its pinyin (拼音) of at most 300 characters" if column == "pinyin" else ""),
                )


def _place_geometries(frame, source, report, extent) -> list:
    """Each row's geometry in WGS84: the file's or WKT (any type), else a lon/lat point."""
    geoms = [
        None if g is None else geometries_to_wgs84(g, crs=source.crs)
        for g in row_geometries(frame, source, report)
    ]
    x = number_column(frame, "lon", source, report, minimum=None).to_numpy(dtype=float)
    y = number_column(frame, "lat", source, report, minimum=None).to_numpy(dtype=float)
    points = ~np.isnan(x) & ~np.isnan(y) & np.array([g is None for g in geoms], dtype=bool)
    if points.any():
        lon, lat = to_wgs84(x[points], y[points], crs=source.crs)
        for i, p in zip(np.flatnonzero(points), shapely.points(lon, lat), strict=True):
            geoms[i] = p
    for i in np.flatnonzero(np.array([g is None for g in geoms], dtype=bool)):
        report.add(int(source.row[i]), "经度/纬度", "no location", "fill in 经度/纬度 or a WKT geometry")
    present = np.array([g is not None for g in geoms], dtype=bool)
    if present.any():
        at = shapely.point_on_surface(np.asarray(geoms, dtype=object)[present])
        check_positions(shapely.get_x(at), shapely.get_y(at), source.row[present], extent, report)
    return geoms


def _skip_stored_names(s: Session, rows: gpd.GeoDataFrame, report: ImportReport) -> gpd.GeoDataFrame:
    """Rows whose name and category are already registered are skipped (edit those in the registry)."""
    stored = {
        (n, c): i for i, n, c in s.execute(text("SELECT name_id, name, category FROM place_names")).all()
    }
    repeat = np.array(
        [(n, c) in stored for n, c in zip(rows["name"], rows["category"], strict=True)], dtype=bool
    )
    for r in rows[repeat].itertuples():
        name_id = stored[(r.name, r.category)]
        report.warn(
            int(r.row),
            "名称 name",
            f"{r.name} ({r.category}) is already registered as name {name_id}: skipped",
            "edit the registered name instead (its history is kept there)",
        )
    return rows[~repeat]


def _write_place_names(
    s: Session, rows: gpd.GeoDataFrame, *, actor: str, progress: Progress | None = None
) -> int:

    frame = rows.assign(name_id=ids.allocate(s, "place_names", len(rows)))
    n = copy_frame(
        s, "place_names", frame, columns=PLACE_COLS, geometry={"geometry": "geom"}, progress=progress
    )
    # sign text where the file gives none (its pinyin is kept)
    fill_pinyin(s, name_ids=frame["name_id"].tolist())
    s.execute(
        text(
            "INSERT INTO place_name_history (name_id, action, new_name, approval, changed_by, after) "
            "SELECT name_id, 'create', name, approval, :a, "
            "jsonb_build_object('name', name, 'status', status) FROM place_names WHERE name_id = ANY(:ids)"
        ),
        {"a": actor, "ids": frame["name_id"].tolist()},
    )
    assign_place_name_areas(s)
    record_import(s, actor=actor, layer="place_names", summary={"rows": n})
    return n
