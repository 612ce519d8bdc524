"""The synthetic province: real NBS names and codes, fictional places inside the open-sea box."""

from __future__ import annotations

import networkx as nx
import pandas as pd
import pytest

from data import divisions_dir


@pytest.fixture(scope="module")
def made():
    from province.synthetic import synthetic_province

    return synthetic_province(4, 0.15)


def test_counties_towns_and_villages_carry_real_names_and_codes(made):
    district, table = made
    towns = pd.read_csv(divisions_dir() / "guangdong_towns_streets.csv", dtype=str)
    villages = pd.read_csv(divisions_dir() / "guangdong_villages_communities.csv", dtype=str)
    real = towns.groupby("county_code").county_name.first()
    assert table.city_code.nunique() == 4  # one county from each of four cities
    for row in table.itertuples():
        assert real[row.county_code] == row.county_name
        assert row.towns == (towns.county_code == row.county_code).sum()
        assert row.villages == (villages.county_code == row.county_code).sum()
    areas = district.areas
    assert areas.code.is_unique
    d = areas[areas.level == "district"]
    assert sorted(d.code.str[:6]) == sorted(table.county_code) and set(d.name) == set(table.county_name)
    t = areas[areas.level == "town"]
    town_names = dict(zip(towns.code + "000", towns.name, strict=True))
    assert len(t) > 0 and all(town_names.get(c) == n for c, n in zip(t.code, t.name, strict=True))
    village_names = dict(zip(villages.code, villages.name, strict=True))
    c = areas[areas.level == "community"]
    renamed = c[c.code.isin(village_names)]
    assert len(renamed) > 0 and all(village_names[k] == n for k, n in zip(renamed.code, renamed.name, strict=True))


def test_offshore_fictional_and_joined_across_borders(made):
    from data.demo import SOURCE
    from data.demo.geography import SAFE_BOX
    from province.synthetic import ID_STEP

    district, _ = made
    x0, y0, x1, y1 = district.areas.total_bounds
    assert SAFE_BOX[0] <= x0 and x1 <= SAFE_BOX[2] and SAFE_BOX[1] <= y0 and y1 <= SAFE_BOX[3]
    assert (district.residences.source == SOURCE).all() and (district.facilities.source == SOURCE).all()
    g = nx.Graph()
    g.add_edges_from(zip(district.edges.u, district.edges.v, strict=True))
    county_of = {n: n // ID_STEP for n in g.nodes}
    joined = {(county_of[u], county_of[v]) for u, v in g.edges if county_of[u] != county_of[v]}
    assert (0, 1) in joined or (1, 0) in joined
    first = nx.node_connected_component(g, next(n for n in g.nodes if county_of[n] == 0))
    assert {county_of[n] for n in first} >= {0, 1}  # one street network spans the border
