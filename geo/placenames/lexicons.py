"""Word lists and character sets behind the 大/洋/怪 checks.

Common characters
-----------------
The default common-character list is GB 2312 levels 1 and 2 (6,763 characters), derived from
Python's ``gb2312`` codec so no licensed list is shipped, plus the editable allow list
``data/placenames/extra_common_chars.txt`` and the regional characters of
``data/placenames/regional_chars.csv`` (甽 㘭 滘: see :func:`regional_chars`) for legitimate local
place-name characters outside GB 2312 (塱 氹 滘 埇 輋 ...). A Chinese character outside this set is *rare*.

Traditional characters
----------------------
A character is traditional (or a variant) when OpenCC ``t2s`` changes it and it is not in the
common set: GB 2312 holds a few characters that ``t2s`` folds but which are standard in their own
right (乾 於 徵 甯), and the allow list may hold local characters whose new simplified forms sit
outside common fonts (鮀, 輋). A character is simplified-specific when OpenCC ``s2t`` changes it.
"""

from __future__ import annotations

import functools

from opencc import OpenCC

from geo.placenames._text import is_han
from geo.placenames.tables import LexiconTerm, PlaceNameTables, default_tables


@functools.cache
def gb2312_chars() -> frozenset[str]:
    """The 6,763 Chinese characters of GB 2312 levels 1 and 2 (rows 0xB0-0xF7)."""
    chars = set()
    for high in range(0xB0, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                chars.add(bytes((high, low)).decode("gb2312"))
            except UnicodeDecodeError:  # the empty cells at the end of row 0xD7
                continue
    return frozenset(chars)


@functools.lru_cache(maxsize=8)
def _common(extra: frozenset[str]) -> frozenset[str]:
    return gb2312_chars() | extra


def common_chars(*, tables: PlaceNameTables | None = None) -> frozenset[str]:
    """GB 2312 characters plus the allow list of ``tables`` (default: shipped)."""
    return _common(default_tables(tables).extra_chars)


@functools.cache
def _converter(config: str) -> OpenCC:
    return OpenCC(config)


@functools.lru_cache(maxsize=65536)
def _t2s(char: str) -> str:
    return _converter("t2s").convert(char)


@functools.lru_cache(maxsize=65536)
def _s2t(char: str) -> str:
    return _converter("s2t").convert(char)


def traditional_chars(name: str, *, tables: PlaceNameTables | None = None) -> str:
    """Traditional or variant characters of ``name``, in order (裡 並 後-forms outside GB 2312)."""
    common = common_chars(tables=tables)
    return "".join(c for c in name if is_han(c) and c not in common and _t2s(c) != c)


def regional_chars(name: str, *, tables: PlaceNameTables | None = None) -> str:
    """Characters of ``name`` in the regional place-name table (甽头 → 甽), in order: local, not odd."""
    regional = default_tables(tables).regional
    return "".join(c for c in name if c in regional)


def simplified_chars(name: str) -> str:
    """Characters of ``name`` that exist only in simplified form (门 车 里 ...)."""
    return "".join(c for c in name if is_han(c) and _s2t(c) != c)


def rare_chars(name: str, *, tables: PlaceNameTables | None = None) -> str:
    """Chinese characters of ``name`` outside the common set that are not traditional forms."""
    common = common_chars(tables=tables)
    return "".join(c for c in name if is_han(c) and c not in common and _t2s(c) == c)


def lexicon_hits(name: str, *, tables: PlaceNameTables | None = None) -> list[LexiconTerm]:
    """Lexicon terms contained in ``name`` (case-insensitive), in table order."""
    lowered = name.lower()
    return [term for term in default_tables(tables).lexicon if term.match in lowered]
