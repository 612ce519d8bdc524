"""Reference tables (facility types, targets, place-name rules ...) and the demo district generator."""

from __future__ import annotations

import os
from pathlib import Path

DEMO_LABEL = "演示数据(虚构)"
"""Printed on every map, page and report drawn from the fictional demo district."""

DIVISIONS_ENV = "MINQING_DIVISIONS_DIR"
DIVISIONS_NAME = "guangdong_admin_divisions_nbs2023"


def divisions_dir() -> Path:
    """The folder of the real Guangdong division names (NBS 2023: towns and villages/communities CSVs).

    ``$MINQING_DIVISIONS_DIR`` when set; else ``../shared/data/guangdong_admin_divisions_nbs2023``
    beside the project root, else ``/work/shared/data/...``; the first of these that exists (or the
    first candidate, so that an error can name it).
    """
    explicit = os.environ.get(DIVISIONS_ENV)
    if explicit:
        return Path(explicit)
    root = Path(__file__).resolve().parents[1]
    candidates = [root.parent / "shared" / "data" / DIVISIONS_NAME, Path("/work/shared/data") / DIVISIONS_NAME]
    return next((c for c in candidates if c.is_dir()), candidates[0])
