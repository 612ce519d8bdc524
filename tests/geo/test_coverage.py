"""geo.coverage: circles per urban/rural class, aggregation up the area tree, incremental recompute."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from geo_cases import PROFILES_CSV, ROOT, lonlat, metres, points, random_grid, truth_times

from geo.coverage import affected_types, prepare, recompute_types, run_coverage
from geo.errors import AreaTreeError, UnknownFacilityTypeError
from geo.profiles import load_profiles

TYPES = ["kindergarten", "middle_school", "nursery", "rural_elderly_home", "police_station"]


@pytest.fixture(scope="module")
def profiles():
    return load_profiles(PROFILES_CSV)


@pytest.fixture(scope="module")
def facility_types():
    table = pd.read_csv(ROOT / "data" / "facility_types.csv")
    return table[table.code.isin(TYPES)].reset_index(drop=True)


def box(x0, y0, x1, y1):
    lon, lat = lonlat([x0, x1, x1, x0], [y0, y0, y1, y1])
    return shapely.Polygon(np.column_stack([lon, lat]))


# two large grids split the town at y = 700 m, leaving an 80 m sliver that neither polygon covers
LARGE_SPLIT_M = 700.0


def area_tree() -> pd.DataFrame:
    rows = [
        (1, None, "district", None),
        (10, 1, "town", None),
        (11, 10, "grid_large", None),
        (12, 10, "grid_large", None),
        (100, 10, "community", True),
        (200, 10, "community", False),
        (101, 100, "grid_middle", True),
        (201, 200, "grid_middle", False),
        (1011, 101, "grid_small", True),
        (1012, 101, "grid_small", True),
        (2011, 201, "grid_small", False),
    ]
    geometry = {11: box(-100, -100, 1300, LARGE_SPLIT_M - 40), 12: box(-100, LARGE_SPLIT_M + 40, 1300, 1300)}
    frame = pd.DataFrame(rows, columns=["area_id", "parent_id", "level", "urban"])
    return frame.assign(code="x", name="n", urban_rural_code=None, geometry=frame.area_id.map(geometry))


@pytest.fixture(scope="module")
def district():
    nodes, edges = random_grid(16, seed=21)  # 1200 m square
    rng = np.random.default_rng(8)
    xy = rng.uniform(-30, 1230, size=(90, 2))
    res = points([tuple(p) for p in xy], ids=np.arange(1000, 1090)).rename(columns={"id": "residence_id"})
    res["area_id"] = np.where(xy[:, 0] < 600, np.where(xy[:, 1] < 600, 1011, 1012), 2011)
    res["households"] = rng.integers(5, 60, len(res))
    res["population"] = res.households * 3
    res["elderly"] = rng.integers(0, 30, len(res))
    res["children"] = rng.integers(0, 20, len(res))
    res["estimated"] = False
    fac_rows = []
    k = 1
    for code, n in (
        ("kindergarten", 4),
        ("middle_school", 2),
        ("nursery", 2),
        ("rural_elderly_home", 1),
        ("police_station", 1),
    ):
        for p in rng.uniform(0, 1200, size=(n, 2)):
            fac_rows.append((k, code, *p))
            k += 1
    fac_rows.append((k, "kindergarten", 1100.0, 1100.0))  # closed below
    fac_rows.append((k + 1, "kindergarten", 900.0, 300.0))  # planned below
    fac = points([(r[2], r[3]) for r in fac_rows]).drop(columns="id")
    fac.insert(0, "facility_id", [r[0] for r in fac_rows])
    fac.insert(1, "type_code", [r[1] for r in fac_rows])
    fac["name"] = "f"
    fac["status"] = ["open"] * (len(fac_rows) - 2) + ["closed", "planned"]
    fac["capacity"] = 50.0
    fac["floor_area_m2"] = np.nan
    return nodes, edges, fac, res, area_tree()


@pytest.fixture(scope="module")
def result(district, facility_types, profiles):
    nodes, edges, fac, res, areas = district
    return run_coverage(nodes, edges, fac, res, areas, facility_types, profiles)


def tiers(facility_types) -> dict:
    out = {}
    for t in facility_types.itertuples():
        for circle in ("urban", "rural"):
            profile = getattr(t, f"{circle}_profile")
            if isinstance(profile, str) and profile:
                out[(t.code, circle)] = (profile, getattr(t, f"{circle}_max_time_min") * 60.0)
    return out


def test_times_follow_the_circle_of_each_community(district, facility_types, result):
    nodes, edges, fac, res, _ = district
    pr = result.per_residence
    urban = res.area_id.isin([1011, 1012]).to_numpy()
    checked = 0
    for (code, circle), (profile, max_s) in tiers(facility_types).items():
        mine = res[urban == (circle == "urban")].reset_index(drop=True)
        rows = pr[(pr.type_code == code)].set_index("residence_id").loc[mine.residence_id]
        assert (rows.circle == circle).all() and (rows.profile == profile).all()
        of_type = fac[(fac.type_code == code) & (fac.status == "open")]
        want, want_id = truth_times(nodes, edges, profile, of_type, mine)
        within = want <= max_s  # our search is bounded by the type's largest threshold
        got = rows.time_s.to_numpy()
        assert np.abs(got[within] - want[within]).max(initial=0) < 1e-6
        np.testing.assert_array_equal(rows.facility_id.to_numpy(float)[within], want_id[within])
        np.testing.assert_array_equal(rows.covered.to_numpy(), want <= max_s + 1e-9)
        checked += within.sum()
    assert checked > 100


def test_types_without_a_tier_have_no_rows(district, result):
    _, _, _, res, _ = district
    pr = result.per_residence
    urban_ids = set(res.residence_id[res.area_id.isin([1011, 1012])])
    assert set(pr[pr.type_code == "nursery"].residence_id) == urban_ids  # nursery: urban tier only
    assert not set(pr[pr.type_code == "rural_elderly_home"].residence_id) & urban_ids  # rural only


def test_per_area_sums_every_level(district, result):
    _, _, _, res, areas = district
    pr = result.per_residence.merge(res, on="residence_id")
    parent = dict(zip(areas.area_id, areas.parent_id, strict=True))

    def ancestors(a):
        while a is not None and not pd.isna(a):
            yield int(a)
            a = parent[a]

    # large grids hold the residences inside them (the sliver between them: the nearest one)
    _, y = metres(pr.lon, pr.lat)
    large = np.where(y < LARGE_SPLIT_M, 11, 12)
    chains = [[*ancestors(a), g] for a, g in zip(pr.area_id, large, strict=True)]
    expanded = pd.concat([pr.assign(area_id=[c[k] if k < len(c) else -1 for c in chains]) for k in range(6)])
    expanded = expanded[expanded.area_id >= 0]
    for m in ("population", "households", "elderly", "children"):
        expanded[f"{m}_covered"] = expanded[m] * expanded.covered
    want = (
        expanded.groupby(["type_code", "area_id"])
        .agg(
            points=("residence_id", "size"),
            population=("population", "sum"),
            population_covered=("population_covered", "sum"),
            elderly_covered=("elderly_covered", "sum"),
            children=("children", "sum"),
        )
        .reset_index()
    )
    got = result.per_area.set_index(["type_code", "area_id"]).loc[
        pd.MultiIndex.from_frame(want[["type_code", "area_id"]])
    ]
    for col in ("points", "population", "population_covered", "elderly_covered", "children"):
        np.testing.assert_array_equal(got[col].to_numpy(), want[col].to_numpy())
    np.testing.assert_allclose(got.population_share, want.population_covered / want.population)
    assert len(result.per_area) == len(want)
    assert set(result.per_area.level) == {
        "district",
        "town",
        "grid_large",
        "community",
        "grid_middle",
        "grid_small",
    }


def test_large_grids_of_a_town_add_up_to_the_town(district, result):
    _, _, _, res, _ = district
    pa = result.per_area
    _, y = metres(res.lon, res.lat)
    assert ((y > LARGE_SPLIT_M - 40) & (y < LARGE_SPLIT_M + 40)).any()  # the sliver holds residences
    cols = ["points", "population", "population_covered", "households_covered", "elderly", "children_covered"]
    town = pa[pa.area_id == 10].set_index("type_code")[cols]
    large = pa[pa.level == "grid_large"].groupby("type_code")[cols].sum()
    pd.testing.assert_frame_equal(large.loc[town.index], town)
    assert set(pa[pa.level == "grid_large"].area_id) == {11, 12}


def test_per_facility_catchment_and_load(district, result):
    _, _, fac, res, _ = district
    pr = result.per_residence.merge(res, on="residence_id")
    covered = pr[pr.covered]
    want = covered.groupby("facility_id").population.sum()
    pf = result.per_facility.set_index("facility_id")
    assert set(pf.index) == set(fac.facility_id[fac.status == "open"])
    for fid, row in pf.iterrows():
        assert row.catchment_population == want.get(fid, 0)
    # kindergarten places are measured against children 0-14, five per place (data/facility_types.csv)
    kg = pf[pf.type_code == "kindergarten"]
    assert (kg.capacity_basis == "children").all() and (kg.basis_per_unit == 5).all()
    kg_children = covered[covered.type_code == "kindergarten"].groupby("facility_id").children.sum()
    want_load = np.array([kg_children.get(f, 0) / (50.0 * 5) for f in kg.index])
    np.testing.assert_allclose(kg.load.to_numpy(), want_load)
    assert (kg.load > 0).any()
    # a police station's capacity means nothing for its catchment: no load, not a made-up number
    police = pf[pf.type_code == "police_station"]
    assert len(police) and police.capacity_basis.isna().all() and police.load.isna().all()


def test_capacity_basis_table_is_checked(facility_types):
    from geo.coverage import capacity_basis
    from geo.errors import GeoError

    table = capacity_basis(facility_types)
    assert table.loc["middle_school", "capacity_basis"] == "children"
    assert table.loc["middle_school", "basis_per_unit"] == 5
    assert table.loc["police_station"].isna().all()
    assert capacity_basis(facility_types.drop(columns=["capacity_basis"])).capacity_basis.isna().all()
    with pytest.raises(GeoError, match="beds"):
        capacity_basis(facility_types.assign(capacity_basis="beds"))
    with pytest.raises(GeoError, match="basis_per_unit"):
        capacity_basis(
            facility_types.assign(basis_per_unit=np.where(facility_types.code == "kindergarten", 0, 5))
        )


def test_gaps_hold_every_uncovered_resident(district, result):
    _, _, _, res, _ = district
    pr = result.per_residence.merge(res, on="residence_id")
    uncovered = pr[~pr.covered].groupby("type_code").population.sum()
    gaps = result.gaps
    assert gaps.crs.to_epsg() == 4326 and shapely.is_valid(gaps.geometry.to_numpy()).all()
    np.testing.assert_array_equal(
        gaps.groupby("type_code").population.sum().loc[uncovered.index], uncovered.to_numpy()
    )
    for _, part in gaps.groupby("type_code"):
        assert part.gap_rank.tolist() == list(range(1, len(part) + 1))
        assert part.population.is_monotonic_decreasing


def test_recompute_one_type_equals_full_run(district, facility_types, profiles, result):
    nodes, edges, fac, res, areas = district
    prepared = prepare(nodes, edges, res, areas, profiles, facility_types=facility_types)
    moved = fac.copy()
    first_kg = moved.index[moved.type_code == "kindergarten"][0]
    moved.loc[first_kg, ["lon", "lat"]] = moved.loc[moved.index[-1], ["lon", "lat"]].to_numpy()
    types = affected_types(fac, moved)
    assert types == ["kindergarten"]
    again = recompute_types(result, prepared, moved, facility_types, types=types)
    full = run_coverage(nodes, edges, moved, res, areas, facility_types, profiles, prepared=prepared)
    for name in ("per_residence", "per_area", "per_facility", "gaps"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(full, name))
    assert not again.per_residence.equals(result.per_residence)


def test_repeated_and_shuffled_runs_are_identical(district, facility_types, profiles, result):
    nodes, edges, fac, res, areas = district
    shuffled = run_coverage(
        nodes.sample(frac=1, random_state=3),
        edges.sample(frac=1, random_state=4),
        fac.sample(frac=1, random_state=5),
        res.sample(frac=1, random_state=6),
        areas.sample(frac=1, random_state=7),
        facility_types,
        profiles,
    )
    for name in ("per_residence", "per_area", "per_facility", "gaps"):
        pd.testing.assert_frame_equal(getattr(shuffled, name), getattr(result, name))


def test_planned_facilities_count_only_when_asked(district, facility_types, profiles):
    nodes, edges, fac, res, areas = district
    prepared = prepare(nodes, edges, res, areas, profiles, facility_types=facility_types)
    base = run_coverage(
        None, None, fac, None, None, facility_types, profiles, prepared=prepared, types=["kindergarten"]
    )
    what_if = run_coverage(
        None,
        None,
        fac,
        None,
        None,
        facility_types,
        profiles,
        prepared=prepared,
        types=["kindergarten"],
        statuses=("open", "planned"),
    )
    planned_id = int(fac.facility_id[fac.status == "planned"].iloc[0])
    assert planned_id not in set(base.per_residence.facility_id.dropna())
    assert what_if.per_residence.covered.sum() >= base.per_residence.covered.sum()
    assert planned_id in set(what_if.per_facility.facility_id)


def test_input_errors(district, facility_types, profiles):
    nodes, edges, fac, res, areas = district
    with pytest.raises(UnknownFacilityTypeError, match="spaceport"):
        run_coverage(nodes, edges, fac.assign(type_code="spaceport"), res, areas, facility_types, profiles)
    with pytest.raises(AreaTreeError, match="999"):
        prepare(nodes, edges, res.assign(area_id=999), areas, profiles, facility_types=facility_types)


@pytest.mark.slow
def test_times_on_the_demo_equal_networkx(demo_district):
    """Sampled homes of each circle: time to and id of the nearest facility of every type equal an
    independent networkx Dijkstra on the demo graph (speeds read from data/profiles.csv by the csv
    module, compounds and access tags re-implemented), to 1e-6 s; ties to the lowest id."""
    from demo_truth import DemoTruth, nearest, read_profiles

    d = demo_district
    res = d.residences.assign(lon=d.residences.geometry.x, lat=d.residences.geometry.y)
    fac = d.facilities.assign(lon=d.facilities.geometry.x, lat=d.facilities.geometry.y)
    types = pd.read_csv(ROOT / "data" / "facility_types.csv")
    result = run_coverage(
        d.nodes, d.edges, fac, res, d.areas, types, load_profiles(PROFILES_CSV), with_gaps=False
    )
    pr = result.per_residence.assign(
        profile=lambda f: f.profile.astype(str),
        circle=lambda f: f.circle.astype(str),
        type_code=lambda f: f.type_code.astype(str),
    )
    rng = np.random.default_rng(11)
    far = set(d.planted.object_id[d.planted.case == "far_from_road"])
    sample = set(far)
    for circle, n in (("urban", 30), ("rural", 20)):
        ids = np.unique(pr.residence_id[pr.circle == circle])
        sample |= set(rng.choice(ids, size=n, replace=False).tolist())
    rows = pr[pr.residence_id.isin(sample)]
    open_fac = fac[fac.status == "open"]
    where = {int(r.residence_id): (r.lon, r.lat) for r in res.itertuples()}
    compared = covered = 0
    for profile, part in rows.groupby("profile"):
        codes = set(part.type_code)
        dest = open_fac[open_fac.type_code.isin(codes)]
        truth = DemoTruth(
            d.nodes,
            d.edges,
            read_profiles()[profile],
            origins={r: where[r] for r in set(part.residence_id)},
            destinations={int(f.facility_id): (f.lon, f.lat) for f in dest.itertuples()},
        )
        of_type = {c: sorted(dest.facility_id[dest.type_code == c].astype(int)) for c in codes}
        cutoff = part.max_time_s.max() + 1.0
        for rid, mine in part.groupby("residence_id"):
            assert mine.snapped.iloc[0] == (truth.snaps[("o", rid)] is not None)
            times = truth.times_from(rid, cutoff)
            for r in mine.itertuples():
                t, f = nearest(times, of_type[r.type_code])
                assert r.covered == (t <= r.max_time_s + 1e-9), (profile, rid, r.type_code, t, r.time_s)
                if np.isfinite(r.time_s) or r.covered:
                    assert abs(r.time_s - t) < 1e-6, (profile, rid, r.type_code, t, r.time_s)
                    assert r.facility_id == f, (profile, rid, r.type_code, f, r.facility_id)
                    compared += 1
                covered += int(r.covered)
    assert set(rows.circle) == {"urban", "rural"} and rows.type_code.nunique() == types.code.nunique()
    assert compared > 500 and covered > 200 and (rows.residence_id.isin(far) & ~rows.snapped).any()


@pytest.mark.slow
def test_gaps_of_a_type_do_not_depend_on_the_types_computed_with_it(demo_district):
    # recomputing one type (an incremental run) must give the polygons a full run gives it
    d = demo_district
    res = d.residences.assign(lon=d.residences.geometry.x, lat=d.residences.geometry.y)
    fac = d.facilities.assign(lon=d.facilities.geometry.x, lat=d.facilities.geometry.y)
    types = pd.read_csv(ROOT / "data" / "facility_types.csv")
    profiles = load_profiles(PROFILES_CSV)
    prepared = prepare(d.nodes, d.edges, res, d.areas, profiles, facility_types=types)
    full = run_coverage(None, None, fac, None, None, types, profiles, prepared=prepared).gaps
    for code in ("elderly_daycare", "kindergarten", "health_station"):
        alone = run_coverage(
            None, None, fac, None, None, types, profiles, prepared=prepared, types=[code]
        ).gaps
        mine = full[full.type_code == code].reset_index(drop=True)
        assert len(mine) > 10
        pd.testing.assert_frame_equal(alone.drop(columns="geometry"), mine.drop(columns="geometry"))
        assert mine.geometry.geom_equals_exact(alone.geometry, 0).all(), code
