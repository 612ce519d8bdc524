"""Place-name sign coverage (地名标志, GB 17733-2008).

Which categories need a sign is data: ``sign_required`` and ``sign_type`` of
data/placenames/categories.csv (streets and lanes, estates, buildings, natural villages and
village seats, main roads, bridges, stations and ports, memorial and scenic sites, important
natural features, administrative boundaries).
"""

from __future__ import annotations

import pandas as pd

from geo.placenames._text import truthy
from geo.placenames.errors import NameColumnError, UnknownCategoryError
from geo.placenames.pinyin import sign_text
from geo.placenames.tables import PlaceNameTables, default_tables


def has_sign(values: pd.Series) -> pd.Series:
    """Read a sign-present column as bool: True/1/yes/是/有 are signs; anything else, blank included, is not.

    A blank counts as "no sign" on purpose: the work list should send someone to look.
    """
    return truthy(values)


def _validated(frame: pd.DataFrame, columns: list[str], category: str, tables: PlaceNameTables) -> pd.Series:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise NameColumnError(missing, list(frame.columns))
    cats = frame[category].astype(str)
    unknown = sorted(set(cats) - set(tables.categories))
    if unknown:
        raise UnknownCategoryError(unknown, list(tables.categories))
    return cats


def sign_worklist(frame: pd.DataFrame, *, name: str = "name", category: str = "category",
                  sign_present: str = "sign_present", tables: PlaceNameTables | None = None) -> pd.DataFrame:
    """Named features of sign-required categories that have no sign, with the text to put on it.

    Parameters
    ----------
    frame
        Named features: ``name``, ``category`` (data/placenames/categories.csv) and
        ``sign_present`` (see :func:`has_sign`); other columns (ids, town ...) are kept.
    name, category, sign_present
        Column names.
    tables
        Editable tables (default: shipped).

    Returns
    -------
    DataFrame
        The unsigned rows (index kept) plus ``category_zh``, ``sign_type``, ``sign_chinese``
        and ``sign_pinyin``, ordered by the category table, then by name.
    """
    t = default_tables(tables)
    cats = _validated(frame, [name, category, sign_present], category, t)
    required = cats.map(lambda c: t.categories[c].sign_required).astype(bool)
    todo = frame[required & ~has_sign(frame[sign_present])].copy()
    texts = [sign_text(n, category=c, tables=t) for n, c in zip(todo[name].astype(str), todo[category], strict=True)]
    todo["category_zh"] = todo[category].map(lambda c: t.categories[c].name_zh)
    todo["sign_type"] = todo[category].map(lambda c: t.categories[c].sign_type)
    todo["sign_chinese"] = [s.chinese for s in texts]
    todo["sign_pinyin"] = [s.pinyin for s in texts]
    order = {c: i for i, c in enumerate(t.categories)}
    return todo.assign(_o=todo[category].map(order)).sort_values(["_o", name], kind="stable").drop(columns="_o")


def sign_coverage(frame: pd.DataFrame, *, category: str = "category", sign_present: str = "sign_present",
                  tables: PlaceNameTables | None = None) -> pd.DataFrame:
    """Signed share per category.

    Returns
    -------
    DataFrame
        One row per category present: ``category``, ``category_zh``, ``sign_required``,
        ``features``, ``signed``, ``unsigned``, ``coverage`` (signed / features, 0-1).
    """
    t = default_tables(tables)
    cats = _validated(frame, [category, sign_present], category, t)
    signed = has_sign(frame[sign_present])
    out = (pd.DataFrame({"category": cats, "signed": signed})
           .groupby("category", sort=False).agg(features=("signed", "size"), signed=("signed", "sum")))
    out = out.reindex([c for c in t.categories if c in out.index]).reset_index()
    out.insert(1, "category_zh", out["category"].map(lambda c: t.categories[c].name_zh))
    out.insert(2, "sign_required", out["category"].map(lambda c: t.categories[c].sign_required))
    out["signed"] = out["signed"].astype(int)
    out["unsigned"] = out["features"] - out["signed"]
    out["coverage"] = out["signed"] / out["features"]
    return out
