"""geo.standards: required types per tier, within-the-circle rule, floor area, area targets (hand-worked)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from geo import standards

TYPES = pd.DataFrame(
    [
        # code, name_zh, urban_tier, rural_tier, required
        ("kindergarten", "幼儿园", "5min", "village", 1),
        ("elderly_daycare", "日照中心", "5min", "village", 1),
        ("primary_school", "小学", "10min", "township", 1),
        ("middle_school", "初中", "15min", "township", 1),
        ("nursery", "托儿所", "5min", None, 0),  # optional: never required
        ("rural_elderly_home", "敬老院", None, "township", 1),  # rural only
    ],
    columns=["code", "name_zh", "urban_tier", "rural_tier", "required"],
)
COMMUNITIES = pd.DataFrame({"area_id": [100, 200], "name": ["城中社区", "山边村"], "urban": [True, False]})


def _per_area(shares: dict[tuple[int, str], tuple[int, int]]) -> pd.DataFrame:
    rows = [
        {"area_id": a, "type_code": t, "population": p, "population_covered": c}
        for (a, t), (p, c) in shares.items()
    ]
    return pd.DataFrame(rows)


COVERAGE = _per_area(
    {
        (100, "kindergarten"): (1000, 500),  # exactly half: within
        (100, "elderly_daycare"): (1000, 499),  # just below: missing
        (100, "primary_school"): (1000, 900),
        (100, "middle_school"): (1000, 1000),
        (100, "nursery"): (1000, 0),
        (200, "kindergarten"): (300, 300),
        (200, "elderly_daycare"): (300, 200),
        (200, "primary_school"): (300, 0),
        (200, "middle_school"): (300, 120),
        (200, "rural_elderly_home"): (300, 151),
    }
)


def test_required_types_follow_the_class():
    req = standards.required_types(TYPES)
    urban = req[req.circle == "urban"]
    assert list(zip(urban.tier, urban.type_code, strict=True)) == [
        ("5min", "elderly_daycare"),
        ("5min", "kindergarten"),
        ("10min", "primary_school"),
        ("15min", "middle_school"),
    ]
    rural = req[req.circle == "rural"]
    assert set(rural.type_code) == {
        "kindergarten",
        "elderly_daycare",
        "primary_school",
        "middle_school",
        "rural_elderly_home",
    }
    assert "nursery" not in set(req.type_code)


def test_tiers_pass_only_when_every_required_type_is_within():
    types = standards.type_compliance(COVERAGE, COMMUNITIES, TYPES)
    tiers = standards.tier_compliance(types).set_index(["area_id", "tier"])
    assert (
        not tiers.loc[(100, "5min"), "pass"]
        and tiers.loc[(100, "5min"), "missing"] == "步行可达不足: 日照中心"
    )
    assert tiers.loc[(100, "10min"), "pass"] and tiers.loc[(100, "15min"), "pass"]
    assert tiers.loc[(200, "village"), "pass"]
    # by type code; 敬老院 151/300 >= 50%
    assert tiers.loc[(200, "township"), "missing"] == "可达不足: 初中、小学"
    assert tiers.loc[(200, "township"), "missing_codes"] == ["middle_school", "primary_school"]
    assert tiers.loc[(100, "5min"), "tier_label"] == "5分钟生活圈"
    comm = standards.community_compliance(standards.tier_compliance(types)).set_index("area_id")
    assert not comm.loc[100, "pass"] and comm.loc[100, "tiers_passed"] == 2
    assert comm.loc[200, "missing"] == "乡集镇级生活圈（可达不足: 初中、小学）"


def test_words_tell_a_missing_facility_from_one_too_far_and_one_over_capacity():
    # 城中社区 has a day-care centre that too few reach, has no kindergarten at all, and its primary
    # school is reached but over capacity; 山边村 has no school nor middle school
    presence = pd.DataFrame(
        [
            (100, "elderly_daycare", True),
            (100, "kindergarten", False),
            (100, "primary_school", True),
            (100, "middle_school", True),
            (200, "primary_school", False),
            (200, "middle_school", False),
        ],
        columns=["area_id", "type_code", "present"],
    )
    loads = pd.DataFrame(
        [(100, "primary_school", 1.3), (100, "middle_school", 0.8)], columns=["area_id", "type_code", "load"]
    )
    types = standards.type_compliance(COVERAGE, COMMUNITIES, TYPES, presence=presence, loads=loads)
    words = types.set_index(["area_id", "type_code"]).status
    assert words[(100, "elderly_daycare")] == "步行可达不足"
    # half of the residents walk to the next one: still unset here
    assert words[(100, "kindergarten")] == "未设置"
    assert words[(100, "primary_school")] == "容量不足" and words[(100, "middle_school")] == "达标"
    assert words[(200, "primary_school")] == "未设置" and words[(200, "rural_elderly_home")] == "达标"
    tiers = standards.tier_compliance(types).set_index(["area_id", "tier"])
    assert tiers.loc[(100, "5min"), "missing"] == "步行可达不足: 日照中心"  # kindergarten is within (50%)
    assert tiers.loc[(200, "township"), "missing"] == "未设置: 初中、小学"


def test_community_at_gives_one_community_per_point():
    comm = pd.DataFrame({"area_id": [7, 3], "geometry": [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]})
    got = standards.community_at(comm, np.array([0.5, 1.0, 1.5, 5.0]), np.array([0.5, 0.5, 0.5, 0.5]))
    assert list(got) == [7, 7, 3, -1]  # the border point goes to the first community listed


def test_min_share_is_editable_and_checked():
    strict = standards.type_compliance(COVERAGE, COMMUNITIES, TYPES, min_share=0.95)
    within = strict.set_index(["area_id", "type_code"]).within
    assert not within[(100, "primary_school")] and within[(100, "middle_school")]
    with pytest.raises(standards.StandardsError, match="min_share"):
        standards.type_compliance(COVERAGE, COMMUNITIES, TYPES, min_share=0)


def test_community_without_residents_is_not_within():
    types = standards.type_compliance(COVERAGE[COVERAGE.area_id == 100], COMMUNITIES, TYPES)
    village = types[types.area_id == 200]
    assert village.share.isna().all() and not village.within.any()


def test_floor_area_counts_service_facilities_inside_the_community():
    square = shapely.box(113.0, 22.0, 113.01, 22.01)
    other = shapely.box(113.01, 22.0, 113.02, 22.01)
    comm = pd.DataFrame({"area_id": [100, 200], "name": ["甲", "乙"], "geometry": [square, other]})
    fac = pd.DataFrame(
        [
            ("community_service_station", 113.005, 22.005, 200.0),
            ("party_mass_center", 113.002, 22.002, 150.0),
            ("community_complex", 113.003, 22.003, np.nan),  # unknown area counts 0
            ("kindergarten", 113.004, 22.004, 900.0),  # not a community service facility
            ("community_complex", 113.015, 22.005, 60.0),  # in 乙
        ],
        columns=["type_code", "lon", "lat", "floor_area_m2"],
    )
    out = standards.floor_area(comm, fac, pd.Series({100: 1200, 200: 300})).set_index("area_id")
    assert out.loc[100, "floor_area_m2"] == 350.0 and out.loc[100, "facilities"] == 3
    assert out.loc[100, "unknown_area"] == 1
    # 1200 hh × 30/100
    assert out.loc[100, "required_m2"] == pytest.approx(360.0) and not out.loc[100, "pass"]
    assert out.loc[200, "required_m2"] == pytest.approx(90.0) and not out.loc[200, "pass"]
    assert out.loc[200, "m2_per_100_households"] == pytest.approx(20.0)
    relaxed = standards.floor_area(comm, fac, pd.Series({100: 1200, 200: 300}), m2_per_100_households=20)
    assert relaxed["pass"].all()


def test_community_of_walks_up_the_tree():
    areas = pd.DataFrame(
        {
            "area_id": [1, 10, 100, 101, 1011, 11],
            "parent_id": [None, 1, 10, 100, 101, 10],
            "level": ["district", "town", "community", "grid_middle", "grid_small", "grid_large"],
        }
    )
    assert list(standards.community_of(areas, [1011, 101, 100, 11, 1, 999])) == [100, 100, 100, -1, -1, -1]


def test_area_targets_take_the_type_and_class_resident_target():
    targets = pd.DataFrame(
        [
            ("elderly_daycare", "both", "presence", 0.8),  # a share of communities: not a per-area target
            ("community_complex", "urban", "network", 0.7),
            ("community_complex", "rural", "radius", 0.6),
            ("community_complex", "rural", "network", 0.4),  # network wins over radius
            ("kindergarten", "urban", "radius", 0.9),
            ("*", "urban", "composite", 0.99),
        ],
        columns=["type_code", "circle", "measure", "threshold"],
    )
    rows = pd.DataFrame(
        {
            "type_code": [
                "elderly_daycare",
                "community_complex",
                "community_complex",
                "kindergarten",
                "kindergarten",
                "health_center",
                "community_complex",
            ],
            "urban": [False, True, False, True, False, True, None],
        }
    )
    got = standards.area_targets(rows, targets, default=0.5)
    assert list(got) == [0.5, 0.7, 0.4, 0.9, 0.5, 0.5, 0.7]
