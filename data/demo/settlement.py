"""Settlement plan of one copy: street lattices with land use, old town, gated compounds, villages.

The plan is shared by ``network`` (streets), ``residences`` (buildings) and ``facilities`` (sites),
so all three agree on where people live and where roads run. Coordinates are local metres.

Built-up zones get a lattice of blocks ("cells", 100-120 m) in design coordinates (u, v) that
are rotated and gently warped into the zone; every cell has a land use. Villages are clusters of
houses around a centre in the farmland.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial import Delaunay
from shapely.geometry import Polygon

from ._geom import Warp, poisson_points
from .geography import Geography

# land-use codes of lattice cells
(
    INACTIVE,
    HIGHRISE,
    MIDRISE,
    LOWRISE,
    COMMERCIAL,
    PUBLIC,
    PARK,
    INDUSTRIAL,
    GREEN,
    OLD_TOWN,
    COMPOUND,
    URBAN_VILLAGE,
) = range(12)
RESIDENTIAL = (HIGHRISE, MIDRISE, LOWRISE, OLD_TOWN, COMPOUND, URBAN_VILLAGE)

# zone → (cell size m, arterial period in cells, rotation deg, land-use weights by code)
ZONES = {
    "city": (
        120.0,
        4,
        11.0,
        {
            HIGHRISE: 0.065,
            MIDRISE: 0.11,
            LOWRISE: 0.05,
            COMMERCIAL: 0.23,
            PUBLIC: 0.15,
            INDUSTRIAL: 0.12,
            GREEN: 0.13,
            URBAN_VILLAGE: 0.10,
        },
    ),
    "seat": (
        110.0,
        4,
        -7.0,
        {
            HIGHRISE: 0.03,
            MIDRISE: 0.12,
            LOWRISE: 0.40,
            COMMERCIAL: 0.16,
            PUBLIC: 0.11,
            INDUSTRIAL: 0.06,
            GREEN: 0.12,
        },
    ),
    "rural_seat": (100.0, 3, 4.0, {LOWRISE: 0.60, COMMERCIAL: 0.15, PUBLIC: 0.13, GREEN: 0.12}),
}


@dataclass
class Lattice:
    """Street lattice of one built-up zone.

    Cell (i, j) spans u in [u0 + i c, u0 + (i+1) c], v in [v0 + j c, v0 + (j+1) c]; ``to_xy`` maps
    design coordinates to local metres (rotation about the zone centre, then a smooth warp).
    """

    zone: str
    cell: float
    period: int
    u0: float
    v0: float
    centre: np.ndarray
    angle: float
    warp: Warp
    landuse: np.ndarray
    compound: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.landuse.shape

    def to_xy(self, uv: np.ndarray) -> np.ndarray:
        """Design coordinates (n, 2) → local metres (n, 2)."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        uv = np.asarray(uv, dtype=float).reshape(-1, 2)
        xy = np.column_stack([c * uv[:, 0] - s * uv[:, 1], s * uv[:, 0] + c * uv[:, 1]]) + self.centre
        return self.warp(xy)

    def half_uv(self, ku, kv) -> np.ndarray:
        """Design coordinates of lattice half-steps ``(ku, kv)`` (integers; c/2 apart).

        Every lattice vertex is computed by this one formula so that streets, gates and anchors
        built separately land on bitwise identical coordinates.
        """
        h = self.cell / 2.0
        ku, kv = np.round(np.asarray(ku, dtype=float)), np.round(np.asarray(kv, dtype=float))
        return np.column_stack([self.u0 + ku * h, self.v0 + kv * h])

    def cell_uv(self, i, j) -> np.ndarray:
        """Design coordinates of the lower-left corners of cells ``(i, j)`` (halves allowed)."""
        return self.half_uv(2 * np.asarray(i, dtype=float), 2 * np.asarray(j, dtype=float))

    def cell_polygon(self, i: int, j: int, *, inset: float = 0.0, n: int = 1) -> Polygon:
        """Polygon of ``n`` × ``n`` cells from (i, j), optionally inset (metres)."""
        a = self.cell_uv(i, j)[0] + inset
        b = a + n * self.cell - 2 * inset
        ring = np.array([[a[0], a[1]], [b[0], a[1]], [b[0], b[1]], [a[0], b[1]]])
        return Polygon(self.to_xy(ring))


@dataclass
class Compound:
    """A gated compound: a rectangle of lattice cells with private internal roads."""

    lattice: int
    i0: int
    j0: int
    ni: int
    nj: int
    gates: int

    def polygon(self, lat: Lattice, *, inset: float = 0.0) -> Polygon:
        a = lat.cell_uv(self.i0, self.j0)[0] + inset
        b = lat.cell_uv(self.i0 + self.ni, self.j0 + self.nj)[0] - inset
        ring = np.array([[a[0], a[1]], [b[0], a[1]], [b[0], b[1]], [a[0], b[1]]])
        return Polygon(lat.to_xy(np.asarray(shapely.segmentize(Polygon(ring), 20.0).exterior.coords)[:-1]))


@dataclass
class Village:
    """A natural village: centre, houses (local metres) and the lane tree joining them."""

    centre: np.ndarray
    houses: np.ndarray
    lanes: np.ndarray
    households: int
    islet: bool = False


@dataclass
class Settlement:
    lattices: list[Lattice]
    compounds: list[Compound]
    park: tuple[int, int, int, int] | None
    old_town_points: np.ndarray
    old_town_region: object
    old_town_lanes: np.ndarray
    villages: list[Village] = field(default_factory=list)


def _lattice(geo: Geography, zone: str, poly, rng: np.random.Generator) -> Lattice:
    cell, period, angle_deg, weights = ZONES[zone]
    minx, miny, maxx, maxy = poly.bounds
    centre = np.array([(minx + maxx) / 2, (miny + maxy) / 2])
    half = np.hypot(maxx - minx, maxy - miny) / 2
    n = int(np.ceil(2 * half / cell)) + 2
    u0 = -n / 2 * cell + rng.uniform(0, cell)
    lat = Lattice(
        zone=zone,
        cell=cell,
        period=period,
        u0=u0,
        v0=u0,
        centre=centre,
        angle=np.deg2rad(angle_deg + rng.uniform(-3, 3)),
        warp=Warp(rng, amp=30.0, wavelength=1600.0),
        landuse=np.zeros((n, n), dtype=np.int8),
        compound=np.full((n, n), -1),
    )
    jj, ii = np.mgrid[0:n, 0:n]
    centres = lat.to_xy(lat.cell_uv(ii.ravel() + 0.5, jj.ravel() + 0.5))
    inside = shapely.contains_xy(poly, centres[:, 0], centres[:, 1])
    pts = shapely.points(centres)
    wet = shapely.dwithin(geo.river, pts, 0.45 * cell) | shapely.dwithin(geo.lake, pts, 0.5 * cell)
    coast = ~shapely.contains_xy(geo.main.buffer(-0.4 * cell), centres[:, 0], centres[:, 1])
    active = inside & ~wet & ~coast
    codes = np.array(list(weights), dtype=np.int8)
    p = np.array(list(weights.values()))
    lu = rng.choice(codes, size=n * n, p=p / p.sum())
    # no industry near the centre: offices and housing there instead
    dist = np.hypot(*(centres - centre).T) / half
    lu[(lu == INDUSTRIAL) & (dist < 0.5)] = COMMERCIAL
    lu[(lu == URBAN_VILLAGE) & (dist < 0.45)] = COMMERCIAL
    if zone == "city":
        lu[shapely.contains_xy(geo.old_town, centres[:, 0], centres[:, 1])] = OLD_TOWN
    lat.landuse[:] = np.where(active, lu, INACTIVE).reshape(n, n)
    return lat


def _free_rect(lat: Lattice, ni: int, nj: int, rng: np.random.Generator, *, tries: int = 400):
    """A random ni × nj rectangle of active ordinary cells with an active ring around it."""
    n = lat.shape[0]
    ok = np.isin(lat.landuse, (HIGHRISE, MIDRISE, LOWRISE, COMMERCIAL, GREEN, PUBLIC))
    for _ in range(tries):
        i0, j0 = rng.integers(1, n - ni - 1), rng.integers(1, n - nj - 1)
        ring = ok[j0 - 1 : j0 + nj + 1, i0 - 1 : i0 + ni + 1]
        if ring.all() and (lat.compound[j0 - 1 : j0 + nj + 1, i0 - 1 : i0 + ni + 1] < 0).all():
            return int(i0), int(j0)
    return None


def _place_compounds(lats: list[Lattice], rng: np.random.Generator, size: float) -> list[Compound]:
    """Gated compounds: 7 in the city and 2 in the town seat at full size (at least one each)."""
    out: list[Compound] = []
    for li, want in ((0, 7), (1, 2)):
        lat = lats[li]
        for _ in range(max(1, round(want * size))):
            ni, nj = (int(v) for v in rng.choice([2, 3], 2))
            pos = _free_rect(lat, ni, nj, rng)
            if pos is None:
                continue
            gates = 1 if not out else int(rng.choice([1, 2, 2, 3]))
            out.append(Compound(lattice=li, i0=pos[0], j0=pos[1], ni=ni, nj=nj, gates=gates))
            lat.landuse[pos[1] : pos[1] + nj, pos[0] : pos[0] + ni] = COMPOUND
            lat.compound[pos[1] : pos[1] + nj, pos[0] : pos[0] + ni] = len(out) - 1
    return out


def _place_park(lat: Lattice, rng: np.random.Generator) -> tuple[int, int, int, int] | None:
    """A 3 × 3 block city park (land use PARK) near the old town."""
    pos = _free_rect(lat, 3, 3, rng)
    if pos is None:
        return None
    lat.landuse[pos[1] : pos[1] + 3, pos[0] : pos[0] + 3] = PARK
    return pos[0], pos[1], 3, 3


def gabriel_edges(pts: np.ndarray) -> np.ndarray:
    """Edges (m, 2) of the Gabriel graph of ``pts``: Delaunay edges whose diameter disc is empty."""
    if len(pts) < 3:
        return np.array([[0, 1]]) if len(pts) == 2 else np.empty((0, 2), dtype=int)
    tri = Delaunay(pts).simplices
    sides: list[np.ndarray] = []
    obtuse: list[np.ndarray] = []
    for a, b, c in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        pa, pb, pc = pts[tri[:, a]], pts[tri[:, b]], pts[tri[:, c]]
        sides.append(np.sort(tri[:, [a, b]], axis=1))
        obtuse.append(((pa - pc) * (pb - pc)).sum(axis=1) <= 0)  # obtuse angle at c: disc not empty
    e, bad = np.vstack(sides), np.concatenate(obtuse)
    keys = e[:, 0] * len(pts) + e[:, 1]
    bad_keys = np.unique(keys[bad])
    return np.unique(e[~np.isin(keys, bad_keys)], axis=0)


def mst_edges(pts: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Edges of the minimum spanning forest of ``pts`` over candidate edges ``cand`` (m, 2)."""
    if len(cand) == 0:
        return cand
    d = np.hypot(*(pts[cand[:, 0]] - pts[cand[:, 1]]).T) + 1e-9
    g = coo_matrix((d, (cand[:, 0], cand[:, 1])), shape=(len(pts), len(pts)))
    t = minimum_spanning_tree(g).tocoo()
    return np.column_stack([t.row, t.col])


def _old_town(geo: Geography, lat: Lattice, rng: np.random.Generator):
    """Irregular lanes of the old town: Gabriel graph over scattered points and perimeter nodes."""
    n = lat.shape[0]
    jj, ii = np.nonzero(lat.landuse == OLD_TOWN)
    if len(ii) == 0:
        return np.empty((0, 2)), Polygon(), np.empty((0, 2, 2))
    region = shapely.union_all([lat.cell_polygon(int(i), int(j)) for i, j in zip(ii, jj, strict=True)])
    pts = poisson_points(region.buffer(-12.0), int(region.area / 1100), 30.0, rng)
    mask = lat.landuse == OLD_TOWN
    perimeter: list[np.ndarray] = []
    for i, j in zip(ii, jj, strict=True):
        for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            a, b = i + di, j + dj
            if 0 <= a < n and 0 <= b < n and not mask[b, a]:
                # midpoint of the shared cell side: a vertex of the perimeter street
                mid = lat.cell_uv(i + 0.5 + di / 2, j + 0.5 + dj / 2)
                perimeter.append(lat.to_xy(mid)[0])
    anchors = np.unique(np.round(np.asarray(perimeter), 6), axis=0)
    allp = np.vstack([pts, anchors])
    e = gabriel_edges(allp)
    e = e[(e < len(pts)).any(axis=1)]
    # a lane tree plus some loops: old towns are dense but not a triangulated mesh
    tree = set(map(tuple, np.sort(mst_edges(allp, e), axis=1)))
    in_tree = np.array([tuple(x) in tree for x in np.sort(e, axis=1)], dtype=bool)
    e = e[in_tree | (rng.uniform(size=len(e)) < 0.3)]
    seg = allp[e]
    mid = seg.mean(axis=1)
    keep = shapely.contains_xy(region.buffer(1.0), mid[:, 0], mid[:, 1])
    keep &= np.hypot(*(seg[:, 0] - seg[:, 1]).T) < 75.0
    return pts, region, seg[keep]


def _houses(centre: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """House cluster positions (n, 2) around a village centre: a jittered 18 m grid, compact."""
    half = int(np.ceil(np.sqrt(n) * 0.75)) + 2
    g = np.arange(-half, half + 1) * 18.0
    pts = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    pts = pts[np.hypot(*pts.T) > 10.0]
    pts = pts + rng.uniform(-4.0, 4.0, pts.shape)
    # nearest to the centre first, with noise so villages are ragged, not round
    score = np.hypot(*pts.T) * rng.lognormal(0.0, 0.35, len(pts))
    return centre + pts[np.argsort(score)[:n]]


def _village(
    centre: np.ndarray, households: int, rng: np.random.Generator, *, islet: bool = False
) -> Village:
    """A village: houses of 1-5 households each, joined to the centre by a lane tree plus loops."""
    n = max(3, int(round(households / 2.6)))
    houses = _houses(centre, n, rng)
    pts = np.vstack([centre, houses])
    cand = gabriel_edges(pts)
    tree = mst_edges(pts, cand)
    extra = cand[rng.uniform(size=len(cand)) < 0.12]
    e = np.unique(np.sort(np.vstack([tree, extra]), axis=1), axis=0)
    return Village(centre=centre, houses=houses, lanes=pts[e], households=households, islet=islet)


def _villages(geo: Geography, rng: np.random.Generator) -> list[Village]:
    """About 180 natural villages (full size) in the farmland, plus one on the islet."""
    k = geo.k
    busy = shapely.union_all(
        [
            geo.city.buffer(350),
            geo.seat.buffer(300),
            geo.rural_seat.buffer(250),
            geo.hills.buffer(-150),
            geo.river.buffer(180),
            geo.lake.buffer(150),
        ]
    )
    farm = geo.main.buffer(-250).difference(busy)
    n = max(4, int(round(182 * geo.size)))
    centres = poisson_points(farm, n, 560.0, rng)
    hh = np.clip(rng.lognormal(np.log(68), 0.55, len(centres)), 14, 320).round().astype(int)
    out = [_village(c, int(h), rng) for c, h in zip(centres, hh, strict=True)]
    icx, icy = geo.islet.centroid.coords[0]
    out.append(_village(np.array([icx, icy]), int(26 + 4 * k), rng, islet=True))
    return out


def build(geo: Geography, rng: np.random.Generator) -> Settlement:
    """Plan lattices, land use, compounds, park, old town and villages of one copy."""
    lats = [
        _lattice(geo, "city", geo.city, rng),
        _lattice(geo, "seat", geo.seat, rng),
        _lattice(geo, "rural_seat", geo.rural_seat, rng),
    ]
    park = _place_park(lats[0], rng)
    compounds = _place_compounds(lats, rng, geo.size)
    pts, region, lanes = _old_town(geo, lats[0], rng)
    return Settlement(
        lattices=lats,
        compounds=compounds,
        park=park,
        old_town_points=pts,
        old_town_region=region,
        old_town_lanes=lanes,
        villages=_villages(geo, rng),
    )
