"""The editable tables: shipped files are valid, malformed edits fail with the fix named."""

from __future__ import annotations

import shutil

import pytest

from geo.placenames.checks import check_name
from geo.placenames.errors import PlaceNameTableError
from geo.placenames.lexicons import common_chars, gb2312_chars
from geo.placenames.pinyin import romanize
from geo.placenames.tables import DATA_DIR, load_tables, read_generics, read_polyphones


def test_shipped_tables_load():
    tables = load_tables()
    assert {"路", "街", "大道", "大街", "巷", "里", "弄", "胡同", "道", "桥", "村", "社区", "镇", "街道", "乡", "区", "县",
            "市", "山", "河", "江", "湖", "港", "湾", "岛", "园", "苑", "花园", "小区", "大厦", "广场", "公园"} <= set(tables.generics)
    assert {"road", "lane", "estate", "village", "natural_village", "town", "county"} <= set(tables.categories)
    assert {t.kind for t in tables.lexicon} == {"大", "洋", "怪"}
    assert {"曼哈顿", "威尼斯", "香榭丽舍", "维也纳", "加州", "罗马", "巴黎", "dubai", "皇家", "帝景"} <= {
        t.term for t in tables.lexicon}
    assert all(len(word) == len(reading) for word, reading in tables.polyphones.items())


def test_gb2312_set_and_allow_list():
    assert len(gb2312_chars()) == 6763
    assert {"圳", "涌", "岗"} <= gb2312_chars()
    assert {"塱", "氹"} <= common_chars() - gb2312_chars()


def test_malformed_polyphones_name_the_fix(tmp_path):
    path = tmp_path / "polyphones.csv"
    path.write_text("word,reading,note\n重庆,chongqing,missing space\n", encoding="utf-8")
    with pytest.raises(PlaceNameTableError, match="one syllable per character"):
        read_polyphones(path)


def test_malformed_generics_name_the_fix(tmp_path):
    path = tmp_path / "generics.csv"
    path.write_text("term,classes,rank,written,gbt18521,note\n路,road,big,apart,,\n", encoding="utf-8")
    with pytest.raises(PlaceNameTableError, match="rank"):
        read_generics(path)
    path.write_text("term,reading\n路,lu\n", encoding="utf-8")
    with pytest.raises(PlaceNameTableError, match="lacks column"):
        read_generics(path)


def test_edited_table_directory_changes_results(tmp_path):
    shutil.copytree(DATA_DIR, tmp_path / "placenames")
    folder = tmp_path / "placenames"
    with (folder / "polyphones.csv").open("a", encoding="utf-8") as f:
        f.write("石牌,shi bai,test edit\n")
    with (folder / "lexicons.csv").open("a", encoding="utf-8") as f:
        f.write("金字塔,洋,test edit\n")
    edited = load_tables(folder)
    assert romanize("石牌村", category="village", tables=edited) == "Shibai Cun"
    assert romanize("石牌村", category="village") == "Shipai Cun"
    assert {f.code for f in check_name("金字塔小区", tables=edited)} == {"foreign"}
    assert check_name("金字塔小区") == []
