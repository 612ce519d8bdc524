"""Search by Chinese substring, full pinyin (tones, spaces, case tolerated), initials; history."""

from __future__ import annotations

import pandas as pd
import pytest

from geo.placenames.errors import NameColumnError
from geo.placenames.search import RESULT_COLUMNS, build_index, fold_pinyin


@pytest.fixture(scope="module")
def index():
    frame = pd.DataFrame(
        [
            (1, "人民路", False),
            (2, "人民北路", False),
            (3, "新人民路", False),
            (4, "绿化路", False),
            (5, "解放路", False),
            (5, "中正路", True),  # former name of 解放路
            (6, "和平路", False),
            (7, "和平路", True),  # a retired road that had the same name
            (8, "长安街", False),
        ],
        columns=["id", "name", "historical"],
    )
    return build_index(frame)


def ids(found: pd.DataFrame) -> list[int]:
    return found["id"].tolist()


def test_chinese_substring_ranked_exact_prefix_substring(index):
    found = index.query("人民")
    assert ids(found) == [1, 2, 3]  # 人民路 before 人民北路 (both prefix, shorter first), then substring
    assert found["match"].tolist() == ["prefix", "prefix", "substring"]
    found = index.query("人民路")
    assert ids(found) == [1, 3]
    assert found["match"].tolist() == ["exact", "substring"]
    assert list(found.columns) == RESULT_COLUMNS


@pytest.mark.parametrize(
    "query", ["renminlu", "ren min lu", "Rénmín Lù", "RENMINLU", "ren2 min2 lu4", "Renmin Lu"]
)
def test_full_pinyin_variants(index, query):
    found = index.query(query)
    assert ids(found)[0] == 1
    assert found["match"].iloc[0] == "exact"
    assert found["field"].iloc[0] == "pinyin"


def test_pinyin_prefix_and_polyphones(index):
    assert ids(index.query("renmin")) == [1, 2, 3]
    assert ids(index.query("chang'an")) == [8]  # 长 read chang, apostrophe ignored


@pytest.mark.parametrize("query", ["lvhua", "lühua", "luhua", "LÜHUALU"])
def test_u_umlaut_typed_as_v_u_or_u(index, query):
    assert ids(index.query(query))[0] == 4


def test_initials(index):
    found = index.query("rml")
    assert ids(found)[0] == 1
    assert (found["match"].iloc[0], found["field"].iloc[0]) == ("exact", "initials")
    assert ids(index.query("rmbl")) == [2]
    assert ids(index.query("XRML")) == [3]


def test_historical_names(index):
    found = index.query("中正")
    assert ids(found) == [5]
    assert found["historical"].tolist() == [True]
    assert found["name"].tolist() == ["中正路"]
    assert index.query("中正", historical=False).empty
    found = index.query("和平路")
    assert ids(found) == [6, 7]  # the current name first
    assert found["historical"].tolist() == [False, True]
    assert index.query("jiefang")["historical"].tolist() == [False]


def test_historical_flags_read_from_text_columns():
    frame = pd.DataFrame(
        {"id": [1, 2, 3], "name": ["人民路", "人民路", "人民路"], "historical": ["False", "是", ""]}
    )
    assert build_index(frame).historical.tolist() == [False, True, False]


def test_one_row_per_id_and_limit(index):
    found = index.query("lu")  # every road
    assert found["id"].is_unique
    assert len(index.query("lu", limit=2)) == 2


@pytest.mark.parametrize("query", ["", "   ", "xyz", "北京", "!!"])
def test_no_match(index, query):
    assert index.query(query).empty


def test_fold_pinyin():
    assert fold_pinyin("Xī'ān") == "xian"
    assert fold_pinyin("lǜ huà") == "lvhua"


def test_build_index_requires_columns():
    with pytest.raises(NameColumnError, match="id"):
        build_index(pd.DataFrame({"name": ["人民路"]}))
    plain = build_index(pd.DataFrame({"id": [1], "name": ["人民路"]}))
    assert plain.query("rml")["historical"].tolist() == [False]
