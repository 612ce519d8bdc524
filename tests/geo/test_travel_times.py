"""geo.isochrone.travel_times: exact times to many points from one search, with no cut-off."""

from __future__ import annotations

import numpy as np
import pytest
from geo_cases import PROFILES_CSV, points, random_grid
from test_isochrone import truth

from geo.errors import UnreachablePointError
from geo.isochrone import travel_times
from geo.network import build_network
from geo.profiles import load_profiles


@pytest.mark.parametrize(("name", "direction"), [("walk", "from"), ("walk_elderly", "from"), ("car", "to")])
def test_times_equal_networkx_with_no_cut_off(name, direction):
    nodes, edges = random_grid(20, seed=18)
    net = build_network(nodes, edges, load_profiles(PROFILES_CSV)[name])
    origin = points([(700, 800)])
    rng = np.random.default_rng(18)
    pts = points([tuple(p) for p in rng.uniform(-300, 1800, size=(80, 2))])
    got = travel_times(net, origin.lon[0], origin.lat[0], pts, direction=direction)
    _, want = truth(nodes, edges, name, origin, pts, direction=direction)
    assert np.array_equal(np.isfinite(got), np.isfinite(want))
    assert np.isfinite(want).sum() > 40 and want[np.isfinite(want)].max() > 300.0  # beyond the bound below
    np.testing.assert_allclose(got[np.isfinite(got)], want[np.isfinite(want)], atol=1e-6)
    bounded = travel_times(net, origin.lon[0], origin.lat[0], pts, direction=direction, limit_s=300.0)
    np.testing.assert_array_equal(np.isfinite(bounded), want <= 300.0)


def test_a_point_far_from_any_street_is_refused():
    nodes, edges = random_grid(5, seed=1)
    net = build_network(nodes, edges, load_profiles(PROFILES_CSV)["walk"])
    far = points([(50_000, 50_000)])
    with pytest.raises(UnreachablePointError):
        travel_times(net, far.lon[0], far.lat[0], points([(100, 100)]))
