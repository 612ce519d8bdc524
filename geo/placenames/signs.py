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


def sign_worklist(
    frame: pd.DataFrame,
    *,
    name: str = "name",
    category: str = "category",
    sign_present: str = "sign_present",
    tables: PlaceNameTables | None = None,
) -> pd.DataFrame:
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
    texts = [
        sign_text(n, category=c, tables=t)
        for n, c in zip(todo[name].astype(str), todo[category], strict=True)
    ]
    todo["category_zh"] = todo[category].map(lambda c: t.categories[c].name_zh)
    todo["sign_type"] = todo[category].map(lambda c: t.categories[c].sign_type)
    todo["sign_chinese"] = [s.chinese for s in texts]
    todo["sign_pinyin"] = [s.pinyin for s in texts]
    order = {c: i for i, c in enumerate(t.categories)}
    ordered = todo.assign(_o=todo[category].map(order)).sort_values(["_o", name], kind="stable")
    return ordered.drop(columns="_o")


def sign_coverage(
    frame: pd.DataFrame,
    *,
    category: str = "category",
    sign_present: str = "sign_present",
    tables: PlaceNameTables | None = None,
) -> pd.DataFrame:
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
    out = (
        pd.DataFrame({"category": cats, "signed": signed})
        .groupby("category", sort=False)
        .agg(features=("signed", "size"), signed=("signed", "sum"))
    )
    out = out.reindex([c for c in t.categories if c in out.index]).reset_index()
    out.insert(1, "category_zh", out["category"].map(lambda c: t.categories[c].name_zh))
    out.insert(2, "sign_required", out["category"].map(lambda c: t.categories[c].sign_required))
    out["signed"] = out["signed"].astype(int)
    out["unsigned"] = out["features"] - out["signed"]
    out["coverage"] = out["signed"] / out["features"]
    return out


SIGN_STATUSES = ("待设置", "已设置", "待更换", "待拆除")
"""Sign work statuses: to put up (no sign yet), in place, to replace (the sign shows a former name),
to take down (the name was retired, its sign is still up)."""
SIGN_SIZES = {
    "行政区域界位标志": "特大",
    "街牌": "中",
    "巷牌": "小",
    "楼牌": "小",
    "村牌": "中",
    "居民区标志": "中",
    "桥牌": "中",
    "台站港口标志": "大",
    "纪念地和旅游地标志": "大",
    "自然地理实体标志": "大",
}
"""Size class of each sign type (GB 17733-2008 names the types; the class groups the plate sizes a
contractor orders: 小 lane/building plates, 中 street/village/estate/bridge signs, 大 stations, scenic
sites and natural features, 特大 boundary signs). A trunk road's street sign is 大."""


def sign_status(status: pd.Series, sign_present: pd.Series, last_action: pd.Series) -> pd.Series:
    """Sign work status of each name (``SIGN_STATUSES``), or None when nothing is to be done.

    A retired name (status ``historical``) whose sign is up → 待拆除 (none → nothing to do); a current
    name without a sign → 待设置; with a sign, renamed as its last change (the sign shows the former
    name) → 待更换, else 已设置. Any later change recorded on the name (e.g. the officer confirming the
    new sign) makes it 已设置 again.
    """
    up = has_sign(sign_present)
    retired = status.astype(str).eq("historical")
    renamed = last_action.astype(str).eq("rename")
    out = pd.Series("已设置", index=status.index, dtype=object)
    out[~up] = "待设置"
    out[up & renamed] = "待更换"
    out[retired] = None
    out[retired & up] = "待拆除"
    return out


def sign_plan(frame: pd.DataFrame, *, tables: PlaceNameTables | None = None) -> pd.DataFrame:
    """The sign work list of every name of a sign-required category, current or retired.

    Parameters
    ----------
    frame
        Names with ``name``, ``category``, ``status``, ``sign_present`` and ``last_action`` (the
        latest history action); other columns (town, lon, lat ...) are kept.
    tables
        Editable tables (default: shipped).

    Returns
    -------
    DataFrame
        Rows with something to do or in place (index kept): ``sign_status``, ``category_zh``,
        ``sign_type``, ``size_class``, ``sign_chinese``, ``sign_pinyin``; ordered by status, then
        the category table, then name.
    """
    t = default_tables(tables)
    cats = _validated(frame, ["name", "category", "status", "sign_present", "last_action"], "category", t)
    required = cats.map(lambda c: t.categories[c].sign_required).astype(bool)
    plan = frame[required].copy()
    plan["sign_status"] = sign_status(plan["status"], plan["sign_present"], plan["last_action"])
    plan = plan[plan["sign_status"].notna()]
    texts = [
        sign_text(n, category=c, tables=t)
        for n, c in zip(plan["name"].astype(str), plan["category"], strict=True)
    ]
    plan["category_zh"] = plan["category"].map(lambda c: t.categories[c].name_zh)
    plan["sign_type"] = plan["category"].map(lambda c: t.categories[c].sign_type)
    plan["size_class"] = [
        ("大" if c == "trunk_road" else SIGN_SIZES.get(st, "中"))
        for c, st in zip(plan["category"], plan["sign_type"], strict=True)
    ]
    plan["sign_chinese"] = [s.chinese for s in texts]
    plan["sign_pinyin"] = [s.pinyin for s in texts]
    order = {c: i for i, c in enumerate(t.categories)}
    rank = {s: i for i, s in enumerate(SIGN_STATUSES)}
    plan = plan.assign(_s=plan["sign_status"].map(rank), _o=plan["category"].map(order))
    return plan.sort_values(["_s", "_o", "name"], kind="stable").drop(columns=["_s", "_o"])
