"""Sign work list and coverage against hand counts."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from geo.placenames.errors import NameColumnError, UnknownCategoryError
from geo.placenames.signs import has_sign, sign_coverage, sign_worklist
from geo.placenames.tables import load_tables


@pytest.fixture
def features():
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6, 7, 8],
            "name": ["石牌村", "白石洲", "人民路", "解放北路", "幸福花园", "翠洲社区", "幸福巷", "东湖新村"],
            "category": [
                "village",
                "natural_village",
                "road",
                "road",
                "estate",
                "community",
                "lane",
                "estate",
            ],
            "sign_present": ["否", "", True, 0, "no", "", "是", None],
        }
    ).set_index("id")


def test_has_sign_reads_yes_no_columns():
    values = pd.Series([True, "是", "有", "1", 1, "yes", "Y", False, "否", "", None, 0, "no"])
    assert has_sign(values).tolist() == [True] * 7 + [False] * 6


def test_worklist_lists_required_categories_without_sign(features):
    todo = sign_worklist(features)
    # 翠洲社区 has no sign but GB 17733 requires none for a community; 人民路 and 幸福巷 have one
    # category-table order (village, natural village, road, estate)
    assert todo.index.tolist() == [
        1,
        2,
        4,
        8,
        5,
    ]
    assert todo.loc[1, "sign_pinyin"] == "Shipai Cun"
    assert todo.loc[2, "sign_pinyin"] == "Baishizhou"
    assert todo.loc[4, "sign_pinyin"] == "Jiefang Beilu"
    assert todo.loc[8, "sign_pinyin"] == "Donghu Xincun"
    assert todo.loc[4, "sign_type"] == "街牌"
    assert todo.loc[5, "category_zh"].startswith("住宅区")
    assert (todo["sign_chinese"] == todo["name"]).all()


def test_required_categories_are_data(features):
    tables = load_tables()
    cats = dict(tables.categories)
    cats["community"] = dataclasses.replace(cats["community"], sign_required=True)
    todo = sign_worklist(features, tables=dataclasses.replace(tables, categories=cats))
    assert 6 in todo.index


def test_coverage_per_category(features):
    cover = sign_coverage(features).set_index("category")
    assert cover.loc["road", ["features", "signed", "unsigned"]].tolist() == [2, 1, 1]
    assert cover.loc["road", "coverage"] == pytest.approx(0.5)
    assert cover.loc["estate", ["features", "signed"]].tolist() == [2, 0]
    assert cover.loc["lane", "coverage"] == pytest.approx(1.0)
    assert not cover.loc["community", "sign_required"]
    assert cover["features"].sum() == len(features)


def test_errors_name_the_fix(features):
    with pytest.raises(UnknownCategoryError, match="categories.csv"):
        sign_worklist(features.assign(category="street"))
    with pytest.raises(NameColumnError, match="sign_present"):
        sign_coverage(features.drop(columns="sign_present"))


def test_sign_status_by_hand():
    from geo.placenames.signs import sign_status

    frame = pd.DataFrame(
        {
            "status": ["standard", "standard", "standard", "historical", "historical", "irregular"],
            "sign_present": [False, True, True, True, False, "是"],
            "last_action": ["create", "create", "rename", "retire", "retire", "update"],
        }
    )
    got = sign_status(frame["status"], frame["sign_present"], frame["last_action"]).tolist()
    assert got == ["待设置", "已设置", "待更换", "待拆除", None, "已设置"]


def test_sign_plan_keeps_sign_categories_with_text_size_and_status():
    from geo.placenames.signs import sign_plan

    frame = pd.DataFrame(
        {
            "name": ["打铁街", "兴业路", "深南大道", "翠洲社区", "翟家庄", "凤鸣商厦"],
            "category": ["road", "road", "trunk_road", "community", "natural_village", "building"],
            "status": ["historical", "standard", "standard", "standard", "standard", "standard"],
            "sign_present": [True, True, False, False, False, True],
            "last_action": ["retire", "rename", "create", "create", "create", "create"],
        },
        index=[11, 12, 13, 14, 15, 16],
    )
    plan = sign_plan(frame)
    assert 14 not in plan.index  # GB 17733-2008 names no community sign
    rows = plan[["name", "sign_status", "size_class", "sign_pinyin"]].values.tolist()
    assert rows == [
        ["翟家庄", "待设置", "中", "Zhaijiazhuang"],
        ["深南大道", "待设置", "大", "Shennan Dadao"],
        ["凤鸣商厦", "已设置", "小", "Fengming Shangsha"],
        ["兴业路", "待更换", "中", "Xingye Lu"],
        ["打铁街", "待拆除", "中", "Datie Jie"],
    ]
