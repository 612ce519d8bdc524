"""geo.targets: targets judged for the district, each town and each community against hand counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo.errors import MissingColumnsError
from geo.targets import overall, targets_by_area

# district 1; town 10 (urban communities 101, 102, 103; rural 104); town 20 (rural 201, 202)
AREAS = pd.DataFrame(
    [(1, None, "district", True), (10, 1, "town", True), (20, 1, "town", False),
     (101, 10, "community", True), (102, 10, "community", True), (103, 10, "community", True),
     (104, 10, "community", False), (201, 20, "community", False), (202, 20, "community", False),
     (1011, 101, "grid_middle", True)],
    columns=["area_id", "parent_id", "level", "urban"])
# (community, type) → (population, covered); 103 has no day-care row (nobody applicable)
COVERAGE = {
    (101, "daycare"): (100, 90), (102, "daycare"): (200, 60), (104, "daycare"): (50, 50),
    (201, "daycare"): (80, 20), (202, "daycare"): (40, 39),
    (101, "school"): (100, 100), (102, "school"): (200, 200), (103, "school"): (10, 0),
    (104, "school"): (50, 25), (201, "school"): (80, 80), (202, "school"): (40, 40),
}
TARGETS = pd.DataFrame([
    ("dc", "daycare", "both", "community_share", 0.6, 0.5),
    ("dc_rural", "daycare", "rural", "community_share", 0.5, 0.5),
    ("school_urban", "school", "urban", "population_share", 0.9, np.nan),
    ("all_urban", "*", "urban", "population_share", 0.5, np.nan),
], columns=["code", "type_code", "circle", "measure", "threshold", "community_min_share"])


def per_area() -> pd.DataFrame:
    rows = [(c, t, p, k) for (c, t), (p, k) in COVERAGE.items()]
    frame = pd.DataFrame(rows, columns=["area_id", "type_code", "population", "population_covered"])
    # the rolled-up rows of towns and the district are present too and must not be counted twice
    up = frame.assign(area_id=frame.area_id.map({101: 10, 102: 10, 103: 10, 104: 10, 201: 20, 202: 20}))
    return pd.concat([frame, up.groupby(["area_id", "type_code"], as_index=False).sum()], ignore_index=True)


def verdict(result, code, area):
    row = result[(result.code == code) & (result.area_id == area)]
    assert len(row) == 1, (code, area)
    return row.iloc[0]


def test_share_of_communities_per_town_and_district():
    got = targets_by_area(per_area(), AREAS, TARGETS)
    # reached (>= 50% covered): 101 yes, 102 no (30%), 103 no row, 104 yes, 201 no (25%), 202 yes
    town10, town20, district = verdict(got, "dc", 10), verdict(got, "dc", 20), verdict(got, "dc", 1)
    assert (town10.communities, town10.communities_reached) == (4, 2) and town10.value == 0.5
    assert town10["pass"] is not None and not town10["pass"]  # 50% < 60%
    assert (town20.communities, town20.communities_reached, town20.value) == (2, 1, 0.5)
    assert (district.communities, district.communities_reached) == (6, 3) and district.value == 0.5
    # only rural communities: town 10 holds one (104, reached), town 20 two (one reached)
    assert verdict(got, "dc_rural", 10).value == 1.0 and bool(verdict(got, "dc_rural", 10)["pass"])
    assert verdict(got, "dc_rural", 20).value == 0.5 and bool(verdict(got, "dc_rural", 20)["pass"])
    # a share of communities is never judged for one community
    assert not got[(got.code == "dc") & (got.level == "community")].size


def test_share_of_residents_per_community_town_and_district():
    got = targets_by_area(per_area(), AREAS, TARGETS)
    urban = got[got.code == "school_urban"]
    assert set(urban.area_id) == {1, 10, 101, 102, 103}  # town 20 and rural communities hold no urban resident
    assert verdict(got, "school_urban", 103).value == 0.0 and not verdict(got, "school_urban", 103)["pass"]
    assert bool(verdict(got, "school_urban", 101)["pass"])
    assert verdict(got, "school_urban", 10).value == pytest.approx(300 / 310)
    assert verdict(got, "school_urban", 1).value == pytest.approx(300 / 310)
    # '*': the worst type decides — in 102 day care (60/200) is worse than school (200/200)
    assert verdict(got, "all_urban", 102).value == pytest.approx(0.3)
    assert verdict(got, "all_urban", 101).value == pytest.approx(0.9)
    # 103 has no day-care row: only the school counts there
    assert verdict(got, "all_urban", 103).value == 0.0
    assert verdict(got, "all_urban", 10).value == pytest.approx(min(150 / 300, 300 / 310))


def test_overall_equals_the_district_verdict_and_levels_can_be_chosen():
    pa = per_area()
    whole = overall(pa, AREAS, TARGETS).set_index("code")
    by_area = targets_by_area(pa, AREAS, TARGETS)
    district = by_area[by_area.level == "district"].set_index("code")
    pd.testing.assert_series_equal(whole.value, district.value.loc[whole.index])
    towns_only = targets_by_area(pa, AREAS, TARGETS, levels=("town",))
    assert set(towns_only.level) == {"town"}


def test_no_value_without_communities_of_the_circle_and_missing_columns():
    got = targets_by_area(per_area()[lambda f: f.type_code == "school"], AREAS, TARGETS)
    dc = got[got.code == "dc"]  # no day-care results at all: listed, but no value and no verdict
    assert set(dc.area_id) == {1, 10, 20} and dc.value.isna().all() and dc["pass"].isna().all()
    with pytest.raises(MissingColumnsError, match="population_covered"):
        targets_by_area(per_area().drop(columns="population_covered"), AREAS, TARGETS)
