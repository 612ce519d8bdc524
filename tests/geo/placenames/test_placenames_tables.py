"""The editable tables: shipped files are valid, malformed edits fail with the fix named."""

from __future__ import annotations

import shutil

import pytest

from geo.placenames.checks import check_name
from geo.placenames.errors import PlaceNameTableError, UnknownCategoryError
from geo.placenames.lexicons import common_chars, gb2312_chars
from geo.placenames.pinyin import romanize
from geo.placenames.tables import (
    DATA_DIR,
    category_code,
    load_tables,
    read_descriptors,
    read_generics,
    read_polyphones,
    use_overrides,
)


def test_shipped_tables_load():
    tables = load_tables()
    assert {
        "路",
        "街",
        "大道",
        "大街",
        "巷",
        "里",
        "弄",
        "胡同",
        "道",
        "桥",
        "村",
        "社区",
        "镇",
        "街道",
        "乡",
        "区",
        "县",
        "市",
        "山",
        "河",
        "江",
        "湖",
        "港",
        "湾",
        "岛",
        "园",
        "苑",
        "花园",
        "小区",
        "大厦",
        "广场",
        "公园",
    } <= set(tables.generics)
    assert {"road", "lane", "estate", "village", "natural_village", "town", "county"} <= set(
        tables.categories
    )
    assert {t.kind for t in tables.lexicon} == {"大", "洋", "怪"}
    assert {"曼哈顿", "威尼斯", "香榭丽舍", "维也纳", "加州", "罗马", "巴黎", "dubai", "皇家", "帝景"} <= {
        t.term for t in tables.lexicon
    }
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


# -- an override folder read over the shipped tables ------------------------------------------------------


@pytest.fixture
def override_folder(tmp_path):
    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "polyphones.csv").write_text(
        "word,reading,note\n石牌,shi bai,local reading\n长,zhang,replaces the shipped row for 长\n",
        encoding="utf-8",
    )
    (folder / "fixed_spellings.csv").write_text(
        "name,pinyin,source\n人民路,Renmin Road,bad on purpose\n", encoding="utf-8"
    )
    (folder / "extra_common_chars.txt").write_text("䶮  # yan, test\n", encoding="utf-8")
    return folder


def test_override_rows_replace_and_extend_the_shipped_ones(override_folder):
    tables = load_tables(overrides=override_folder)
    assert romanize("石牌村", category="village", tables=tables) == "Shibai Cun"  # added
    assert romanize("长岗村", category="village", tables=tables) == "Zhanggang Cun"  # replaced
    assert romanize("重庆", tables=tables) == "Chongqing"  # untouched shipped rows still apply
    assert romanize("东四十条", tables=tables) == "Dongsi 10 Tiao"  # a shipped fixed spelling stays
    assert romanize("人民路", tables=tables) == "Renmin Road"
    assert {"䶮", "圳"} <= tables.extra_chars
    shipped = load_tables()
    assert romanize("长岗村", category="village", tables=shipped) == "Changgang Cun"
    assert "石牌" not in shipped.polyphones


def test_use_overrides_changes_the_default_tables_until_reset(override_folder):
    try:
        use_overrides(override_folder)
        assert romanize("石牌村", category="village") == "Shibai Cun"
    finally:
        use_overrides(None)
    assert romanize("石牌村", category="village") == "Shipai Cun"


def test_a_bad_override_folder_names_the_fix(tmp_path):
    with pytest.raises(PlaceNameTableError, match="is not a folder"):
        load_tables(overrides=tmp_path / "absent")
    (tmp_path / "polyphone.csv").write_text("word,reading,note\n", encoding="utf-8")  # a typo in the name
    with pytest.raises(PlaceNameTableError, match="polyphones.csv"):
        load_tables(overrides=tmp_path)
    (tmp_path / "polyphone.csv").unlink()
    (tmp_path / "polyphones.csv").write_text(
        "word,reading,note\n重庆,chongqing,one syllable\n", encoding="utf-8"
    )
    with pytest.raises(PlaceNameTableError, match="one syllable per character"):
        load_tables(overrides=tmp_path)


def test_polyphone_position_and_descriptor_tables_are_validated(tmp_path):
    path = tmp_path / "polyphones.csv"
    path.write_text("word,reading,note,position\n区庄,ou zhuang,,begin\n", encoding="utf-8")
    with pytest.raises(PlaceNameTableError, match="position"):
        read_polyphones(path)
    path = tmp_path / "descriptors.csv"
    path.write_text("word,kind,note\n族,ethnic,\n", encoding="utf-8")
    with pytest.raises(PlaceNameTableError, match="two or more characters"):
        read_descriptors(path)
    assert {"瑶族", "湿地"} <= set(load_tables().descriptors)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("road", "road"),
        ("Road", "road"),
        (" lane ", "lane"),
        ("道路（路、街）", "road"),
        ("道路", "road"),
        ("巷、弄、胡同", "lane"),
        ("自然村", "natural_village"),
        ("村", "village"),
        ("", ""),
        (None, ""),
    ],
)
def test_category_code_accepts_codes_and_chinese_names(value, code):
    assert category_code(value) == code


def test_category_code_refuses_unknown_values_with_the_choices():
    with pytest.raises(UnknownCategoryError, match="道路"):
        category_code("大街道")
