"""geo.gaps: single-linkage gap areas, ranked by people, valid polygons holding their points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from geo_cases import points

from geo.gaps import gap_areas


def residents(xy, population):
    frame = points(xy)
    frame["population"] = population
    frame["households"] = np.asarray(population) // 3
    frame["elderly"] = 1
    frame["children"] = 2
    return frame


def test_clusters_ranked_by_population():
    west = [(0, 0), (50, 0), (100, 30), (150, 0), (60, 80)]
    east = [(2000, 0), (2100, 0), (2050, 90)]
    pts = residents(west + east + [(5000, 5000)], [10] * 5 + [100] * 3 + [70])
    gaps = gap_areas(pts, link_m=250)
    assert gaps.gap_rank.tolist() == [1, 2, 3]
    assert gaps.population.tolist() == [300, 70, 50]
    assert gaps.points.tolist() == [3, 1, 5]
    assert gaps.children.tolist() == [6, 2, 10]
    assert gaps.crs.to_epsg() == 4326
    geoms = gaps.geometry.to_numpy()
    assert shapely.is_valid(geoms).all() and (shapely.get_type_id(geoms) == 3).all()
    # each point lies in its own gap and in no other
    members = {0: list(range(5, 8)), 1: [8], 2: list(range(5))}
    for k, idx in members.items():
        assert shapely.contains_xy(geoms[k], pts.lon[idx], pts.lat[idx]).all()
        others = [i for i in range(len(pts)) if i not in idx]
        assert not shapely.contains_xy(geoms[k], pts.lon[others], pts.lat[others]).any()


def test_link_distance_decides_membership():
    close = gap_areas(residents([(0, 0), (240, 0)], [1, 1]), link_m=250)
    apart = gap_areas(residents([(0, 0), (260, 0)], [1, 1]), link_m=250)
    assert len(close) == 1 and len(apart) == 2


def test_empty_and_repeatable():
    assert len(gap_areas(residents([], []), link_m=250)) == 0
    rng = np.random.default_rng(0)
    pts = residents([tuple(p) for p in rng.uniform(0, 3000, size=(200, 2))], rng.integers(1, 50, 200))
    a, b = gap_areas(pts, link_m=200), gap_areas(pts, link_m=200)
    pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
    assert all(x.equals_exact(y, 0) for x, y in zip(a.geometry, b.geometry, strict=True))
    assert a.population.sum() == pts.population.sum()


def test_point_index_pairs_are_every_pair_within_the_link_distance_boundary_included():
    """Brute force over all pairs is the truth, on a grid whose axis neighbours lie exactly
    ``link_m`` apart and on random points."""
    from pyproj import CRS

    from geo.gaps import point_index

    utm = CRS.from_epsg(32650)
    rng = np.random.default_rng(7)
    gx, gy = np.meshgrid(np.arange(8) * 125.0, np.arange(6) * 125.0)
    x = np.concatenate([gx.ravel(), rng.uniform(0, 3000, 300)]) + 500_000.0
    y = np.concatenate([gy.ravel(), rng.uniform(0, 3000, 300)]) + 2_500_000.0
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(utm, 4326, always_xy=True).transform(x, y)
    index = point_index(lon, lat, link_m=250.0, crs=utm)
    d = np.hypot(*(index.xy[:, None, :] - index.xy[None, :, :]).transpose(2, 0, 1))
    a, b = np.nonzero(np.triu(d <= 250.0, k=1))
    assert np.array_equal(index.pairs, np.vstack([a, b]))  # row-major order as well
    on_boundary = np.isclose(d[a, b], 250.0, atol=1e-6).sum()
    assert on_boundary >= 20  # grid points two steps apart, at the link distance (to a micrometre)
