"""geo.scenario: changes applied in memory; compare() equals the difference of two full runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from geo_cases import PROFILES_CSV, ROOT, lonlat, points, random_grid

from geo.coverage import prepare, run_coverage
from geo.profiles import load_profiles
from geo.scenario import PROPOSED_ID_BASE, ScenarioError, apply_changes, compare, normalise

TYPES = ["kindergarten", "nursery", "elderly_daycare"]
AREAS = pd.DataFrame(
    [
        (1, None, "district", None),
        (10, 1, "town", None),
        (100, 10, "community", True),
        (200, 10, "community", False),
        (101, 100, "grid_small", True),
        (102, 100, "grid_small", True),
        (201, 200, "grid_small", False),
    ],
    columns=["area_id", "parent_id", "level", "urban"],
)


def _facilities() -> pd.DataFrame:
    rows = [
        (1, "kindergarten", 100, 100, "open"),
        (2, "kindergarten", 600, 500, "open"),
        (3, "nursery", 300, 300, "open"),
        (4, "elderly_daycare", 200, 600, "open"),
        (5, "elderly_daycare", 650, 100, "planned"),
    ]
    fac = points([(r[2], r[3]) for r in rows]).drop(columns="id")
    return fac.assign(
        facility_id=[r[0] for r in rows],
        type_code=[r[1] for r in rows],
        name="f",
        status=[r[4] for r in rows],
        capacity=20.0,
        floor_area_m2=np.nan,
    )


@pytest.fixture(scope="module")
def district():
    nodes, edges = random_grid(10, seed=5)  # ~720 m square
    rng = np.random.default_rng(2)
    xy = rng.uniform(-10, 730, size=(80, 2))
    res = points([tuple(p) for p in xy], ids=np.arange(1, 81)).rename(columns={"id": "residence_id"})
    res["area_id"] = np.where(xy[:, 0] < 360, np.where(xy[:, 1] < 360, 101, 102), 201)
    res["households"] = rng.integers(1, 40, len(res))
    res["population"] = res.households * 3
    res["elderly"] = rng.integers(0, 15, len(res))
    res["children"] = rng.integers(0, 15, len(res))
    types = pd.read_csv(ROOT / "data" / "facility_types.csv")
    types = types[types.code.isin(TYPES)].reset_index(drop=True)
    profiles = load_profiles(PROFILES_CSV)
    prepared = prepare(nodes, edges, res, AREAS, profiles, facility_types=types)
    return prepared, types, profiles, res


def _run(district, facilities):
    prepared, types, profiles, _ = district
    return run_coverage(None, None, facilities, None, None, types, profiles, prepared=prepared)


CHANGES = [
    {
        "op": "add",
        "type_code": "kindergarten",
        "lon": float(lonlat(400, 650)[0]),
        "lat": float(lonlat(400, 650)[1]),
        "name": "新幼儿园",
        "capacity": "30",
    },
    {"op": "close", "facility_id": 1},
    {"op": "move", "facility_id": 2, "lon": float(lonlat(450, 300)[0]), "lat": float(lonlat(450, 300)[1])},
    {"op": "change", "facility_id": 3, "type_code": "elderly_daycare"},
    {"op": "open", "facility_id": 5},
]


def test_changes_are_applied_to_a_copy():
    fac = _facilities()
    after, log = apply_changes(fac, CHANGES, type_codes=TYPES)
    assert list(fac.status) == ["open"] * 4 + ["planned"]  # the input is untouched
    new = after[after.proposed]
    assert list(new.facility_id) == [PROPOSED_ID_BASE] and new.capacity.iloc[0] == 30.0
    by_id = after.set_index("facility_id")
    assert by_id.status[1] == "closed" and by_id.status[5] == "open"
    assert by_id.type_code[3] == "elderly_daycare"
    assert by_id.lon[2] == pytest.approx(CHANGES[2]["lon"])
    assert list(log.op) == ["add", "close", "move", "change", "open"]
    assert log.type_before[3] == "nursery" and log.type_after[3] == "elderly_daycare"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"op": "demolish", "facility_id": 1}, "unknown op"),
        ({"op": "close", "facility_id": 99}, "facility 99 does not exist"),
        ({"op": "close"}, "lacks"),
        ({"op": "add", "type_code": "casino", "lon": 113.0, "lat": 22.0}, "unknown facility type"),
        ({"op": "add", "type_code": "nursery", "lon": 913.0, "lat": 22.0}, "not a WGS84"),
        ({"op": "move", "facility_id": 1, "lon": "east", "lat": 22.0}, "not numbers"),
        ({"op": "change", "facility_id": 1}, "sets nothing"),
        ({"op": "change", "facility_id": 1, "capacity": -3}, ">= 0"),
    ],
)
def test_bad_changes_name_the_problem(change, message):
    with pytest.raises(ScenarioError, match=message):
        apply_changes(_facilities(), [change], type_codes=TYPES)


def test_normalise_types_the_values():
    clean = normalise([{"op": "move", "facility_id": "7", "lon": "113.5", "lat": 22, "name": None}])
    assert clean == [{"op": "move", "facility_id": 7, "lon": 113.5, "lat": 22.0}]


def _ancestors(area_id: int) -> list[int]:
    parent = dict(zip(AREAS.area_id, AREAS.parent_id, strict=True))
    chain = [area_id]
    while parent[chain[-1]] is not None and not pd.isna(parent[chain[-1]]):
        chain.append(int(parent[chain[-1]]))
    return chain


def test_compare_equals_the_difference_of_two_full_runs(district):
    prepared, _, _, res = district
    fac = _facilities()
    after_fac, _ = apply_changes(fac, CHANGES, type_codes=TYPES)
    before, after = _run(district, fac), _run(district, after_fac)
    delta = compare(prepared, before, after)
    keys = ["area_id", "type_code"]
    full = before.per_area.merge(after.per_area, on=keys, suffixes=("_0", "_1"))
    got = delta.merge(full, on=keys)
    assert len(got) == len(delta) == len(full)
    for m in ("population", "households", "elderly", "children"):
        assert (got[f"{m}_covered_before"] == got[f"{m}_covered_0"]).all()
        assert (got[f"{m}_covered_after"] == got[f"{m}_covered_1"]).all()
    # gained/lost by hand: residence flips summed into every ancestor area
    flips = before.per_residence.merge(
        after.per_residence, on=["residence_id", "type_code"], suffixes=("_0", "_1")
    )
    flips = flips.merge(res[["residence_id", "area_id", "population", "elderly"]], on="residence_id")
    rows = []
    for r in flips.itertuples():
        for area in _ancestors(r.area_id):
            rows.append(
                {
                    "area_id": area,
                    "type_code": r.type_code,
                    "population_gained": r.population * (r.covered_1 and not r.covered_0),
                    "population_lost": r.population * (r.covered_0 and not r.covered_1),
                    "elderly_gained": r.elderly * (r.covered_1 and not r.covered_0),
                }
            )
    hand = pd.DataFrame(rows).groupby(keys).sum().reset_index()
    check = delta.merge(hand, on=keys, suffixes=("", "_hand"))
    assert len(check) == len(delta)
    for col in ("population_gained", "population_lost", "elderly_gained"):
        assert (check[col] == check[f"{col}_hand"]).all(), col
    top = delta[delta.level == "district"].set_index("type_code")
    # the case moves people both ways
    assert top.population_gained.sum() > 0 and top.population_lost.sum() > 0
    net = top.population_covered_after - top.population_covered_before
    assert (net == top.population_gained - top.population_lost).all()
