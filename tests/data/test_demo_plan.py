"""The demo's facility plan (``DemoDistrict.plan``) against independent counts and a coverage run.

The generator records, per community and required type (data/facility_types.csv, ``required`` = 1,
with a tier for the community's class), how many open facilities it put inside the community and
inside its town, and which named gap leaves the type out. Here:

- presence is recomputed independently (shapely point-in-polygon of the generated open facilities
  against the community and town polygons) and must equal the plan;
- the district figures derived from the plan (presence: share of communities, urban and rural apart,
  served by their town for the types of data/service_areas.csv) and from a coverage run (reach: share of
  residents within the life-circle time over the streets) fall mostly in the 60-95 % band;
- every planted gap shows where the plan puts it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from data.demo import DemoDistrict
from geo.coverage import run_coverage
from geo.profiles import load_profiles
from geo.standards import community_of

DATA = Path(__file__).resolve().parents[2] / "data"
BAND = (0.60, 0.95)


@pytest.fixture(scope="module")
def d(demo_district) -> DemoDistrict:
    return demo_district


@pytest.fixture(scope="module")
def types() -> pd.DataFrame:
    return pd.read_csv(DATA / "facility_types.csv")


@pytest.fixture(scope="module")
def required(types) -> pd.DataFrame:
    return types[types["required"] == 1]


def _open_inside(d: DemoDistrict, level: str) -> pd.DataFrame:
    """Open facilities per (area of ``level``, type), by point-in-polygon on the output frames."""
    areas = d.areas[d.areas["level"] == level]
    f = d.facilities[d.facilities["status"] == "open"]
    x, y = f.geometry.x.to_numpy(), f.geometry.y.to_numpy()
    rows = []
    for area_id, geom in zip(areas["area_id"], areas.geometry, strict=True):
        inside = shapely.contains_xy(geom, x, y)
        for code, n in f.loc[inside, "type_code"].value_counts().items():
            rows.append({"area_id": int(area_id), "type_code": code, "n": int(n)})
    return pd.DataFrame(rows, columns=["area_id", "type_code", "n"])


def _town_of(d: DemoDistrict) -> pd.Series:
    com = d.areas[d.areas["level"] == "community"]
    return pd.Series(com["parent_id"].astype("int64").to_numpy(), index=com["area_id"].to_numpy())


def _served(d: DemoDistrict, plan: pd.DataFrame) -> pd.Series:
    """Does the community have the type: one inside it, or one its service-area rule assigns
    (data/service_areas.csv: ``town`` — any in its town; ``assigned`` — any in the named community)."""
    rules = pd.read_csv(DATA / "service_areas.csv", dtype=str)
    has = plan["placed"] > 0
    code = d.areas.set_index("area_id")["code"]
    placed = plan.set_index(["area_id", "type_code"])["placed"]
    for r in rules.itertuples():
        circles = ("urban", "rural") if r.circle == "both" else (r.circle,)
        rows = (plan["type_code"] == r.type_code) & plan["circle"].isin(circles)
        if r.rule == "town":
            has |= rows & (plan["town_placed"] > 0)
        else:
            donor = int(code[code == r.served_by_code].index[0])
            has |= (
                rows
                & (plan["area_id"].map(code) == r.community_code)
                & (placed.get((donor, r.type_code), 0) > 0)
            )
    return has


def _presence(d: DemoDistrict, plan: pd.DataFrame) -> pd.Series:
    """Share of communities with the type, per (type, circle)."""
    return _served(d, plan).groupby([plan["type_code"], plan["circle"]]).mean()


def test_plan_lists_every_required_type_of_each_class(d, required):
    com = d.areas[d.areas["level"] == "community"]
    circle = dict(zip(com["area_id"], np.where(com["urban"], "urban", "rural"), strict=True))
    expected = {
        (int(a), code)
        for a in com["area_id"]
        for code in required["code"]
        if pd.notna(required.set_index("code").at[code, f"{circle[a]}_profile"])
    }
    got = set(zip(d.plan["area_id"].astype(int), d.plan["type_code"], strict=True))
    assert got == expected and len(d.plan) == len(expected)
    assert (d.plan["circle"] == d.plan["area_id"].map(circle)).all()


@pytest.fixture(scope="module")
def small() -> DemoDistrict:
    from data.demo import generate

    return generate(scale=0.3, seed=8)


@pytest.mark.parametrize("which", ["d", "small"])
def test_presence_counted_on_the_map_equals_the_plan(request, which):
    d = request.getfixturevalue(which)
    inside = _open_inside(d, "community").set_index(["area_id", "type_code"])["n"]
    plan = d.plan.set_index(["area_id", "type_code"])
    counted = inside.reindex(plan.index, fill_value=0)
    assert (counted == plan["placed"]).all(), plan[counted != plan["placed"]]
    assert plan["placed"].sum() > 100 * (d.residences["population"].sum() / 186_000)
    # town totals: facilities inside the town polygon
    town_of = _town_of(d)
    in_town = _open_inside(d, "town").set_index(["area_id", "type_code"])["n"]
    keys = pd.MultiIndex.from_arrays(
        [town_of.loc[plan.index.get_level_values(0)].to_numpy(), plan.index.get_level_values(1)]
    )
    assert (in_town.reindex(keys, fill_value=0).to_numpy() == plan["town_placed"].to_numpy()).all()


def test_every_gap_of_the_plan_is_planted_and_empty(d):
    gaps = d.plan[d.plan["gap"] != ""]
    assert (gaps["placed"] == 0).all()
    planted = d.planted
    for case, rows in gaps.groupby("gap"):
        if case == "closed":  # closed village kindergartens: the closed facility lies in the community
            closed = d.facilities.set_index("facility_id").loc[
                planted.loc[(planted["case"] == "closed") & (planted["layer"] == "facilities"), "object_id"]
            ]
            polys = d.areas.set_index("area_id").geometry.loc[rows["area_id"]]
            for poly in polys:
                assert shapely.contains_xy(poly, closed.geometry.x, closed.geometry.y).any()
            continue
        listed = set(planted.loc[(planted["case"] == case) & (planted["layer"] == "areas"), "object_id"])
        town_of = _town_of(d)
        for area_id in rows["area_id"]:
            assert area_id in listed or town_of[area_id] in listed, (case, area_id)
    assert set(gaps["gap"]) >= {
        "no_daycare",
        "new_estate",
        "east_bank",
        "rural_complex_gap",
        "closed",
        "remote_village",
        "regional_centre",
    }


def test_presence_mostly_in_the_band(d):
    """Figures of the types planned per community: most in the band; above it only where every
    community of the class has one (the 居委会/村委会's own station and 党群服务中心)."""
    plan = d.plan
    local = plan[plan["level"] == "community"]
    share = _presence(d, local)
    inside = share.between(*BAND)
    assert inside.sum() > len(share) / 2, share
    assert (share[~inside] == 1.0).all(), share[~inside]
    # the day-care target (>= 80 % of communities, urban and rural together) is met; 城市社区综合服务设施
    # 全覆盖 and 农村 >= 80 % too, the rural one narrowly
    dc = local[local["type_code"] == "elderly_daycare"]
    assert 0.8 <= (dc["placed"] > 0).mean() <= 0.95
    rural_complex = share[("community_complex", "rural")]
    assert 0.8 <= rural_complex < 0.9
    # town-level types: a community is served when its town has one (the service-area rules), except
    # the planted gap of the rural town without a nursing home
    town = plan[plan["level"] == "town"]
    served = _served(d, plan)[town.index]
    assert (served | (town["gap"] == "regional_centre")).all()
    assert not served[town["gap"] == "regional_centre"].any()
    assert (served == (town["town_placed"] > 0)).all()


@pytest.fixture(scope="module")
def coverage(d, required):
    res = d.residences.assign(lon=d.residences.geometry.x, lat=d.residences.geometry.y)
    fac = d.facilities.assign(lon=d.facilities.geometry.x, lat=d.facilities.geometry.y)
    fac = fac[fac["type_code"].isin(required["code"])]
    out = run_coverage(
        d.nodes, d.edges, fac, res, d.areas, required, load_profiles(DATA / "profiles.csv"), with_gaps=False
    )
    pr = out.per_residence.assign(
        type_code=lambda f: f.type_code.astype(str), circle=lambda f: f.circle.astype(str)
    )
    pr = pr.merge(res[["residence_id", "population"]], on="residence_id")
    pr["community"] = pr["residence_id"].map(
        dict(
            zip(
                res["residence_id"], community_of(d.areas, res["area_id"].astype(int).to_numpy()), strict=True
            )
        )
    )
    pr["reached"] = pr["population"] * pr["covered"]
    return pr, out.per_facility


def _reach(pr: pd.DataFrame, by) -> pd.Series:
    g = pr.groupby(by)[["reached", "population"]].sum()
    return g["reached"] / g["population"]


def test_reach_mostly_in_the_band(coverage, required):
    """District figure per required type (every resident with the tier of its class): most in the
    band; below it only the 5-minute types, whose circle (250-333 m of walking) is the strictest."""
    pr, _ = coverage
    reach = _reach(pr, "type_code")
    inside = reach.between(*BAND)
    assert inside.sum() >= 2 * len(reach) / 3, reach
    five = set(required.loc[required["urban_max_time_min"] == 5, "code"])
    assert set(reach[~inside].index) <= five and (reach[~inside] < BAND[0]).all(), reach[~inside]
    # urban residents on the 10- and 15-minute types are in the band too
    urban = _reach(pr[pr["circle"] == "urban"], "type_code")
    longer = urban[[c for c in urban.index if c not in five]]
    assert longer.between(*BAND).mean() >= 0.75, longer


def _cases(d, case: str, layer: str = "areas") -> list[int]:
    p = d.planted
    return p.loc[(p["case"] == case) & (p["layer"] == layer), "object_id"].astype(int).tolist()


def test_planted_gaps_show_in_the_reach(d, coverage):
    pr, per_facility = coverage
    urban = pr[pr["circle"] == "urban"]
    by_com = _reach(pr, ["community", "type_code"])
    # communities without day care or kindergarten: their people reach far fewer than the district's
    for case, code in (("no_daycare", "elderly_daycare"), ("new_estate", "kindergarten")):
        district = _reach(urban[urban["type_code"] == code], "type_code")[code]
        for c in _cases(d, case):
            assert by_com[(c, code)] < district / 2, (case, c, by_com[(c, code)], district)
    # east bank: its people reach a health centre and a middle school less often than the west bank's
    east = set(_cases(d, "east_bank"))
    town_of = _town_of(d)
    city = urban[urban["community"].map(town_of) == town_of[next(iter(east))]]
    for code in ("health_center", "middle_school"):
        part = city[city["type_code"] == code]
        side = _reach(part, part["community"].isin(east))
        assert side[True] < 0.5 * side[False], (code, side)
    # small 村 without a comprehensive service facility, the remote village without day care
    rural = pr[pr["circle"] == "rural"]
    for case, code in (("rural_complex_gap", "community_complex"), ("remote_village", "elderly_daycare")):
        district = _reach(rural[rural["type_code"] == code], "type_code")[code]
        for c in _cases(d, case):
            assert by_com[(c, code)] < district, (case, c)
    # the rural town's 敬老院 on a former farm: villages on its far side lie beyond the half-hour circle,
    # while the other town's villages reach theirs
    home = d.facilities.set_index("facility_id").loc[_cases(d, "far_elderly_home", "facilities")]
    assert len(home) == 1 and (home["type_code"] == "rural_elderly_home").all()
    homes = rural[rural["type_code"] == "rural_elderly_home"]
    per_com = _reach(homes, "community")
    towns = homes["community"].map(town_of)
    by_town = _reach(homes, towns)
    assert by_town.min() < 0.8 < by_town.max()
    assert per_com.min() < 0.5
    # the rural town without a nursing home: its villages reach one less often than the other town's
    regional = _cases(d, "regional_centre")
    nh = rural[rural["type_code"] == "nursing_home"]
    nh_town = _reach(nh, nh["community"].map(town_of) == regional[0])
    assert nh_town[True] < nh_town[False]
    # the planted over-capacity kindergarten is over capacity, the fullest of its type
    over = _cases(d, "overloaded", "facilities")
    kg = per_facility[per_facility["type_code"].astype(str) == "kindergarten"].set_index("facility_id")
    assert (kg.loc[over, "load"] > 1).all() and kg["load"].idxmax() in over
    # ... and the only facility of a required type over capacity (the others are sized for their users)
    assert set(per_facility.loc[per_facility["load"] > 1, "facility_id"]) == set(over)
