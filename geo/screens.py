"""Which web map tiles (Web Mercator, 256-pixel, XYZ) a screen shows of an area fitted in it.

``bounds`` are Leaflet's ``[[south, west], [north, east]]`` in degrees; screens are ``(width, height)``
in CSS pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Bounds = Sequence[Sequence[float]]
Screen = tuple[int, int]


def world(lon: float, lat: float) -> tuple[float, float]:
    """Web Mercator world coordinates in [0, 1) (x east, y south)."""
    s = math.sin(math.radians(max(min(lat, 85.0511), -85.0511)))
    return (lon + 180.0) / 360.0, 0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)


def fit_zooms(bounds: Bounds, screens: Sequence[Screen]) -> list[int]:
    """The zooms at which ``bounds`` fit each of ``screens``, and one below each.

    One below: a page's panels take part of the screen.
    """
    (south, west), (north, east) = bounds
    x0, y0 = world(west, north)
    x1, y1 = world(east, south)
    width, height = max(x1 - x0, 1e-12), max(y1 - y0, 1e-12)
    zooms: set[int] = set()
    for w, h in screens:
        z = math.floor(math.log2(min(w / (256 * width), h / (256 * height))))
        zooms |= {z - 1, z}
    return sorted(z for z in zooms if 0 <= z <= 20)


def tiles_in_view(bounds: Bounds, z: int, screens: Sequence[Screen]) -> list[tuple[int, int]]:
    """The tiles ``(x, y)`` of zoom ``z`` that any of ``screens`` centred on ``bounds`` shows.

    Also those over ``bounds`` with one tile around them.
    """
    (south, west), (north, east) = bounds
    n = 2**z
    x0, y0 = world(west, north)
    x1, y1 = world(east, south)
    cx, cy = (x0 + x1) / 2 * n * 256, (y0 + y1) / 2 * n * 256  # the centre, in pixels at zoom z
    half_w = max(max(w for w, _h in screens) / 2, (x1 - x0) / 2 * n * 256 + 256)
    half_h = max(max(h for _w, h in screens) / 2, (y1 - y0) / 2 * n * 256 + 256)
    xs = range(max(int((cx - half_w) // 256), 0), min(int((cx + half_w) // 256), n - 1) + 1)
    ys = range(max(int((cy - half_h) // 256), 0), min(int((cy + half_h) // 256), n - 1) + 1)
    return [(x, y) for x in xs for y in ys]
