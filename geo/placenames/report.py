"""Check reports: a batch report for any list of names and the real-divisions report.

Both return DataFrames; :func:`workbook_bytes` turns named frames into an XLSX file (bytes, so
the CLI writes it to disk and the API streams it) with Chinese headers.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
from openpyxl.styles import Font

from geo.placenames.checks import (
    FINDING_COLUMNS,
    check_names,
    duplicate_groups,
    duplicates,
    homophone_groups,
    homophones,
    legal_scope,
)
from geo.placenames.tables import PlaceNameTables, category_code, default_tables

HEADERS_ZH = {
    "row": "行号", "name": "名称", "category": "类别", "scope": "范围", "code": "问题代码",
    "severity": "处理方式", "reason_zh": "原因", "reason_en": "原因（英文）", "rule": "依据",
    "detail": "说明", "group": "分组", "normalised": "规范化名称", "pinyin": "拼音（无调）",
    "count": "单位数", "distinct": "不同名称数", "names": "名称", "original": "原名称",
    "codes": "统计代码", "city": "地市", "county": "县区", "towns": "所属乡镇",
    "counties": "所属县区", "object": "对象", "check": "检查", "groups": "组数",
    "findings": "发现数", "scope_rule": "法定范围",
}
REPORT_COLUMNS = ["row", "name", "category", "scope", *FINDING_COLUMNS[2:]]


def check_report(frame: pd.DataFrame, *, name: str = "name", category: str = "category",
                 scope: str = "scope", size_rank: str = "size_rank",
                 tables: PlaceNameTables | None = None) -> pd.DataFrame:
    """Every check on a list of names, one row per finding (all flagged for review).

    Parameters
    ----------
    frame
        Names, optionally with ``category`` (a code or Chinese name of data/placenames/categories.csv,
        see :func:`~geo.placenames.tables.category_code`; reported as the code), ``size_rank``,
        a ``scope`` key, or the admin columns ``province``/``city``/``county``/``town`` from
        which :func:`~geo.placenames.checks.legal_scope` derives the legal scope.
    name, category, scope, size_rank
        Column names; absent optional columns are ignored.
    tables
        Editable tables (default: shipped).

    Returns
    -------
    DataFrame
        Columns REPORT_COLUMNS, sorted by input row then code; ``row`` is the index label.
    """
    t = default_tables(tables)
    if category in frame.columns:  # codes or the Chinese names of categories.csv, as imports accept
        frame = frame.assign(**{category: frame[category].map(lambda v: category_code(v, tables=t))})
    keyed = frame.copy()
    keyed["_scope"] = (frame[scope].astype(str) if scope in frame.columns
                       else legal_scope(frame, category=category, tables=t))
    parts = [
        check_names(frame, name=name, category=category, size_rank=size_rank, tables=t),
        duplicates(keyed, name=name, scope="_scope", tables=t),
        homophones(keyed, name=name, scope="_scope", tables=t),
    ]
    non_empty = [p for p in parts if len(p)]  # concat of empty frames is deprecated in pandas
    found = pd.concat(non_empty, ignore_index=True) if non_empty else pd.DataFrame(columns=FINDING_COLUMNS)
    rows = found["row"].to_numpy()
    found["category"] = keyed.loc[rows, category].to_numpy() if category in keyed.columns else ""
    found["scope"] = keyed.loc[rows, "_scope"].to_numpy()
    order = {label: i for i, label in enumerate(frame.index)}
    found = found.assign(_pos=found["row"].map(order)).sort_values(["_pos", "code"], kind="stable")
    return found[REPORT_COLUMNS].reset_index(drop=True)


def summarise(findings: pd.DataFrame) -> pd.DataFrame:
    """Count findings and distinct names per code (columns code, reason_zh, findings, names)."""
    return (findings.groupby(["code", "reason_zh"], sort=True)
            .agg(findings=("row", "size"), names=("row", "nunique")).reset_index())


@dataclass(frozen=True)
class DivisionReport:
    """Duplicates and homophones among official division names (one frame per check)."""

    summary: pd.DataFrame
    village_duplicates: pd.DataFrame
    village_homophones: pd.DataFrame
    town_duplicates: pd.DataFrame
    town_homophones: pd.DataFrame

    def sheets(self) -> dict[str, pd.DataFrame]:
        """Sheet name → frame, in reading order."""
        return {"汇总": self.summary, "村居重名": self.village_duplicates, "村居同音": self.village_homophones,
                "乡镇重名": self.town_duplicates, "乡镇同音": self.town_homophones}


def _describe(groups: pd.DataFrame, frame: pd.DataFrame, key: str, extra: dict[str, str]) -> pd.DataFrame:
    def joined(column: str) -> pd.Series:
        return groups["rows"].map(lambda rows: "、".join(dict.fromkeys(frame.loc[rows, column].astype(str))))

    out = pd.DataFrame({"scope": groups["scope"], key: groups[key]})
    for target, column in extra.items():
        out[target] = joined(column)
    out["count"] = groups["count"]
    out["distinct"] = groups["distinct"]
    out["names"] = groups["names"]
    out["original"] = groups["original"]
    out["codes"] = joined("code")
    return out


def division_report(villages: pd.DataFrame, towns: pd.DataFrame, *,
                    tables: PlaceNameTables | None = None) -> DivisionReport:
    """Duplicate and homophone checks on official division names.

    Parameters
    ----------
    villages
        Village-level units (村/居委会): ``code``, ``name``, ``county_code``, ``county_name``,
        ``city_name``, ``town_name`` (the NBS 2023 columns); scope = county.
    towns
        Township-level units (乡/镇/街道): ``code``, ``name``, ``county_name``, ``city_name``;
        scope = the whole frame (one province).
    tables
        Editable tables (default: shipped).

    Returns
    -------
    DivisionReport
        ``summary`` has one row per check: object, scope_rule, check, groups, count (units).
    """
    t = default_tables(tables)
    towns = towns.assign(_province="省内")
    area = {"city": "city_name", "county": "county_name"}
    frames = {
        "village_duplicates": _describe(duplicate_groups(villages, scope="county_code", tables=t),
                                        villages, "normalised", {**area, "towns": "town_name"}),
        "village_homophones": _describe(homophone_groups(villages, scope="county_code", tables=t),
                                        villages, "pinyin", {**area, "towns": "town_name"}),
        "town_duplicates": _describe(duplicate_groups(towns, scope="_province", normalise=False, tables=t),
                                     towns, "normalised", {"city": "city_name", "counties": "county_name"}),
        "town_homophones": _describe(homophone_groups(towns, scope="_province", normalise=False, tables=t),
                                     towns, "pinyin", {"city": "city_name", "counties": "county_name"}),
    }
    labels = [("村/社区", "同一县级行政区", "重名"), ("村/社区", "同一县级行政区", "同音"),
              ("乡/镇/街道", "同一省", "重名"), ("乡/镇/街道", "同一省", "同音")]
    summary = pd.DataFrame(
        [(*label, len(f), int(f["count"].sum())) for label, f in zip(labels, frames.values(), strict=True)],
        columns=["object", "scope_rule", "check", "groups", "count"],
    )
    return DivisionReport(summary=summary, **frames)


def workbook_bytes(sheets: Mapping[str, pd.DataFrame], *, headers: Mapping[str, str] = HEADERS_ZH) -> bytes:
    """An XLSX workbook (bytes) with one sheet per frame, Chinese headers, frozen header row.

    Parameters
    ----------
    sheets
        Sheet name (at most 31 characters) → frame; list-valued cells are joined with 、.
    headers
        Column name → header text; other columns keep their names.
    """
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for sheet, frame in sheets.items():
            shown = frame.map(lambda v: "、".join(map(str, v)) if isinstance(v, list) else v)
            shown.rename(columns=dict(headers)).to_excel(writer, sheet_name=sheet[:31], index=False)
            _style(writer.sheets[sheet[:31]], shown)
    return buffer.getvalue()


def _style(ws, frame: pd.DataFrame) -> None:
    ws.freeze_panes = "A2"
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for i, column in enumerate(frame.columns, start=1):
        longest = max([len(str(column))] + [len(str(v)) for v in frame[column].head(200)])
        ws.column_dimensions[ws.cell(1, i).column_letter].width = min(60, 4 + 1.6 * longest)
