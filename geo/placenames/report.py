"""Check reports: a batch report for any list of names, the registry's report, the real-divisions report.

All return DataFrames. :func:`findings_sheets` and :func:`signs_sheets` put findings and the sign
work list into the words officials read (Chinese headings, category names, problems and scopes; no
rule codes or English); ``pipeline.spreadsheets`` writes the sheets (safely) as XLSX.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

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
    "row": "行号",
    "name": "名称",
    "category": "类别",
    "scope": "法定范围",
    "code": "问题代码",
    "severity": "处理方式",
    "reason_zh": "问题",
    "rule": "依据",
    "detail": "说明",
    "group": "分组",
    "normalised": "规范化名称",
    "pinyin": "拼音（无调）",
    "count": "单位数",
    "distinct": "不同名称数",
    "names": "名称",
    "original": "原名称",
    "codes": "统计代码",
    "city": "地市",
    "county": "县区",
    "towns": "所属乡镇",
    "counties": "所属县区",
    "object": "对象",
    "check": "检查",
    "groups": "组数",
    "findings": "发现数",
    "scope_rule": "法定范围",
    "name_id": "地名编号",
    "status": "状态",
    "town": "镇街",
    "district": "区县",
    "category_zh": "类别",
    "sign_type": "标志类型",
    "sign_chinese": "标志汉字",
    "sign_pinyin": "标志拼音",
    "approval": "批准文号",
    "lon": "经度",
    "lat": "纬度",
    "area_id": "区域编号",
    "heritage": "历史文化地名",
    "sign_present": "有无标志",
    "name_count": "地名数",
}
"""Column → Chinese heading of every place-name report."""
STATUS_ZH = {"standard": "标准地名", "irregular": "不规范地名", "historical": "历史地名"}
SCOPE_ZH = {
    "country": "全国",
    "province": "省内",
    "county": "县(区)内",
    "city_or_town": "市(镇)内",
    "town": "乡镇内",
}
"""Legal-scope level of a ``legal_scope`` key → Chinese."""
_LATIN_WORD = re.compile(r"[A-Za-z]{3,}")
SEVERITY_ZH = {"review": "待审核"}
FINDING_SHOWN = [
    "name_id",
    "row",
    "name",
    "category",
    "status",
    "town",
    "district",
    "scope",
    "reason_zh",
    "rule",
    "detail",
    "severity",
]
"""Columns of a findings sheet, in order (those present); codes, English reasons and group keys stay out."""
SIGN_SHOWN = [
    "name_id",
    "name",
    "category_zh",
    "sign_type",
    "sign_chinese",
    "sign_pinyin",
    "status",
    "town",
    "district",
    "approval",
    "lon",
    "lat",
]
REPORT_COLUMNS = ["row", "name", "category", "scope", *FINDING_COLUMNS[2:]]


def check_report(
    frame: pd.DataFrame,
    *,
    name: str = "name",
    category: str = "category",
    scope: str = "scope",
    size_rank: str = "size_rank",
    tables: PlaceNameTables | None = None,
) -> pd.DataFrame:
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
    keyed["_scope"] = (
        frame[scope].astype(str)
        if scope in frame.columns
        else legal_scope(frame, category=category, tables=t)
    )
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
    return (
        findings.groupby(["code", "reason_zh"], sort=True)
        .agg(findings=("row", "size"), names=("row", "nunique"))
        .reset_index()
    )


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
        return {
            "汇总": self.summary,
            "村居重名": self.village_duplicates,
            "村居同音": self.village_homophones,
            "乡镇重名": self.town_duplicates,
            "乡镇同音": self.town_homophones,
        }


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


def division_report(
    villages: pd.DataFrame, towns: pd.DataFrame, *, tables: PlaceNameTables | None = None
) -> DivisionReport:
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
        "village_duplicates": _describe(
            duplicate_groups(villages, scope="county_code", tables=t),
            villages,
            "normalised",
            {**area, "towns": "town_name"},
        ),
        "village_homophones": _describe(
            homophone_groups(villages, scope="county_code", tables=t),
            villages,
            "pinyin",
            {**area, "towns": "town_name"},
        ),
        "town_duplicates": _describe(
            duplicate_groups(towns, scope="_province", normalise=False, tables=t),
            towns,
            "normalised",
            {"city": "city_name", "counties": "county_name"},
        ),
        "town_homophones": _describe(
            homophone_groups(towns, scope="_province", normalise=False, tables=t),
            towns,
            "pinyin",
            {"city": "city_name", "counties": "county_name"},
        ),
    }
    labels = [
        ("村/社区", "同一县级行政区", "重名"),
        ("村/社区", "同一县级行政区", "同音"),
        ("乡/镇/街道", "同一省", "重名"),
        ("乡/镇/街道", "同一省", "同音"),
    ]
    summary = pd.DataFrame(
        [(*label, len(f), int(f["count"].sum())) for label, f in zip(labels, frames.values(), strict=True)],
        columns=["object", "scope_rule", "check", "groups", "count"],
    )
    return DivisionReport(summary=summary, **frames)


def scope_zh(key: str) -> str:
    """A ``legal_scope`` key in Chinese.

    ``city_or_town:澄湾区`` → ``市(镇)内 澄湾区``; ``county:*`` → ``县(区)内``.
    """
    level, _, value = str(key).partition(":")
    if level not in SCOPE_ZH:
        return ""
    return SCOPE_ZH[level] if value in ("", "*") else f"{SCOPE_ZH[level]} {value}"


def detail_zh(code: str, detail: str) -> str:
    """The finding's detail in Chinese for people: map popups and reports.

    The rule library writes some of it in English.

    Known shapes are rewritten (the offending word or character, the legal scope, the generic term
    and its rank); anything else that still holds an English word is left out rather than shown.
    """
    text = re.sub(r"范围\s*scope\s*(\w+):", lambda m: f"范围：{SCOPE_ZH.get(m[1], '')} ", detail.strip())
    text = re.sub(r"同音\s+[a-z]+：", "同音：", text).replace(": ", "：")
    if code in ("exaggerated", "foreign", "odd"):
        word, _, note = text.partition("：")
        note = "；".join(
            p.strip() for p in re.split(r"[;；]", note) if p.strip() and not _LATIN_WORD.search(p)
        )
        text = f"含“{word}”" + (f"（{note}）" if note else "")
    elif code in ("latin_or_digit", "mixed_script", "traditional", "rare_char") and text:
        kind = {"latin_or_digit": "字母或数字", "rare_char": "生僻字"}.get(code, "繁体字")
        text = f"含{kind}“{text}”"
    elif code == "generic_mismatch" and (m := re.search(r"“(.+?)”.*?∉\s*([^\s(（]+)", text)):
        text = f"“{m[2]}”类地名不宜使用通名“{m[1]}”"
    elif code == "generic_oversize" and (
        m := re.search(r"“(.+?)”\s*rank\s*(\d+)\s*>\s*(\d+)\s*[(（](.*)[)）]\s*$", text)
    ):
        text = f"通名“{m[1]}”规模等级 {m[2]}，超过该类地名上限 {m[3]}（{m[4]}）"
    return "" if _LATIN_WORD.search(text) and code != "latin_or_digit" else text


def readable_findings(findings: pd.DataFrame, *, tables: PlaceNameTables | None = None) -> pd.DataFrame:
    """Findings (``check_report`` or the registry's) in officials' words, Chinese headings.

    Category codes become category names, statuses and scopes Chinese words; the rule code, the
    English reason and the group key are left out (the problem is named by ``reason_zh``).
    """
    t = default_tables(tables)
    out = findings[[c for c in FINDING_SHOWN if c in findings.columns]].copy()
    if "category" in out.columns:
        out["category"] = out["category"].map(lambda c: t.categories[c].name_zh if c in t.categories else c)
    if "status" in out.columns:
        out["status"] = out["status"].map(lambda s: STATUS_ZH.get(s, s))
    if "scope" in out.columns:
        out["scope"] = out["scope"].map(scope_zh)
    if "detail" in out.columns:
        out["detail"] = [
            detail_zh(c, "" if d is None or d != d else str(d))
            for c, d in zip(findings["code"], out["detail"], strict=True)
        ]
    out["severity"] = out["severity"].map(lambda s: SEVERITY_ZH.get(s, s))
    return out.rename(columns=HEADERS_ZH)


def readable_summary(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings and distinct names per problem (问题, 发现数, 地名数), most frequent first."""
    key = "name_id" if "name_id" in findings.columns else "row"
    counts = (
        findings.groupby("reason_zh", sort=False)
        .agg(findings=(key, "size"), name_count=(key, "nunique"))
        .reset_index()
        .sort_values(["findings", "reason_zh"], ascending=[False, True])
    )
    return counts.rename(columns=HEADERS_ZH).reset_index(drop=True)


def findings_sheets(
    findings: pd.DataFrame, *, tables: PlaceNameTables | None = None
) -> dict[str, pd.DataFrame]:
    """Sheet title → frame of a check report: 检查结果 (one row per finding) and 汇总 (per problem)."""
    return {"检查结果": readable_findings(findings, tables=tables), "汇总": readable_summary(findings)}


def signs_sheets(worklist: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Sheet title → frame of the sign work list (``layers.placenames.missing_signs``, index name_id)."""
    frame = worklist.reset_index()
    frame = frame[[c for c in SIGN_SHOWN if c in frame.columns]].copy()
    if "status" in frame.columns:
        frame["status"] = frame["status"].map(lambda s: STATUS_ZH.get(s, s))
    return {"缺少地名标志": frame.rename(columns=HEADERS_ZH)}
