"""Each check on positive and negative hand-made cases."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from geo.placenames.checks import (
    FINDING_COLUMNS,
    check_name,
    check_names,
    duplicate_groups,
    duplicates,
    homophone_groups,
    homophones,
    legal_scope,
    normalise_name,
)
from geo.placenames.errors import IndexNotUniqueError, NameColumnError, UnknownCategoryError
from geo.placenames.lexicons import regional_chars
from geo.placenames.tables import load_tables


def codes(name: str, **options) -> set[str]:
    return {f.code for f in check_name(name, **options)}


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("翠洲社区居民委员会", "翠洲社区"),
        ("扬仁东社区居委会", "扬仁东社区"),
        ("福成居民委员会", "福成社区"),
        ("南漖社区居委会会", "南漖社区"),
        ("黄麻布社区居委", "黄麻布社区"),
        ("石牌村委会", "石牌村"),
        ("石牌村民委会", "石牌村"),
        ("石牌村村民委员会", "石牌村"),  # the kind is not doubled
        ("新村村委会", "新村"),
        ("沙面街道", "沙面街道"),
        ("海傍农场生活区", "海傍农场生活区"),
        ("村委会", "村委会"),  # nothing left to name: unchanged
    ],
)
def test_normalise_name(raw, normalised):
    assert normalise_name(raw) == normalised


def test_duplicates_within_scope_only():
    frame = pd.DataFrame(
        {
            "name": ["和平村委会", "和平村村民委员会", "和平村委会", "和平社区居委会", "石牌村委会"],
            "county": ["A", "A", "B", "A", "A"],
        },
        index=[10, 11, 12, 13, 14],
    )
    groups = duplicate_groups(frame, scope="county")
    assert groups[["scope", "normalised", "count"]].values.tolist() == [["A", "和平村", 2]]
    found = duplicates(frame, scope="county")
    assert list(found.columns) == FINDING_COLUMNS
    assert sorted(found["row"]) == [10, 11]
    assert set(found["severity"]) == {"review"}
    assert found["rule"].str.contains("地名管理条例").all()
    # the same name in another county and 和平社区 vs 和平村 are not duplicates
    assert duplicates(frame.drop(index=[11]), scope="county").empty


def test_homophones_need_different_characters_in_the_same_scope():
    frame = pd.DataFrame(
        {
            "name": [
                "和平社区居委会",
                "鹤平社区居委会",
                "和平社区居委会",
                "大坝镇",
                "大八镇",
                "东城社区",
                "东城社区",
            ],
            "scope": ["A", "A", "B", "C", "C", "D", "D"],
        }
    )
    groups = homophone_groups(frame)
    # tones are ignored: bà / bā
    assert groups[["scope", "pinyin", "distinct"]].values.tolist() == [
        ["A", "hepingshequ", 2],
        ["C", "dabazhen", 2],
    ]
    assert sorted(homophones(frame)["row"]) == [0, 1, 3, 4]
    assert homophones(frame[frame["scope"] == "D"]).empty  # identical names are duplicates, not homophones


def test_homophones_use_the_polyphone_table():
    frame = pd.DataFrame({"name": ["长岗村", "常岗村"], "scope": ["A", "A"]})
    assert len(homophones(frame)) == 2  # 长 read chang in place names
    plain = dataclasses.replace(load_tables(), polyphones={}, surnames={})
    assert homophones(frame, tables=plain).empty  # pypinyin alone reads zhang


def test_group_checks_validate_their_input():
    with pytest.raises(NameColumnError, match="scope"):
        duplicates(pd.DataFrame({"name": ["x"]}))
    with pytest.raises(IndexNotUniqueError, match="reset_index"):
        duplicates(pd.DataFrame({"name": ["x", "y"], "scope": ["a", "a"]}, index=[1, 1]))


def test_legal_scope_follows_the_category():
    frame = pd.DataFrame(
        {
            "category": ["village", "road", "town", "county", "estate"],
            "county": ["天河区", "天河区", "天河区", "天河区", "越秀区"],
            "city": ["广州市"] * 5,
            "province": ["广东省"] * 5,
        }
    )
    assert legal_scope(frame).tolist() == [
        "county:天河区",
        "city_or_town:广州市",
        "province:广东省",
        "country:*",
        "city_or_town:广州市",
    ]
    assert legal_scope(frame.drop(columns="city")).iloc[1] == "city_or_town:*"
    assert legal_scope(frame.drop(columns="category")).tolist() == ["all:*"] * 5
    with pytest.raises(UnknownCategoryError, match="categories.csv"):
        legal_scope(frame.assign(category="avenue"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("曼哈顿花园", {"foreign"}),
        ("维也纳酒店公寓", {"foreign"}),
        ("环球中心", {"exaggerated"}),
        ("中华广场", {"exaggerated"}),
        ("帝景苑", {"odd"}),
        ("皇家御园", {"odd"}),
        ("Dubai城", {"foreign", "latin_or_digit"}),
        ("幸福村", set()),
        ("人民路", set()),
    ],
)
def test_lexicons(name, expected):
    assert codes(name) == expected


def test_lexicon_is_editable_data():
    tables = load_tables()
    extra = dataclasses.replace(
        tables,
        lexicon=(
            *tables.lexicon,
            dataclasses.replace(tables.lexicon[0], term="金字塔", kind="洋", match="金字塔"),
        ),
    )
    assert codes("金字塔小区") == set()
    assert codes("金字塔小区", tables=extra) == {"foreign"}


@pytest.mark.parametrize(
    ("name", "flagged"),
    [
        ("EE新城", True),
        ("经5路", True),
        ("３号路", True),  # full-width digit
        ("A区花园", True),
        ("经五路", False),  # Chinese ordinals are fine
        ("中山二路", False),
    ],
)
def test_latin_letters_or_digits(name, flagged):
    assert ("latin_or_digit" in codes(name)) is flagged


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("東门", {"mixed_script"}),
        ("东源县魚潭村", {"mixed_script"}),
        ("裡村", {"traditional"}),  # 村 is the same in both scripts
        ("東門", {"traditional"}),
        ("东门", set()),
        ("乾安县", set()),  # 乾 is standard (GB 2312)
    ],
)
def test_traditional_and_mixed_characters(name, expected):
    assert codes(name) & {"mixed_script", "traditional"} == expected


def test_rare_characters_and_the_allow_list():
    assert "rare_char" in codes("𣒍坑村")
    assert [f.detail for f in check_name("𣒍坑村") if f.code == "rare_char"] == ["𣒍"]
    assert "rare_char" not in codes("东塱村")  # 塱 is on the allow list
    assert "rare_char" not in codes("深圳")
    no_extra = dataclasses.replace(load_tables(), extra_chars=frozenset())
    assert "rare_char" in codes("东塱村", tables=no_extra)
    assert "rare_char" not in codes("裡村")  # flagged as traditional instead


@pytest.mark.parametrize(
    ("name", "category", "size_rank", "expected"),
    [
        ("幸福大道", "lane", None, {"generic_oversize"}),
        ("幸福巷", "lane", None, set()),
        ("幸福大道", "road", None, {"generic_oversize"}),
        ("幸福大道", "trunk_road", None, set()),
        ("阳光城", "estate", None, {"generic_oversize"}),
        ("阳光城", "estate", 5, set()),  # a very large estate may be called 城
        ("时代广场", "estate", None, {"generic_mismatch"}),
        ("幸福花园", "estate", None, set()),
        ("幸福路", "estate", None, {"generic_mismatch"}),
        ("人民广场", "park", None, set()),
        ("人民大桥", "bridge", None, set()),
        ("天河区", "town", None, {"generic_mismatch"}),
        ("白石洲", "village", None, set()),  # village names are not generic claims
        ("中山大道西", "lane", None, {"generic_oversize"}),
    ],
)
def test_generic_fits_category_and_size(name, category, size_rank, expected):
    found = codes(name, category=category, size_rank=size_rank)
    assert found & {"generic_oversize", "generic_mismatch"} == expected


def test_every_finding_is_a_review_flag_with_reasons():
    found = check_name("EE帝景城", category="estate")
    assert {f.code for f in found} == {"latin_or_digit", "odd", "generic_oversize"}
    for f in found:
        assert f.severity == "review"
        assert f.reason_zh and f.reason_en and f.rule


def test_check_names_over_a_frame():
    frame = pd.DataFrame(
        {
            "name": ["幸福大道", "幸福巷", "曼哈顿花园", "阳光城"],
            "category": ["lane", "lane", "estate", "estate"],
            "size_rank": [None, None, None, 5],
        },
        index=["a", "b", "c", "d"],
    )
    found = check_names(frame)
    assert list(found.columns) == FINDING_COLUMNS
    assert found[["row", "code"]].values.tolist() == [["a", "generic_oversize"], ["c", "foreign"]]
    assert check_names(frame[["name"]]).shape[0] == 1  # without categories only the lexicon hit remains


@pytest.mark.parametrize(
    "name", ["甽头", "㘭背", "河㙟村", "北滘", "东涌", "氹仔", "畬江", "冚口", "坜下", "浛洸镇"]
)
def test_regional_place_name_characters_are_not_odd(name):
    assert (
        codes(name, category="natural_village") & {"rare_char", "odd", "traditional", "mixed_script"} == set()
    )
    assert regional_chars(name)


def test_regional_table_is_what_keeps_them_unflagged():
    t = load_tables()
    assert {"甽", "㘭", "圳", "涌", "滘", "塱", "坜", "氹", "畬", "冚"} <= set(t.regional)
    assert t.regional["甽"].reading == "zhen" and t.regional["㘭"].example == "㘭背"
    bare = dataclasses.replace(t, regional={}, extra_chars=t.extra_chars - {"甽", "㘭"})
    assert "rare_char" in codes("甽头", tables=bare) and "rare_char" in codes("㘭背", tables=bare)
    assert regional_chars("甽头", tables=bare) == ""
