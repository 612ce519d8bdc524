"""The editable place-name tables shipped in ``data/placenames/``.

Each ``read_*`` function takes a path (default: the shipped file), validates the table and returns
it as a DataFrame, so an API or a user can show and edit it. :func:`load_tables` turns a directory
of these tables into the lookup structures the rules use; the shipped set is cached.

Tables
------
polyphones.csv        word or character → toneless reading (one syllable per character)
generics.csv          generic terms (通名): feature classes, size rank, written apart or joined
categories.csv        feature categories: allowed generic classes, duplicate scope, sign rules
lexicons.csv          大/洋/怪 words flagged for review (民发〔2018〕146号)
admin_suffixes.csv    committee suffixes stripped before duplicate checks (村委会 → 村)
rules.csv             finding codes with reasons (Chinese and English) and the rule cited
fixed_spellings.csv   authority sign spellings the rules cannot derive (东四十条 Dongsi 10 Tiao)
extra_common_chars.txt  local characters accepted as common besides GB 2312
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from geo.placenames.errors import PlaceNameTableError

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "placenames"

SCOPES = ("country", "province", "county", "city_or_town", "town")
LEXICON_KINDS = ("大", "洋", "怪")
WRITTEN = ("apart", "joined")


@dataclass(frozen=True)
class Generic:
    """A generic term (通名) such as 路 or 大道."""

    term: str
    classes: frozenset[str]
    rank: int
    joined: bool


@dataclass(frozen=True)
class Category:
    """A feature category such as ``road`` or ``village``."""

    category: str
    name_zh: str
    classes: frozenset[str]
    max_rank: int
    generic_check: bool
    scope: str
    joined: bool
    sign_required: bool
    sign_type: str


@dataclass(frozen=True)
class LexiconTerm:
    """A 大/洋/怪 word; ``match`` is the lower-case form compared with lower-cased names."""

    term: str
    kind: str
    note: str
    match: str


@dataclass(frozen=True)
class Rule:
    """Reason texts and the cited rule of one finding code."""

    code: str
    reason_zh: str
    reason_en: str
    rule: str


@dataclass(frozen=True)
class PlaceNameTables:
    """Lookup structures built from the editable tables (treat the mappings as read-only)."""

    polyphones: dict[str, tuple[str, ...]]
    generics: dict[str, Generic]
    categories: dict[str, Category]
    lexicon: tuple[LexiconTerm, ...]
    suffixes: tuple[tuple[str, str], ...]
    rules: dict[str, Rule]
    extra_chars: frozenset[str]
    fixed: dict[str, str]


def _read(path: str | Path, columns: list[str]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise PlaceNameTableError(path, f"cannot be read ({e})", "fix the file or restore the shipped one") from e
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PlaceNameTableError(path, f"lacks column(s) {missing}", f"use the header {','.join(columns)}")
    return frame.apply(lambda s: s.str.strip())


def _check(path: str | Path, bad: pd.DataFrame, problem: str, fix: str) -> None:
    if len(bad):
        raise PlaceNameTableError(path, f"{problem} in row(s) {bad.iloc[:, 0].tolist()[:5]}", fix)


def read_polyphones(path: str | Path = DATA_DIR / "polyphones.csv") -> pd.DataFrame:
    """Read the reading-override table (columns word, reading, note).

    ``reading`` holds one toneless syllable per character of ``word``, separated by spaces.
    """
    frame = _read(path, ["word", "reading", "note"])
    counts = frame["reading"].str.split().str.len()
    _check(path, frame[counts != frame["word"].str.len()], "reading does not have one syllable per character",
           "write one space-separated syllable per character, e.g. 重庆,chong qing")
    return frame


def read_generics(path: str | Path = DATA_DIR / "generics.csv") -> pd.DataFrame:
    """Read the generic-term table (columns term, classes, rank, written, gbt18521, note)."""
    frame = _read(path, ["term", "classes", "rank", "written", "gbt18521", "note"])
    _check(path, frame[~frame["rank"].str.fullmatch(r"\d+")], "rank is not a whole number", "use 1 (small) to 9")
    _check(path, frame[~frame["written"].isin(WRITTEN)], "written is not apart/joined", "use apart or joined")
    _check(path, frame[frame["term"].duplicated()], "term repeated", "keep one row per term")
    return frame


def read_categories(path: str | Path = DATA_DIR / "categories.csv") -> pd.DataFrame:
    """Read the feature-category table (category, classes, max_rank, scope, written, sign_required ...)."""
    cols = ["category", "name_zh", "classes", "max_rank", "generic_check", "scope", "written",
            "sign_required", "sign_type"]
    frame = _read(path, cols)
    _check(path, frame[~frame["generic_check"].isin(["0", "1"])], "generic_check is not 0/1", "use 0 or 1")
    _check(path, frame[~frame["scope"].isin(SCOPES)], "unknown scope", f"use one of {SCOPES}")
    _check(path, frame[~frame["written"].isin(WRITTEN)], "written is not apart/joined", "use apart or joined")
    _check(path, frame[~frame["sign_required"].isin(["0", "1"])], "sign_required is not 0/1", "use 0 or 1")
    _check(path, frame[~frame["max_rank"].str.fullmatch(r"\d+")], "max_rank is not a whole number", "use 1-9")
    return frame


def read_lexicons(path: str | Path = DATA_DIR / "lexicons.csv") -> pd.DataFrame:
    """Read the 大/洋/怪 lexicon (columns term, kind, note); terms match case-insensitively."""
    frame = _read(path, ["term", "kind", "note"])
    _check(path, frame[~frame["kind"].isin(LEXICON_KINDS)], "kind is not 大/洋/怪", "use 大, 洋 or 怪")
    _check(path, frame[frame["term"] == ""], "empty term", "delete the row or fill the term")
    return frame


def read_admin_suffixes(path: str | Path = DATA_DIR / "admin_suffixes.csv") -> pd.DataFrame:
    """Read the committee suffixes stripped before duplicate checks (suffix, replacement, note)."""
    frame = _read(path, ["suffix", "replacement", "note"])
    _check(path, frame[frame["suffix"] == ""], "empty suffix", "delete the row or fill the suffix")
    return frame


def read_rules(path: str | Path = DATA_DIR / "rules.csv") -> pd.DataFrame:
    """Read the finding codes with their reasons and cited rules."""
    return _read(path, ["code", "reason_zh", "reason_en", "rule"])


def read_fixed_spellings(path: str | Path = DATA_DIR / "fixed_spellings.csv") -> pd.DataFrame:
    """Read authority sign spellings (name, pinyin, source) that override the derived text."""
    return _read(path, ["name", "pinyin", "source"])


def read_extra_common_chars(path: str | Path = DATA_DIR / "extra_common_chars.txt") -> frozenset[str]:
    """Read the allow list of local characters accepted as common (one per line, ``#`` comments)."""
    chars: set[str] = set()
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if len(text) > 1:
            raise PlaceNameTableError(path, f"line {number} holds {text!r}", "put one character per line")
        chars.update(text)
    return frozenset(chars)


def _split(text: str) -> frozenset[str]:
    return frozenset(p for p in text.split("|") if p)


def tables_from_frames(
    *,
    polyphones: pd.DataFrame,
    generics: pd.DataFrame,
    categories: pd.DataFrame,
    lexicons: pd.DataFrame,
    admin_suffixes: pd.DataFrame,
    rules: pd.DataFrame,
    fixed_spellings: pd.DataFrame,
    extra_chars: frozenset[str],
) -> PlaceNameTables:
    """Build the lookup structures from validated table frames."""
    return PlaceNameTables(
        polyphones={w: tuple(r.lower().replace("v", "ü").split()) for w, r in zip(polyphones["word"], polyphones["reading"], strict=True)},
        generics={
            r.term: Generic(r.term, _split(r.classes), int(r.rank), r.written == "joined")
            for r in generics.itertuples()
        },
        categories={
            r.category: Category(r.category, r.name_zh, _split(r.classes), int(r.max_rank),
                                 r.generic_check == "1", r.scope, r.written == "joined",
                                 r.sign_required == "1", r.sign_type)
            for r in categories.itertuples()
        },
        lexicon=tuple(LexiconTerm(r.term, r.kind, r.note, r.term.lower()) for r in lexicons.itertuples()),
        suffixes=tuple(sorted(zip(admin_suffixes["suffix"], admin_suffixes["replacement"], strict=True),
                              key=lambda p: -len(p[0]))),
        rules={r.code: Rule(r.code, r.reason_zh, r.reason_en, r.rule) for r in rules.itertuples()},
        extra_chars=extra_chars,
        fixed=dict(zip(fixed_spellings["name"], fixed_spellings["pinyin"], strict=True)),
    )


@functools.lru_cache(maxsize=8)
def load_tables(data_dir: str | Path = DATA_DIR) -> PlaceNameTables:
    """Load every table from ``data_dir`` (default: the shipped data/placenames/; cached).

    Parameters
    ----------
    data_dir
        A directory holding the files listed in this module's docstring.

    Returns
    -------
    PlaceNameTables
    """
    d = Path(data_dir)
    return tables_from_frames(
        polyphones=read_polyphones(d / "polyphones.csv"),
        generics=read_generics(d / "generics.csv"),
        categories=read_categories(d / "categories.csv"),
        lexicons=read_lexicons(d / "lexicons.csv"),
        admin_suffixes=read_admin_suffixes(d / "admin_suffixes.csv"),
        rules=read_rules(d / "rules.csv"),
        fixed_spellings=read_fixed_spellings(d / "fixed_spellings.csv"),
        extra_chars=read_extra_common_chars(d / "extra_common_chars.txt"),
    )


def default_tables(tables: PlaceNameTables | None = None) -> PlaceNameTables:
    """Return ``tables`` or, when None, the shipped tables."""
    return tables if tables is not None else load_tables()
