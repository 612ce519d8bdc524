"""geo.siting: the candidate × residence matrix against networkx, MCLP/LSCP against brute force."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from geo_cases import PROFILES_CSV, lonlat, metres, points, random_grid, truth_times

from geo import siting
from geo.coverage import prepare, run_coverage
from geo.profiles import load_profiles

# one type, two circles: urban residents walk 3 minutes, rural ones ride e-bikes 1 minute (one-way
# streets bind: the directed case)
TYPES = pd.DataFrame(
    [
        {
            "code": "daycare",
            "name_zh": "日间照料",
            "category": "elderly",
            "urban_tier": "5min",
            "urban_profile": "walk",
            "urban_max_time_min": 3.0,
            "rural_tier": "village",
            "rural_profile": "ebike",
            "rural_max_time_min": 1.0,
            "required": 1,
        }
    ]
)
AREAS = pd.DataFrame(
    [
        (1, None, "district", None),
        (10, 1, "town", None),
        (100, 10, "community", True),
        (200, 10, "community", False),
    ],
    columns=["area_id", "parent_id", "level", "urban"],
)


def _case(seed: int, *, n_res: int = 36, n_cand: int = 9):
    nodes, edges = random_grid(8, seed=seed, oneway_share=0.3)  # ~560 m square
    rng = np.random.default_rng(seed + 100)
    xy = rng.uniform(-20, 580, size=(n_res, 2))
    res = points([tuple(p) for p in xy], ids=np.arange(1, n_res + 1)).rename(columns={"id": "residence_id"})
    res["area_id"] = np.where(xy[:, 0] < 280, 100, 200)
    res["population"] = rng.integers(1, 90, n_res)
    res["households"] = res.population // 3 + 1
    res["elderly"] = rng.integers(0, 20, n_res)
    res["children"] = rng.integers(0, 20, n_res)
    fac = (
        points([(60.0, 60.0)])
        .drop(columns="id")
        .assign(facility_id=1, type_code="daycare", status="open", name="existing", capacity=np.nan)
    )
    cand = points([tuple(p) for p in rng.uniform(0, 560, size=(n_cand, 2))]).drop(columns="id")
    return nodes, edges, res, fac, siting.point_candidates(cand)


def _truth_cover(nodes, edges, res, fac, cand) -> tuple[np.ndarray, np.ndarray]:
    """(covered by the existing facility, candidate × residence coverage), from networkx times."""
    urban = res.area_id.to_numpy() == 100
    limit = np.where(urban, 180.0, 60.0)

    def times(points_frame):
        walk = truth_times(nodes, edges, "walk", points_frame, res)[0]
        ebike = truth_times(nodes, edges, "ebike", points_frame, res)[0]
        return np.where(urban, walk, ebike)

    covered = times(fac) <= limit + 1e-6
    cover = np.array(
        [times(cand.iloc[[j]].assign(facility_id=j + 1)) <= limit + 1e-6 for j in range(len(cand))]
    )
    return covered, cover


@pytest.fixture(scope="module", params=[3, 11])
def case(request):
    nodes, edges, res, fac, cand = _case(request.param)
    profiles = load_profiles(PROFILES_CSV)
    prepared = prepare(nodes, edges, res, AREAS, profiles, facility_types=TYPES)
    base = run_coverage(None, None, fac, None, None, TYPES, profiles, prepared=prepared)
    matrix = siting.coverage_matrix(prepared, TYPES, "daycare", cand, existing=base.per_residence)
    covered, cover = _truth_cover(nodes, edges, res, fac, cand)
    weight = res.population.to_numpy(float)
    return {
        "matrix": matrix,
        "covered": covered,
        "cover": cover & ~covered,
        "weight": weight,
        "res": res,
        "prepared": prepared,
        "edges": edges,
    }


def _value(case, subset) -> float:
    hit = case["cover"][list(subset)].any(axis=0) if len(subset) else np.zeros(len(case["weight"]), bool)
    return float(case["weight"][hit].sum())


def _brute_mclp(case, k: int) -> float:
    return max(_value(case, s) for s in itertools.combinations(range(len(case["cover"])), k))


def _brute_lscp(case, share: float) -> int | None:
    need = share * case["weight"].sum() - case["weight"][case["covered"]].sum()
    for m in range(len(case["cover"]) + 1):
        if any(_value(case, s) >= need - 1e-9 for s in itertools.combinations(range(len(case["cover"])), m)):
            return m
    return None


def test_matrix_equals_networkx_pairs(case):
    m = case["matrix"]
    got = {
        (int(c), int(r))
        for c, r in zip(m.pairs.candidate, m.demand.residence_id.to_numpy()[m.pairs.demand], strict=True)
    }
    ids = case["res"].residence_id.to_numpy()
    truth = {(j, int(ids[i])) for j, i in zip(*np.nonzero(case["cover"]), strict=True)}
    assert got == truth
    assert len(truth) > 10  # the case is not trivial
    assert m.base_weight == pytest.approx(case["weight"][case["covered"]].sum())
    assert m.total_weight == pytest.approx(case["weight"].sum())


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_maximal_covering_equals_brute_force(case, k):
    best = _brute_mclp(case, k)
    sol = siting.maximal_covering(case["matrix"], k, solver="exact")
    assert sol.method == "exact"
    assert sol.value == pytest.approx(best)
    assert _value(case, sol.chosen) == pytest.approx(best)  # the chosen sites really reach it
    assert sol.bound == pytest.approx(best) and sol.gap == pytest.approx(0.0)
    assert len(sol.chosen) <= k


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_greedy_reports_a_valid_upper_bound(case, k):
    best = _brute_mclp(case, k)
    sol = siting.maximal_covering(case["matrix"], k, solver="greedy", max_lp=0)  # submodular bound only
    assert sol.method == "greedy"
    assert _value(case, sol.chosen) == pytest.approx(sol.value)
    assert sol.value <= best + 1e-9 <= sol.bound + 1e-9
    with_lp = siting.maximal_covering(case["matrix"], k, solver="greedy")
    assert best <= with_lp.bound + 1e-9 <= sol.bound + 1e-9


@pytest.mark.parametrize("share", [0.3, 0.5, 0.6, 0.65, 0.7])
def test_set_covering_equals_brute_force(case, share):
    best = _brute_lscp(case, share)
    reachable = case["weight"][case["covered"] | case["cover"].any(axis=0)].sum() / case["weight"].sum()
    sol = siting.set_covering(case["matrix"], share, solver="exact")
    if best is None:
        assert not sol.feasible and share > reachable
        return
    assert sol.feasible and len(sol.chosen) == best and sol.bound == best
    assert (
        _value(case, sol.chosen)
        >= share * case["weight"].sum() - case["weight"][case["covered"]].sum() - 1e-9
    )
    greedy = siting.set_covering(case["matrix"], share, solver="greedy", max_lp=0)
    assert greedy.bound <= best <= len(greedy.chosen)


def test_unreachable_target_reports_the_most_the_candidates_reach(case):
    sol = siting.set_covering(case["matrix"], 1.0, solver="exact")
    reach = case["weight"][case["cover"].any(axis=0)].sum()
    assert not sol.feasible or reach + case["weight"][case["covered"]].sum() == case["weight"].sum()
    assert sol.value == pytest.approx(reach)


def test_proposals_count_each_gained_resident_once_at_the_nearest_site(case):
    m = case["matrix"]
    sol = siting.maximal_covering(m, 3, solver="exact")
    sites = siting.proposals(m, sol)
    assert list(sites["rank"]) == list(range(1, len(sol.chosen) + 1))
    assert sites.population_gained.sum() == pytest.approx(sol.value)
    pairs = m.pairs[m.pairs.candidate.isin(sol.chosen)]
    first = pairs.sort_values("time_s").drop_duplicates("demand")
    per_site = m.demand.population.to_numpy()[first.demand].astype(float)
    expected = pd.Series(per_site).groupby(first.candidate.to_numpy()).sum()
    got = sites.set_index("candidate_row").population_gained
    assert (got.reindex(expected.index) == expected).all()


def test_service_area_is_the_isochrone_towards_the_site(case):
    m = case["matrix"]
    sites = siting.proposals(m, siting.maximal_covering(m, 2, solver="exact"))
    areas = siting.service_areas(case["prepared"], m, sites)
    assert (areas.area_kind == "isochrone").all()
    assert areas.geometry.is_valid.all() and (shapely.area(areas.geometry.to_numpy()) > 0).all()
    site = shapely.points(areas.lon, areas.lat)
    assert shapely.intersects(areas.geometry.to_numpy(), site).all()


def test_k_and_target_are_checked(case):
    with pytest.raises(siting.SitingError, match="k=0"):
        siting.maximal_covering(case["matrix"], 0)
    with pytest.raises(siting.SitingError, match="target share"):
        siting.set_covering(case["matrix"], 1.5)
    with pytest.raises(siting.SitingError, match="solver"):
        siting.maximal_covering(case["matrix"], 1, solver="magic")


def test_gap_candidates_lie_in_gaps_and_keep_the_spacing(case):
    net = case["prepared"].network("walk")
    square = shapely.Polygon([(100, 100), (450, 100), (450, 450), (100, 450)])
    lon, lat = lonlat(*np.asarray(square.exterior.coords).T)
    gaps = gpd.GeoDataFrame(
        {"gap_rank": [1]}, geometry=[shapely.Polygon(np.column_stack([lon, lat]))], crs=4326
    )
    cand = siting.gap_candidates(net, gaps, spacing_m=150.0)
    x, y = metres(cand.lon, cand.lat)
    assert len(cand) >= 3
    assert ((x > 100) & (x < 450) & (y > 100) & (y < 450)).all()
    cells = {(int((xi + 300_000) // 150), int((yi + 2_500_000) // 150)) for xi, yi in zip(x, y, strict=True)}
    assert len(cells) == len(cand)  # one per cell
    assert set(cand.node_id) <= set(net.node_ids) and (cand.gap_rank == 1).all()


def test_parcel_candidates_sit_on_the_parcel_next_to_its_street(case):
    net = case["prepared"].network("walk")
    square = shapely.Polygon([(0, 0), (50, 0), (50, 50), (0, 50)])  # around the corner node at ~(0, 0)
    far = shapely.box(200, 200, 230, 230)
    parcels = gpd.GeoDataFrame(
        {"name": ["角地", "中间地块"]},
        geometry=[
            shapely.Polygon(np.column_stack(lonlat(*np.asarray(g.exterior.coords).T))) for g in (square, far)
        ],
        crs=4326,
    )
    plain = siting.parcel_candidates(parcels)
    street = siting.parcel_candidates(parcels, network=net)
    assert list(street.name) == ["角地", "中间地块"] and (street.source == "parcel").all()
    for frame in (plain, street):
        pts = shapely.points(frame.lon, frame.lat)
        assert shapely.distance(parcels.geometry.to_numpy(), pts).max() < 1e-7
    # moving to the street access never lengthens the access leg
    from geo.snapping import snap_points

    d_plain = snap_points(net, plain.lon, plain.lat).distance_m
    d_street = snap_points(net, street.lon, street.lat).distance_m
    assert (d_street <= d_plain + 1e-6).all()


# --- the fallbacks: greedy above max_exact, and a MILP stopped before it proved optimality ---------


def _reached(matrix, chosen) -> float:
    """Weight the chosen candidates newly cover, read straight from the covering pairs."""
    rows = matrix.pairs.demand[matrix.pairs.candidate.isin(np.asarray(chosen))].unique()
    return float(matrix.demand.weight.to_numpy()[rows].sum())


@pytest.mark.parametrize("k", [2, 3])
def test_auto_switches_to_greedy_above_max_exact(case, k):
    best = _brute_mclp(case, k)
    size = siting.maximal_covering(case["matrix"], k).size
    exact = siting.maximal_covering(case["matrix"], k, solver="auto", max_exact=size)
    assert exact.method == "exact" and exact.value == pytest.approx(best)
    sol = siting.maximal_covering(case["matrix"], k, solver="auto", max_exact=size - 1)
    assert sol.method == "greedy"
    assert _reached(case["matrix"], sol.chosen) == pytest.approx(sol.value)
    assert sol.value <= best + 1e-9 <= sol.bound + 1e-9  # an honest bound around the true optimum
    assert sol.gap == pytest.approx((sol.bound - sol.value) / sol.bound)


def test_set_covering_auto_switches_to_greedy_with_a_lower_bound(case):
    share = next(s for s in (0.6, 0.5, 0.4) if _brute_lscp(case, s))  # reachable and needing sites
    fewest = _brute_lscp(case, share)
    sol = siting.set_covering(case["matrix"], share, solver="auto", max_exact=0)
    assert sol.method == "greedy" and sol.feasible
    assert sol.bound <= fewest <= len(sol.chosen)
    assert sol.gap == pytest.approx((len(sol.chosen) - sol.bound) / len(sol.chosen))


@pytest.fixture(scope="module")
def large():
    """400 homes, 60 candidates: large enough that HiGHS does not prove optimality at once."""
    nodes, edges, res, fac, cand = _case(5, n_res=400, n_cand=60)
    profiles = load_profiles(PROFILES_CSV)
    prepared = prepare(nodes, edges, res, AREAS, profiles, facility_types=TYPES)
    base = run_coverage(None, None, fac, None, None, TYPES, profiles, prepared=prepared)
    return siting.coverage_matrix(prepared, TYPES, "daycare", cand, existing=base.per_residence)


def test_a_milp_stopped_early_reports_its_incumbent_and_dual_bound(large, monkeypatch):
    """The time-limit path, made deterministic: HiGHS stops at its first improving solution (a limit of
    the same kind as the time limit) — the result says it is not proven, with a bound that holds."""
    optimum = siting.maximal_covering(large, 5, solver="exact")
    assert optimum.method == "exact" and optimum.gap == 0
    run = siting._run

    def first_solution_only(lp, time_limit_s):
        h = run(lp, time_limit_s)
        h.setOptionValue("mip_max_improving_sols", 1)
        h.clearSolver()
        h.run()
        return h

    monkeypatch.setattr(siting, "_run", first_solution_only)
    sol = siting.maximal_covering(large, 5, solver="exact")
    assert sol.method == "exact_time_limit"
    assert _reached(large, sol.chosen) == pytest.approx(sol.value)
    assert sol.value < optimum.value <= sol.bound + 1e-9
    assert sol.gap == pytest.approx((sol.bound - sol.value) / sol.bound) and sol.gap > 0


def test_a_tiny_time_limit_falls_back_to_greedy_with_an_honest_bound(large):
    """No MILP solution within the limit: the greedy answer, its own (submodular) bound and a gap > 0."""
    optimum = siting.maximal_covering(large, 5, solver="exact").value
    sol = siting.maximal_covering(large, 5, solver="exact", time_limit_s=1e-9)
    assert sol.method == "greedy"
    assert _reached(large, sol.chosen) == pytest.approx(sol.value)
    assert sol.value <= optimum <= sol.bound + 1e-9
    assert sol.gap == pytest.approx((sol.bound - sol.value) / sol.bound) and sol.gap > 0


# --- the type's users, capacities and spacing ------------------------------------------------------


def test_demand_is_the_types_users(case):
    """Elderly services weigh the elderly, schools the children of their age band, the rest everyone."""
    prepared, res = case["prepared"], case["res"]
    m = case["matrix"]
    existing = pd.DataFrame(
        {"residence_id": m.demand.residence_id[:0], "type_code": "daycare", "covered": True}
    )
    elderly = siting.users_of("elderly", 25)
    kids = siting.users_of("children", 5)
    assert (elderly.measure, elderly.band, elderly.per_unit) == ("elderly", 1.0, 25.0)
    assert (kids.measure, kids.band, kids.per_unit) == ("children", 0.2, 1.0)
    assert (
        siting.users_of(None, None) == siting.Users() and siting.users_of("population", 222).per_unit == 222
    )
    cand = case["matrix"].candidates[siting.CANDIDATE_COLUMNS]
    for users, expected in (
        (elderly, res.elderly),
        (kids, res.children / 5),
        (siting.Users(), res.population),
    ):
        mat = siting.coverage_matrix(prepared, TYPES, "daycare", cand, existing=existing, users=users)
        got = mat.demand.set_index("residence_id").weight
        truth = pd.Series(expected.to_numpy(float), index=res.residence_id)
        assert np.allclose(got.to_numpy(), truth.reindex(got.index).to_numpy())
        assert mat.total_weight == pytest.approx(expected.sum()) and mat.base_weight == 0
        assert mat.totals["population"] == (pytest.approx(res.population.sum()), 0.0)
    with pytest.raises(siting.SitingError, match="weight"):
        siting.coverage_matrix(prepared, TYPES, "daycare", cand, existing=existing, weight="income")


def _flow(case, subset, capacity: float) -> float:
    """Most weight the sites ``subset`` serve, each at most ``capacity`` (networkx maximum flow)."""
    import networkx as nx

    g = nx.DiGraph()
    cover, weight = case["cover"], case["weight"]
    for j in subset:
        g.add_edge(("site", j), "t", capacity=capacity)
        for i in np.flatnonzero(cover[j]):
            g.add_edge("s", ("home", i), capacity=float(weight[i]))
            g.add_edge(("home", i), ("site", j))
    return nx.maximum_flow_value(g, "s", "t") if len(subset) and g.has_node("s") else 0.0


def _spaced(case, subset, spacing: float | None) -> bool:
    if not spacing:
        return True
    x, y = metres(case["matrix"].candidates.lon, case["matrix"].candidates.lat)
    return all(np.hypot(x[a] - x[b], y[a] - y[b]) >= spacing for a, b in itertools.combinations(subset, 2))


def _brute_capacitated(case, k: int, capacity: float, spacing: float | None = None) -> float:
    n = len(case["cover"])
    return max(
        _flow(case, s, capacity)
        for m in range(1, k + 1)
        for s in itertools.combinations(range(n), m)
        if _spaced(case, s, spacing)
    )


@pytest.mark.parametrize(("k", "capacity"), [(1, 60.0), (2, 60.0), (2, 150.0), (3, 100.0), (4, 150.0)])
def test_capacitated_maximal_covering_equals_brute_force(case, k, capacity):
    best = _brute_capacitated(case, k, capacity)
    uncapacitated = _brute_mclp(case, k)
    assert best < uncapacitated  # the capacity binds in this case
    sol = siting.maximal_covering(case["matrix"], k, capacity=capacity, solver="exact")
    assert sol.method == "exact" and sol.gap == pytest.approx(0.0, abs=1e-9)
    assert sol.value == pytest.approx(best) and sol.bound == pytest.approx(best)
    assert _flow(case, sol.chosen, capacity) == pytest.approx(best)  # the chosen sites really serve it
    assert (sol.served <= capacity + 1e-6).all() and sol.served.sum() == pytest.approx(sol.value)
    assert (sol.capacity == capacity).all() and len(sol.chosen) <= k


@pytest.mark.parametrize(("k", "capacity"), [(2, 60.0), (3, 100.0), (4, 150.0)])
def test_capacitated_greedy_reports_what_its_sites_serve_and_an_honest_bound(case, k, capacity):
    best = _brute_capacitated(case, k, capacity)
    sol = siting.maximal_covering(case["matrix"], k, capacity=capacity, solver="greedy", max_lp=0)
    assert sol.method == "greedy"
    assert _flow(case, sol.chosen, capacity) == pytest.approx(sol.value)
    assert sol.value <= best + 1e-6 <= sol.bound + 1e-6
    with_lp = siting.maximal_covering(case["matrix"], k, capacity=capacity, solver="greedy")
    assert best <= with_lp.bound + 1e-6 <= sol.bound + 1e-6
    assert with_lp.gap == pytest.approx((with_lp.bound - with_lp.value) / with_lp.bound)


@pytest.mark.parametrize("share", [0.3, 0.45, 0.6])
def test_capacitated_set_covering_equals_brute_force(case, share):
    capacity = 100.0
    need = share * case["weight"].sum() - case["weight"][case["covered"]].sum()
    n = len(case["cover"])
    fewest = next(
        (
            m
            for m in range(n + 1)
            if any(_flow(case, s, capacity) >= need - 1e-6 for s in itertools.combinations(range(n), m))
        ),
        None,
    )
    sol = siting.set_covering(case["matrix"], share, capacity=capacity, solver="exact")
    if fewest is None:
        assert not sol.feasible
        assert sol.value == pytest.approx(_flow(case, range(n), capacity))
        return
    assert sol.feasible and len(sol.chosen) == fewest and sol.bound == fewest
    assert _flow(case, sol.chosen, capacity) >= need - 1e-6
    greedy = siting.set_covering(case["matrix"], share, capacity=capacity, solver="greedy", max_lp=0)
    assert (
        greedy.bound <= fewest <= len(greedy.chosen) and _flow(case, greedy.chosen, capacity) >= need - 1e-6
    )


@pytest.mark.parametrize(("k", "capacity"), [(2, None), (3, None), (3, 100.0), (2, 150.0)])
def test_spacing_keeps_sites_apart_and_stays_optimal(case, k, capacity):
    m = case["matrix"]
    free = siting.maximal_covering(m, k, capacity=capacity, solver="exact")
    x, y = metres(m.candidates.lon, m.candidates.lat)
    spacing = max(np.hypot(x[a] - x[b], y[a] - y[b]) for a, b in itertools.combinations(free.chosen, 2)) + 1.0
    assert not _spaced(case, free.chosen, spacing)  # the free optimum breaks this spacing
    n = len(case["cover"])
    subsets = [
        s for r in range(1, k + 1) for s in itertools.combinations(range(n), r) if _spaced(case, s, spacing)
    ]
    value = (lambda s: _flow(case, s, capacity)) if capacity else (lambda s: _value(case, s))
    best = max(value(s) for s in subsets)
    sol = siting.maximal_covering(m, k, capacity=capacity, min_spacing_m=spacing, solver="exact")
    assert (
        _spaced(case, sol.chosen, spacing)
        and sol.value == pytest.approx(best)
        and sol.gap == pytest.approx(0)
    )
    assert best <= free.value + 1e-6
    greedy = siting.maximal_covering(m, k, capacity=capacity, min_spacing_m=spacing, solver="greedy")
    assert _spaced(case, greedy.chosen, spacing)
    assert (
        value(greedy.chosen) == pytest.approx(greedy.value)
        and greedy.value <= best + 1e-6 <= greedy.bound + 1e-6
    )


def test_proposals_say_users_served_against_capacity(case):
    m = case["matrix"]
    sol = siting.maximal_covering(m, 3, capacity=80.0, solver="exact")
    sites = siting.proposals(m, sol)
    assert (sites.users_served <= sites.capacity_users + 1e-6).all() and (sites.capacity_users == 80).all()
    assert sites.users_served.sum() == pytest.approx(sol.value)
    assert sites.users_reached.sum() == pytest.approx(_value(case, sol.chosen))  # weight: population
    plain = siting.proposals(m, siting.maximal_covering(m, 3, solver="exact"))
    assert plain.capacity_users.isna().all() and (plain.users_served == plain.users_reached).all()


def test_capacities_are_checked(case):
    with pytest.raises(siting.SitingError, match="capacity"):
        siting.maximal_covering(case["matrix"], 2, capacity=0)
    existing = pd.DataFrame({"residence_id": [], "type_code": [], "covered": []})
    mat = siting.coverage_matrix(
        case["prepared"],
        TYPES,
        "daycare",
        case["matrix"].candidates[siting.CANDIDATE_COLUMNS],
        existing=existing,
        weight="households",
    )
    with pytest.raises(siting.SitingError, match="users"):
        siting.maximal_covering(mat, 2, capacity=100)


def test_intersection_candidates_are_the_junctions_inside_the_gaps(case):
    import networkx as nx

    net = case["prepared"].network("walk")
    edges = case["edges"]
    graph = nx.Graph()
    graph.add_edges_from(zip(edges.u, edges.v, strict=True))
    square = shapely.Polygon([(100, 100), (450, 100), (450, 450), (100, 450)])
    lon, lat = lonlat(*np.asarray(square.exterior.coords).T)
    gaps = gpd.GeoDataFrame(
        {"gap_rank": [4]}, geometry=[shapely.Polygon(np.column_stack([lon, lat]))], crs=4326
    )
    every = siting.intersection_candidates(net, gaps)
    nodes = case["prepared"].network("walk").node_ids
    x, y = metres(*siting.to_wgs84(net.node_xy[:, 0], net.node_xy[:, 1], crs=net.crs))
    inside = {int(n) for n, xi, yi in zip(nodes, x, y, strict=True) if 100 < xi < 450 and 100 < yi < 450}
    truth = {n for n in inside if graph.degree(n) >= 3}
    assert set(every.node_id) == truth and len(truth) >= 5
    assert (every.source == "intersection").all() and (every.gap_rank == 4).all()
    thinned = siting.intersection_candidates(net, gaps, spacing_m=200.0)
    assert set(thinned.node_id) < truth
    with pytest.raises(siting.SitingError, match="spacing_m"):
        siting.intersection_candidates(net, gaps, spacing_m=-1)


@pytest.mark.parametrize(("k", "capacity"), [(2, None), (3, None), (2, 100.0), (3, 150.0)])
def test_one_site_per_group_stays_optimal(case, k, capacity):
    """E.g. one new centre per community: at most one chosen site in each group."""
    m = case["matrix"]
    x, _ = metres(m.candidates.lon, m.candidates.lat)
    groups = np.where(x < 200, 0, np.where(x < 400, 1, -1))  # two groups, the east side free
    n = len(case["cover"])

    def allowed(s):
        g = groups[list(s)]
        g = g[g >= 0]
        return len(g) == len(set(g))

    value = (lambda s: _flow(case, s, capacity)) if capacity else (lambda s: _value(case, s))
    best = max(value(s) for r in range(1, k + 1) for s in itertools.combinations(range(n), r) if allowed(s))
    sol = siting.maximal_covering(m, k, capacity=capacity, one_per=groups, solver="exact")
    assert allowed(sol.chosen) and sol.value == pytest.approx(best) and sol.gap == pytest.approx(0)
    greedy = siting.maximal_covering(m, k, capacity=capacity, one_per=groups, solver="greedy", max_lp=0)
    assert allowed(greedy.chosen)
    assert (
        value(greedy.chosen) == pytest.approx(greedy.value)
        and greedy.value <= best + 1e-6 <= greedy.bound + 1e-6
    )
