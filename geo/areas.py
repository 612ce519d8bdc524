"""The area tree: its levels, who is whose parent, depth and display order, and the urban/rural rule.

One tree per district::

    district 区县 → town 镇街 → community 村居 → grid_middle 中网格 → grid_small 小网格
                          └──→ grid_large 大网格

``grid_large`` hangs from the town beside the communities: a large grid groups communities for
grid management, it does not contain them in the tree. Every module that names a level (loaders,
queries, API parameter types, reports, maps) takes it from here.
"""

from __future__ import annotations

from typing import Literal

Level = Literal["district", "town", "grid_large", "community", "grid_middle", "grid_small"]
GridLevel = Literal["grid_large", "grid_middle", "grid_small"]

LEVELS: tuple[str, ...] = ("district", "town", "grid_large", "community", "grid_middle", "grid_small")
"""Every level, in display order (the order of lists, menus and reports)."""

GRID_LEVELS: tuple[str, ...] = ("grid_large", "grid_middle", "grid_small")
"""The grid-management levels (网格), largest first."""

PARENT_LEVEL: dict[str, str] = {
    "town": "district",
    "community": "town",
    "grid_large": "town",
    "grid_middle": "community",
    "grid_small": "grid_middle",
}
"""The level of each level's parent (a district has none)."""

LEVEL_ZH: dict[str, str] = {
    "district": "区县",
    "town": "镇街",
    "grid_large": "大网格",
    "community": "村居",
    "grid_middle": "中网格",
    "grid_small": "小网格",
}
"""Each level's Chinese name, as officials write it."""


def ancestors(level: str) -> tuple[str, ...]:
    """The levels above ``level``, nearest first (``ancestors('grid_small')`` ends with 'district').

    Raises
    ------
    KeyError
        When ``level`` is not one of ``LEVELS``.
    """
    if level not in LEVELS:
        raise KeyError(f"unknown area level {level!r}: use one of {list(LEVELS)}")
    chain = []
    while level in PARENT_LEVEL:
        level = PARENT_LEVEL[level]
        chain.append(level)
    return tuple(chain)


ORDER: dict[str, int] = {level: i for i, level in enumerate(LEVELS)}
"""Display position of each level (district 0 … grid_small 5); also "most specific last" for lookups."""

DEPTH: dict[str, int] = {level: len(ancestors(level)) for level in LEVELS}
"""Distance from the district: 0 district, 1 town, 2 community and grid_large, 3 grid_middle, 4 grid_small."""

SMALLEST_GRID_FIRST: tuple[str, ...] = tuple(sorted(GRID_LEVELS, key=lambda lvl: -DEPTH[lvl]))
"""Grid levels from the smallest: a point is routed to the first of these that covers it."""


def is_urban(
    urban_rural_code: str | None, statistics_code: str | None, level: str, parent_urban: bool | None
) -> bool:
    """The urban/rural rule (城乡划分) of one area.

    Parameters
    ----------
    urban_rural_code : str or None
        The NBS urban-rural classification code (城乡分类代码): 1xx urban (111 主城区 … 123),
        2xx rural (210 乡中心区, 220 村庄).
    statistics_code : str or None
        The 12-digit statistics code; for a community without a classification code its last three
        digits say 居委会 (001–199, urban) or 村委会 (200–399, rural).
    level : str
        The area's level.
    parent_urban : bool or None
        The parent's flag, inherited when nothing else decides (None: urban).

    Returns
    -------
    bool
        True when the area counts as urban (15-minute circle), False when rural (half-hour circle).
    """
    code = str(urban_rural_code or "")
    if code:
        return code.startswith("1")
    stat = str(statistics_code or "")
    if level == "community" and len(stat) == 12 and stat[-3:].isdigit():
        return int(stat[-3:]) < 200
    return True if parent_urban is None else parent_urban
