"""geo.targets: targets of each measure judged for the district, each town and each community
against hand counts."""

from __future__ import annotations

import pandas as pd
import pytest

from geo.errors import MissingColumnsError
from geo.measures import MeasureError
from geo.targets import check_targets, overall, targets_by_area

# district 1; town 10 (urban communities 101, 102, 103; rural 104); town 20 (rural 201, 202)
AREAS = pd.DataFrame(
    [
        (1, None, "district", True),
        (10, 1, "town", True),
        (20, 1, "town", False),
        (101, 10, "community", True),
        (102, 10, "community", True),
        (103, 10, "community", True),
        (104, 10, "community", False),
        (201, 20, "community", False),
        (202, 20, "community", False),
        (1011, 101, "grid_middle", True),
    ],
    columns=["area_id", "parent_id", "level", "urban"],
)
# (community, type) → (population, reached over the network, within the service radius)
COVERAGE = {
    (101, "daycare"): (100, 90, 95),
    (102, "daycare"): (200, 60, 150),
    (104, "daycare"): (50, 50, 50),
    (201, "daycare"): (80, 20, 40),
    (202, "daycare"): (40, 39, 40),
    (101, "school"): (100, 100, 100),
    (102, "school"): (200, 200, 200),
    (103, "school"): (10, 0, 5),
    (104, "school"): (50, 25, 30),
    (201, "school"): (80, 80, 80),
    (202, "school"): (40, 40, 40),
}
# communities with a day-care centre (presence): 101, 103, 104, 202 — not 102 nor 201
PRESENCE = pd.DataFrame(
    [
        (101, "daycare", True),
        (102, "daycare", False),
        (103, "daycare", True),
        (104, "daycare", True),
        (201, "daycare", False),
        (202, "daycare", True),
    ],
    columns=["area_id", "type_code", "present"],
)
# (community, circle) → (population, reaching every required type)
COMPOSITE = {
    (101, "urban"): (100, 80),
    (102, "urban"): (200, 50),
    (103, "urban"): (10, 0),
    (104, "rural"): (50, 20),
    (201, "rural"): (80, 80),
    (202, "rural"): (40, 10),
}
TARGETS = pd.DataFrame(
    [
        ("dc", "daycare", "both", "presence", 0.6),
        ("dc_rural", "daycare", "rural", "presence", 0.5),
        ("school_radius", "school", "urban", "radius", 0.95),
        ("school_network", "school", "urban", "network", 0.9),
        ("all_urban", "*", "urban", "composite", 0.5),
    ],
    columns=["code", "type_code", "circle", "measure", "threshold"],
)


def per_area() -> pd.DataFrame:
    rows = [(c, t, p, k, r) for (c, t), (p, k, r) in COVERAGE.items()]
    frame = pd.DataFrame(
        rows, columns=["area_id", "type_code", "population", "population_covered", "population_in_radius"]
    )
    # the rolled-up rows of towns and the district are present too and must not be counted twice
    up = frame.assign(area_id=frame.area_id.map({101: 10, 102: 10, 103: 10, 104: 10, 201: 20, 202: 20}))
    return pd.concat([frame, up.groupby(["area_id", "type_code"], as_index=False).sum()], ignore_index=True)


def composite() -> pd.DataFrame:
    rows = [(c, k, p, n) for (c, k), (p, n) in COMPOSITE.items()]
    frame = pd.DataFrame(rows, columns=["area_id", "circle", "population", "population_covered"])
    up = frame.assign(area_id=frame.area_id.map({101: 10, 102: 10, 103: 10, 104: 10, 201: 20, 202: 20}))
    headline = pd.concat([frame, up.groupby(["area_id", "circle"], as_index=False).sum()], ignore_index=True)
    headline["tier"] = headline.circle.map({"urban": "15min", "rural": "township"})
    # the 'all' bundle reaches fewer: a composite target without a tier judges the headline level
    return pd.concat([headline, headline.assign(tier="all", population_covered=0)], ignore_index=True)


def judged(**kw):
    return targets_by_area(per_area(), AREAS, TARGETS, presence=PRESENCE, composite=composite(), **kw)


def verdict(result, code, area):
    row = result[(result.code == code) & (result.area_id == area)]
    assert len(row) == 1, (code, area)
    return row.iloc[0]


def test_presence_is_a_share_of_communities_per_town_and_district():
    got = judged()
    town10, town20, district = verdict(got, "dc", 10), verdict(got, "dc", 20), verdict(got, "dc", 1)
    assert (town10.communities, town10.communities_reached, town10.value) == (4, 3, 0.75)
    assert bool(town10["pass"])  # 75% >= 60%
    assert (town20.communities, town20.communities_reached, town20.value) == (2, 1, 0.5)
    assert not town20["pass"]
    assert (district.communities, district.communities_reached) == (6, 4)
    assert district.value == pytest.approx(4 / 6)
    # rural communities only: town 10 holds one (104, has one), town 20 two (202 has one)
    assert verdict(got, "dc_rural", 10).value == 1.0 and verdict(got, "dc_rural", 20).value == 0.5
    assert verdict(got, "dc_rural", 1).value == pytest.approx(2 / 3)
    # a share of communities is never judged for one community
    assert not got[(got.code == "dc") & (got.level == "community")].size


def test_radius_and_network_are_shares_of_the_circles_residents():
    got = judged()
    radius, network = got[got.code == "school_radius"], got[got.code == "school_network"]
    assert set(radius.area_id) == set(network.area_id) == {1, 10, 101, 102, 103}  # no urban residents in 20
    assert (
        verdict(got, "school_radius", 103).value == 0.5 and verdict(got, "school_network", 103).value == 0.0
    )
    assert verdict(got, "school_radius", 10).value == pytest.approx(305 / 310)
    assert bool(verdict(got, "school_radius", 10)["pass"])  # 98.4% >= 95%
    assert verdict(got, "school_network", 1).value == pytest.approx(300 / 310)
    # the rural community 104 of town 10 does not count in an urban target
    assert verdict(got, "school_network", 10).value == pytest.approx(300 / 310)


def test_composite_counts_residents_reaching_every_required_type():
    got = judged()
    assert verdict(got, "all_urban", 102).value == 0.25 and not verdict(got, "all_urban", 102)["pass"]
    assert verdict(got, "all_urban", 101).value == 0.8
    assert verdict(got, "all_urban", 10).value == pytest.approx(130 / 310)  # urban 101-103 only
    assert set(got[got.code == "all_urban"].area_id) == {1, 10, 101, 102, 103}


def test_a_composite_target_may_name_its_level():
    every = TARGETS.assign(tier=None)
    every.loc[every.code == "all_urban", "tier"] = "all"
    got = targets_by_area(per_area(), AREAS, every, presence=PRESENCE, composite=composite())
    assert verdict(got, "all_urban", 101).value == 0.0  # the 'all' rows of composite() reach nobody


def test_overall_equals_the_district_verdict_and_levels_can_be_chosen():
    whole = overall(per_area(), AREAS, TARGETS, presence=PRESENCE, composite=composite()).set_index("code")
    by_area = judged()
    district = by_area[by_area.level == "district"].set_index("code")
    pd.testing.assert_series_equal(whole.value, district.value.loc[whole.index])
    assert set(judged(levels=("town",)).level) == {"town"}


def test_no_value_without_data_of_the_circle_and_missing_inputs():
    got = targets_by_area(
        per_area()[lambda f: f.type_code == "school"],
        AREAS,
        TARGETS,
        presence=PRESENCE[PRESENCE.type_code == "school"],
        composite=composite(),
    )
    dc = got[got.code == "dc"]  # no presence results of day care: listed, but no value and no verdict
    assert set(dc.area_id) == {1, 10, 20} and dc.value.isna().all() and dc["pass"].isna().all()
    with pytest.raises(MissingColumnsError, match="population_covered"):
        targets_by_area(
            per_area().drop(columns="population_covered"),
            AREAS,
            TARGETS,
            presence=PRESENCE,
            composite=composite(),
        )
    with pytest.raises(MeasureError, match="presence results are needed"):
        targets_by_area(per_area(), AREAS, TARGETS, composite=composite())


@pytest.mark.parametrize(
    "row, words",
    [
        (("x", "school", "urban", "community_share", 0.8), "measure 'community_share' is not one of"),
        (("x", "school", "town", "radius", 0.8), "circle 'town'"),
        (("x", "school", "urban", "radius", 80), "threshold 80 must be a share"),
        (("x", "*", "urban", "network", 0.8), "'*' goes with measure composite only"),
        (("x", "*", "urban", "composite", 0.8, "township"), "tier 'township' is not one of"),
    ],
)
def test_a_bad_target_row_is_refused_naming_the_row(row, words):
    bad = pd.DataFrame(
        [row], columns=["code", "type_code", "circle", "measure", "threshold", "tier"][: len(row)]
    )
    with pytest.raises(MeasureError, match="row 2 \\(x\\)") as e:
        check_targets(bad)
    assert words in str(e.value)
