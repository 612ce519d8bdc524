"""GCJ-02 / BD-09 / WGS84 conversions against published vectors, round trips measured geodesically.

Test vectors (public sources, values copied verbatim):

* googollee/eviltransform, ``python/test.py`` and ``go/transform_test.go`` (``TESTS``): WGS84 → GCJ-02
  for Shanghai, Shenzhen and Beijing; the project checks the forward transform to 6 decimals and its
  iterated inverse (``gcj2wgs_exact``) to < 0.5 m.
* wandergis/coordtransform, ``README.md`` ("result" block of the usage example, input
  116.404, 39.915): bd09togcj02, gcj02tobd09, wgs84togcj02 and gcj02towgs84. Its bd09togcj02 and
  gcj02towgs84 are one-step closed-form approximations; our inverses are iterated, so they are
  compared within the approximation's error and checked by re-applying the exact forward formula.

eviltransform's ``TESTS_bd`` vectors are not used: they were produced by a version whose BD-09
formula used ``pi`` instead of ``pi * 3000 / 180`` (see its older ``python/eviltransform.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from geo import chinacrs
from geo import crs as geo_crs
from geo.chinacrs import UnknownCRSError

GEOD = Geod(ellps="WGS84")

# (wgs_lat, wgs_lng, gcj_lat, gcj_lng) — googollee/eviltransform python/test.py TESTS
EVILTRANSFORM = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # beijing
]
# wandergis/coordtransform README.md, all for the input (116.404, 39.915), (lng, lat)
WANDERGIS_INPUT = (116.404, 39.915)
WANDERGIS = {
    "bd09togcj02": (116.39762729119315, 39.90865673957631),
    "gcj02tobd09": (116.41036949371029, 39.92133699351021),
    "wgs84togcj02": (116.41024449916938, 39.91640428150164),
    "gcj02towgs84": (116.39775550083061, 39.91359571849836),
}


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance on the WGS84 ellipsoid, metres."""
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


@pytest.mark.parametrize(("wlat", "wlng", "glat", "glng"), EVILTRANSFORM)
def test_eviltransform_vectors_forward_and_exact_inverse(wlat, wlng, glat, glng):
    lon, lat = chinacrs.wgs84_to_gcj02(wlng, wlat)
    assert lon == pytest.approx(glng, abs=1e-6) and lat == pytest.approx(glat, abs=1e-6)
    back_lon, back_lat = chinacrs.gcj02_to_wgs84(glng, glat)
    assert metres(back_lon, back_lat, wlng, wlat) < 0.5


def test_wandergis_readme_vectors():
    x, y = WANDERGIS_INPUT
    assert np.allclose(chinacrs.wgs84_to_gcj02(x, y), WANDERGIS["wgs84togcj02"], atol=1e-9)
    assert np.allclose(chinacrs.gcj02_to_bd09(x, y), WANDERGIS["gcj02tobd09"], atol=1e-9)
    # Their inverses are closed-form approximations: ours agree within their error ...
    assert metres(*chinacrs.bd09_to_gcj02(x, y), *WANDERGIS["bd09togcj02"]) < 0.1
    assert metres(*chinacrs.gcj02_to_wgs84(x, y), *WANDERGIS["gcj02towgs84"]) < 5.0
    # ... and are exact: the forward formula brings them back to the input.
    assert metres(*chinacrs.gcj02_to_bd09(*chinacrs.bd09_to_gcj02(x, y)), x, y) < 0.001
    assert metres(*chinacrs.wgs84_to_gcj02(*chinacrs.gcj02_to_wgs84(x, y)), x, y) < 0.001


def china_grid() -> tuple[np.ndarray, np.ndarray]:
    """A 0.5° grid of points over mainland China's longitude/latitude range."""
    lon, lat = np.meshgrid(np.arange(74.0, 135.0, 0.5), np.arange(18.0, 53.5, 0.5))
    return lon.ravel(), lat.ravel()


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_round_trip_across_china_is_below_half_a_metre(system):
    lon, lat = china_grid()
    shifted = chinacrs.from_wgs84(lon, lat, crs=system)
    assert metres(lon, lat, *shifted).min() > 1.0  # the shift really happened everywhere
    back = geo_crs.to_wgs84(*shifted, crs=system)
    assert metres(lon, lat, *back).max() < 0.5


def test_shift_size_is_the_documented_50_to_700_m_in_guangdong():
    lon, lat = np.meshgrid(np.arange(110.0, 117.0, 0.25), np.arange(20.5, 25.5, 0.25))
    d = metres(lon.ravel(), lat.ravel(), *chinacrs.wgs84_to_gcj02(lon.ravel(), lat.ravel()))
    assert d.min() > 50 and d.max() < 700


@pytest.mark.parametrize("system", ["gcj02", "bd09", "wgs84"])
def test_outside_china_nothing_moves(system):
    lon = np.array([24.94, -0.13, 139.69, 151.21, -74.0])  # Helsinki, London, Tokyo, Sydney, NYC
    lat = np.array([60.17, 51.51, 35.69, -33.87, 40.7])
    for convert in (geo_crs.to_wgs84, chinacrs.from_wgs84):
        out_lon, out_lat = convert(lon, lat, crs=system)
        assert np.array_equal(out_lon, lon) and np.array_equal(out_lat, lat)


@pytest.mark.parametrize("name", ["WGS84", "epsg:4326", "CGCS2000", "EPSG:4490", "wgs-84", "cgcs 2000"])
def test_wgs84_and_cgcs2000_pass_through(name):
    lon, lat = geo_crs.to_wgs84([113.26, 115.37], [23.13, 22.78], crs=name)
    assert lon.tolist() == [113.26, 115.37] and lat.tolist() == [23.13, 22.78]


def test_epsg_codes_and_metric_systems_convert_through_pyproj():
    import pyproj

    x, y = pyproj.Transformer.from_crs(4326, 3857, always_xy=True).transform(113.26, 23.13)
    for system in ("EPSG:3857", pyproj.CRS.from_epsg(3857)):
        lon, lat = geo_crs.to_wgs84([x], [y], crs=system)
        assert metres(lon, lat, 113.26, 23.13) < 0.01


@pytest.mark.parametrize(
    ("name", "forward"),
    [
        ("GCJ02", chinacrs.wgs84_to_gcj02),
        ("gcj-02", chinacrs.wgs84_to_gcj02),
        ("BD09", chinacrs.wgs84_to_bd09),
        ("bd-09", chinacrs.wgs84_to_bd09),
    ],
)
def test_dispatcher_is_case_and_dash_insensitive(name, forward):
    lon, lat = forward(113.26, 23.13)
    assert metres(*geo_crs.to_wgs84(lon, lat, crs=name), 113.26, 23.13) < 0.5


@pytest.mark.parametrize("name", ["utm50n", "EPSG:99999", "", "baidu"])
def test_unknown_crs_lists_the_valid_names(name):
    with pytest.raises(UnknownCRSError) as err:
        geo_crs.to_wgs84(113.0, 23.0, crs=name)
    message = str(err.value)
    assert repr(name) in message
    for valid in ("wgs84", "epsg:4326", "cgcs2000", "epsg:4490", "gcj02", "bd09"):
        assert valid in message


def test_geometries_are_converted_vertex_by_vertex():
    import shapely

    line = shapely.LineString([(113.26, 23.13), (113.27, 23.14)])
    (converted,) = geo_crs.geometries_to_wgs84(
        [shapely.LineString(np.column_stack(chinacrs.wgs84_to_gcj02([113.26, 113.27], [23.13, 23.14])))],
        crs="gcj02",
    )
    coords = shapely.get_coordinates(converted)
    assert metres(coords[:, 0], coords[:, 1], *shapely.get_coordinates(line).T).max() < 0.5


def test_looks_swapped_against_a_district_and_china():
    district = (113.1, 22.9, 113.5, 23.3)
    lon = np.array([23.1, 113.2, 23.1, 200.0])
    lat = np.array([113.2, 23.1, 10.0, 23.1])
    assert chinacrs.looks_swapped(lon, lat, bbox=district).tolist() == [True, False, False, False]
    assert chinacrs.looks_swapped(lon, lat).tolist() == [True, False, False, False]
    helsinki = (24.9, 60.1, 25.0, 60.2)
    assert chinacrs.looks_swapped([60.17, 24.94], [24.94, 60.17], bbox=helsinki).tolist() == [True, False]
