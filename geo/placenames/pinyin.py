"""Readings and sign text of Chinese place names.

Sign text follows 中国地名汉语拼音字母拼写规则（汉语地名部分）(1984) and GB 17733-2008:

- proper part (专名) and generic part (通名) are written apart: 人民路 → Renmin Lu;
- a one-syllable modifier joins the word it qualifies: 解放北路 → Jiefang Beilu,
  景山后街 → Jingshan Houjie; 内/外 qualify the place before them: 朝阳门内大街 →
  Chaoyangmennei Dajie; a modifier after the generic joins it (中山大道西 → Zhongshan Dadaoxi);
- natural villages and market towns are one word (周口店 → Zhoukoudian); so is every name with no
  generic term (东门 → Dongmen);
- a generic that became part of the proper name is written with it: only the last generic is split
  (黑龙江省 → Heilongjiang Sheng), and a generic that does not fit the category stays in the
  proper name (景德镇 as a prefecture → Jingdezhen);
- a person's name is joined (张之洞路 → Zhangzhidong Lu) because the proper part is one word;
- numbers are spelled out (三八路 → Sanba Lu) except street ordinals (经五路 → Jing 5 Lu);
- each word is capitalised; an apostrophe precedes a/o/e syllables inside a word (Xi'an);
- no tones and never English words ("Road").

Readings come from pypinyin (``Style.NORMAL``, ü kept) over the whole name, so its phrase
dictionary sees the context; entries of ``data/placenames/polyphones.csv`` then overwrite the
characters they cover, longest entry first, scanning left to right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

from pypinyin import Style, lazy_pinyin

from geo.placenames.errors import UnknownCategoryError
from geo.placenames.tables import Category, Generic, PlaceNameTables, default_tables

# One-syllable modifiers that join the generic after them (方位, 大小, 新旧 ...); 内/外 are absent
# on purpose: they qualify the place before them (门内, 城外).
MODIFIERS = frozenset("东西南北中前后上下左右大小新老旧横直正")
TRAILING = frozenset("东西南北中")
NUMERALS = "零〇一二三四五六七八九十百"
_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0}
_ORDINAL = re.compile(f"[{NUMERALS}]+$")
_VOWEL_START = ("a", "o", "e")


def _each_char(text: str) -> list[str]:
    return list(text)


# pypinyin accepts a list from its errors callback (one item per character); its stubs say str
_KEEP_EACH = cast(Any, _each_char)


def _base_readings(name: str) -> list[str]:
    out = lazy_pinyin(name, style=Style.NORMAL, v_to_u=True, errors=_KEEP_EACH)
    if len(out) == len(name):
        return out
    # pypinyin grouped something unexpectedly: read character by character instead
    return [lazy_pinyin(c, style=Style.NORMAL, v_to_u=True, errors=_KEEP_EACH)[0] for c in name]


def syllables(name: str, *, tables: PlaceNameTables | None = None) -> list[str]:
    """Toneless reading of each character of ``name``.

    Parameters
    ----------
    name
        A place name; non-Chinese characters come back unchanged, one item each.
    tables
        Editable tables (default: the shipped ones); ``tables.polyphones`` overrides pypinyin.

    Returns
    -------
    list of str
        One lower-case syllable per character (ü kept as ``ü``).
    """
    overrides = default_tables(tables).polyphones
    out = _base_readings(name)
    longest = max((len(w) for w in overrides), default=0)
    i = 0
    while i < len(name):
        for size in range(min(longest, len(name) - i), 0, -1):
            reading = overrides.get(name[i:i + size])
            if reading:
                out[i:i + size] = reading
                i += size
                break
        else:
            i += 1
    return out


def toneless_key(name: str, *, tables: PlaceNameTables | None = None) -> str:
    """Toneless pinyin of ``name`` without spaces, lower case (the homophone key)."""
    return "".join(syllables(name, tables=tables)).lower()


def initials(name: str, *, tables: PlaceNameTables | None = None) -> str:
    """First letter of each syllable, lower case (人民路 → ``rml``)."""
    return "".join(s[0] for s in syllables(name, tables=tables) if s.strip()).lower()


def chinese_number(text: str) -> int:
    """Value of a Chinese numeral of up to three digits (十二 → 12, 一百零五 → 105, 一五一 → 151)."""
    if "十" not in text and "百" not in text:
        return int("".join(str(_DIGITS[c]) for c in text))
    value, current = 0, 0
    for char in text:
        if char == "百":
            value, current = value + (current or 1) * 100, 0
        elif char == "十":
            value, current = value + (current or 1) * 10, 0
        else:
            current = _DIGITS[char]
    return value + current


@dataclass(frozen=True)
class NameParts:
    """A name split for romanization: ``proper + modifier + ordinal + generic + tail`` == name.

    ``joined`` names are written as one word (``proper`` holds the whole name).
    """

    proper: str
    modifier: str = ""
    ordinal: str = ""
    generic: str = ""
    tail: str = ""
    joined: bool = False


def _category(category: str | None, tables: PlaceNameTables) -> Category | None:
    if category is None:
        return None
    if category not in tables.categories:
        raise UnknownCategoryError([category], list(tables.categories))
    return tables.categories[category]


def generic_of(body: str, *, category: Category | None = None,
               tables: PlaceNameTables | None = None) -> Generic | None:
    """The generic term ending ``body`` (longest first), or None.

    With a ``category`` only generics of its allowed classes count; the generic must leave at
    least one character of proper name.
    """
    generics = default_tables(tables).generics
    longest = max((len(t) for t in generics), default=0)
    for size in range(min(longest, len(body) - 1), 0, -1):
        found = generics.get(body[-size:])
        if found and (category is None or found.classes & category.classes):
            return found
    return None


def _peel_modifiers(rest: str) -> tuple[str, str]:
    modifier = ""
    # at most two (北小街), and the proper part keeps two characters (河南路 stays Henan Lu)
    while len(modifier) < 2 and len(rest) > 2 and rest[-1] in MODIFIERS:
        rest, modifier = rest[:-1], rest[-1] + modifier
    return rest, modifier


def split_name(name: str, *, category: str | None = None,
               tables: PlaceNameTables | None = None) -> NameParts:
    """Split ``name`` into proper part, modifier, street ordinal, generic and trailing modifier.

    Parameters
    ----------
    name
        A standard Chinese place name.
    category
        A category of data/placenames/categories.csv (``road``, ``village``, ``natural_village``
        ...); None lets any generic term split the name.
    tables
        Editable tables (default: shipped).

    Returns
    -------
    NameParts
    """
    t = default_tables(tables)
    cat = _category(category, t)
    if cat is not None and cat.joined:
        return NameParts(name, joined=True)
    body, tail = name, ""
    if len(name) > 2 and name[-1] in TRAILING and generic_of(name[:-1], category=cat, tables=t):
        body, tail = name[:-1], name[-1]
    generic = generic_of(body, category=cat, tables=t)
    if generic is None or generic.joined:
        return NameParts(name, joined=True)
    rest = body[: -len(generic.term)]
    match = _ORDINAL.search(rest) if "road" in generic.classes else None
    if match and match.start() > 0:
        return NameParts(rest[: match.start()], "", match.group(), generic.term, tail)
    rest, modifier = _peel_modifiers(rest)
    return NameParts(rest, modifier, "", generic.term, tail)


def _word(items: list[str]) -> str:
    text = ""
    for item in items:
        if text and item[:1].lower() in _VOWEL_START and item.isalpha() and item.islower():
            text += "'"
        text += item
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class SignText:
    """Sign text of a place name (GB 17733-2008: standard Chinese name plus pinyin).

    ``proper`` is the Chinese proper part written as the first word; ``generic`` the rest
    (empty for one-word names and for spellings taken from fixed_spellings.csv).
    """

    chinese: str
    pinyin: str
    proper: str
    generic: str

    @property
    def sign(self) -> str:
        """The two sign lines: Chinese, then pinyin."""
        return f"{self.chinese}\n{self.pinyin}"


def sign_text(name: str, *, category: str | None = None, tables: PlaceNameTables | None = None) -> SignText:
    """Pinyin sign text of ``name`` per the 1984 romanization rules (see module docstring).

    Parameters
    ----------
    name
        A standard Chinese place name, e.g. ``人民路``.
    category
        Feature category (``road``, ``village``, ``natural_village``, ``town`` ...) of
        data/placenames/categories.csv; decides one-word names and which generics split.
    tables
        Editable tables (default: shipped). ``fixed_spellings.csv`` wins over derived text.

    Returns
    -------
    SignText
        e.g. ``SignText('人民路', 'Renmin Lu', '人民', '路')``.
    """
    t = default_tables(tables)
    name = name.strip()
    if name in t.fixed:  # an authority spelling: its split is not derived
        return SignText(name, t.fixed[name], name, "")
    parts = split_name(name, category=category, tables=t)
    generic_zh = name[len(parts.proper):]
    sylls = syllables(name, tables=t)
    if parts.joined:
        return SignText(name, _word(sylls), name, "")
    cut = len(parts.proper)
    words = [_word(sylls[:cut])]
    if parts.ordinal:
        words.append(str(chinese_number(parts.ordinal)))
        cut += len(parts.ordinal)
    words.append(_word(sylls[cut:]))
    return SignText(name, " ".join(words), parts.proper, generic_zh)


def romanize(name: str, *, category: str | None = None, tables: PlaceNameTables | None = None) -> str:
    """The pinyin line of :func:`sign_text` (人民路 → ``Renmin Lu``)."""
    return sign_text(name, category=category, tables=tables).pinyin
