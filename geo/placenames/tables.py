"""The editable place-name tables shipped in ``data/placenames/``.

Each ``read_*`` function takes a path (default: the shipped file), validates the table and returns
it as a DataFrame, so an API or a user can show and edit it. :func:`load_tables` turns a directory
of these tables into the lookup structures the rules use; the shipped set is cached.

Local edits need not touch the shipped files: ``load_tables(overrides=folder)`` reads the CSVs of
``folder`` over the shipped ones — a row replaces the shipped row with the same key (``word``,
``term``, ``category``, ``suffix``, ``code`` or ``name``), other rows are added, and the characters of
an ``extra_common_chars.txt`` there are added to the shipped list. The application chooses that
folder once (``MINQING_PLACENAME_TABLES``, read by :mod:`layers.placenames`) through
:func:`use_overrides`; this package reads no settings itself.

Tables
------
polyphones.csv        word or character → toneless reading (one syllable per character); a
                      one-character row yields to pypinyin's reading of the character inside a
                      dictionary word (音乐 yinyue despite 乐 le); ``position`` = start limits a
                      row to the start of a name (surnames: 区庄 Ouzhuang, not 郊区村)
descriptors.csv       multi-syllable modifiers written as words of their own (瑶族, 湿地)
generics.csv          generic terms (通名): feature classes, size rank, written apart or joined
categories.csv        feature categories: allowed generic classes, duplicate scope, sign rules
lexicons.csv          大/洋/怪 words flagged for review (民发〔2018〕146号)
admin_suffixes.csv    committee suffixes stripped before duplicate checks (村委会 → 村)
rules.csv             finding codes with reasons (Chinese and English), the rule cited and the review
                      flag (大/洋/怪/重 of 民发〔2018〕146号, or other)
fixed_spellings.csv   authority sign spellings the rules cannot derive (东四十条 Dongsi 10 Tiao)
surnames.csv          polyphonic surnames of the 百家姓 with their surname reading, applied where the
                      surname opens a 家/屋/厝/寨/庄/村/巷 name (翟家庄 Zhaijiazhuang, not Di-)
place_readings.csv    places whose official spelling has a special reading (大埔 Dabu, 麻涌 Machong,
                      纸行路 Zhihang Lu): counties and towns of the division list, old streets; read
                      as polyphone entries that win over polyphones.csv
extra_common_chars.txt  local characters accepted as common besides GB 2312
regional_chars.csv    regional (Lingnan, Hakka, Chaoshan) place-name characters with reading, meaning
                      and an example (甽 zhen, 㘭 ao, 滘 jiao): genuine local characters, never 怪 or
                      rare; added to the common set
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from geo.placenames.errors import PlaceNameTableError, UnknownCategoryError

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "placenames"

SCOPES = ("country", "province", "county", "city_or_town", "town")
LEXICON_KINDS = ("大", "洋", "怪")
FLAGS = ("大", "洋", "怪", "重", "other")
WRITTEN = ("apart", "joined")
POSITIONS = ("", "start")
DESCRIPTOR_KINDS = ("ethnic", "descriptor")
KEYS = {
    "polyphones.csv": "word",
    "generics.csv": "term",
    "categories.csv": "category",
    "lexicons.csv": "term",
    "admin_suffixes.csv": "suffix",
    "rules.csv": "code",
    "fixed_spellings.csv": "name",
    "descriptors.csv": "word",
    "surnames.csv": "surname",
    "place_readings.csv": "name",
    "regional_chars.csv": "char",
}
"""Each CSV table and its key column: an override row replaces the shipped row with the same key."""
CHARS_FILE = "extra_common_chars.txt"


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
    """Reason texts, the cited rule and the review flag (one of ``FLAGS``) of one finding code."""

    code: str
    reason_zh: str
    reason_en: str
    rule: str
    flag: str = "other"


@dataclass(frozen=True)
class RegionalChar:
    """A regional place-name character (甽 zhen: 田边水沟) — local, not odd."""

    char: str
    reading: str
    meaning: str
    example: str


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
    start_only: frozenset[str] = frozenset()
    """Polyphone words that apply only at the start of a name (``position`` start)."""
    descriptors: dict[str, str] = field(default_factory=dict)
    """Multi-syllable modifier → kind (ethnic, descriptor): written as a word of its own."""
    surnames: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Polyphonic surname → its surname reading (翟 → zhai), used before 家/屋/厝/寨/庄/村/巷."""
    regional: dict[str, RegionalChar] = field(default_factory=dict)
    """Regional place-name character → its reading, meaning and example (also in ``extra_chars``)."""
    place_readings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Place with a special official reading → its syllables (also merged into ``polyphones``)."""


def _read(path: str | Path, columns: list[str]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise PlaceNameTableError(
            path, f"cannot be read ({e})", "fix the file or restore the shipped one"
        ) from e
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PlaceNameTableError(path, f"lacks column(s) {missing}", f"use the header {','.join(columns)}")
    return frame.apply(lambda s: s.str.strip())


def _check(path: str | Path, bad: pd.DataFrame, problem: str, fix: str) -> None:
    if len(bad):
        raise PlaceNameTableError(path, f"{problem} in row(s) {bad.iloc[:, 0].tolist()[:5]}", fix)


def read_polyphones(path: str | Path = DATA_DIR / "polyphones.csv") -> pd.DataFrame:
    """Read the reading-override table (columns word, reading, note; optional position).

    ``reading`` holds one toneless syllable per character of ``word``, separated by spaces;
    ``position`` is empty (anywhere) or ``start`` (only where the word begins the name).
    """
    frame = _read(path, ["word", "reading", "note"])
    frame["position"] = frame.get("position", "")
    counts = frame["reading"].str.split().str.len()
    _check(
        path,
        frame[counts != frame["word"].str.len()],
        "reading does not have one syllable per character",
        "write one space-separated syllable per character, e.g. 重庆,chong qing",
    )
    _check(
        path,
        frame[~frame["position"].isin(POSITIONS)],
        "position is not empty or start",
        "leave position empty (anywhere) or write start (only at the start of a name)",
    )
    _check(path, frame[frame["word"].duplicated()], "word repeated", "keep one row per word")
    return frame


def read_descriptors(path: str | Path = DATA_DIR / "descriptors.csv") -> pd.DataFrame:
    """Read the multi-syllable modifiers written apart (columns word, kind, note).

    ``kind`` is ``ethnic`` (瑶族: 连南瑶族自治县 → Liannan Yaozu Zizhixian) or ``descriptor``
    (湿地: 海珠湿地公园 → Haizhu Shidi Gongyuan); rule 2 of the 1984 rules writes multi-syllable
    modifiers apart from the word they qualify.
    """
    frame = _read(path, ["word", "kind", "note"])
    _check(
        path,
        frame[~frame["kind"].isin(DESCRIPTOR_KINDS)],
        "kind is not ethnic/descriptor",
        "use ethnic or descriptor",
    )
    _check(
        path,
        frame[frame["word"].str.len() < 2],
        "word shorter than two characters",
        "one-syllable modifiers join their word: list only words of two or more characters",
    )
    return frame


def read_generics(path: str | Path = DATA_DIR / "generics.csv") -> pd.DataFrame:
    """Read the generic-term table (columns term, classes, rank, written, gbt18521, note)."""
    frame = _read(path, ["term", "classes", "rank", "written", "gbt18521", "note"])
    _check(
        path, frame[~frame["rank"].str.fullmatch(r"\d+")], "rank is not a whole number", "use 1 (small) to 9"
    )
    _check(path, frame[~frame["written"].isin(WRITTEN)], "written is not apart/joined", "use apart or joined")
    _check(path, frame[frame["term"].duplicated()], "term repeated", "keep one row per term")
    return frame


def read_categories(path: str | Path = DATA_DIR / "categories.csv") -> pd.DataFrame:
    """Read the feature-category table (category, classes, max_rank, scope, written, sign_required ...)."""
    cols = [
        "category",
        "name_zh",
        "classes",
        "max_rank",
        "generic_check",
        "scope",
        "written",
        "sign_required",
        "sign_type",
    ]
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
    """Read the finding codes with their reasons, cited rules and ``flag``.

    ``flag``: 大/洋/怪/重/other; empty or absent → other.
    """
    frame = _read(path, ["code", "reason_zh", "reason_en", "rule"])
    frame["flag"] = frame["flag"].replace("", "other") if "flag" in frame else "other"
    _check(
        path,
        frame[~frame["flag"].isin(FLAGS)],
        "flag is not 大/洋/怪/重/other",
        "use 大, 洋, 怪, 重 or other",
    )
    return frame


def _check_readings(path: str | Path, frame: pd.DataFrame, key: str, example: str) -> pd.DataFrame:
    counts = frame["reading"].str.split().str.len()
    _check(
        path,
        frame[counts != frame[key].str.len()],
        "reading does not have one syllable per character",
        f"write one space-separated syllable per character, e.g. {example}",
    )
    _check(path, frame[frame[key].duplicated()], f"{key} repeated", f"keep one row per {key}")
    return frame


def read_surnames(path: str | Path = DATA_DIR / "surnames.csv") -> pd.DataFrame:
    """Read the surname readings (columns surname, reading, note): 翟,zhai."""
    return _check_readings(path, _read(path, ["surname", "reading", "note"]), "surname", "翟,zhai")


def read_place_readings(path: str | Path = DATA_DIR / "place_readings.csv") -> pd.DataFrame:
    """Read the places with a special official reading (columns name, reading, kind, source)."""
    return _check_readings(path, _read(path, ["name", "reading", "kind", "source"]), "name", "大埔,da bu")


def read_regional_chars(path: str | Path = DATA_DIR / "regional_chars.csv") -> pd.DataFrame:
    """Read the regional place-name characters (columns char, reading, meaning, example, note)."""
    frame = _read(path, ["char", "reading", "meaning", "example", "note"])
    _check(
        path, frame[frame["char"].str.len() != 1], "char is not one character", "put one character per row"
    )
    _check(
        path,
        frame[~frame["reading"].str.fullmatch(r"[a-zü]+")],
        "reading is not one toneless syllable",
        "write the reading in toneless pinyin, e.g. zhen",
    )
    _check(path, frame[frame["char"].duplicated()], "char repeated", "keep one row per character")
    return frame


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


def _readings(words: pd.Series, readings: pd.Series) -> dict[str, tuple[str, ...]]:
    return {w: tuple(r.lower().replace("v", "ü").split()) for w, r in zip(words, readings, strict=True)}


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
    descriptors: pd.DataFrame | None = None,
    surnames: pd.DataFrame | None = None,
    place_readings: pd.DataFrame | None = None,
    regional_chars: pd.DataFrame | None = None,
) -> PlaceNameTables:
    """Build the lookup structures from validated table frames."""
    positions = polyphones["position"] if "position" in polyphones else pd.Series("", polyphones.index)
    places = {} if place_readings is None else _readings(place_readings["name"], place_readings["reading"])
    regional = (
        {}
        if regional_chars is None
        else {
            r.char: RegionalChar(r.char, r.reading, r.meaning, r.example) for r in regional_chars.itertuples()
        }
    )
    return PlaceNameTables(
        polyphones=_readings(polyphones["word"], polyphones["reading"]) | places,
        place_readings=places,
        regional=regional,
        surnames={} if surnames is None else _readings(surnames["surname"], surnames["reading"]),
        generics={
            r.term: Generic(r.term, _split(r.classes), int(r.rank), r.written == "joined")
            for r in generics.itertuples()
        },
        categories={
            r.category: Category(
                r.category,
                r.name_zh,
                _split(r.classes),
                int(r.max_rank),
                r.generic_check == "1",
                r.scope,
                r.written == "joined",
                r.sign_required == "1",
                r.sign_type,
            )
            for r in categories.itertuples()
        },
        lexicon=tuple(LexiconTerm(r.term, r.kind, r.note, r.term.lower()) for r in lexicons.itertuples()),
        suffixes=tuple(
            sorted(
                zip(admin_suffixes["suffix"], admin_suffixes["replacement"], strict=True),
                key=lambda p: -len(p[0]),
            )
        ),
        rules={
            r.code: Rule(r.code, r.reason_zh, r.reason_en, r.rule, getattr(r, "flag", "other") or "other")
            for r in rules.itertuples()
        },
        extra_chars=extra_chars | frozenset(regional),
        fixed=dict(zip(fixed_spellings["name"], fixed_spellings["pinyin"], strict=True)),
        start_only=frozenset(polyphones.loc[positions == "start", "word"]),
        descriptors={}
        if descriptors is None
        else dict(zip(descriptors["word"], descriptors["kind"], strict=True)),
    )


def _override_dir(overrides: str | Path) -> Path:
    folder = Path(overrides)
    if not folder.is_dir():
        raise PlaceNameTableError(
            folder,
            "is not a folder",
            "point MINQING_PLACENAME_TABLES at a folder holding "
            "edited copies of (some of) data/placenames/*.csv",
        )
    known = {*KEYS, CHARS_FILE}
    unknown = sorted(f.name for f in folder.iterdir() if f.suffix in {".csv", ".txt"} and f.name not in known)
    if unknown:
        raise PlaceNameTableError(
            folder,
            f"holds {unknown}, which are no place-name tables",
            f"name the files like the shipped ones: {sorted(known)}",
        )
    return folder


def _merged(
    read: Callable[[Path], pd.DataFrame], file: str, data_dir: Path, overrides: Path | None
) -> pd.DataFrame:
    frame = read(data_dir / file)
    if overrides is None or not (overrides / file).exists():
        return frame
    extra = read(overrides / file)
    kept = frame[~frame[KEYS[file]].isin(extra[KEYS[file]])]
    return pd.concat([kept, extra], ignore_index=True).fillna("")


@functools.lru_cache(maxsize=8)
def load_tables(data_dir: str | Path = DATA_DIR, *, overrides: str | Path | None = None) -> PlaceNameTables:
    """Load every table from ``data_dir`` (default: the shipped data/placenames/; cached).

    Parameters
    ----------
    data_dir
        A directory holding the files listed in this module's docstring.
    overrides
        A folder of edited tables read over those of ``data_dir`` (see the module docstring);
        only the files it holds count. None: ``data_dir`` alone.

    Returns
    -------
    PlaceNameTables
    """
    d = Path(data_dir)
    o = None if overrides is None else _override_dir(overrides)
    chars = read_extra_common_chars(d / CHARS_FILE)
    if o is not None and (o / CHARS_FILE).exists():
        chars |= read_extra_common_chars(o / CHARS_FILE)
    return tables_from_frames(
        polyphones=_merged(read_polyphones, "polyphones.csv", d, o),
        generics=_merged(read_generics, "generics.csv", d, o),
        categories=_merged(read_categories, "categories.csv", d, o),
        lexicons=_merged(read_lexicons, "lexicons.csv", d, o),
        admin_suffixes=_merged(read_admin_suffixes, "admin_suffixes.csv", d, o),
        rules=_merged(read_rules, "rules.csv", d, o),
        fixed_spellings=_merged(read_fixed_spellings, "fixed_spellings.csv", d, o),
        extra_chars=chars,
        descriptors=_merged(read_descriptors, "descriptors.csv", d, o),
        surnames=_merged(read_surnames, "surnames.csv", d, o),
        place_readings=_merged(read_place_readings, "place_readings.csv", d, o),
        regional_chars=_merged(read_regional_chars, "regional_chars.csv", d, o),
    )


_OVERRIDES: list[Path | None] = [None]
"""The folder chosen by :func:`use_overrides` (a one-item list: module state without ``global``)."""


def use_overrides(folder: str | Path | None) -> PlaceNameTables:
    """Make :func:`default_tables` read ``folder``'s tables over the shipped ones (None: shipped only).

    Called once by the application (API start-up, CLI) with the ``MINQING_PLACENAME_TABLES``
    setting; the folder is checked and loaded at once, so a bad table fails at start, not later.
    Returns the tables now in use. Edits to the folder are read again after
    ``load_tables.cache_clear()`` or a restart.
    """
    tables = load_tables(DATA_DIR, overrides=None if folder is None else Path(folder))
    _OVERRIDES[0] = None if folder is None else Path(folder)
    return tables


def default_tables(tables: PlaceNameTables | None = None) -> PlaceNameTables:
    """Return ``tables`` or, when None, the tables in use.

    The tables in use are the shipped ones, read under the folder chosen with :func:`use_overrides` if
    any.
    """
    if tables is not None:
        return tables
    return load_tables() if _OVERRIDES[0] is None else load_tables(DATA_DIR, overrides=_OVERRIDES[0])


def category_code(value: object, *, tables: PlaceNameTables | None = None) -> str:
    """The category code of ``value``.

    ``value`` is a code (any case), the Chinese name of categories.csv (``道路（路、街）``) or its part
    before the bracket (``道路``, ``自然村``); blank stays ``""``.

    Raises ``UnknownCategoryError`` naming the accepted values for anything else.
    """
    t = default_tables(tables)
    text = "" if value is None or (isinstance(value, float) and value != value) else str(value).strip()
    if not text or text in t.categories:
        return text
    lookup = {c.lower(): c for c in t.categories}
    for code, cat in t.categories.items():
        lookup.setdefault(cat.name_zh, code)
        lookup.setdefault(cat.name_zh.split("（")[0], code)
    if text.lower() not in lookup:
        raise UnknownCategoryError([text], [f"{c} {cat.name_zh}" for c, cat in t.categories.items()])
    return lookup[text.lower()]
