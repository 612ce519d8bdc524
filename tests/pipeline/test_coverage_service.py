"""Coverage runs end to end on the demo district: stored, incremental after one edit, targets."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from geo.measures import required_bundles
from layers import store
from layers.db import session
from layers.queries import read_frame
from pipeline import coverage as service


def _area_table(s, run_id):
    cols = [
        "area_id",
        "type_code",
        "population",
        "population_covered",
        "households_covered",
        "elderly_covered",
    ]
    return store.area_results(s, run_id)[cols].sort_values(["area_id", "type_code"]).reset_index(drop=True)


def _all_rows(s, run_id: int) -> dict[str, pd.DataFrame]:
    """Every stored result row of a run, sorted, without run ids, gap ids and write times."""
    frames = {
        "area": store.area_results(s, run_id).sort_values(["area_id", "type_code"]),
        "residence": store.residence_results(s, run_id).sort_values(["residence_id", "type_code"]),
        "facility": store.facility_results(s, run_id).sort_values("facility_id"),
        "gaps": store.gap_results(s, run_id).sort_values(["type_code", "rank"]),
        "targets": store.target_results(s, run_id).sort_values(["target_code", "area_id"]),
        "circle": read_frame(
            s,
            "SELECT * FROM coverage_area_circle WHERE run_id = :r ORDER BY type_code, circle, area_id",
            {"r": run_id},
        ),
    }
    out = {}
    for name, f in frames.items():
        if "geometry" in f:
            f = pd.DataFrame(f.assign(wkt=f.geometry.normalize().to_wkt()).drop(columns="geometry"))
        drop = [c for c in ("run_id", "gap_id", "created_at", "updated_at") if c in f]
        out[name] = f.drop(columns=drop).reset_index(drop=True)
    return out


@pytest.fixture(scope="module")
def base_run(demo_db):
    with session(demo_db) as s:
        return service.run_and_store(s, incremental=False)


def test_run_is_stored_with_data_version_and_summary(demo_db, base_run):
    assert base_run["status"] == "done"
    assert base_run["data_version"]["network_edges"] >= 1
    summary = base_run["summary"]
    assert set(summary["types"]) >= {"kindergarten", "elderly_daycare", "health_center"}
    with session(demo_db) as s:
        per_res = store.residence_results(s, base_run["run_id"], type_code="kindergarten")
        limit = s.execute(
            text(
                "SELECT urban_max_time_min, rural_max_time_min FROM facility_types "
                "WHERE code = 'kindergarten'"
            )
        ).one()
        district = store.area_results(s, base_run["run_id"], level="district", type_code="kindergarten")
    # covered means the stored time is within the larger of the two circles' limits, never beyond
    assert (per_res.time_s[per_res.covered] <= max(limit) * 60 + 1e-6).all()
    assert int(district.population_covered.iloc[0]) == summary["types"]["kindergarten"]["population_covered"]


def test_incremental_run_after_one_edit_equals_a_full_run(demo_db, base_run):
    with session(demo_db, actor="pytest") as s:
        fid, code = s.execute(
            text(
                "SELECT facility_id, type_code FROM facilities WHERE status = 'open' "
                "AND type_code = 'elderly_daycare' ORDER BY facility_id LIMIT 1"
            )
        ).one()
        s.execute(text("UPDATE facilities SET status = 'closed' WHERE facility_id = :f"), {"f": fid})
    try:
        with session(demo_db) as s:
            inc = service.run_and_store(s, incremental=True)
        with session(demo_db) as s:
            full = service.run_and_store(s, incremental=False)
        assert inc["summary"]["recomputed_types"] == [code]
        assert len(full["summary"]["recomputed_types"]) > 20
        with session(demo_db) as s:
            a = _area_table(s, inc["run_id"])
            before = _area_table(s, base_run["run_id"])
            every_inc, every_full = _all_rows(s, inc["run_id"]), _all_rows(s, full["run_id"])
            homes_before = _all_rows(s, base_run["run_id"])["residence"]
        # every stored row of the incremental run equals the full run's: areas, homes, facilities,
        # gap polygons and per-area targets (copied types and the recomputed one alike)
        for name, rows in every_inc.items():
            assert len(rows) > 0, name
            pd.testing.assert_frame_equal(rows, every_full[name], obj=name)
        assert fid not in set(every_inc["facility"].facility_id)  # the closed centre serves nobody
        lost = homes_before.merge(
            every_inc["residence"], on=["residence_id", "type_code"], suffixes=("_0", "_1")
        )
        lost = lost[lost.covered_0 & ~lost.covered_1]
        assert len(lost) and set(lost.type_code) == {code} and set(lost.facility_id_0.astype(int)) == {fid}
        changed = before.merge(a, on=["area_id", "type_code"], suffixes=("_0", "_1"))
        changed = changed[changed.population_covered_0 != changed.population_covered_1]
        assert set(changed.type_code) == {code}  # closing a day-care centre changes only day care
        assert (changed.population_covered_1 <= changed.population_covered_0).all()
    finally:
        with session(demo_db, actor="pytest") as s:
            s.execute(text("UPDATE facilities SET status = 'open' WHERE facility_id = :f"), {"f": fid})


def test_measures_of_reused_types_equal_the_runs_own_read_back_or_kept(demo_db, base_run):
    """An incremental run with nothing edited reuses every type; its composite measure (residents
    reaching every required type), shares and targets are built from the per-home and per-area rows
    of the run that computed them — read back from the store in a fresh process, kept in memory
    after that."""

    def composite(s, run_id):
        rows = read_frame(
            s,
            "SELECT * FROM coverage_composite WHERE run_id = :r ORDER BY circle, tier, area_id",
            {"r": run_id},
        )
        stamps = [c for c in ("run_id", "created_at", "updated_at") if c in rows]
        return rows.drop(columns=stamps).reset_index(drop=True)

    with session(demo_db) as s:  # whatever earlier tests edited and restored: a run of today's data
        settled = service.run_and_store(s, incremental=True)
    service._PER_HOME.clear()  # as a fresh process: nothing kept
    service._AREA_COUNTS.clear()
    with session(demo_db) as s:
        cold = service.run_and_store(s, incremental=True)
    with session(demo_db) as s:
        bundles = required_bundles(service.read_inputs(s).facility_types)
    required = {code for codes in bundles.values() for code in codes}
    assert len(required) > 5 and len(service._PER_HOME) == len(required)  # read back once, kept
    with session(demo_db) as s:
        warm = service.run_and_store(s, incremental=True)
    with session(demo_db) as s:
        expected = composite(s, settled["run_id"])
        assert len(expected) and expected.population_covered.sum() > 0
        for run in (cold, warm):
            assert run["summary"]["recomputed_types"] == []
            pd.testing.assert_frame_equal(composite(s, run["run_id"]), expected)
            for part in ("composite", "types", "targets"):  # judged on per-area rows kept alike
                assert run["summary"][part] == settled["summary"][part], part


def test_targets_of_each_measure_are_evaluated_against_counts_made_in_sql(demo_db, base_run):
    run_id = base_run["run_id"]
    with session(demo_db) as s:
        # presence, counted by PostGIS itself: urban communities covering an open day-care centre
        # (no service-area rule names day care in the urban circle)
        urban, having = s.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM facilities f "
                "WHERE f.status = 'open' AND f.type_code = 'elderly_daycare' "
                "AND ST_Covers(a.geom, f.geom))) FROM areas a WHERE a.level = 'community' AND a.urban"
            )
        ).one()
        # network and radius: the circle's residents from the stored per-home rows
        network, radius, people = s.execute(
            text(
                "SELECT sum(r.population) FILTER (WHERE c.covered), sum(r.population) "
                "FILTER (WHERE c.circle IS NOT NULL), sum(r.population) FROM coverage_residence c "
                "JOIN residences r USING (residence_id) WHERE c.run_id = :r AND c.type_code = 'health_center'"
            ),
            {"r": run_id},
        ).one()
        composite = s.execute(
            text(
                "SELECT sum(r.population) FROM residences r WHERE r.residence_id IN (SELECT residence_id "
                "FROM coverage_residence c JOIN facility_types t ON t.code = c.type_code WHERE c.run_id = :r "
                "AND c.circle = 'urban' AND t.required AND t.urban_tier = '15min' "
                "GROUP BY residence_id HAVING bool_and(c.covered) AND count(*) = (SELECT count(*) "
                "FROM facility_types WHERE required AND urban_tier = '15min' AND urban_profile IS NOT NULL))"
            ),
            {"r": run_id},
        ).scalar()
        urban_people = s.execute(
            text(
                "SELECT sum(r.population) FROM residences r WHERE r.residence_id IN (SELECT residence_id "
                "FROM coverage_residence WHERE run_id = :r AND circle = 'urban')"
            ),
            {"r": run_id},
        ).scalar()
    targets = {t["code"]: t for t in base_run["summary"]["targets"]}
    daycare = targets["daycare_presence_urban"]
    assert daycare["measure"] == "presence" and daycare["measure_zh"] == "设施覆盖社区比例"
    assert daycare["value"] == pytest.approx(having / urban)
    assert daycare["pass"] is (having / urban >= 0.8)
    assert targets["health_network"]["value"] == pytest.approx(network / people)
    assert (
        targets["health_network"]["measure_zh"] == "步行可达覆盖率"
        and targets["health_network"]["definition_zh"]
    )
    assert people == radius  # every home has a health-centre row (both circles have a tier)
    # the 15-minute life circle's own bundle (GB 50180 表B.0.1 level), as the target names it
    assert targets["composite_urban"]["value"] == pytest.approx((composite or 0) / urban_people)
    assert base_run["summary"]["composite"]["urban"]["tier"] == "15min"
    # no server path in what planners are sent
    assert "/" not in json.dumps(base_run["params"]["tables"])


CIRCLE_MEASURES = ("households", "population", "elderly", "children")


def test_per_circle_totals_are_stored_and_equal_sums_over_the_homes(demo_db, base_run):
    """Ground truth: each area's homes and its descendants' summed in SQL from the per-home rows (the
    query the planner map ran on every request before the totals were stored with the run); large
    grids, which are not ancestors of homes, add up to their town like the other totals."""
    sums = ", ".join(
        f"sum(h.{m})::bigint AS {m}, coalesce(sum(h.{m}) FILTER (WHERE r.covered), 0)::bigint AS {m}_covered"
        for m in CIRCLE_MEASURES
    )
    with session(demo_db) as s:
        stored = read_frame(
            s,
            "SELECT c.*, a.level FROM coverage_area_circle c JOIN areas a USING (area_id) WHERE run_id = :r",
            {"r": base_run["run_id"]},
        )
        truth = read_frame(
            s,
            f"""
            WITH RECURSIVE up(area_id, anc) AS (
                SELECT area_id, area_id FROM areas
                UNION ALL SELECT up.area_id, a.parent_id FROM up JOIN areas a ON a.area_id = up.anc
                WHERE a.parent_id IS NOT NULL)
            SELECT r.type_code, r.circle, up.anc AS area_id, {sums}
            FROM coverage_residence r JOIN residences h USING (residence_id) JOIN up ON up.area_id = h.area_id
            WHERE r.run_id = :r GROUP BY r.type_code, r.circle, up.anc""",
            {"r": base_run["run_id"]},
        )
        totals = store.area_results(s, base_run["run_id"])
    assert set(stored.circle) == {"urban", "rural"}
    keys = ["type_code", "circle", "area_id"]
    columns = [c for m in CIRCLE_MEASURES for c in (m, f"{m}_covered")]
    own = stored[stored.level != "grid_large"].sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        own[keys + columns].astype({c: "int64" for c in columns}),
        truth.sort_values(keys).reset_index(drop=True)[keys + columns].astype({c: "int64" for c in columns}),
    )
    both = stored.groupby(["type_code", "area_id"])[columns].sum().sort_index()
    whole = totals.set_index(["type_code", "area_id"])[columns].sort_index()
    # the two circles make the whole
    pd.testing.assert_frame_equal(both.astype("int64"), whole.astype("int64"))


def test_loads_follow_the_capacity_basis_of_the_type(demo_db, base_run):
    with session(demo_db) as s:
        fac = store.facility_results(s, base_run["run_id"])
        capacity = dict(s.execute(text("SELECT facility_id, capacity FROM facilities")).all())
    # beds of a health centre mean nothing for its out-patient catchment: no load at all
    assert fac[fac.type_code == "health_center"].load.isna().all()
    assert fac[fac.type_code == "police_station"].load.isna().all()
    kg = fac[(fac.type_code == "kindergarten") & fac.facility_id.map(capacity).gt(0)].set_index("facility_id")
    with session(demo_db) as s:
        res = store.residence_results(s, base_run["run_id"], type_code="kindergarten")
        children = dict(s.execute(text("SELECT residence_id, children FROM residences")).all())
    res = res[res.covered]
    demand = res.residence_id.map(children).groupby(res.facility_id.astype("int64")).sum()
    # data/facility_types.csv: one kindergarten place per 5 children aged 0-14
    want = [demand.get(f, 0) / (capacity[f] * 5) for f in kg.index]
    np.testing.assert_allclose(kg.load.to_numpy(float), want)
    assert kg.load.notna().all() and 0 < kg.load.median() < 20
    homes = fac[fac.type_code == "nursing_home"]
    assert homes.load.notna().any()


def test_large_grids_are_aggregated_and_add_up_to_their_town(demo_db, base_run):
    with session(demo_db) as s:
        pa = store.area_results(s, base_run["run_id"])
    large, towns = pa[pa.level == "grid_large"], pa[pa.level == "town"]
    assert large.area_id.nunique() == towns.area_id.nunique() >= 3  # the demo: one large grid per town
    cols = [
        "population",
        "population_covered",
        "households",
        "households_covered",
        "elderly_covered",
        "children_covered",
    ]
    summed = (
        large.assign(parent_id=large.parent_id.astype("int64"))
        .groupby(["parent_id", "type_code"])[cols]
        .sum()
    )
    summed = summed.sort_index()
    town = towns.set_index(["area_id", "type_code"])[cols].sort_index()
    town.index.names = summed.index.names
    pd.testing.assert_frame_equal(summed.astype("int64"), town.astype("int64"))


def test_editing_a_speed_makes_runs_stale_and_recomputes_the_types_using_that_profile(demo_db, tmp_path):
    edited = tmp_path / "profiles.csv"
    table = pd.read_csv(service.PROFILES_CSV, dtype=str, keep_default_na=False)
    primary = (table.profile == "car") & (table.highway == "primary")
    assert table.loc[primary, "speed_kmh"].tolist() == ["50"]
    table.loc[primary, "speed_kmh"] = "35"
    table.to_csv(edited, index=False)
    config = service.RunConfig.from_settings(profiles_csv=edited)
    with session(demo_db) as s:
        before = service.run_and_store(s, incremental=True)  # a whole run with the shipped profiles
    with session(demo_db) as s:
        assert not service.is_stale(s, before, config=service.RunConfig())
        assert service.is_stale(s, before, config=config)
    with session(demo_db) as s:
        inc = service.run_and_store(s, incremental=True, config=config)
    with session(demo_db) as s:
        full = service.run_and_store(s, incremental=False, config=config)
        assert not service.is_stale(s, inc, config=config) and service.is_stale(
            s, inc, config=service.RunConfig()
        )
    uses_car = sorted(inputs_types_using("car"))
    assert uses_car and inc["summary"]["recomputed_types"] == uses_car
    assert inc["params"]["profiles"]["car"]["speeds_kmh"]["primary"] == 35
    with session(demo_db) as s:
        for table_of in (store.area_results, store.residence_results):
            a = table_of(s, inc["run_id"]).drop(
                columns=["run_id", "created_at", "updated_at"], errors="ignore"
            )
            b = table_of(s, full["run_id"]).drop(
                columns=["run_id", "created_at", "updated_at"], errors="ignore"
            )
            pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
        changed = store.residence_results(s, inc["run_id"], type_code=uses_car[0]).time_s.to_numpy()
        was = store.residence_results(s, before["run_id"], type_code=uses_car[0]).time_s.to_numpy()
    assert (np.nan_to_num(changed, nan=1e9) >= np.nan_to_num(was, nan=1e9) - 1e-9).all()  # slower roads
    assert (np.nan_to_num(changed, nan=1e9) > np.nan_to_num(was, nan=1e9) + 1e-6).any()
    with session(demo_db) as s:
        service.run_and_store(s, incremental=False)  # the shipped profiles again for later tests


def inputs_types_using(profile: str) -> set[str]:
    types = pd.read_csv(service.FACILITY_TYPES_CSV)
    return set(types.code[(types.urban_profile == profile) | (types.rural_profile == profile)])


def test_run_records_its_parameters_and_real_start(demo_db):
    with session(demo_db) as s:
        row = service.run_and_store(s, incremental=False, types=["kindergarten"])
        service.run_and_store(s, incremental=False)
    params = row["params"]
    assert params["snap_max_m"] == 500.0 and params["gap_link_m"] == 250.0
    assert (
        params["profiles"]["walk"]["speeds_kmh"]["*"] == 4.0 and params["profiles"]["car"]["respect_oneway"]
    )
    assert len(params["thresholds"]) == 16 and set(params["config"]) >= {"profiles", "targets", "snap_max_m"}
    assert row["finished_at"] > row["started_at"]  # the real start, not the transaction's now()
    took = (row["finished_at"] - row["started_at"]).total_seconds()
    assert took >= row["summary"]["seconds"] > 0


def test_progress_is_reported_per_type_and_profile(demo_db):
    seen: list[tuple[str, int]] = []
    with session(demo_db) as s:
        service.run_and_store(
            s,
            incremental=False,
            types=["nursing_home", "police_station"],
            progress=lambda label, total: seen.append((label, total)),
        )
    labels = [label for label, _ in seen]
    # nursing home: walk_elderly (urban) and ebike (rural); police: walk and car
    searches = [
        "nursing_home/ebike",
        "nursing_home/walk_elderly",
        "police_station/car",
        "police_station/walk",
    ]
    assert labels == ["read", *searches, "areas", "gaps", "stored"]
    assert {total for _, total in seen} == {len(labels)}
    with session(demo_db) as s:
        service.run_and_store(s, incremental=False)


def test_homes_far_from_every_street_are_reported_unreachable(demo_db, demo_district):
    far = set(demo_district.planted.object_id[demo_district.planted.case == "far_from_road"])
    assert len(far) == 2
    with session(demo_db) as s:
        row = service.run_and_store(s, incremental=False)
        res = store.residence_results(s, row["run_id"])
    unreachable = row["summary"]["unreachable"]
    assert unreachable["snap_max_m"] == 500.0 and row["params"]["snap_max_m"] == 500.0
    flagged = res[res.unreachable]
    assert set(flagged.residence_id) == far == {int(r) for r in far}  # only the planted watch houses
    assert unreachable["residences"] == 2 and unreachable["population"] == 4
    assert flagged.time_s.isna().all() and not flagged.covered.any()
    # every applicable type reports them (each is a home of its circle for every type)
    some_type = unreachable["by_type"]["kindergarten"]
    assert some_type["residences"] == 2 and some_type["population"] == 4
    # a longer snapping distance (setting or option) reaches them, and is recorded (the public map's
    # isochrones at other distances: tests/pipeline/test_facility_isochrones.py)
    config = service.RunConfig(snap_max_m=1000.0, store_isochrones=False)
    with session(demo_db) as s:
        longer = service.run_and_store(s, incremental=True, config=config)
        res = store.residence_results(s, longer["run_id"])
    assert longer["params"]["snap_max_m"] == 1000.0 and longer["summary"]["unreachable"]["residences"] == 0
    assert longer["params"]["reused_types"] == []  # another snapping distance: nothing is reused
    assert not res.unreachable.any() and res[res.residence_id.isin(far)].time_s.notna().any()
    with session(demo_db) as s:
        assert service.is_stale(s, longer)  # the configured distance is still 500 m
        service.run_and_store(s, incremental=False)


def test_snap_setting_comes_from_the_environment(monkeypatch):
    from settings import SettingsError, coverage_settings

    monkeypatch.setenv("MINQING_SNAP_MAX_M", "750")
    coverage_settings.cache_clear()
    try:
        assert service.RunConfig.from_settings().snap_max_m == 750.0
        assert service.RunConfig.from_settings(snap_max_m=90.0).snap_max_m == 90.0
        monkeypatch.setenv("MINQING_SNAP_MAX_M", "-1")
        coverage_settings.cache_clear()
        with pytest.raises(SettingsError, match="MINQING_SNAP_MAX_M"):
            service.RunConfig.from_settings()
    finally:
        monkeypatch.delenv("MINQING_SNAP_MAX_M")
        coverage_settings.cache_clear()


def test_targets_are_judged_per_town_and_community_and_stored(demo_db):
    with session(demo_db) as s:
        row = service.run_and_store(s, incremental=True)
        pa = store.area_results(s, row["run_id"])
        areas = pd.DataFrame(
            s.execute(text("SELECT area_id, parent_id, level, urban FROM areas")).mappings().all()
        )
        stored = store.target_results(s, row["run_id"])
    targets = pd.read_csv(service.TARGETS_CSV).set_index("code")
    comm = areas[areas.level == "community"]
    towns = areas[areas.level == "town"].area_id
    with session(demo_db) as s:  # urban communities with an open day-care centre, counted by PostGIS
        having = {
            r[0]
            for r in s.execute(
                text(
                    "SELECT a.area_id FROM areas a WHERE a.level = 'community' "
                    "AND EXISTS (SELECT 1 FROM facilities f WHERE f.status = 'open' "
                    "AND f.type_code = 'elderly_daycare' AND ST_Covers(a.geom, f.geom))"
                )
            )
        }
    dc = targets.loc["daycare_presence_urban"]
    judged = stored[stored.target_code == "daycare_presence_urban"].set_index("area_id")
    assert set(judged.level) == {"district", "town"}  # a share of communities: not per community
    urban_comm = comm[comm.urban.astype(bool)]
    for town in towns:
        mine = urban_comm[urban_comm.parent_id == town].area_id
        if not len(mine):
            assert town not in judged.index or pd.isna(judged.value.get(town))
            continue
        reached = sum(1 for c in mine if c in having)
        assert judged.communities[town] == len(mine) and judged.communities_reached[town] == reached
        assert judged.value[town] == pytest.approx(reached / len(mine))
        assert judged["pass"][town] == (reached / len(mine) >= dc.threshold)
    district = judged[judged.level == "district"].iloc[0]
    summary = next(t for t in row["summary"]["targets"] if t["code"] == "daycare_presence_urban")
    assert district.value == pytest.approx(summary["value"])
    assert {w["area_id"] for w in summary["towns"]} <= set(towns)
    # kindergarten radius (urban): per urban community its share of residents within 300 m
    kg = stored[stored.target_code == "kindergarten_radius"].set_index("area_id")
    kpa = pa[(pa.type_code == "kindergarten") & (pa.level == "community")].set_index("area_id")
    urban = urban_comm.area_id
    assert set(kg[kg.level == "community"].index) == set(urban)
    for c in urban:
        assert kg.value[c] == pytest.approx(kpa.population_in_radius[c] / kpa.population[c])
    per_town = (
        kpa.loc[urban]
        .groupby(comm.set_index("area_id").parent_id.loc[urban].to_numpy())[
            ["population", "population_in_radius"]
        ]
        .sum()
    )
    for town, r in per_town.iterrows():
        assert kg.value[town] == pytest.approx(r.population_in_radius / r.population)
