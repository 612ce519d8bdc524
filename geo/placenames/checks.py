"""Rule checks on place names: every finding is flagged for review, never a rejection.

Checks and their sources (texts in data/placenames/rules.csv):

- ``duplicate`` / ``homophone``: same normalised name, or same toneless pinyin with different
  characters, within the legal scope of the category (地名管理条例 2022 第十条): county-level
  divisions nationwide, township-level within a province, village/residents' committee seats
  within a county, streets/roads/lanes and estates/buildings within a city or town;
- ``exaggerated`` / ``foreign`` / ``odd``: 大/洋/怪 lexicon hits (民发〔2018〕146号);
- ``latin_or_digit``: Latin letters or Arabic digits (Chinese numerals such as 经五路 are fine);
- ``traditional`` / ``mixed_script``: traditional or variant characters, alone or mixed with
  simplified ones; ``rare_char``: characters outside the common set (see lexicons);
- ``generic_mismatch`` / ``generic_oversize``: a generic term (通名) of the wrong class or above
  the feature's size rank (a lane called 大道, a small estate called 城 or 广场).

Normalisation before duplicate checks strips the committee organ from village-level names and
keeps the seat's kind: ``…社区居民委员会/居委会 → …社区``, ``…村民委员会/村委会 → …村``
(data/placenames/admin_suffixes.csv), without doubling the kind (石牌村村委会 → 石牌村). So
大塘社区 and 大塘村 stay different names; 大塘村委会 and 大塘村村民委员会 are duplicates.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import pandas as pd

from geo.placenames.errors import (
    IndexNotUniqueError,
    NameColumnError,
    PlaceNameTableError,
    UnknownCategoryError,
)
from geo.placenames.lexicons import (
    lexicon_hits,
    rare_chars,
    regional_chars,
    simplified_chars,
    traditional_chars,
)
from geo.placenames.pinyin import TRAILING, generic_of, surname_reading, syllables, toneless_key
from geo.placenames.tables import PlaceNameTables, default_tables

SEVERITY = "review"
FINDING_COLUMNS = ["row", "name", "code", "severity", "reason_zh", "reason_en", "rule", "detail", "group"]
KIND_CODES = {"大": "exaggerated", "洋": "foreign", "怪": "odd"}
SCOPE_COLUMNS = {
    "country": (),
    "province": ("province",),
    "county": ("county",),
    "city_or_town": ("city", "town"),
    "town": ("town",),
}
_LATIN_OR_DIGIT = re.compile(r"[A-Za-z0-9\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\u2160-\u217f]")


@dataclass(frozen=True)
class Finding:
    """One review flag on a name."""

    code: str
    reason_zh: str
    reason_en: str
    rule: str
    detail: str = ""
    severity: str = SEVERITY


def finding(code: str, *, detail: str = "", tables: PlaceNameTables | None = None) -> Finding:
    """The :class:`Finding` of ``code`` with the reasons and rule of data/placenames/rules.csv."""
    rules = default_tables(tables).rules
    if code not in rules:
        raise PlaceNameTableError("rules.csv", f"no row for finding code {code!r}", "add the row back")
    r = rules[code]
    return Finding(code, r.reason_zh, r.reason_en, r.rule, detail)


def _require(frame: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise NameColumnError(missing, list(frame.columns))
    if not frame.index.is_unique:
        raise IndexNotUniqueError(frame.index[frame.index.duplicated()].unique().tolist())


# --- normalisation -------------------------------------------------------------------------


def normalise_name(name: str, *, tables: PlaceNameTables | None = None) -> str:
    """Strip a committee suffix, keeping 社区/村 (翠洲社区居民委员会 → 翠洲社区).

    Parameters
    ----------
    name
        A place name; surrounding spaces are dropped.
    tables
        Editable tables (default: shipped); ``admin_suffixes.csv`` lists the suffixes.
    """
    name = name.strip()
    for suffix, replacement in default_tables(tables).suffixes:
        if name.endswith(suffix) and len(name) > len(suffix):
            stem = name[: -len(suffix)]
            return stem if stem.endswith(replacement) else stem + replacement
    return name


def normalise_names(names: pd.Series, *, tables: PlaceNameTables | None = None) -> pd.Series:
    """:func:`normalise_name` over a Series (same index)."""
    t = default_tables(tables)
    mapping = {n: normalise_name(n, tables=t) for n in pd.unique(names.astype(str))}
    return names.astype(str).map(mapping)


def pinyin_keys(names: pd.Series, *, tables: PlaceNameTables | None = None) -> pd.Series:
    """Toneless pinyin key of each name (same index), computed once per distinct name."""
    t = default_tables(tables)
    mapping = {n: toneless_key(n, tables=t) for n in pd.unique(names.astype(str))}
    return names.astype(str).map(mapping)


# --- duplicates and homophones within a scope ----------------------------------------------


def _keys(
    frame: pd.DataFrame, name: str, scope: str, normalise: bool, tables: PlaceNameTables, pinyin: bool
) -> pd.DataFrame:
    _require(frame, [name, scope])
    names = frame[name].astype(str).str.strip()
    keys = pd.DataFrame({"scope": frame[scope].astype(str), "name": names}, index=frame.index)
    keys["normalised"] = normalise_names(names, tables=tables) if normalise else names
    if pinyin:
        keys["pinyin"] = pinyin_keys(keys["normalised"], tables=tables)
    return keys


def _groups(keys: pd.DataFrame, by: list[str], flagged: pd.Series) -> pd.DataFrame:
    hit = keys[flagged].rename_axis("row").reset_index()
    out = hit.groupby(by, sort=True).agg(
        count=("row", "size"),
        distinct=("normalised", "nunique"),
        names=("normalised", lambda s: "、".join(sorted(set(s)))),
        original=("name", lambda s: "、".join(s)),
        rows=("row", list),
    )
    return out.reset_index()


def duplicate_groups(
    frame: pd.DataFrame,
    *,
    name: str = "name",
    scope: str = "scope",
    normalise: bool = True,
    tables: PlaceNameTables | None = None,
) -> pd.DataFrame:
    """Groups of rows sharing a normalised name within one scope value.

    Parameters
    ----------
    frame
        Names with a scope key column (e.g. the county code for village-level names).
    name, scope
        Column names.
    normalise
        Apply :func:`normalise_name` first.
    tables
        Editable tables (default: shipped).

    Returns
    -------
    DataFrame
        One row per group: ``scope``, ``normalised``, ``count`` (rows), ``distinct``,
        ``names``, ``original`` (names as given), ``rows`` (index labels of ``frame``).
    """
    t = default_tables(tables)
    keys = _keys(frame, name, scope, normalise, t, pinyin=False)
    size = keys.groupby(["scope", "normalised"])["name"].transform("size")
    return _groups(keys, ["scope", "normalised"], size > 1)


def homophone_groups(
    frame: pd.DataFrame,
    *,
    name: str = "name",
    scope: str = "scope",
    normalise: bool = True,
    tables: PlaceNameTables | None = None,
) -> pd.DataFrame:
    """Groups of rows whose normalised names differ but read the same (toneless pinyin).

    Parameters and the returned columns are those of :func:`duplicate_groups`, with ``pinyin``
    (the shared toneless key) in place of ``normalised``; ``distinct`` >= 2 in every group.
    """
    t = default_tables(tables)
    keys = _keys(frame, name, scope, normalise, t, pinyin=True)
    distinct = keys.groupby(["scope", "pinyin"])["normalised"].transform("nunique")
    return _groups(keys, ["scope", "pinyin"], distinct > 1)


def _explode(
    groups: pd.DataFrame, frame: pd.DataFrame, name: str, code: str, key: str, tables: PlaceNameTables
) -> pd.DataFrame:
    f = finding(code, tables=tables)
    rows = groups.explode("rows")
    if code == "duplicate":
        detail = (
            "范围 scope " + rows["scope"] + "：" + rows["count"].astype(str) + " 处同名 " + rows["original"]
        )
    else:
        detail = "范围 scope " + rows["scope"] + "：同音 " + rows["pinyin"] + "：" + rows["names"]
    out = pd.DataFrame(
        {
            "row": rows["rows"].to_numpy(),
            "name": frame.loc[rows["rows"].to_numpy(), name].astype(str).to_numpy(),
            "code": code,
            "severity": f.severity,
            "reason_zh": f.reason_zh,
            "reason_en": f.reason_en,
            "rule": f.rule,
            "detail": detail.to_numpy(),
            "group": (rows["scope"] + "|" + rows[key]).to_numpy(),
        },
        columns=FINDING_COLUMNS,
    )
    return out.reset_index(drop=True)


def duplicates(
    frame: pd.DataFrame,
    *,
    name: str = "name",
    scope: str = "scope",
    normalise: bool = True,
    tables: PlaceNameTables | None = None,
) -> pd.DataFrame:
    """``duplicate`` findings: one row per name repeated within its scope (columns FINDING_COLUMNS)."""
    t = default_tables(tables)
    groups = duplicate_groups(frame, name=name, scope=scope, normalise=normalise, tables=t)
    return _explode(groups, frame, name, "duplicate", "normalised", t)


def homophones(
    frame: pd.DataFrame,
    *,
    name: str = "name",
    scope: str = "scope",
    normalise: bool = True,
    tables: PlaceNameTables | None = None,
) -> pd.DataFrame:
    """``homophone`` findings: one row per name sharing its reading with a different name in scope."""
    t = default_tables(tables)
    groups = homophone_groups(frame, name=name, scope=scope, normalise=normalise, tables=t)
    return _explode(groups, frame, name, "homophone", "pinyin", t)


def legal_scope(
    frame: pd.DataFrame, *, category: str = "category", tables: PlaceNameTables | None = None
) -> pd.Series:
    """Scope key of each row from its category's legal scope (data/placenames/categories.csv).

    The key is ``level:value`` where value comes from the first present column of the level:
    county → ``county``; province → ``province``; city_or_town → ``city`` else ``town``;
    town → ``town``; country → ``*``. A missing column or category puts the rows of that
    level in one scope (``level:*``), i.e. the whole frame is one city, county ...
    """
    t = default_tables(tables)
    cats = frame[category].fillna("").astype(str) if category in frame.columns else pd.Series("", frame.index)
    unknown = sorted(set(cats) - set(t.categories) - {""})
    if unknown:
        raise UnknownCategoryError(unknown, list(t.categories))
    levels = cats.map(lambda c: t.categories[c].scope if c else "all")
    keys = levels + ":*"
    for level, columns in SCOPE_COLUMNS.items():
        present = [c for c in columns if c in frame.columns]
        if present:
            mask = levels == level
            keys[mask] = level + ":" + frame.loc[mask, present[0]].astype(str)
    return keys


# --- per-name checks -----------------------------------------------------------------------


def _script_findings(name: str, tables: PlaceNameTables) -> list[Finding]:
    found = []
    latin = "".join(_LATIN_OR_DIGIT.findall(name))
    if latin:
        found.append(finding("latin_or_digit", detail=latin, tables=tables))
    trad = traditional_chars(name, tables=tables)
    if trad:
        code = "mixed_script" if simplified_chars(name) else "traditional"
        found.append(finding(code, detail=trad, tables=tables))
    rare = rare_chars(name, tables=tables)
    if rare:
        found.append(finding("rare_char", detail=rare, tables=tables))
    return found


def _generic_findings(
    name: str, category: str, size_rank: int | None, tables: PlaceNameTables
) -> list[Finding]:
    if category not in tables.categories:
        raise UnknownCategoryError([category], list(tables.categories))
    cat = tables.categories[category]
    if not cat.generic_check:
        return []
    body = (
        name[:-1] if len(name) > 2 and name[-1] in TRAILING and generic_of(name[:-1], tables=tables) else name
    )
    generic = generic_of(body, tables=tables)
    if generic is None:
        return []
    if not generic.classes & cat.classes:
        detail = (
            f"“{generic.term}”({'|'.join(sorted(generic.classes))}) ∉ "
            f"{cat.name_zh}({'|'.join(sorted(cat.classes))})"
        )
        return [finding("generic_mismatch", detail=detail, tables=tables)]
    limit = cat.max_rank if size_rank is None else size_rank
    if generic.rank > limit:
        detail = f"“{generic.term}” rank {generic.rank} > {limit} ({cat.name_zh})"
        return [finding("generic_oversize", detail=detail, tables=tables)]
    return []


def check_name(
    name: str,
    *,
    category: str | None = None,
    size_rank: int | None = None,
    tables: PlaceNameTables | None = None,
) -> list[Finding]:
    """Per-name checks: lexicons, Latin letters/digits, scripts, rare characters, generic fit.

    Parameters
    ----------
    name
        A place name (committee suffixes are stripped before the generic check).
    category
        Feature category of data/placenames/categories.csv; without it the generic is not checked.
    size_rank
        The feature's real size on the generic rank scale (1 small … 9), overriding the
        category's ``max_rank`` (e.g. 5 for a very large estate that may be called 城).
    tables
        Editable tables (default: shipped).

    Returns
    -------
    list of Finding
        Empty when nothing needs review.
    """
    t = default_tables(tables)
    name = name.strip()
    found = [
        finding(KIND_CODES[h.kind], detail=f"{h.term}：{h.note}", tables=t)
        for h in lexicon_hits(name, tables=t)
    ]
    found += _script_findings(name, t)
    if category:
        found += _generic_findings(normalise_name(name, tables=t), category, size_rank, t)
    return found


def _optional(frame: pd.DataFrame, column: str | None) -> list:
    if column is None or column not in frame.columns:
        return [None] * len(frame)
    return [None if pd.isna(v) or v == "" else v for v in frame[column]]


def check_names(
    frame: pd.DataFrame,
    *,
    name: str = "name",
    category: str | None = "category",
    size_rank: str | None = "size_rank",
    tables: PlaceNameTables | None = None,
) -> pd.DataFrame:
    """:func:`check_name` over a frame; absent ``category``/``size_rank`` columns are ignored.

    Returns
    -------
    DataFrame
        One row per finding, columns FINDING_COLUMNS (``row`` is the index label in ``frame``).
    """
    _require(frame, [name])
    t = default_tables(tables)
    cache: dict[tuple, list[Finding]] = {}
    records = []
    rows = zip(
        frame.index,
        frame[name].astype(str),
        _optional(frame, category),
        _optional(frame, size_rank),
        strict=True,
    )
    for row, text, cat, rank in rows:
        key = (text, cat, rank)
        if key not in cache:
            cache[key] = check_name(
                text, category=cat, size_rank=None if rank is None else int(rank), tables=t
            )
        records += [
            (row, text, f.code, f.severity, f.reason_zh, f.reason_en, f.rule, f.detail, "")
            for f in cache[key]
        ]
    return pd.DataFrame.from_records(records, columns=FINDING_COLUMNS)


LOCAL_USAGE_COLUMNS = ["item", "names", "examples"]


def _examples(names: list[str], limit: int = 5) -> str:
    return "、".join(names[:limit])


def local_usage(names: pd.Series, *, tables: PlaceNameTables | None = None) -> pd.DataFrame:
    """How the local tables apply to a list of names, and what stays flagged.

    Counts distinct names (after :func:`normalise_name`): those using a regional character
    (regional_chars.csv), those whose opening surname takes a surname reading other than the plain one
    (surnames.csv: 翟家庄 zhai, not di), those
    holding a place with a special official reading (place_readings.csv), then the per-name findings
    of :func:`check_name` (no category) grouped by rule, largest first.

    Returns
    -------
    DataFrame
        Columns ``item`` (Chinese), ``names`` (count) and ``examples`` (up to five names).
    """
    t = default_tables(tables)
    distinct = list(dict.fromkeys(normalise_names(names, tables=t)))
    places = sorted(t.place_readings, key=len, reverse=True)
    regional = [n for n in distinct if regional_chars(n, tables=t)]
    plain = dataclasses.replace(t, surnames={})
    surnamed = [
        n
        for n in distinct
        if (sr := surname_reading(n, tables=t)) and tuple(syllables(n, tables=plain)[: len(sr[0])]) != sr[1]
    ]
    special = [n for n in distinct if any(p in n for p in places)]
    rows = [
        ("使用岭南地名用字（不再标记为生僻字）", len(regional), _examples(regional)),
        ("适用姓氏读音", len(surnamed), _examples(surnamed)),
        ("含特殊读音地名", len(special), _examples(special)),
    ]
    by_rule: dict[str, list[str]] = {}
    for n in distinct:
        for code in dict.fromkeys(f.code for f in check_name(n, tables=t)):
            by_rule.setdefault(code, []).append(n)
    for code, hit in sorted(by_rule.items(), key=lambda kv: -len(kv[1])):
        rows.append((f"仍标记：{t.rules[code].reason_zh}", len(hit), _examples(hit)))
    return pd.DataFrame(rows, columns=LOCAL_USAGE_COLUMNS)
