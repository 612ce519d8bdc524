"""Character classes shared by the place-name modules."""

from __future__ import annotations

import re

import pandas as pd

# CJK Unified Ideographs, Extension A, compatibility ideographs and Extensions B-H
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
HAN_RE = re.compile(f"[{HAN}]")


def is_han(char: str) -> bool:
    """True when ``char`` is a Chinese character."""
    return HAN_RE.fullmatch(char) is not None


_TRUE = frozenset({"1", "1.0", "true", "t", "yes", "y", "是", "有"})


def truthy(values: pd.Series) -> pd.Series:
    """Read a yes/no column as bool: True/1/yes/是/有 are True; anything else, blank included, False."""
    if values.dtype == bool:
        return values
    return values.map(lambda v: (not pd.isna(v)) and str(v).strip().lower() in _TRUE).astype(bool)
