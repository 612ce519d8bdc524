"""One three-county region loaded once for every province test (real PostGIS)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

CODES = ["441597", "441598", "441599"]
NAMES = ["甲县", "乙县", "丙县"]
SCALE = 0.2
"""Each county a demo district at this scale (~1,750 homes, ~8,600 edges)."""


@pytest.fixture(scope="package")
def region_db(fresh_db):
    """Three fictional counties (copies of a small demo district) joined by roads across their
    borders, loaded into a database of their own; the car tiers are dropped (see below)."""
    from data.demo import generate
    from layers.db import session
    from layers.load.demo import load_district
    from province.synthetic import join_counties

    url = fresh_db("province")
    region = join_counties(generate(scale=SCALE), CODES, NAMES)
    with session(url, actor="pytest") as s:
        load_district(s, region)
        # the car tiers' half-hour circle (45 km) would make every partition the whole region;
        # without them the buffer is the e-bike half hour, and partitions are genuinely partial
        for circle in ("urban", "rural"):
            s.execute(
                text(
                    f"UPDATE facility_types SET {circle}_profile = NULL, {circle}_max_time_min = NULL "
                    f"WHERE {circle}_profile = 'car'"
                )
            )
    return url


@pytest.fixture(scope="package")
def region_codes() -> list[str]:
    """The county codes of ``region_db``, west to east."""
    return list(CODES)
