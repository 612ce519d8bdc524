"""Planner services on the demo district: scenario deltas against two full runs, compliance against
hand counts, reports read back, siting gains confirmed by the coverage engine."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from PIL import Image
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers import queries, store
from layers.db import engine, session
from pipeline import compliance as compliance_service
from pipeline import coverage as coverage_service
from pipeline import reports, scenarios, siting

MEASURES = ["population", "households", "elderly", "children"]


@pytest.fixture(scope="module")
def base_run(demo_db):
    with session(demo_db) as s:
        return coverage_service.run_and_store(s, incremental=False)


@pytest.fixture(scope="module")
def changes(demo_db):
    with session(demo_db) as s:
        day = s.execute(
            text(
                "SELECT facility_id FROM facilities WHERE type_code = 'elderly_daycare' AND status = 'open' "
                "ORDER BY facility_id LIMIT 1"
            )
        ).scalar_one()
        kg, x, y = s.execute(
            text(
                "SELECT facility_id, ST_X(geom), ST_Y(geom) FROM facilities WHERE status = 'open' "
                "AND type_code = 'kindergarten' ORDER BY facility_id LIMIT 1"
            )
        ).one()
        kg2 = s.execute(
            text(
                "SELECT facility_id FROM facilities WHERE type_code = 'kindergarten' AND status = 'open' "
                "ORDER BY facility_id OFFSET 1 LIMIT 1"
            )
        ).scalar_one()
        gap = s.execute(
            text(
                "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM coverage_gaps "
                "WHERE run_id = (SELECT max(run_id) FROM coverage_runs WHERE scenario_id IS NULL) "
                "AND type_code = 'elderly_daycare' ORDER BY rank LIMIT 1"
            )
        ).one()
    return [
        {
            "op": "add",
            "type_code": "elderly_daycare",
            "lon": gap[0],
            "lat": gap[1],
            "name": "拟建日照",
            "capacity": 40,
        },
        {"op": "close", "facility_id": day},
        {"op": "move", "facility_id": kg, "lon": x + 0.004, "lat": y - 0.002},
        {"op": "change", "facility_id": kg2, "type_code": "nursery"},
    ]


@pytest.fixture(scope="module")
def evaluated(demo_db, base_run, changes):
    with session(demo_db, actor="pytest") as s:
        row = scenarios.create(s, name="测试情景", changes=changes, actor="pytest")
        return scenarios.evaluate(s, row["scenario_id"], actor="pytest")


def _apply_in_sql(s: Session, changes: list[dict]) -> None:
    """The same changes written to the facilities table (the session is rolled back afterwards)."""
    for c in changes:
        if c["op"] == "add":
            s.execute(
                text(
                    "INSERT INTO facilities (facility_id, type_code, name, status, capacity, geom) VALUES "
                    "((SELECT max(facility_id) + 1 FROM facilities), :t, :n, 'open', :c, "
                    "ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
                ),
                {"t": c["type_code"], "n": c["name"], "c": c["capacity"], "x": c["lon"], "y": c["lat"]},
            )
        elif c["op"] == "close":
            s.execute(
                text("UPDATE facilities SET status = 'closed' WHERE facility_id = :f"),
                {"f": c["facility_id"]},
            )
        elif c["op"] == "move":
            s.execute(
                text(
                    "UPDATE facilities SET geom = ST_SetSRID(ST_MakePoint(:x, :y), 4326) "
                    "WHERE facility_id = :f"
                ),
                {"x": c["lon"], "y": c["lat"], "f": c["facility_id"]},
            )
        else:
            s.execute(
                text("UPDATE facilities SET type_code = :t WHERE facility_id = :f"),
                {"t": c["type_code"], "f": c["facility_id"]},
            )


@pytest.fixture(scope="module")
def two_full_runs(demo_db, changes):
    """Area and residence results of full runs before and after the changes, in a rolled-back transaction."""
    with Session(engine(demo_db)) as s:
        s.begin()
        try:
            before = coverage_service.run_and_store(s, incremental=False)["run_id"]
            _apply_in_sql(s, changes)
            after = coverage_service.run_and_store(s, incremental=False)["run_id"]
            out = {
                k: (store.area_results(s, r), store.residence_results(s, r))
                for k, r in (("before", before), ("after", after))
            }
        finally:
            s.rollback()
    return out


def test_scenario_delta_equals_two_full_runs(demo_db, evaluated, two_full_runs):
    result = evaluated["result"]
    assert result["types"] == ["elderly_daycare", "kindergarten", "nursery"]
    rows = pd.DataFrame(scenarios.area_records(result))
    (a0, r0), (a1, r1) = two_full_runs["before"], two_full_runs["after"]
    keys = ["area_id", "type_code"]
    full = a0.merge(a1, on=keys, suffixes=("_0", "_1"))
    changed = full[(full.population_covered_0 != full.population_covered_1)]
    assert set(changed.type_code) <= set(result["types"])  # other types are untouched by the changes
    got = rows.merge(full, on=keys, how="left")
    assert len(got) == len(full[full.type_code.isin(result["types"])])
    for m in MEASURES:
        assert (got[f"{m}_covered_before"] == got[f"{m}_covered_0"]).all(), m
        assert (got[f"{m}_covered_after"] == got[f"{m}_covered_1"]).all(), m
    # residents newly covered / lost, from the two runs' residence rows rolled up by hand
    flips = r0.merge(r1, on=["residence_id", "type_code"], suffixes=("_0", "_1"))
    flips["gained"] = flips.covered_1 & ~flips.covered_0
    flips["lost"] = flips.covered_0 & ~flips.covered_1
    with session(demo_db) as s:
        hand = _rolled_up(flips, queries.residences(s), queries.areas(s))
    check = rows.merge(hand, on=keys, how="left").fillna({"gained_hand": 0, "lost_hand": 0})
    assert (check.population_gained == check.gained_hand).all()
    assert (check.population_lost == check.lost_hand).all()
    district = rows[rows.level == "district"].set_index("type_code")
    assert district.loc["elderly_daycare", "population_gained"] > 0
    assert district.loc["kindergarten", "population_lost"] > 0


def _rolled_up(flips: pd.DataFrame, res: pd.DataFrame, areas: pd.DataFrame) -> pd.DataFrame:
    """Population gained/lost per (area, type), summed into each residence's area and its ancestors,
    and into the large grid of its town that contains it (large grids are nobody's parent)."""
    parent = {
        int(a): (None if pd.isna(p) else int(p)) for a, p in zip(areas.area_id, areas.parent_id, strict=True)
    }
    large = areas[areas.level == "grid_large"]
    flips = flips.merge(res[["residence_id", "area_id", "population", "lon", "lat"]], on="residence_id")
    rows = []
    for r in flips[flips.gained | flips.lost].itertuples():
        area, chain = int(r.area_id), []
        while area is not None:
            chain.append(area)
            area = parent[area]
        mine = large[large.parent_id.isin(chain)]
        inside = mine[mine.contains(shapely.Point(r.lon, r.lat))]
        chain += [int(inside.area_id.min())] if len(inside) else []
        rows += [(a, r.type_code, r.population * r.gained, r.population * r.lost) for a in chain]
    frame = pd.DataFrame(rows, columns=["area_id", "type_code", "gained_hand", "lost_hand"])
    return frame.groupby(["area_id", "type_code"], as_index=False).sum()


def test_scenario_leaves_the_base_layers_alone(demo_db, evaluated, changes):
    with session(demo_db) as s:
        status = s.execute(
            text("SELECT status FROM facilities WHERE facility_id = :f"), {"f": changes[1]["facility_id"]}
        ).scalar_one()
        proposed = s.execute(text("SELECT count(*) FROM facilities WHERE name = '拟建日照'")).scalar_one()
        run = store.run(s, evaluated["result"]["run_id"])
    assert status == "open" and proposed == 0
    assert (
        run["scenario_id"] == evaluated["scenario_id"]
        and run["params"]["types"] == evaluated["result"]["types"]
    )


# --- compliance ----------------------------------------------------------------------------------


def _community_of(areas: pd.DataFrame) -> dict[int, int]:
    parent = dict(zip(areas.area_id, areas.parent_id, strict=True))
    level = dict(zip(areas.area_id, areas.level, strict=True))
    out = {}
    for a in areas.area_id:
        node = a
        while node is not None and not pd.isna(node) and level[node] != "community":
            node = parent[node]
        out[a] = None if node is None or pd.isna(node) else int(node)
    return out


def test_compliance_matches_hand_counts(demo_db, base_run):
    run_id = base_run["run_id"]
    with session(demo_db) as s:
        c = compliance_service.compliance(s, run_id=run_id)
        res = queries.residences(s)
        areas = queries.areas(s, with_geometry=False)
        per_res = store.residence_results(s, run_id)
        floor = pd.DataFrame(
            s.execute(
                text(
                    "SELECT a.area_id, coalesce(sum(f.floor_area_m2), 0) AS m2, count(f.*) AS n "
                    "FROM areas a LEFT JOIN facilities f ON ST_Within(f.geom, a.geom) AND f.status = 'open' "
                    "AND f.type_code IN ('community_service_station', 'community_complex', "
                    "'party_mass_center') WHERE a.level = 'community' GROUP BY a.area_id"
                )
            )
            .mappings()
            .all()
        )
    types = pd.read_csv("data/facility_types.csv")
    res["community"] = res.area_id.map(_community_of(areas))
    urban = dict(zip(areas.area_id, areas.urban, strict=True))
    rows = per_res.merge(res[["residence_id", "community", "population", "households"]], on="residence_id")
    rows["covered_pop"] = rows.population * rows.covered
    share = rows.groupby(["community", "type_code"]).apply(
        lambda g: g.covered_pop.sum() / g.population.sum(), include_groups=False
    )
    tiers = c.tiers.set_index(["area_id", "tier"])
    picked = sorted(c.communities.area_id)[::7]  # a handful, urban and rural
    assert {urban[a] for a in picked} == {True, False}
    for community in picked:
        circle = "urban" if urban[community] else "rural"
        req = types[(types.required == 1) & types[f"{circle}_tier"].notna()]
        for tier, group in req.groupby(f"{circle}_tier"):
            missing = sorted(group.name_zh[[share.get((community, code), 0) < 0.5 for code in group.code]])
            got = tiers.loc[(community, tier)]
            named = [
                n
                for part in filter(None, got.missing.split("; "))
                for n in part.split(": ", 1)[1].split("、")
            ]
            assert sorted(named) == missing, (community, tier)
            assert bool(got["pass"]) is (not missing)
        hh = res[res.community == community].households.sum()
        fa = c.floor_area.set_index("area_id").loc[community]
        want = floor.set_index("area_id").loc[community]
        assert fa.households == hh and fa.facilities == want.n
        assert fa.floor_area_m2 == pytest.approx(float(want.m2))
        assert bool(fa["pass"]) is bool(float(want.m2) >= 0.3 * hh)
    target = c.targets.set_index("code").loc["health_network"]  # network measure, both circles
    health = rows[rows.type_code == "health_center"]
    assert target["value"] == pytest.approx(health.covered_pop.sum() / health.population.sum())
    assert target["measure_zh"] == "步行可达覆盖率" and target["definition_zh"]


# --- reports ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "csv"])
def test_exports_read_back(demo_db, base_run, fmt, tmp_path):
    run_id = base_run["run_id"]
    with session(demo_db) as s:
        areas = reports.export_areas(s, run_id, fmt)
        one = reports.export_areas(s, run_id, fmt, level="community", type_code="kindergarten")
        gaps = reports.export_gaps(s, run_id, fmt)
        per_area = store.area_results(s, run_id)
        n_gaps = len(store.gap_results(s, run_id))
    frames = {}
    for name, file in (("areas", areas), ("one", one), ("gaps", gaps)):
        path = tmp_path / file.filename
        path.write_bytes(file.content)
        frames[name] = (
            pd.read_csv(path, encoding="utf-8-sig") if fmt == "csv" else pyogrio.read_dataframe(path)
        )
    if fmt == "csv":
        assert len(frames["areas"]) == len(per_area)
    else:
        assert sorted(frames["areas"].area_id) == sorted(per_area.area_id.unique())
        assert frames["areas"].crs.to_epsg() == 4326
        daycare = frames["areas"].set_index("area_id")["elderly_daycare__share"]
        truth = per_area[per_area.type_code == "elderly_daycare"].set_index("area_id").share
        assert np.allclose(daycare.reindex(truth.index), truth)
    community = per_area[(per_area.level == "community") & (per_area.type_code == "kindergarten")]
    assert len(frames["one"]) == len(community)
    assert (frames["one"]["pass"].astype(bool) == (frames["one"].share >= frames["one"].target)).all()
    assert len(frames["gaps"]) == n_gaps


def test_gap_map_is_a_sensible_png(demo_db, base_run):
    with session(demo_db) as s:
        png = reports.gap_map(s, base_run["run_id"], "elderly_daycare", dpi=100)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (1000, 1050)
    pixels = np.asarray(image.convert("RGB"))
    assert pixels.std() > 20  # not blank
    reddish = (pixels[..., 0] > 180) & (pixels[..., 1] < 150) & (pixels[..., 2] < 120)
    assert reddish.mean() > 0.002  # gap polygons are drawn


# --- siting --------------------------------------------------------------------------------------


def test_three_day_care_sites_gain_what_the_coverage_engine_confirms(demo_db, base_run):
    """Demand is the elderly; each centre serves at most its places × 25 elderly; the residents and
    elderly the sites newly reach are what evaluating them as a scenario finds."""
    with session(demo_db) as s:
        result = siting.site(s, type_code="elderly_daycare", k=3)
        inputs = coverage_service.read_inputs(s)
    plan = result.maximal
    assert result.users.measure == "elderly" and result.capacity_users == result.capacity * 25
    assert plan.solution.method == "exact" and plan.solution.gap == 0.0
    assert len(plan.sites) == 3 and (plan.sites.area_kind == "isochrone").all()
    assert (plan.sites.users_served <= plan.sites.capacity_users + 1e-6).all()
    assert plan.sites.users_served.sum() == pytest.approx(plan.solution.value) and plan.solution.value > 0
    assert plan.sites.place.str.len().min() > 0 and plan.sites.town.notna().all()
    adds = [
        {"op": "add", "type_code": "elderly_daycare", "lon": r.lon, "lat": r.lat}
        for r in plan.sites.itertuples()
    ]
    delta = scenarios.evaluate_changes(inputs, adds).delta
    district = delta[delta.level == "district"].iloc[0]
    assert district.population_lost == 0
    assert district.population_gained == plan.sites.population_gained.sum()
    assert district.elderly_gained == pytest.approx(plan.sites.users_reached.sum())
    summary = siting.summary(result)
    assert "residence_id" not in str(summary)
