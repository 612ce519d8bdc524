"""Character classes shared by the place-name modules."""

from __future__ import annotations

import re

# CJK Unified Ideographs, Extension A, compatibility ideographs and Extensions B-H
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
HAN_RE = re.compile(f"[{HAN}]")


def is_han(char: str) -> bool:
    """True when ``char`` is a Chinese character."""
    return HAN_RE.fullmatch(char) is not None
