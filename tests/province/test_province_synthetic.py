"""The synthetic province: real NBS names, codes and counts, fictional places inside the open-sea box.

The expected counts are read here from the division CSVs with the ``csv`` module, independently of
the pandas code that builds the province.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict

import networkx as nx
import numpy as np
import pytest
import shapely

from settings import divisions_dir


def _rows(name: str) -> list[dict[str, str]]:
    with open(divisions_dir() / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def divisions():
    return _rows("guangdong_towns_streets.csv"), _rows("guangdong_villages_communities.csv")


@pytest.fixture(scope="module")
def made():
    from province.synthetic import synthetic_province

    return synthetic_province(3, 0.15)


def test_county_choice_follows_the_division_list(divisions):
    from province.synthetic import real_counties

    towns, villages = divisions
    n_towns = Counter(r["county_code"] for r in towns)
    n_villages = Counter(r["county_code"] for r in villages)
    four = real_counties(divisions_dir(), 4)
    assert four.city_code.nunique() == 4  # one county from each of four cities
    city = real_counties(divisions_dir(), cities=["4415"])  # 汕尾市, every county of it
    assert sorted(city.county_code) == sorted({r["county_code"] for r in towns if r["city_code"] == "4415"})
    for row in [*four.itertuples(), *city.itertuples()]:
        assert row.towns == n_towns[row.county_code] and row.villages == n_villages[row.county_code]
    with pytest.raises(ValueError, match="4-digit"):
        real_counties(divisions_dir(), cities=["9999"])


def test_every_county_has_its_real_towns_and_villages(made, divisions):
    from province.synthetic import ID_STEP

    district, table = made
    towns, villages = divisions
    areas = district.areas
    assert areas.code.is_unique and areas.area_id.is_unique
    parent = dict(zip(areas.area_id, areas.parent_id, strict=True))
    for k, county in enumerate(table.county_code):
        d = areas[(areas.level == "district") & (areas.area_id // ID_STEP == k)]
        assert d.code.str[:6].tolist() == [county]
        assert d.name.tolist() == [next(r["county_name"] for r in towns if r["county_code"] == county)]
        real_t = {r["code"] + "000": r["name"] for r in towns if r["county_code"] == county}
        mine_t = areas[(areas.level == "town") & (areas.parent_id == int(d.area_id.iloc[0]))]
        assert dict(zip(mine_t.code, mine_t.name, strict=True)) == real_t  # same count, codes and names
        real_v = defaultdict(dict)
        for r in villages:
            if r["county_code"] == county:
                real_v[r["town_code"] + "000"][r["code"]] = r["name"]
        for t in mine_t.itertuples():
            kids = areas[(areas.level == "community") & (areas.parent_id == t.area_id)]
            assert dict(zip(kids.code, kids.name, strict=True)) == real_v[t.code]
        in_county = areas[areas.area_id // ID_STEP == k]
        assert (in_county.level == "community").sum() == sum(r["county_code"] == county for r in villages)
        assert len(mine_t) == sum(r["county_code"] == county for r in towns)
        # a large grid per town, nothing else hangs from the district
        large = areas[(areas.level == "grid_large") & areas.parent_id.isin(mine_t.area_id)]
        assert sorted(large.parent_id) == sorted(mine_t.area_id)
    assert all(parent[a] is not None for a in areas.area_id[areas.level != "district"])


def test_villages_tile_their_towns_and_homes_lie_in_their_village(made, divisions):
    from province.synthetic import ID_STEP

    district, _ = made
    areas = district.areas.set_index("area_id")
    for level, up in (("town", "district"), ("community", "town")):
        kids = areas[areas.level == level]
        for pid, group in kids.groupby("parent_id"):
            whole = areas.geometry[pid]
            union = shapely.union_all(group.geometry.to_numpy())
            assert abs(union.area - whole.area) <= 1e-6 * whole.area and areas.level[pid] == up
            assert shapely.symmetric_difference(union, whole).area <= 1e-6 * whole.area
            assert (shapely.area(group.geometry.to_numpy()) > 0).all()  # every village has land
    res = district.residences
    home_level = areas.level.reindex(res.area_id).to_numpy()
    assert set(home_level) <= {"community", "town"} and (home_level == "community").mean() > 0.99
    assert (
        areas.index.to_numpy()[np.searchsorted(areas.index, res.area_id)] // ID_STEP
        == res.residence_id.to_numpy() // ID_STEP
    ).all()  # homes stay in their own county
    geoms = areas.geometry.reindex(res.area_id).to_numpy()
    assert shapely.dwithin(geoms, res.geometry.to_numpy(), 1e-7).all()
    # households add up; urban follows the real class (居委会 001-199 urban, 村委会 200-399 rural)
    comm = areas[areas.level == "community"]
    per = res.groupby("area_id").households.sum()
    assert (comm.households.to_numpy() == per.reindex(comm.index).fillna(0).to_numpy()).all()
    hint = {r["code"]: r["code_class_hint"] for r in divisions[1]}
    urban_hint = comm.code.map(hint)
    known = ~urban_hint.str.startswith("other")
    assert (comm.urban[known] == urban_hint[known].str.startswith("居委会")).all()
    # addresses name the real county, town and village
    first = res.iloc[0]
    v = areas.loc[first.area_id]
    county = areas.loc[areas.loc[v.parent_id].parent_id]
    assert first.address.startswith(county["name"] + areas.loc[v.parent_id]["name"] + v["name"])


def test_offshore_fictional_and_joined_across_borders(made):
    from data.demo import SOURCE
    from data.demo.geography import SAFE_BOX
    from province.synthetic import ID_STEP

    district, _ = made
    x0, y0, x1, y1 = district.areas.total_bounds
    assert SAFE_BOX[0] <= x0 and x1 <= SAFE_BOX[2] and SAFE_BOX[1] <= y0 and y1 <= SAFE_BOX[3]
    assert (district.residences.source == SOURCE).all() and (district.facilities.source == SOURCE).all()
    assert (district.areas.source == SOURCE).all()
    assert district.place_names.area_id.isin(district.areas.area_id).all()
    g = nx.Graph()
    g.add_edges_from(zip(district.edges.u, district.edges.v, strict=True))
    county_of = {n: n // ID_STEP for n in g.nodes}
    joined = {(county_of[u], county_of[v]) for u, v in g.edges if county_of[u] != county_of[v]}
    assert (0, 1) in joined or (1, 0) in joined
    first = nx.node_connected_component(g, next(n for n in g.nodes if county_of[n] == 0))
    assert {county_of[n] for n in first} >= {0, 1}  # one street network spans the border
