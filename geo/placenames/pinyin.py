"""Readings and sign text of Chinese place names.

Sign text follows 中国地名汉语拼音字母拼写规则（汉语地名部分）(1984) and GB 17733-2008:

- proper part (专名) and generic part (通名) are written apart: 人民路 → Renmin Lu;
- a one-syllable modifier joins the word it qualifies: 解放北路 → Jiefang Beilu,
  景山后街 → Jingshan Houjie; 内/外 qualify the place before them: 朝阳门内大街 →
  Chaoyangmennei Dajie; a modifier after the generic joins it (中山大道西 → Zhongshan Dadaoxi);
- a modifier of two or more syllables is a word of its own (rule 2): ethnic words and the
  descriptors of data/placenames/descriptors.csv — 连南瑶族自治县 → Liannan Yaozu Zizhixian,
  海珠湿地公园 → Haizhu Shidi Gongyuan, 白云山森林公园 → Baiyunshan Senlin Gongyuan;
- natural villages and market towns are one word (周口店 → Zhoukoudian); so is every name with no
  generic term (东门 → Dongmen), and a name whose proper part would be one numeral (九江 →
  Jiujiang, "nine rivers": a number alone names nothing, unlike 珠江 → Zhu Jiang);
- a generic that became part of the proper name is written with it: only the last generic is split
  (黑龙江省 → Heilongjiang Sheng; 北京路步行街 → Beijinglu Buxingjie, as the rules' 解放路南小街 →
  Jiefanglu Nanxiaojie), and a generic that does not fit the category stays in the proper name
  (景德镇 as a prefecture → Jingdezhen);
- a person's name is joined (张之洞路 → Zhangzhidong Lu) because the proper part is one word;
- numbers are spelled out (三八路 → Sanba Lu, 上下九路 → Shangxiajiu Lu, 天一路 → Tianyi Lu) except
  codes and street ordinals, which are Arabic numerals written apart (rule 7): a run of digits
  holding 〇 or an Arabic digit is a code (三〇一医院 → 301 Yiyuan); a numeral before a street
  generic is an ordinal when what precedes it is a proper name of two or more characters (中山二路 →
  Zhongshan 2 Lu), an ordinal stem (经五路 → Jing 5 Lu, 东二巷 → Dong 2 Xiang), 第 (第九弄 → Di-9
  Long) or nothing, if the numeral counts (二马路 → 2 Malu, 二十一巷 → 21 Xiang; but 八一路 → Bayi
  Lu: a digit-by-digit pair is a date);
- each word is capitalised; an apostrophe precedes a/o/e syllables inside a word (Xi'an);
- no tones and never English words ("Road").

Readings come from pypinyin (``Style.NORMAL``, ü kept) over the whole name, so its phrase
dictionary sees the context; entries of ``data/placenames/polyphones.csv`` then overwrite the
characters they cover, longest entry first, scanning left to right. A one-character entry (长
chang) yields where pypinyin read the character inside a word of its dictionary (成长 chengzhang);
a longer entry always wins (民乐 minle); a ``start`` entry applies only at the start of the name.
Places with a special official reading (place_readings.csv: 大埔 Dabu, 纸行路 Zhihang Lu) are
polyphone entries too, winning over polyphones.csv. Last, a polyphonic surname of surnames.csv
opening a 家/屋/厝/寨/庄/村/巷 name takes its surname reading (翟家庄 Zhaijiazhuang, 单家村
Shanjiacun, 区家巷 Oujia Xiang).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

from pypinyin import Style, lazy_pinyin
from pypinyin.constants import PHRASES_DICT
from pypinyin.seg.simpleseg import seg

from geo.placenames.errors import UnknownCategoryError
from geo.placenames.tables import Category, Generic, PlaceNameTables, default_tables

# One-syllable modifiers that join the generic after them (方位, 大小, 新旧 ...); 内/外 are absent
# on purpose: they qualify the place before them (门内, 城外).
MODIFIERS = frozenset("东西南北中前后上下左右大小新老旧横直正")
TRAILING = frozenset("东西南北中")
ORDINAL_STEMS = frozenset("经纬东西南北横纵")
"""One-character stems of numbered streets: 经五路 Jing 5 Lu, 东二巷 Dong 2 Xiang, 横一路 Heng 1 Lu."""
BUILDING_CLASSES = frozenset({"building", "estate", "square", "park"})
"""Generic classes that split a building's or an estate's name on its sign even when they misfit."""
NUMERALS = "零〇一二三四五六七八九十百"
_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0}
_ORDINAL = re.compile(f"[{NUMERALS}]+$")
_DIGIT_RUN = re.compile("[0-9〇零一二三四五六七八九]+")
_VOWEL_START = ("a", "o", "e")


def _each_char(text: str) -> list[str]:
    return list(text)


# pypinyin accepts a list from its errors callback (one item per character); its stubs say str
_KEEP_EACH = cast(Any, _each_char)


def _base_readings(name: str) -> tuple[list[str], list[bool]]:
    """Pypinyin's reading of each character and whether it read it inside a dictionary word."""
    out = lazy_pinyin(name, style=Style.NORMAL, v_to_u=True, errors=_KEEP_EACH)
    in_word = [False] * len(name)
    if len(out) != len(name):  # pypinyin grouped something unexpectedly: read character by character
        return [lazy_pinyin(c, style=Style.NORMAL, v_to_u=True, errors=_KEEP_EACH)[0] for c in name], in_word
    i = 0
    for word in seg(name):  # the segmentation lazy_pinyin used
        if len(word) > 1 and word in PHRASES_DICT:
            in_word[i : i + len(word)] = [True] * len(word)
        i += len(word)
    return out, in_word


SURNAME_PLACES = frozenset("家屋厝寨庄村巷")
"""Characters after which an opening surname takes its surname reading (翟家庄 Zhaijiazhuang)."""


def surname_reading(
    name: str, *, tables: PlaceNameTables | None = None
) -> tuple[str, tuple[str, ...]] | None:
    """(surname, reading) when a polyphonic surname of surnames.csv opens ``name``, else None.

    The surname must come before one of 家/屋/厝/寨/庄/村/巷 (翟家庄 → (翟, (zhai,))); the longest surname
    wins (尉迟 over 尉).
    """
    surnames = default_tables(tables).surnames
    for size in (2, 1):
        head = name[:size]
        if len(name) > size and head in surnames and name[size] in SURNAME_PLACES:
            return head, surnames[head]
    return None


def syllables(name: str, *, tables: PlaceNameTables | None = None) -> list[str]:
    """Toneless reading of each character of ``name``.

    Parameters
    ----------
    name
        A place name; non-Chinese characters come back unchanged, one item each.
    tables
        Editable tables (default: those in use); ``tables.polyphones`` overrides pypinyin (see the
        module docstring for which entry applies where).

    Returns
    -------
    list of str
        One lower-case syllable per character (ü kept as ``ü``).
    """
    t = default_tables(tables)
    overrides = t.polyphones
    out, in_word = _base_readings(name)
    longest = max((len(w) for w in overrides), default=0)
    i = 0
    while i < len(name):
        for size in range(min(longest, len(name) - i), 0, -1):
            word = name[i : i + size]
            reading = overrides.get(word)
            if not reading or (i > 0 and word in t.start_only) or (size == 1 and in_word[i]):
                continue
            out[i : i + size] = reading
            i += size
            break
        else:
            i += 1
    surname = surname_reading(name, tables=t)
    if surname is not None:
        out[: len(surname[0])] = surname[1]
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


def is_code(run: str) -> bool:
    """Whether a run of digits is a code written in Arabic numerals (三〇一, 1203).

    It is when it holds 〇 or an Arabic digit. Counts (十二) and date-like pairs (八一, 三八) are not codes.
    """
    return bool(run) and any(c == "〇" or c.isascii() for c in run) and _DIGIT_RUN.fullmatch(run) is not None


@dataclass(frozen=True)
class NameParts:
    """A name split for romanization.

    ``proper + "".join(descriptors) + modifier + ordinal + generic + tail == name``; ``ordinal``
    may start with 第. ``joined`` names are written as one word (``proper`` holds the whole name).
    """

    proper: str
    modifier: str = ""
    ordinal: str = ""
    generic: str = ""
    tail: str = ""
    joined: bool = False
    descriptors: tuple[str, ...] = ()


def _category(category: str | None, tables: PlaceNameTables) -> Category | None:
    if category is None:
        return None
    if category not in tables.categories:
        raise UnknownCategoryError([category], list(tables.categories))
    return tables.categories[category]


def generic_of(
    body: str,
    *,
    category: Category | None = None,
    tables: PlaceNameTables | None = None,
    classes: frozenset[str] | None = None,
) -> Generic | None:
    """The generic term ending ``body`` (longest first, so 雅居 wins over 居), or None.

    With a ``category`` only generics of its allowed classes count (``classes``: those classes
    instead); the generic must leave at least one character of proper name.
    """
    generics = default_tables(tables).generics
    allowed = classes if classes is not None else (None if category is None else category.classes)
    longest = max((len(t) for t in generics), default=0)
    for size in range(min(longest, len(body) - 1), 0, -1):
        found = generics.get(body[-size:])
        if found and (allowed is None or found.classes & allowed):
            return found
    return None


def _sign_generic(body: str, category: Category | None, tables: PlaceNameTables) -> Generic | None:
    """The generic that splits ``body`` on a sign.

    One of the category's classes, else, for buildings and estates, any building-like generic (时代广场
    as a building → Shidai Guangchang: the 大 check flags the misfit, the sign still writes the generic
    apart).
    """
    found = generic_of(body, category=category, tables=tables)
    if found is None and category is not None and category.classes & BUILDING_CLASSES:
        found = generic_of(body, tables=tables, classes=BUILDING_CLASSES)
    return found


def _peel_modifiers(rest: str) -> tuple[str, str]:
    modifier = ""
    # at most two (北小街), and the proper part keeps two characters (河南路 stays Henan Lu)
    while len(modifier) < 2 and len(rest) > 2 and rest[-1] in MODIFIERS:
        rest, modifier = rest[:-1], rest[-1] + modifier
    return rest, modifier


def _peel_descriptors(rest: str, descriptors: dict[str, str]) -> tuple[str, tuple[str, ...]]:
    found: list[str] = []
    longest = max((len(w) for w in descriptors), default=0)
    while True:  # the proper part keeps two characters (文化路 stays Wenhua Lu)
        word = next(
            (rest[-n:] for n in range(min(longest, len(rest) - 2), 1, -1) if rest[-n:] in descriptors), None
        )
        if word is None:
            return rest, tuple(found)
        rest, found = rest[: -len(word)], [word, *found]


def _street_ordinal(rest: str, generic: Generic) -> tuple[str, str] | None:
    """(proper, ordinal) when ``rest`` ends in a street ordinal before the street generic, else None."""
    match = _ORDINAL.search(rest) if "road" in generic.classes else None
    if match is None or is_code(match.group()):
        return None
    before, number = rest[: match.start()], match.group()
    if before.endswith("第"):
        return before[:-1], "第" + number
    if not before:  # 二马路 2 Malu, 二十一巷 21 Xiang; 八一路 and 三八路 are dates, spelled out
        return ("", number) if len(number) == 1 or "十" in number or "百" in number else None
    if before in ORDINAL_STEMS or (len(before) >= 2 and not set(before) <= MODIFIERS):
        return before, number
    return None  # 天一路 Tianyi Lu, 上下九路 Shangxiajiu Lu: the numeral belongs to the name


def split_name(name: str, *, category: str | None = None, tables: PlaceNameTables | None = None) -> NameParts:
    """Split ``name`` into proper part, descriptors, modifier, street ordinal, generic and trailing modifier.

    Parameters
    ----------
    name
        A standard Chinese place name.
    category
        A category of data/placenames/categories.csv (``road``, ``village``, ``natural_village``
        ...); None lets any generic term split the name.
    tables
        Editable tables (default: those in use).

    Returns
    -------
    NameParts
    """
    t = default_tables(tables)
    cat = _category(category, t)
    if cat is not None and cat.joined:
        return NameParts(name, joined=True)
    body, tail = name, ""
    if len(name) > 2 and name[-1] in TRAILING and _sign_generic(name[:-1], cat, t):
        body, tail = name[:-1], name[-1]
    generic = _sign_generic(body, cat, t)
    if generic is None or generic.joined:
        return NameParts(name, joined=True)
    rest = body[: -len(generic.term)]
    ordinal = _street_ordinal(rest, generic)
    if ordinal is not None:
        proper, descriptors = _peel_descriptors(ordinal[0], t.descriptors)
        return NameParts(proper, "", ordinal[1], generic.term, tail, descriptors=descriptors)
    rest, modifier = _peel_modifiers(rest)
    rest, descriptors = _peel_descriptors(rest, t.descriptors)
    if len(rest) == 1 and rest in NUMERALS and not (modifier or descriptors):
        return NameParts(name, joined=True)  # 九江 Jiujiang: a numeral alone is no proper name
    return NameParts(rest, modifier, "", generic.term, tail, descriptors=descriptors)


def _word(items: list[str]) -> str:
    text = ""
    for item in items:
        if text and item[:1].lower() in _VOWEL_START and item.isalpha() and item.islower():
            text += "'"
        text += item
    return text[:1].upper() + text[1:]


def _words(chars: str, sylls: list[str]) -> list[str]:
    """The words of one part: its syllables joined, with each code (三〇一 → 301) a word of its own."""
    words: list[str] = []
    start = 0
    for match in _DIGIT_RUN.finditer(chars):
        if is_code(match.group()):
            words += [_word(sylls[start : match.start()])] if match.start() > start else []
            words.append("".join(str(_DIGITS.get(c, c)) for c in match.group()))
            start = match.end()
    return words + ([_word(sylls[start:])] if start < len(chars) else [])


def _generic_words(chars: str, sylls: list[str], t: PlaceNameTables) -> list[str]:
    """The generic with its modifiers; a generic opening with a descriptor (森林公园) is two words."""
    head = next((w for w in t.descriptors if chars.startswith(w) and chars[len(w) :] in t.generics), None)
    if head is None:
        return _words(chars, sylls)
    return [_word(sylls[: len(head)]), *_words(chars[len(head) :], sylls[len(head) :])]


def _ordinal_word(ordinal: str) -> str:
    number = str(chinese_number(ordinal.removeprefix("第")))
    return f"Di-{number}" if ordinal.startswith("第") else number


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
        Editable tables (default: those in use). ``fixed_spellings.csv`` wins over derived text.

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
    sylls = syllables(name, tables=t)
    if parts.joined:
        return SignText(name, " ".join(_words(name, sylls)), name, "")
    words, cut = [], 0
    for piece in (parts.proper, *parts.descriptors):
        words += _words(piece, sylls[cut : cut + len(piece)])
        cut += len(piece)
    if parts.ordinal:
        words.append(_ordinal_word(parts.ordinal))
        cut += len(parts.ordinal)
    words += _generic_words(name[cut:], sylls[cut:], t)
    return SignText(name, " ".join(words), parts.proper, name[len(parts.proper) :])


def romanize(name: str, *, category: str | None = None, tables: PlaceNameTables | None = None) -> str:
    """The pinyin line of :func:`sign_text` (人民路 → ``Renmin Lu``)."""
    return sign_text(name, category=category, tables=tables).pinyin
