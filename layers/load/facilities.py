"""Import facilities (设施) from a government file."""

from __future__ import annotations

import difflib
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers import ids
from layers.load.bulk import FACILITY_COLS, Progress, copy_frame, record_import
from layers.load.position import expected_extent, locate, normalise_address
from layers.load.reference import ensure_facility_types, read_facility_types
from layers.load.report import ImportReport, Rejected, write_all_or_nothing
from layers.load.source import (
    WIDTHS,
    Source,
    check_widths,
    map_columns,
    number_column,
    read_source,
    require_columns,
    required_text,
    text_column,
)

STATUS_WORDS = {
    "open": ("open", "开放", "运营", "在用", "正常", "使用", "已建", "现状"),
    "planned": ("planned", "规划", "拟建", "在建", "筹建", "新建"),
    "closed": ("closed", "关闭", "停用", "撤销", "废弃"),
}


def facility_type_lookup(s: Session) -> pd.DataFrame:
    """Facility types (code, name_zh) as stored, else as shipped in data/facility_types.csv."""
    rows = s.execute(text("SELECT code, name_zh FROM facility_types ORDER BY code")).all()
    if rows:
        return pd.DataFrame(rows, columns=["code", "name_zh"])
    return read_facility_types()[["code", "name_zh"]]


def _type_key(value: str) -> str:
    v = unicodedata.normalize("NFKC", value).strip().lower()
    return re.sub(r"\s+", "", re.sub(r"\(.*?\)", "", v))


def resolve_types(values: pd.Series, types: pd.DataFrame, source: Source, report: ImportReport) -> pd.Series:
    """Codes for type values given as codes or Chinese names; unknown values reported with the list."""
    keys: dict[str, str] = {}
    for code, name in zip(types["code"], types["name_zh"], strict=True):
        keys.update({_type_key(code): code, _type_key(name): code, normalise_address(name): code})
    codes = values.map(lambda v: keys.get(_type_key(v)) or keys.get(normalise_address(v)))
    valid = "; ".join(f"{c} {n}" for c, n in zip(types["code"], types["name_zh"], strict=True))
    for i in np.flatnonzero((codes.isna() & (values != "")).to_numpy()):
        close = difflib.get_close_matches(_type_key(values.iat[i]), list(keys), n=1, cutoff=0.5)
        hint = (
            f" — did you mean {keys[close[0]]} ({types.set_index('code').at[keys[close[0]], 'name_zh']})?"
            if close
            else ""
        )
        report.add(
            int(source.row[i]),
            "类型 type_code",
            f"unknown facility type {values.iat[i]!r}{hint}",
            f"use a code or Chinese name of data/facility_types.csv: {valid}",
        )
    return codes


def _statuses(frame: pd.DataFrame, source: Source, report: ImportReport) -> pd.Series:
    words = {w: status for status, ws in STATUS_WORDS.items() for w in ws}
    values = text_column(frame, "status", nfkc=True)
    status = values.map(
        lambda v: "open" if v == "" else next((s for w, s in words.items() if w in v.lower()), None)
    )
    for i in np.flatnonzero(status.isna().to_numpy()):
        report.add(
            int(source.row[i]),
            "状态 status",
            f"unknown status {values.iat[i]!r}",
            "write 开放 (open), 规划 (planned) or 关闭 (closed)",
        )
    return status


def import_facilities(
    s: Session,
    path: Path,
    report: ImportReport,
    *,
    crs,
    dry_run,
    actor,
    column_map,
    replace,
    bbox,
    step,
    max_rows,
    progress,
    outside_china=False,
    **_ignored,
) -> None:
    step("读取 reading")
    source = read_source(path, report, crs=crs, max_rows=max_rows)
    frame = map_columns(source.frame, "facilities", report, column_map)
    positioned = any(c in frame.columns for c in ("lon", "wkt", "address")) or source.geometry is not None
    require_columns(
        frame, "facilities", ["name", "type_code"] + ([] if positioned else ["lon", "lat"]), report
    )
    if not report.ok:
        raise Rejected
    step("检查 checking rows")
    extent = expected_extent(s, bbox, outside_china=outside_china)
    rows = _facility_rows(s, frame, source, report, crs=source.crs, extent=extent)
    if report.ok:
        _warn_duplicates(s, rows, report)
        step("写入 writing")
        write_all_or_nothing(
            s,
            report,
            lambda: _write_facilities(s, rows, replace=replace, actor=actor, progress=progress),
            actor=actor,
            dry_run=dry_run,
            preview=lambda: len(rows),
        )


def _facility_rows(s, frame, source, report, *, crs, extent) -> pd.DataFrame:
    names = required_text(frame, "name", source, report)
    codes = resolve_types(
        required_text(frame, "type_code", source, report), facility_type_lookup(s), source, report
    )
    check_widths(
        frame,
        source,
        report,
        {k: WIDTHS[k] for k in ("name", "address", "phone", "opening_hours", "fees", "operator")},
    )
    extra = {c: number_column(frame, c, source, report) for c in ("floor_area_m2", "capacity")}
    status = _statuses(frame, source, report)
    lon, lat, _ = locate(frame, source, report, s=s, crs=crs, extent=extent)
    return pd.DataFrame(
        {
            "row": source.row,
            "type_code": codes,
            "name": names,
            "lon": lon,
            "lat": lat,
            "status": status,
            **{
                c: text_column(frame, c).replace("", None)
                for c in ("address", "phone", "opening_hours", "fees", "operator")
            },
            **extra,
            "source": f"file:{Path(report.path).name}"[:200],
        }
    )


def _warn_duplicates(s: Session, rows: pd.DataFrame, report: ImportReport) -> None:
    """Warn about rows that repeat a stored facility (same type and name within 100 m)."""
    stored = s.execute(
        text("SELECT facility_id, type_code, name, ST_X(geom), ST_Y(geom) FROM facilities")
    ).all()
    if not stored:
        return
    frame = pd.DataFrame(stored, columns=["facility_id", "type_code", "name", "x", "y"])
    pairs = rows.merge(frame, on=["type_code", "name"])
    if pairs.empty:
        return
    metres = pyproj.Geod(ellps="WGS84").inv(
        pairs["lon"].to_numpy(float),
        pairs["lat"].to_numpy(float),
        pairs["x"].to_numpy(float),
        pairs["y"].to_numpy(float),
    )[2]
    for r in pairs[metres < 100].itertuples():
        report.warn(
            int(r.row),
            "名称 name",
            f"{r.name} ({r.type_code}) is already stored as facility {r.facility_id}",
            "remove the row, or the stored facility, unless both exist",
        )


def _write_facilities(
    s: Session, rows: pd.DataFrame, *, replace: bool, actor: str, progress: Progress | None = None
) -> int:

    if replace:
        s.execute(text("DELETE FROM facilities"))
    ensure_facility_types(s, rows["type_code"].unique())
    frame = rows.assign(
        facility_id=ids.allocate(s, "facilities", len(rows)),
        geometry=shapely.points(rows["lon"].to_numpy(), rows["lat"].to_numpy()),
    )
    n = copy_frame(
        s, "facilities", frame, columns=FACILITY_COLS, geometry={"geometry": "geom"}, progress=progress
    )
    record_import(s, actor=actor, layer="facilities", summary={"rows": n, "replace": replace})
    return n
