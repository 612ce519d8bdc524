"""Chinese web-map coordinate systems: GCJ-02 (高德/腾讯) and BD-09 (百度) to and from WGS84.

GCJ-02 is WGS84 plus a published obfuscation offset (50-700 m); BD-09 is GCJ-02 plus Baidu's
further rotation/scale. The forward formulas are the widely used public ones (eviltransform,
coordtransform); the inverses have no closed form, so they are solved by fixed-point iteration
until the forward transform reproduces the input to well under 0.5 m. CGCS2000 (EPSG:4490,
天地图) equals WGS84 at web-map precision (a few centimetres), so it is passed through unchanged.
Points outside China's bounding rectangle are never shifted, as in the public implementations.

All functions are vectorised over numpy arrays of longitude/latitude in degrees and return
``(lon, lat)`` arrays (float64). Store only WGS84 (EPSG:4326).
"""

from __future__ import annotations

import numpy as np

from geo.errors import GeoError

CHINA_BBOX = (73.66, 3.86, 135.05, 53.55)
"""(lon_min, lat_min, lon_max, lat_max), degrees: where GCJ-02/BD-09 offsets apply (coordtransform)."""

_A = 6378245.0  # Krasovsky 1940 semi-major axis (metres): the constant of the GCJ-02 algorithm
_EE = 0.00669342162296594323  # Krasovsky first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0  # BD-09 rotation constant
_TOLERANCE_DEG = 1e-9  # ≈ 0.1 mm: inverse iterations stop when the residual is below this
_MAX_ITER = 30

CRS_NAMES = {
    "wgs84": "wgs84",
    "epsg:4326": "wgs84",
    "4326": "wgs84",
    "cgcs2000": "wgs84",
    "epsg:4490": "wgs84",
    "4490": "wgs84",
    "gcj02": "gcj02",
    "bd09": "bd09",
}
"""Accepted names (case-insensitive; '-', '_' and spaces ignored) → canonical system."""


class UnknownCRSError(GeoError):
    """A coordinate-system name we cannot convert from."""

    status = 422

    def __init__(self, name: object):
        valid = ", ".join(sorted({"wgs84", "epsg:4326", "cgcs2000", "epsg:4490", "gcj02", "bd09"}))
        super().__init__(
            f"unknown coordinate system {name!r}: use one of {valid} "
            "(高德/腾讯 = gcj02, 百度 = bd09, GPS/OSM/天地图 = wgs84 or cgcs2000)"
        )


def _arrays(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def in_box(lon, lat, bbox: tuple[float, float, float, float]) -> np.ndarray:
    """Boolean array: points inside ``bbox`` = (lon_min, lat_min, lon_max, lat_max), degrees."""
    lon, lat = _arrays(lon, lat)
    return (lon >= bbox[0]) & (lon <= bbox[2]) & (lat >= bbox[1]) & (lat <= bbox[3])


def in_china(lon, lat) -> np.ndarray:
    """Boolean array: points where the GCJ-02/BD-09 offsets apply (``CHINA_BBOX``)."""
    return in_box(lon, lat, CHINA_BBOX)


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset (degrees) at WGS84 ``lon, lat``, without the outside-China test."""
    x, y = lon - 105.0, lat - 35.0
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + common
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + common
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = dlon * 180.0 / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def _gcj_forward(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def _bd_forward(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_approx_inverse(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 0.0065, lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(forward, lon: np.ndarray, lat: np.ndarray, guess) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``forward(x) = (lon, lat)`` by fixed-point iteration from ``guess``.

    The offsets vary slowly (their derivatives are ~1e-5), so each step gains about five
    decimal digits; two or three steps reach the tolerance.
    """
    x, y = guess
    for _ in range(_MAX_ITER):
        fx, fy = forward(x, y)
        ex, ey = fx - lon, fy - lat
        x, y = x - ex, y - ey
        if np.all(np.abs(ex) < _TOLERANCE_DEG) and np.all(np.abs(ey) < _TOLERANCE_DEG):
            break
    return x, y


def _where_china(lon, lat, convert) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``convert`` to the points inside China; return the others unchanged."""
    lon, lat = _arrays(lon, lat)
    inside = in_china(lon, lat)
    out_lon, out_lat = lon.copy(), lat.copy()
    if inside.any():
        out_lon[inside], out_lat[inside] = convert(lon[inside], lat[inside])
    return out_lon, out_lat


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → GCJ-02 (degrees). Points outside China are returned unchanged."""
    return _where_china(lon, lat, _gcj_forward)


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → WGS84 (degrees), iterated until WGS84→GCJ-02 reproduces the input (< 1 mm)."""

    def inverse(x, y):
        dx, dy = _gcj_offset(x, y)
        return _invert(_gcj_forward, x, y, (x - dx, y - dy))

    return _where_china(lon, lat, inverse)


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → BD-09 (degrees). Points outside China are returned unchanged."""
    return _where_china(lon, lat, _bd_forward)


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 → GCJ-02 (degrees): the published closed form refined by iteration (< 1 mm)."""
    return _where_china(lon, lat, lambda x, y: _invert(_bd_forward, x, y, _bd_approx_inverse(x, y)))


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → BD-09 (degrees) through GCJ-02."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 → WGS84 (degrees) through GCJ-02."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def normalise_crs(name: str) -> str:
    """Canonical name ('wgs84', 'gcj02' or 'bd09') of a coordinate-system name.

    Raises
    ------
    UnknownCRSError
        When ``name`` is not one of ``CRS_NAMES`` (the message lists the valid names).
    """
    key = str(name).strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    if key not in CRS_NAMES:
        raise UnknownCRSError(name)
    return CRS_NAMES[key]


_TO_WGS84 = {"wgs84": lambda lon, lat: _arrays(lon, lat), "gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_FROM_WGS84 = {"wgs84": lambda lon, lat: _arrays(lon, lat), "gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def china_to_wgs84(lon, lat, *, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert ``lon, lat`` (degrees) given in a Chinese system ``crs`` to WGS84.

    ``geo.crs.to_wgs84`` adds EPSG codes and metric systems.

    Parameters
    ----------
    lon, lat : array-like, degrees in ``crs``.
    crs : 'wgs84', 'epsg:4326', 'cgcs2000', 'epsg:4490', 'gcj02' or 'bd09' (case-insensitive).

    Returns
    -------
    (lon, lat) float arrays, degrees, WGS84 (EPSG:4326).
    """
    return _TO_WGS84[normalise_crs(crs)](lon, lat)


def from_wgs84(lon, lat, *, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 ``lon, lat`` (degrees) to ``crs`` (e.g. to overlay points on an Amap base map)."""
    return _FROM_WGS84[normalise_crs(crs)](lon, lat)


def looks_swapped(lon, lat, *, bbox: tuple[float, float, float, float] = CHINA_BBOX) -> np.ndarray:
    """Boolean array: points outside ``bbox`` that fall inside it once lon and lat are swapped.

    Parameters
    ----------
    lon, lat : array-like, degrees as given by the user.
    bbox : (lon_min, lat_min, lon_max, lat_max) degrees of the expected area (a district's
        extent; default China's rectangle).
    """
    lon, lat = _arrays(lon, lat)
    return ~in_box(lon, lat, bbox) & in_box(lat, lon, bbox)
