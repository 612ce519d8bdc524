"""Batch check report, XLSX writer, and the real Guangdong divisions against independent counts."""

from __future__ import annotations

import dataclasses
import io
import re

import openpyxl
import pandas as pd
import pytest
from pypinyin import lazy_pinyin
from pypinyin.constants import PHRASES_DICT
from pypinyin.seg import mmseg

from geo.placenames.report import (
    HEADERS_ZH,
    REPORT_COLUMNS,
    check_report,
    division_report,
    findings_sheets,
    summarise,
)
from geo.placenames.search import build_index
from geo.placenames.tables import load_tables
from pipeline.spreadsheets import workbook_bytes
from settings import divisions_dir

DIVISIONS = divisions_dir()


def test_check_report_combines_all_checks():
    frame = pd.DataFrame(
        {
            "name": [
                "幸福大道",
                "幸福大道",
                "幸福大到",
                "曼哈顿花园",
                "和平村委会",
                "和平村村民委员会",
                "和平村委会",
            ],
            "category": ["lane", "road", "road", "estate", "village", "village", "village"],
            "city": ["甲市", "甲市", "甲市", "甲市", "甲市", "甲市", "甲市"],
            "county": ["一县", "一县", "一县", "一县", "一县", "一县", "二县"],
        }
    )
    report = check_report(frame)
    assert list(report.columns) == REPORT_COLUMNS
    got = set(map(tuple, report[["row", "code"]].values.tolist()))
    assert got == {
        (0, "generic_oversize"),
        (1, "generic_oversize"),
        (0, "duplicate"),
        (1, "duplicate"),  # a lane and a road share the city scope
        (0, "homophone"),
        (1, "homophone"),
        (2, "homophone"),  # 幸福大到 reads like 幸福大道
        (3, "foreign"),
        (4, "duplicate"),
        (5, "duplicate"),  # the second county's 和平村 is out of scope
    }
    assert set(report.loc[report["code"] == "duplicate", "scope"]) == {"city_or_town:甲市", "county:一县"}
    assert report["row"].tolist() == sorted(report["row"])
    assert (report["severity"] == "review").all()
    summary = summarise(report).set_index("code")
    assert summary.loc["duplicate", "findings"] == 4
    assert summary.loc["homophone", "names"] == 3


def test_check_report_with_explicit_scope_and_clean_names():
    frame = pd.DataFrame({"name": ["人民路", "人民路", "解放路"], "scope": ["x", "y", "x"]})
    assert check_report(frame).empty
    assert set(check_report(frame.assign(scope="x"))["code"]) == {"duplicate"}


def test_findings_sheets_speak_chinese():
    frame = pd.DataFrame(
        {
            "name": ["EE新城", "人民路", "曼哈顿花园", "幸福大道", "幸福大道"],
            "category": ["estate", "road", "estate", "road", "road"],
            "city": "甲市",
        }
    )
    report = check_report(frame)
    sheets = findings_sheets(report)
    assert list(sheets) == ["检查结果", "汇总"]
    found = sheets["检查结果"]
    assert list(found.columns) == ["行号", "名称", "类别", "法定范围", "问题", "依据", "说明", "处理方式"]
    assert len(found) == len(report)
    assert set(found["类别"]) == {"住宅区（小区）", "道路（路、街）"}
    assert set(found["处理方式"]) == {"待审核"}
    # no rule code, English reason or scope key reaches a cell
    shown = " ".join(found.astype(str).to_numpy().ravel())
    assert not set(report["code"]) & set(re.findall(r"[a-z_]+", shown))
    assert "scope" not in shown and "city_or_town" not in shown and "rank" not in shown
    assert not re.search(r"[A-Za-z]{3,}", shown.replace("EE新城", ""))
    duplicate = found.loc[found["问题"] == "同一法定范围内重名", "说明"]
    assert len(duplicate) == 2 and (duplicate == "范围：市(镇)内 甲市：2 处同名 幸福大道、幸福大道").all()
    assert set(found["法定范围"]) == {"市(镇)内 甲市"}
    summary = sheets["汇总"].set_index("问题")
    assert list(summary.columns) == ["发现数", "地名数"]
    assert summary["发现数"].sum() == len(report)
    assert summary.loc["同一法定范围内重名", "地名数"] == 2


# --- the real 2023 Guangdong division names --------------------------------------------------


@pytest.fixture(scope="module")
def divisions():
    if not DIVISIONS.exists():
        pytest.skip(f"real division names not found at {DIVISIONS}")
    villages = pd.read_csv(DIVISIONS / "guangdong_villages_communities.csv", dtype=str, keep_default_na=False)
    towns = pd.read_csv(DIVISIONS / "guangdong_towns_streets.csv", dtype=str, keep_default_na=False)
    assert (len(villages), len(towns)) == (26842, 1757)
    return villages, towns


# Independent normalisation: one regular expression per kind, then undo a doubled 村/社区.
_COMMUNITY = re.compile(
    r"(社区居民委员会|社区居委员会|社区居委委员会|社区居委会会|社区居委会|社区居委|居民区社区委员会"
    r"|居民委员会社区|居民区社区|居民委员会|居委会)$"
)
_VILLAGE = re.compile(r"(村民委员会|村民委会|村委会)$")


@pytest.fixture(scope="module")
def shipped_report(divisions):
    return division_report(*divisions)


def independent_normalise(name: str) -> str:
    if _COMMUNITY.search(name) and len(_COMMUNITY.sub("", name)):
        return re.sub(r"社区社区$", "社区", _COMMUNITY.sub("社区", name))
    if _VILLAGE.search(name) and len(_VILLAGE.sub("", name)):
        return re.sub(r"村村$", "村", _VILLAGE.sub("村", name))
    return name


def expected_groups(frame: pd.DataFrame, scope: str, key: pd.Series, names: pd.Series) -> tuple[int, int]:
    """(groups, rows) of the homophone rule computed with plain pandas."""
    work = pd.DataFrame({"scope": frame[scope], "key": key, "name": names})
    distinct = work.groupby(["scope", "key"])["name"].nunique()
    groups = distinct[distinct > 1]
    rows = work.set_index(["scope", "key"]).index.isin(groups.index).sum()
    return len(groups), int(rows)


def expected_duplicates(frame: pd.DataFrame, scope: str, names: pd.Series) -> tuple[int, int]:
    sizes = pd.DataFrame({"scope": frame[scope], "name": names}).groupby(["scope", "name"]).size()
    return int((sizes > 1).sum()), int(sizes[sizes > 1].sum())


def plain_key(name: str) -> str:
    return "".join(lazy_pinyin(name))


def override_key(name: str, tables) -> str:
    """pypinyin readings with table words written over them, longest word first, left to right; a
    one-character word not inside a pypinyin dictionary word, a ``start`` word only at the start."""
    readings, i = lazy_pinyin(name, errors=lambda s: list(s)), 0
    in_word, pos = set(), 0
    for piece in mmseg.seg.cut(name):
        if len(piece) > 1 and piece in PHRASES_DICT:
            in_word.update(range(pos, pos + len(piece)))
        pos += len(piece)
    words = sorted(tables.polyphones, key=len, reverse=True)

    def applies(word: str, at: int) -> bool:
        return (
            name.startswith(word, at)
            and not (len(word) == 1 and at in in_word)
            and not (at > 0 and word in tables.start_only)
        )

    while i < len(name):
        word = next((w for w in words if applies(w, i)), None)
        if word:
            readings[i : i + len(word)] = tables.polyphones[word]
        i += len(word) if word else 1
    return "".join(readings).replace("ü", "v")


def summary_of(report) -> dict[tuple[str, str], tuple[int, int]]:
    s = report.summary
    return {
        (o, c): (g, n) for o, c, g, n in zip(s["object"], s["check"], s["groups"], s["count"], strict=True)
    }


def test_real_divisions_match_independent_counts_without_overrides(divisions):
    villages, towns = divisions
    plain = dataclasses.replace(load_tables(), polyphones={}, surnames={})
    got = summary_of(division_report(villages, towns, tables=plain))
    norm = villages["name"].map(independent_normalise)
    assert got[("村/社区", "重名")] == expected_duplicates(villages, "county_code", norm)
    assert got[("村/社区", "同音")] == expected_groups(villages, "county_code", norm.map(plain_key), norm)
    towns = towns.assign(province="44")
    assert got[("乡/镇/街道", "重名")] == expected_duplicates(towns, "province", towns["name"])
    assert got[("乡/镇/街道", "同音")] == expected_groups(
        towns, "province", towns["name"].map(plain_key), towns["name"]
    )


def test_real_divisions_match_independent_counts_with_shipped_overrides(divisions, shipped_report):
    villages, towns = divisions
    report = shipped_report
    got = summary_of(report)
    overrides = load_tables()
    norm = villages["name"].map(independent_normalise)
    keys = norm.map(lambda n: override_key(n, overrides))
    assert got[("村/社区", "重名")] == expected_duplicates(villages, "county_code", norm)
    assert got[("村/社区", "同音")] == expected_groups(villages, "county_code", keys, norm)
    town_keys = towns["name"].map(lambda n: override_key(n, overrides))
    assert got[("乡/镇/街道", "同音")] == expected_groups(towns.assign(p="44"), "p", town_keys, towns["name"])
    # a few groups a place-name officer would recognise
    homophones = report.village_homophones
    assert "和平社区、鹤平社区" in homophones.loc[homophones["county"] == "荔湾区", "names"].tolist()
    dup = report.town_duplicates.set_index("normalised")
    assert dup.loc["三角镇", "count"] == 3
    assert set(dup.loc["三角镇", "counties"].split("、")) == {"梅江区", "连平县", "中山市"}


def test_real_divisions_workbook_and_search(divisions, shipped_report):
    villages, towns = divisions
    report = shipped_report
    book = openpyxl.load_workbook(
        io.BytesIO(workbook_bytes(report.sheets(), headers=HEADERS_ZH)), read_only=True
    )
    assert book.sheetnames == ["汇总", "村居重名", "村居同音", "乡镇重名", "乡镇同音"]
    assert book["村居重名"].max_row == 1 + len(report.village_duplicates)
    names = pd.concat([villages[["code", "name"]], towns[["code", "name"]]]).rename(columns={"code": "id"})
    index = build_index(names)
    assert len(index) == 26842 + 1757
    found = index.query("石牌街道")
    assert found["name"].iloc[0] == "石牌街道" and found["match"].iloc[0] == "exact"
    found = index.query("shipaijiedao")
    assert found["name"].iloc[0] == "石牌街道"
    assert (index.query("石牌")["name"].str.contains("石牌")).all()
