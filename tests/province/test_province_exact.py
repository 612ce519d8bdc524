"""Partitioned (per-county, Dask) coverage equals the single-machine run, home by home.

Three fictional counties (``conftest.region_db``) joined by roads across their borders, loaded
into a real PostGIS; a real Dask LocalCluster (threads) runs the counties. The CLI test runs the
same region on worker processes, with failures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def single(region_db):
    from geo.coverage import run_coverage
    from layers.db import session
    from pipeline.coverage import RunConfig, read_inputs

    config = RunConfig()
    with session(region_db) as s:
        inp = read_inputs(s, config=config)
    result = run_coverage(
        inp.nodes,
        inp.edges,
        inp.facilities,
        inp.residences,
        inp.areas,
        inp.facility_types,
        inp.profiles,
        max_distance_m=config.snap_max_m,
        with_gaps=False,
    )
    return result.per_residence, inp


@pytest.fixture(scope="module")
def partitioned(region_db):
    from pipeline.coverage import RunConfig
    from province.run import run_province

    seen = []
    out = run_province(
        region_db,
        scheduler="local:2",
        processes=False,
        config=RunConfig(),
        progress=lambda label, done, total: seen.append((label, done, total)),
    )
    return out, seen


def _key(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(type_code=frame.type_code.astype(str), circle=frame.circle.astype(str))
    return frame.set_index(["type_code", "circle", "residence_id"]).sort_index()


def test_partitioned_run_equals_single_machine_home_by_home(region_db, region_codes, single, partitioned):
    codes = region_codes
    from layers import province as store
    from layers.db import session
    from province.synthetic import ID_STEP

    out, seen = partitioned
    assert out["status"] == "done" and out["failed"] == []
    assert [d for _, d, _ in seen] == [1, 2, 3] and {t for _, _, t in seen} == {3}
    with session(region_db) as s:
        stored = _key(store.residence_rows(s, out["run_id"]))
    full = _key(single[0])
    assert len(stored) == len(full) > 0
    assert stored.index.equals(full.index)
    t_full, t_part = full.time_s.to_numpy(float), stored.time_s.to_numpy(float)
    assert np.array_equal(np.isnan(t_full), np.isnan(t_part))
    both = ~np.isnan(t_full)
    assert both.sum() > 0
    assert np.max(np.abs(t_full[both] - t_part[both])) <= 1e-6
    assert (
        full.facility_id.astype("Int64").fillna(-1).to_numpy().tolist()
        == stored.facility_id.astype("Int64").fillna(-1).to_numpy().tolist()
    )
    assert (full.covered.to_numpy(bool) == stored.covered.to_numpy(bool)).all()
    # homes whose nearest facility lies in another county exist, and agree
    home_county = stored.index.get_level_values("residence_id").to_numpy() // ID_STEP
    fac = stored.facility_id.astype("Int64")
    across = fac.notna().to_numpy() & (fac.fillna(0).to_numpy(np.int64) // ID_STEP != home_county)
    assert across.sum() > 0
    # partitions are genuinely partial: the outer counties do not read the whole region's network
    total_edges = int(single[1].edges.shape[0])
    assert (
        out["counties"][codes[0]]["edges"] < total_edges and out["counties"][codes[-1]]["edges"] < total_edges
    )


def test_rollup_matches_the_per_home_rows(region_db, region_codes, single, partitioned):
    codes = region_codes
    from layers import province as store
    from layers.db import session

    out, _ = partitioned
    pr, inp = single
    pop = inp.residences.set_index("residence_id").population
    frame = pr.assign(
        type_code=pr.type_code.astype(str),
        circle=pr.circle.astype(str),
        population=pop.reindex(pr.residence_id).to_numpy(),
        county=(pr.residence_id.to_numpy() // 10_000_000).astype(int),
    )
    with session(region_db) as s:
        roll = store.rollup(s, out["run_id"])
    counties = roll[roll.level == "county"]
    assert sorted(counties.code.unique()) == codes
    for (code, circle), g in frame.groupby(["type_code", "circle"]):
        prov = roll[(roll.level == "province") & (roll.type_code == code) & (roll.circle == circle)]
        city = roll[(roll.level == "city") & (roll.type_code == code) & (roll.circle == circle)]
        assert prov.code.tolist() == ["44"] and city.code.tolist() == ["4415"]
        assert int(prov.population.iloc[0]) == int(g.population.sum())
        assert int(prov.population_covered.iloc[0]) == int(g.population[g.covered].sum())
        for k, cg in g.groupby("county"):
            row = counties[
                (counties.code == codes[k]) & (counties.type_code == code) & (counties.circle == circle)
            ]
            assert int(row.homes.iloc[0]) == len(cg)
            assert int(row.population_covered.iloc[0]) == int(cg.population[cg.covered].sum())
