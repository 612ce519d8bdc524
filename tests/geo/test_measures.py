"""geo.measures: presence, radius and network reach, and the composite, on a hand-built district.

Layout (metres, y up): an urban town 10 with communities 101 (x -100..800) and 102 (x 800..1700);
a rural town 20 with 201 (x 1700..2500) and 202 (x 2500..3300); every community spans y -200..500.
Two parallel urban streets, y = 0 and y = 300, meet only at x = 0 and x = 1600, so a home on one
street is close in a straight line but far over the network from a facility on the other. A rural
street continues y = 0 from x = 1600 to 3200. Every figure below is counted by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from geo_cases import PROFILES_CSV, ROOT, lonlat, make_network, points

from geo.coverage import prepare, run_coverage
from geo.measures import (
    ABSENT,
    MET,
    OVER_CAPACITY,
    TOO_FAR,
    TOO_FAR_RURAL,
    MeasureError,
    composite,
    limiting_types,
    presence,
    presence_shares,
    required_bundles,
    required_types,
    status_word,
)
from geo.profiles import load_profiles

TYPES = ["elderly_daycare", "primary_school", "health_center"]

NODES = {
    1: (0, 0),
    2: (400, 0),
    3: (800, 0),
    4: (1200, 0),
    5: (1600, 0),
    6: (0, 300),
    7: (400, 300),
    8: (800, 300),
    9: (1200, 300),
    10: (1600, 300),
    11: (2000, 0),
    12: (2400, 0),
    13: (2800, 0),
    14: (3200, 0),
}
LINKS = [
    (1, 2, "residential"),
    (2, 3, "residential"),
    (3, 4, "residential"),
    (4, 5, "residential"),
    (6, 7, "residential"),
    (7, 8, "residential"),
    (8, 9, "residential"),
    (9, 10, "residential"),
    (1, 6, "residential"),
    (5, 10, "residential"),
    (5, 11, "residential"),
    (11, 12, "residential"),
    (12, 13, "residential"),
    (13, 14, "residential"),
]
# home → (x, y, community, population)
HOMES = {
    1: (100, 20, 101, 30),
    2: (700, 290, 101, 40),
    3: (1000, 320, 102, 50),
    4: (1500, -30, 102, 20),
    7: (850, 20, 102, 10),
    5: (2200, 30, 201, 60),
    6: (3100, -40, 202, 25),
}
# facility → (type, x, y); 2 lies on the border of 101 and 102 (x = 800)
FACILITIES = {
    1: ("elderly_daycare", 400, -20),
    2: ("elderly_daycare", 800, 310),
    3: ("elderly_daycare", 2800, 20),
    4: ("primary_school", 1100, 310),
    5: ("health_center", 0, 150),
    6: ("health_center", 2000, -20),
}
RULES = pd.DataFrame(
    [
        ("health_center", "both", "town", None, None),
        ("primary_school", "rural", "town", None, None),
        ("elderly_daycare", "rural", "assigned", "C201", "C202"),
    ],
    columns=["type_code", "circle", "rule", "community_code", "served_by_code"],
)


def box(x0, x1, y0=-200, y1=500):
    """A community polygon; the shared edge x = 800 has a vertex at y = 310, where centre 2 stands,
    so that the point lies exactly on both polygons' border (no rounding of the projection)."""
    xs, ys = [x0, x1, x1, x0], [y0, y0, y1, y1]
    if x0 == 800:
        xs, ys = xs + [800], ys + [310]
    if x1 == 800:
        xs, ys = [x0, 800, 800, 800, x0], [y0, y0, 310, y1, y1]
    lon, lat = lonlat(xs, ys)
    return shapely.Polygon(np.column_stack([lon, lat]))


@pytest.fixture(scope="module")
def facility_types():
    table = pd.read_csv(ROOT / "data" / "facility_types.csv")
    return table[table.code.isin(TYPES)].assign(required=1).reset_index(drop=True)


@pytest.fixture(scope="module")
def areas():
    rows = [
        (1, None, "district", None, "D", None),
        (10, 1, "town", None, "T10", None),
        (20, 1, "town", None, "T20", None),
        (101, 10, "community", True, "C101", box(-100, 800)),
        (102, 10, "community", True, "C102", box(800, 1700)),
        (201, 20, "community", False, "C201", box(1700, 2500)),
        (202, 20, "community", False, "C202", box(2500, 3300)),
    ]
    return pd.DataFrame(rows, columns=["area_id", "parent_id", "level", "urban", "code", "geometry"]).assign(
        name="n"
    )


@pytest.fixture(scope="module")
def facilities():
    ids = sorted(FACILITIES)
    frame = points([FACILITIES[i][1:] for i in ids], ids=ids).rename(columns={"id": "facility_id"})
    return frame.assign(type_code=[FACILITIES[i][0] for i in ids], status="open", capacity=np.nan)


@pytest.fixture(scope="module")
def run(areas, facilities, facility_types):
    nodes, edges = make_network(NODES, LINKS)
    ids = sorted(HOMES)
    res = points([HOMES[i][:2] for i in ids], ids=ids).rename(columns={"id": "residence_id"})
    pop = np.array([HOMES[i][3] for i in ids])
    res = res.assign(
        area_id=[HOMES[i][2] for i in ids],
        population=pop,
        households=pop // 3,
        elderly=pop // 5,
        children=pop // 10,
    )
    tree = areas.drop(columns="geometry").assign(geometry=None)
    profiles = load_profiles(PROFILES_CSV)
    prepared = prepare(nodes, edges, res, tree, profiles, facility_types=facility_types)
    result = run_coverage(
        None, None, facilities, None, None, facility_types, profiles, prepared=prepared, with_gaps=False
    )
    return prepared, result


def _area(result, area_id, code):
    row = result.per_area[(result.per_area.area_id == area_id) & (result.per_area.type_code == code)]
    assert len(row) == 1
    return row.iloc[0]


def test_radius_counts_straight_lines_and_network_the_streets(run):
    _, result = run
    pr = result.per_residence
    daycare = pr[pr.type_code == "elderly_daycare"].set_index("residence_id")
    # home 1 is 302.7 m from centre 1 (radius 300 m); home 7 is 294 m from centre 2 across the block,
    # but the streets only meet at x = 0 and 1600, so it walks far round
    assert daycare.in_radius.to_dict() == {1: False, 2: True, 3: True, 4: False, 7: True, 5: True, 6: True}
    assert daycare.covered.to_dict() == {1: False, 2: True, 3: True, 4: False, 7: False, 5: True, 6: True}
    assert daycare.distance_m[1] == pytest.approx(np.hypot(300, 40), abs=0.05)
    school = pr[pr.type_code == "primary_school"].set_index("residence_id")
    assert school.in_radius[[1, 2, 3, 4, 7]].to_dict() == {1: False, 2: True, 3: True, 4: False, 7: True}
    assert school.covered[[1, 2, 3, 4, 7]].to_dict() == {1: False, 2: True, 3: True, 4: False, 7: False}
    # per community and town, weighted by residents
    assert (
        _area(result, 101, "elderly_daycare").population_in_radius,
        _area(result, 101, "elderly_daycare").population_covered,
    ) == (40, 40)
    town = _area(result, 10, "elderly_daycare")
    assert (town.population, town.population_in_radius, town.population_covered) == (150, 100, 90)
    assert town.radius_share == pytest.approx(100 / 150)
    school_town = _area(result, 10, "primary_school")
    assert (school_town.population_in_radius, school_town.population_covered) == (100, 90)
    # the radius measure never reports less than the network reaches here (straight lines are shortest)
    pa = result.per_area
    assert (pa.population_in_radius >= pa.population_covered).all()


def test_presence_inside_on_the_border_and_by_rule(areas, facilities, facility_types):
    comm = areas[areas.level == "community"]
    got = presence(comm, facilities, facility_types, RULES).set_index(["type_code", "area_id"])
    # day care: 101 holds centres 1 and 2 (2 on the border counts for both), 102 centre 2,
    # 202 centre 3, and 201 is served by 202's by agreement
    assert got.loc["elderly_daycare"].facilities.to_dict() == {101: 2, 102: 1, 201: 0, 202: 1}
    assert got.loc["elderly_daycare"].source.to_dict() == {
        101: "inside",
        102: "inside",
        201: "assigned",
        202: "inside",
    }
    # primary school: only 102; the rural town rule finds no school in town 20
    assert got.loc["primary_school"].present.to_dict() == {101: False, 102: True, 201: False, 202: False}
    assert got.loc["primary_school"].source.isna().to_dict() == {101: True, 102: False, 201: True, 202: True}
    # health centre: the town rule (both circles) covers 102 from 101's and 202 from 201's
    assert got.loc["health_center"].source.to_dict() == {
        101: "inside",
        102: "town",
        201: "inside",
        202: "town",
    }
    # a rural-only type standing in the town's urban seat community serves its villages (town rule):
    # make 101 a village of town 10 and drop the school's urban tier; school 4 stands in urban 102
    mixed = comm.assign(urban=comm.area_id == 102)
    rural_only = facility_types.assign(
        urban_profile=facility_types.urban_profile.where(facility_types.code != "primary_school", None)
    )
    town_rule = pd.DataFrame([("primary_school", "rural", "town", None, None)], columns=RULES.columns)
    seat = presence(mixed, facilities, rural_only, town_rule).set_index(["type_code", "area_id"])
    assert ("primary_school", 102) not in seat.index  # not applicable to the urban seat itself
    assert seat.loc[("primary_school", 101), "source"] == "town"
    assert not seat.loc[("primary_school", 201), "present"]  # town 20 has no school at all
    # closed or planned facilities never count
    shut = facilities.assign(status=np.where(facilities.facility_id == 4, "closed", "open"))
    again = presence(comm, shut[shut.status == "open"], facility_types, RULES).set_index(
        ["type_code", "area_id"]
    )
    assert not again.loc["primary_school"].present.any()


def test_presence_shares_count_urban_and_rural_communities_apart(areas, facilities, facility_types):
    rows = presence(areas[areas.level == "community"], facilities, facility_types, RULES)
    shares = presence_shares(rows, areas).set_index(["area_id", "type_code", "circle"])
    assert tuple(shares.loc[(1, "primary_school", "urban"), ["communities", "present"]]) == (2, 1)
    assert tuple(shares.loc[(1, "primary_school", "rural"), ["communities", "present"]]) == (2, 0)
    assert shares.loc[(10, "primary_school", "urban"), "share"] == 0.5
    assert shares.loc[(1, "elderly_daycare", "rural"), "share"] == 1.0
    assert (10, "primary_school", "rural") not in shares.index  # town 10 has no rural community


def test_a_bad_rule_is_refused_naming_the_row(areas, facilities, facility_types):
    comm = areas[areas.level == "community"]
    bad = pd.concat(
        [
            RULES,
            pd.DataFrame([("elderly_daycare", "urban", "assigned", "C101", "C999")], columns=RULES.columns),
        ],
        ignore_index=True,
    )
    with pytest.raises(
        MeasureError, match="row 5: served_by_code 'C999' is not the code of a stored community"
    ):
        presence(comm, facilities, facility_types, bad)


def test_composite_counts_homes_reaching_every_required_type(run, facility_types):
    prepared, result = run
    required = required_types(facility_types)
    assert required == {"urban": sorted(TYPES), "rural": sorted(TYPES)}
    bundles = required_bundles(facility_types)
    assert bundles[("urban", "5min")] == ["elderly_daycare"] and bundles[("urban", "15min")] == [
        "health_center"
    ]
    assert bundles[("rural", "township")] == ["health_center", "primary_school"]
    by_tier = composite(prepared, result.per_residence, bundles).set_index(["circle", "tier", "area_id"])
    # one level's bundle: the 15-minute level is the health centre alone (homes 1, 2, 4 reach one)
    assert by_tier.loc[("urban", "15min", 10), "population_covered"] == 30 + 40 + 20
    assert by_tier.loc[("urban", "5min", 10), "population_covered"] == 40 + 50
    got = by_tier.xs("all", level="tier")
    # urban: only home 2 (40) reaches day care (144 s), the school (420 m) and the health centre
    # (860 m); home 3 misses the health centre (1170 m > 1000 m), home 4 day care
    assert tuple(got.loc[("urban", 10), ["population", "population_covered"]]) == (150, 40)
    assert tuple(got.loc[("urban", 101), ["population", "population_covered"]]) == (70, 40)
    assert got.loc[("urban", 102), "population_covered"] == 0
    # rural: the half-hour e-bike circle reaches the school and both health centres; day care on foot
    assert tuple(got.loc[("rural", 20), ["population", "population_covered"]]) == (85, 85)
    assert tuple(got.loc[("urban", 1), ["population", "population_covered"]]) == (150, 40)
    assert got.loc[("urban", 1), "share"] == pytest.approx(40 / 150)
    # the limiting types of the urban town, most residents missing first, ties by code: day care
    # misses homes 1, 4, 7 (60); the health centre homes 3 and 7 (60; home 4 walks 550 m to the
    # rural town's centre 6); the school homes 1, 4, 7 (60)
    ranked = limiting_types(result.per_area, [10], required["urban"])
    assert list(ranked.type_code) == ["elderly_daycare", "health_center", "primary_school"]
    assert list(ranked.population_missing) == [60, 60, 60]
    without_rural_centre = limiting_types(
        result.per_area.assign(
            population_covered=lambda f: (
                f.population_covered - np.where((f.area_id == 10) & (f.type_code == "health_center"), 20, 0)
            )
        ),
        [10],
        required["urban"],
    )
    # summed over communities: 101 misses day care for home 1 (30), 102 for homes 4 and 7 (30)
    both = limiting_types(result.per_area, [101, 102], required["urban"]).set_index("type_code")
    assert both.population_missing.to_dict() == {
        "elderly_daycare": 60,
        "health_center": 60,
        "primary_school": 60,
    }
    assert list(without_rural_centre.type_code)[0] == "health_center"


@pytest.mark.parametrize(
    "kw, word",
    [
        ({"present": False, "share": 0.9, "target": 0.5}, ABSENT),
        ({"present": True, "share": 0.3, "target": 0.5}, TOO_FAR),
        ({"present": True, "share": 0.3, "target": 0.5, "circle": "rural"}, TOO_FAR_RURAL),
        ({"present": None, "share": 0.3, "target": 0.5}, TOO_FAR),
        ({"present": True, "share": 0.8, "target": 0.5, "load": 1.4}, OVER_CAPACITY),
        ({"present": True, "share": 0.8, "target": 0.5, "load": 0.9}, MET),
        ({"present": True, "share": 0.5, "target": 0.5}, MET),
    ],
)
def test_words_say_what_is_wrong(kw, word):
    assert status_word(**kw) == word
