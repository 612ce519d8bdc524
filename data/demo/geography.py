"""Natural frame of one demo district copy: land, sea, river, hills, built-up zones, motorway.

Placement (why it is safe): the first copy is centred at lon 115.90°, lat 21.60° in the open South
China Sea, about 125 km south of the Guangdong coast at Jieshi/Jiazi (Shanwei, coast at lat ≈
22.65-22.85° for lon 115-116.5°) and about 110 km north-west of Dongsha (Pratas, lat 20.7°,
lon 116.7°). Further copies (``scale`` > 1) are laid out eastwards then southwards; ``layout``
refuses a scale whose copies would leave the box lon 115.5-117.0°, lat 20.9-22.2°, which touches
no real land.

Every copy is built in a local metric frame: metres east/north of the copy's south-west corner,
a translation of UTM zone 50N (EPSG:32650), so lengths and areas measured here equal UTM ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyproj
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon, box

from ._geom import ellipse, polygonal, smooth_noise

UTM = pyproj.CRS.from_epsg(32650)
CENTRE_LONLAT = (115.90, 21.60)
FULL_W, FULL_H = 18_000.0, 13_000.0
GAP = 3_000.0
MAX_COPIES = 25
SAFE_BOX = (115.5, 20.9, 117.0, 22.2)
"""lon/lat box that holds open sea only (see module docstring)."""

_TO_LONLAT = pyproj.Transformer.from_crs(UTM, pyproj.CRS.from_epsg(4326), always_xy=True)
_TO_UTM = pyproj.Transformer.from_crs(pyproj.CRS.from_epsg(4326), UTM, always_xy=True)


@dataclass
class Geography:
    """Natural and planning frame of one copy (all geometries in local metres)."""

    copy: int
    size: float
    w: float
    h: float
    origin: tuple[float, float]
    main: Polygon
    islet: Polygon
    land: MultiPolygon
    river_line: LineString
    river: MultiPolygon
    lake: Polygon
    cut_line: LineString
    hills: MultiPolygon
    city: Polygon
    old_town: Polygon
    seat: Polygon
    rural_seat: Polygon
    motorway: LineString
    town_seeds: np.ndarray

    @property
    def k(self) -> float:
        """Linear scale factor of this copy (``sqrt(size)``)."""
        return float(np.sqrt(self.size))

    def river_x(self, y: float) -> float:
        """x (metres) of the river centreline at northing ``y`` (the line is y-monotone)."""
        c = np.asarray(self.river_line.coords)
        return float(np.interp(y, c[::-1, 1], c[::-1, 0]))


def copy_sizes(scale: float) -> list[float]:
    """Sizes of the district copies for ``scale``: full copies plus one partial copy.

    ``scale`` = 2.5 gives [1, 1, 0.5]; ``scale`` = 0.3 gives [0.3]. Every quantity grows
    linearly with the sum of sizes.
    """
    if not np.isfinite(scale) or scale < 0.05:
        raise ValueError(f"scale={scale!r} is too small: use a scale of at least 0.05")
    full = int(np.floor(scale + 1e-9))
    rest = scale - full
    # a remainder under 0.05 is dropped (too small to hold three towns), except alone
    sizes = [1.0] * full + ([rest] if rest > 0.05 or full == 0 else [])
    if len(sizes) > MAX_COPIES:
        raise ValueError(
            f"scale={scale!r} needs {len(sizes)} copies but at most {MAX_COPIES} fit in "
            f"open sea offshore; use scale <= {MAX_COPIES}"
        )
    return sizes


def layout(n_copies: int) -> list[tuple[float, float]]:
    """UTM 50N origins (metres) of the south-west corners of ``n_copies`` copies.

    Raises
    ------
    ValueError
        If the copies would leave ``SAFE_BOX`` (open sea only).
    """
    cx, cy = _TO_UTM.transform(*CENTRE_LONLAT)
    ncols = int(np.ceil(np.sqrt(n_copies)))
    origins = []
    for i in range(n_copies):
        col, row = i % ncols, i // ncols
        origins.append((cx - FULL_W / 2 + col * (FULL_W + GAP), cy - FULL_H / 2 - row * (FULL_H + GAP)))
    ox, oy = np.array(origins).T
    lon, lat = _TO_LONLAT.transform(np.r_[ox, ox + FULL_W], np.r_[oy, oy + FULL_H])
    lo0, la0, lo1, la1 = SAFE_BOX
    if lon.min() < lo0 or lon.max() > lo1 or lat.min() < la0 or lat.max() > la1:
        raise ValueError(f"{n_copies} copies would leave the open-sea box {SAFE_BOX}; use fewer copies")
    return origins


def to_lonlat(geoms, origin: tuple[float, float]):
    """Shapely geometries in local metres → EPSG:4326 (lon, lat)."""
    ox, oy = origin

    def project(c: np.ndarray) -> np.ndarray:
        return np.column_stack(_TO_LONLAT.transform(c[:, 0] + ox, c[:, 1] + oy))

    return shapely.transform(geoms, project)


def xy_to_lonlat(xy: np.ndarray, origin: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Local metres (n, 2) → lon, lat arrays (degrees)."""
    lon, lat = _TO_LONLAT.transform(xy[:, 0] + origin[0], xy[:, 1] + origin[1])
    return np.asarray(lon), np.asarray(lat)


def _island(w: float, h: float, rng: np.random.Generator) -> Polygon:
    """Main island: a squarish super-ellipse with a wavy coastline and a southern bay."""
    t = np.linspace(0.0, 2.0 * np.pi, 720, endpoint=False)
    p = 4.0
    cx, cy = np.cos(t), np.sin(t)
    ex = np.sign(cx) * np.abs(cx) ** (2 / p)
    ey = np.sign(cy) * np.abs(cy) ** (2 / p)
    wav = np.ones_like(t)
    for m, a in ((3, 0.035), (7, 0.02), (13, 0.01), (23, 0.005)):
        wav = wav + a * np.sin(m * t + rng.uniform(0, 2 * np.pi))
    pts = np.column_stack([w / 2 + 0.48 * w * ex * wav, h / 2 + 0.48 * h * ey * wav])
    bay = ellipse(0.60 * w, 0.0, 0.07 * w, 0.07 * h)
    return Polygon(pts).difference(bay)


def _river_line(w: float, h: float, rng: np.random.Generator) -> LineString:
    """River centreline from its source in the north-eastern hills to the sea in the south."""
    t = np.linspace(0.0, 1.0, 240)
    x = 0.53 * w + (0.41 * w - 0.53 * w) * t + 0.02 * w * smooth_noise(t, rng, waves=4)
    y = 0.80 * h + (-0.04 * h - 0.80 * h) * t
    return LineString(np.column_stack([x, y]))


def _river_polygon(line: LineString, main: Polygon, k: float) -> MultiPolygon:
    """River as water polygon: 40 m wide at the source widening smoothly to 170 m at the mouth."""
    c = np.asarray(line.coords)
    t = np.linspace(0.0, 1.0, len(c))
    half = (20.0 + 65.0 * t**1.2) * k**0.3
    d = np.gradient(c, axis=0)
    normal = np.column_stack([-d[:, 1], d[:, 0]]) / np.hypot(*d.T)[:, None]
    ring = np.vstack([c + half[:, None] * normal, (c - half[:, None] * normal)[::-1]])
    return polygonal(Polygon(ring).buffer(0).intersection(main))


def _cut_line(line: LineString, h: float) -> LineString:
    """River centreline extended north and south beyond the land (y-monotone): splits banks."""
    c = np.asarray(line.coords)
    return LineString(np.vstack([[c[0, 0], 3 * h], c, [c[-1, 0], -2 * h]]))


def _motorway(w: float, h: float, rng: np.random.Generator) -> LineString:
    """Motorway crossing the island west to east between the city and the northern villages."""
    t = np.linspace(0.0, 1.0, 400)
    x = -0.05 * w + 1.10 * w * t
    y = 0.47 * h + 0.025 * h * smooth_noise(t, rng, waves=3)
    return LineString(np.column_stack([x, y]))


def _islet(w: float, h: float, main: Polygon) -> Polygon:
    """A small offshore islet south-east of the main island (its own network component)."""
    for dy in np.arange(0.0, 0.015 * h, 0.0015 * h):  # stays inside the sea slot (GAP / 2)
        isl = ellipse(0.86 * w, -0.07 * h - dy, 0.03 * w, 0.025 * h)
        if isl.distance(main) > 600.0 * np.sqrt(w / FULL_W):
            return isl
    return isl


def build(copy: int, size: float, origin: tuple[float, float], rng: np.random.Generator) -> Geography:
    """Build the natural frame of one copy.

    Parameters
    ----------
    copy : index of the copy (0 = 澄湾区).
    size : area factor of the copy (1.0 = full district, about 200 km²).
    origin : UTM 50N coordinates (metres) of the copy's local (0, 0).
    rng : random generator of this copy's geography stream.
    """
    k = float(np.sqrt(size))
    w, h = FULL_W * k, FULL_H * k
    main = _island(w, h, rng)
    islet = _islet(w, h, main)
    river_line = _river_line(w, h, rng)
    river = _river_polygon(river_line, main, k)
    rx = float(
        np.interp(0.13 * h, np.asarray(river_line.coords)[::-1, 1], np.asarray(river_line.coords)[::-1, 0])
    )
    city = ellipse(rx - 0.01 * w, 0.17 * h, 0.095 * w, 0.125 * h).intersection(main)
    old_town = ellipse(rx - 0.045 * w, 0.11 * h, 0.026 * w, 0.028 * h).intersection(main)
    seat = ellipse(0.81 * w, 0.30 * h, 0.05 * w, 0.065 * h).intersection(main)
    rural_seat = ellipse(0.22 * w, 0.66 * h, 0.032 * w, 0.042 * h)
    hills = polygonal(
        shapely.union_all(
            [ellipse(0.72 * w, 0.82 * h, 0.20 * w, 0.15 * h), ellipse(0.07 * w, 0.40 * h, 0.06 * w, 0.09 * h)]
        )
        .intersection(main)
        .difference(river.buffer(30.0))
    )
    lake = ellipse(0.66 * w, 0.74 * h, 0.022 * w, 0.018 * h)
    seeds = np.array([[rx, 0.20 * h], [0.80 * w, 0.32 * h], [0.33 * w, 0.76 * h]])
    return Geography(
        copy=copy,
        size=size,
        w=w,
        h=h,
        origin=origin,
        main=main,
        islet=islet,
        land=MultiPolygon([main, islet]),
        river_line=river_line,
        river=river,
        lake=lake,
        cut_line=_cut_line(river_line, h),
        hills=hills,
        city=city,
        old_town=old_town,
        seat=seat,
        rural_seat=rural_seat,
        motorway=_motorway(w, h, rng),
        town_seeds=seeds,
    )


def sea(geo: Geography) -> MultiPolygon:
    """Sea around the copy: its layout slot widened by half the gap on every side, minus the land.

    The slots of neighbouring copies meet exactly, so the seas of all copies tile without overlap.
    """
    return polygonal(box(-GAP / 2, -GAP / 2, FULL_W + GAP / 2, FULL_H + GAP / 2).difference(geo.land))


def side_regions(cut: LineString, bounds: tuple[float, float, float, float]) -> tuple[Polygon, Polygon]:
    """West and east half-planes of a y-monotone cut line, clipped to a frame around ``bounds``."""
    c = np.asarray(cut.coords)
    minx, _, maxx, _ = bounds
    far_w, far_e = min(minx, c[:, 0].min()) - 1e4, max(maxx, c[:, 0].max()) + 1e4
    top, bot = c[0], c[-1]
    west = Polygon(np.vstack([c, [[far_w, bot[1]], [far_w, top[1]]]]))
    east = Polygon(np.vstack([c, [[far_e, bot[1]], [far_e, top[1]]]]))
    return west, east
