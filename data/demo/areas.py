"""Administrative and grid areas of one copy: district → towns → communities → middle → small grids.

Every level is cut out of its parent, so the children of one parent tile it exactly. Towns are
planned as (gently warped) Voronoi cells of the district and communities the same way inside each
bank of their planned town; then all communities are redrawn together along the district's blocks
(``follow_blocks``, as grids below), so that they follow streets and the river wherever one runs
near the planned line and keep it only across open country (a block larger than ``SPLIT_BLOCK_M2``
is cut), and each town is the union of its communities. Grids follow the
streets and the river, as real grids do: each community is cut into blocks by its public streets
and the river (``Network.streets``, polygonized with the community's outline), and a grid is a
union of whole blocks. Which blocks go together is drawn from a balanced plan: middle grids and
city small grids from weighted-median cuts (about 300-500 households each), village small grids
from the Voronoi cells of natural villages (one grid per natural village); every block joins the
planned part holding most of its households (else most of its area). Only a block larger than
``SPLIT_BLOCK_M2`` or holding more than ``SPLIT_BLOCK_HH`` households and shared by several parts
(open fields where the roads enclose nothing, large gated compounds) is cut along the plan. Large grids copy
their town. Residences are then assigned to the small grid containing them.

Codes: statistics codes (12 digits) for district (6 + 000000), towns (街道 001-099, 镇 101-199,
+ 000) and communities (居委会 001-199, 村委会 201-399); grid codes are CJ/T 349-style 20 digits:
a 6-digit service-object code (fictional placeholders 010100 large, 010200 middle, 010300
small) + 6-digit district + 3-digit town + 3-digit community + 2-digit sequence.

Contacts are public work contacts: a role label (``澄湾街道海景社区第3网格 网格员``), never a
person's name, and a fictional number whose local part starts with 0 (``0660-0xxxxxx``): Chinese
local numbers never start with 0, so it cannot ring a real line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from ._geom import Warp, bisect, polygonal, voronoi_cells, weighted_kmeans
from .geography import Geography, side_regions
from .names import Namer, worker_name
from .residences import Residences
from .settlement import Settlement

SERVICE_CODE = {"grid_large": "010100", "grid_middle": "010200", "grid_small": "010300"}
TARGET_COMMUNITY_HH = (2100, 1900, 2300)
VILLAGES_PER_CUN = 11.5
GRID_HH = 400
MIN_COMMUNITY_HH = 300
AVOID_FOR_CUN = ("㘭背", "甽头")
SPLIT_BLOCK_M2 = 600_000.0
SPLIT_BLOCK_HH = 0.75 * GRID_HH
"""A block larger than SPLIT_BLOCK_M2 (m²), or holding more than SPLIT_BLOCK_HH households, that several
planned grids share is cut between them, not given whole (open fields, large gated compounds)."""


@dataclass
class Area:
    level: str
    parent: int
    name: str
    code: str
    geom: BaseGeometry
    urban: bool = True
    urban_rural_code: str | None = None
    worker: str | None = None
    town: int = -1
    kind: str = ""
    village: int = -1
    seat: np.ndarray | None = None


@dataclass
class AreaSet:
    """Areas of one copy (list index = local id) and the small grid of every residence."""

    areas: list[Area] = field(default_factory=list)
    residence_grid: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    households: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """Households per area (set by ``build``)."""

    def add(self, a: Area) -> int:
        self.areas.append(a)
        return len(self.areas) - 1

    def of_level(self, level: str) -> list[int]:
        return [i for i, a in enumerate(self.areas) if a.level == level]

    def ancestor(self, i: int, level: str) -> int:
        while i >= 0 and self.areas[i].level != level:
            i = self.areas[i].parent
        return i

    def seat_of(self, i: int) -> np.ndarray:
        """The seat of area ``i`` (communities have one: their committee's place)."""
        seat = self.areas[i].seat
        if seat is None:
            raise ValueError(f"area {i} ({self.areas[i].name}) has no seat")
        return seat


def _pieces(town, cut, res: Residences) -> list:
    """A town split along the river (extended) into bank pieces, unless one bank is empty."""
    west, east = side_regions(cut, town.bounds)
    parts = [polygonal(town.intersection(west)), polygonal(town.intersection(east))]
    if any(p.area < 1.0 or res.households[_inside(p, res.xy)].sum() == 0 for p in parts):
        return [polygonal(town)]
    return parts


def _inside(poly, xy: np.ndarray) -> np.ndarray:
    shapely.prepare(poly)
    return shapely.contains_xy(poly, xy[:, 0], xy[:, 1])


def _community_seeds(ti: int, piece, res: Residences, s: Settlement, rng) -> tuple[np.ndarray, list[str]]:
    """k-means seeds: urban communities over built-up residences, 村 over natural villages."""
    inside = _inside(piece, res.xy)
    urb = inside & (res.village < 0)
    cent = np.array([v.centre for v in s.villages])
    vin = np.nonzero(_inside(piece, cent))[0]
    seeds, kinds = [], []
    uh = res.households[urb].sum()
    if uh >= 700:
        k = max(1, int(round(uh / TARGET_COMMUNITY_HH[ti])))
        seeds.append(weighted_kmeans(res.xy[urb], res.households[urb].astype(float), k, rng))
        kinds += ["社区"] * len(seeds[-1])
    if len(vin):
        k = max(1, int(round(len(vin) / VILLAGES_PER_CUN)))
        w = np.array([s.villages[i].households for i in vin], dtype=float)
        seeds.append(weighted_kmeans(cent[vin], w, k, rng))
        kinds += ["村"] * len(seeds[-1])
    if not seeds:
        return np.empty((0, 2)), []
    return np.vstack(seeds), kinds


def _communities(geo: Geography, town, ti: int, res: Residences, s: Settlement, rng) -> list[tuple]:
    """(planned cell, kind) of the communities of one town; seeds of near-empty cells are dropped."""
    out = []
    warp = Warp(rng, amp=90.0 * geo.k, wavelength=1800.0 * geo.k)
    for piece in _pieces(town, geo.cut_line, res):
        seeds, kinds = _community_seeds(ti, piece, res, s, rng)
        if len(seeds) == 0:
            out.append((piece, "村"))
            continue
        for _ in range(8):
            cells = voronoi_cells(seeds, piece, warp=warp)
            hh = np.array([res.households[_inside(c, res.xy)].sum() if not c.is_empty else 0 for c in cells])
            small = hh < min(MIN_COMMUNITY_HH, hh.max())
            if not small.any() or len(seeds) == 1:
                break
            keep = ~small if small.sum() < len(seeds) else hh == hh.max()
            seeds, kinds = seeds[keep], [k for k, ok in zip(kinds, keep, strict=True) if ok]
        out += list(zip(cells, kinds, strict=True))
    return out


def _order(polys) -> list[int]:
    """Reading order (north to south, west to east) of polygons: stable numbering."""
    pts = np.array([p.representative_point().coords[0] for p in polys])
    return list(np.lexsort([pts[:, 0], -np.round(pts[:, 1] / 500.0)]))


def _urban_rural(kind: str, ti: int, village_share: float) -> str:
    """NBS urban-rural class of a community from its town type and how rural its people are."""
    if kind == "社区":
        return ("111" if village_share < 0.2 else "112") if ti == 0 else "121"
    if ti == 0:
        return "112"
    return "122" if village_share < 0.8 else "220"


def _phone(n: int) -> str:
    """A fictional public work number: local numbers never start with 0, so none is real."""
    return f"0660-0{n:06d}"


class _Builder:
    """Builds the area tree of one copy; ``ctx`` carries the shared inputs."""

    def __init__(
        self,
        geo: Geography,
        s: Settlement,
        res: Residences,
        vnames: list[str],
        namer: Namer,
        district: tuple[str, str],
        towns: list[str],
        rng: np.random.Generator,
        streets: np.ndarray,
    ):
        self.geo, self.s, self.res, self.vnames, self.namer = geo, s, res, vnames, namer
        self.streets = np.r_[streets, [geo.river_line]]
        self.street_tree = shapely.STRtree(self.streets)
        self.dname, self.dcode = district
        self.towns, self.rng = towns, rng
        self.A = AreaSet()
        self.centres = np.array([v.centre for v in s.villages])

    def run(self) -> AreaSet:
        geo, A = self.geo, self.A
        d = A.add(
            Area(
                "district",
                -1,
                self.dname,
                self.dcode + "000000",
                polygonal(geo.land),
                worker=f"{self.dname}社会治理中心 值班室",
                kind="区",
            )
        )
        warp = Warp(self.rng, amp=250.0 * geo.k, wavelength=4000.0 * geo.k)
        cells = voronoi_cells(geo.town_seeds, geo.land, warp=warp)
        plans = [_communities(geo, cell, ti, self.res, self.s, self.rng) for ti, cell in enumerate(cells)]
        # the planned communities of every town redrawn along the district's blocks: boundaries follow
        # streets and the river wherever one runs near the planned line, and a town is the union of its
        # communities, so its outline follows them too
        planned = [c for plan in plans for c, _ in plan]
        drawn = follow_blocks(
            planned, self._blocks(geo.land), self.res.xy, self.res.households.astype(float), keep_empty=True
        )
        start = 0
        for ti, (plan, kind, tcode) in enumerate(
            zip(plans, ("街道", "镇", "镇"), ("001", "101", "102"), strict=True)
        ):
            mine, start = drawn[start : start + len(plan)], start + len(plan)
            comms = [(g, k, c) for (c, k), (g, _) in zip(plan, mine, strict=True) if not g.is_empty]
            self._town(d, ti, comms, kind, tcode)
        self._assign()
        return A

    def _town(self, d: int, ti: int, comms: list[tuple], kind: str, tcode: str) -> None:
        """A town made of its communities ``comms`` (redrawn polygon, kind, planned cell)."""
        A, name = self.A, self.towns[ti] + kind
        cell = polygonal(shapely.union_all([g for g, _, _ in comms]))
        t = A.add(
            Area(
                "town",
                d,
                name,
                self.dcode + tcode + "000",
                cell,
                worker=f"{name}综治中心 值班室",
                town=ti,
                kind=kind,
            )
        )
        A.add(
            Area(
                "grid_large",
                t,
                f"{name}大网格",
                SERVICE_CODE["grid_large"] + self.dcode + tcode + "00000",
                cell,
                worker=f"{name}大网格 网格长",
                town=ti,
            )
        )
        counters = {"社区": 0, "村": 200}
        # numbered (and so named) in the reading order of the planned cells: redrawing a boundary
        # along a street never renames a community
        for ci in _order([c for _, _, c in comms]):
            poly, ckind, _ = comms[ci]
            counters[ckind] += 1
            self._community(t, ti, tcode, poly, ckind, f"{counters[ckind]:03d}")

    def _community(self, t: int, ti: int, tcode: str, poly, kind: str, ccode: str) -> None:
        A, res = self.A, self.res
        inside = _inside(poly, res.xy)
        vin = np.nonzero(_inside(poly, self.centres))[0]
        hh = res.households[inside]
        vshare = hh[res.village[inside] >= 0].sum() / max(1, hh.sum())
        if kind == "村":
            # the 村 takes the name of its largest village, never a planted rare-character one
            size = [self.s.villages[i].households * (self.vnames[i] not in AVOID_FOR_CUN) for i in vin]
            main = vin[np.argmax(size)] if len(vin) else -1
            name = (self.vnames[main] if main >= 0 else self.namer.village()) + "村"
            seat = self.centres[main] if main >= 0 else np.asarray(poly.representative_point().coords[0])
        else:
            name = self.namer.community() + "社区"
            xy = res.xy[inside]
            seat = xy[np.argmin(np.hypot(*(xy - np.average(xy, axis=0, weights=hh)).T))]
        code = _urban_rural(kind, ti, vshare)
        office = "居委会" if kind == "社区" else "村委会"
        c = A.add(
            Area(
                "community",
                t,
                name,
                self.dcode + tcode + ccode,
                poly,
                urban=code[0] == "1",
                urban_rural_code=code,
                worker=f"{name}{office} 办公室",
                town=ti,
                kind=kind,
                seat=seat,
            )
        )
        self._grids(c, ti, tcode, ccode, poly, kind, res.xy[inside], hh.astype(float))

    def _grids(self, c: int, ti: int, tcode: str, ccode: str, poly, kind: str, xy, w) -> None:
        A = self.A
        com = A.areas[c]
        vin = np.nonzero(_inside(poly, self.centres))[0]
        n_mid = 2 if (w.sum() > 2600 or len(vin) >= 10) else 1
        seq = 0
        for m, (mpoly, mblocks) in enumerate(
            follow_blocks(bisect(poly, xy, w, n_mid), self._blocks(poly), xy, w), 1
        ):
            mid = A.add(
                Area(
                    "grid_middle",
                    c,
                    f"{com.name}第{m}中网格",
                    SERVICE_CODE["grid_middle"] + self.dcode + tcode + ccode + f"{m:02d}",
                    mpoly,
                    urban=com.urban,
                    urban_rural_code=com.urban_rural_code,
                    worker=f"{com.name}第{m}中网格 网格指导员",
                    town=ti,
                    kind=kind,
                )
            )
            inm = _inside(mpoly, xy)
            for gpoly, vi in self._smalls(mpoly, mblocks, kind, xy[inm], w[inm]):
                seq += 1
                label = f"{com.name}{self.vnames[vi]}网格" if vi >= 0 else f"{com.name}第{seq}网格"
                code = SERVICE_CODE["grid_small"] + self.dcode + tcode + ccode + f"{seq:02d}"
                A.add(
                    Area(
                        "grid_small",
                        mid,
                        label,
                        code,
                        gpoly,
                        urban=com.urban,
                        urban_rural_code=com.urban_rural_code,
                        worker=worker_name(code),
                        town=ti,
                        kind=kind,
                        village=vi,
                    )
                )

    def _smalls(self, mpoly, blocks: list, kind: str, xy, w) -> list[tuple]:
        """City grids of about 400 households; in villages one grid per natural village; both made
        of the middle grid's blocks."""
        vin = np.nonzero(_inside(mpoly, self.centres))[0]
        if kind == "社区" or len(vin) == 0:
            n = max(1, int(round(w.sum() / GRID_HH)))
            return [(g, -1) for g, _ in follow_blocks(bisect(mpoly, xy, w, n), blocks, xy, w)]
        if len(vin) == 1:
            return [(polygonal(mpoly), int(vin[0]))]
        cells = voronoi_cells(self.centres[vin], mpoly)
        plan = [(g, int(v)) for g, v in zip(cells, vin, strict=True) if not g.is_empty]
        kept = follow_blocks([g for g, _ in plan], blocks, xy, w, keep_empty=True)
        return [(g, v) for (g, _), (_, v) in zip(kept, plan, strict=True) if not g.is_empty]

    def _blocks(self, poly) -> list:
        """Blocks of ``poly``: the faces its public streets and the river cut it into."""
        near = self.streets[self.street_tree.query(poly, predicate="intersects")]
        if len(near) == 0:
            return list(shapely.get_parts(polygonal(poly)))
        noded = shapely.union_all(np.r_[shapely.get_parts(shapely.boundary(poly)), near])
        faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
        return list(faces[_inside(poly, shapely.get_coordinates(shapely.point_on_surface(faces)))])

    def _assign(self) -> None:
        """Small grid of every residence, and households of every area."""
        A, res = self.A, self.res
        small = np.array(A.of_level("grid_small"))
        tree = shapely.STRtree([A.areas[i].geom for i in small])
        pi, gi = tree.query(shapely.points(res.xy), predicate="intersects")
        count = np.bincount(pi, minlength=len(res))
        if (count != 1).any():
            bad = np.nonzero(count != 1)[0]
            raise RuntimeError(f"{len(bad)} residences are not in exactly one small grid (first {bad[:5]})")
        grid = np.empty(len(res), dtype=np.int64)
        grid[pi] = small[gi]
        A.residence_grid = grid
        hh = np.zeros(len(A.areas), dtype=np.int64)
        np.add.at(hh, grid, res.households)
        parents = np.array([a.parent for a in A.areas])
        for i in np.argsort([-_depth(A, i) for i in range(len(A.areas))], kind="stable"):
            if parents[i] >= 0 and A.areas[i].level != "grid_large":
                hh[parents[i]] += hh[i]
        for i, a in enumerate(A.areas):
            if a.level == "grid_large":
                hh[i] = hh[a.parent]
        A.households = hh
        # a town is urban when most of its households live in urban-class communities
        for t in A.of_level("town"):
            kids = [i for i in A.of_level("community") if A.areas[i].parent == t]
            urban = sum(hh[i] for i in kids if A.areas[i].urban)
            A.areas[t].urban = bool(urban >= 0.5 * max(1, hh[t]))
        for i in A.of_level("grid_large"):
            A.areas[i].urban = A.areas[A.areas[i].parent].urban


def follow_blocks(
    parts: list, blocks: list, xy: np.ndarray, w: np.ndarray, *, keep_empty: bool = False
) -> list[tuple]:
    """``parts`` (a planned partition of the blocks' parent) redrawn along the blocks.

    Every block joins the part holding most of its weight ``w`` (points ``xy``), else most of its
    area; a block larger than ``SPLIT_BLOCK_M2`` or heavier than ``SPLIT_BLOCK_HH`` shared by several
    parts is cut between them.
    Returns (polygon, its blocks) per part that kept anything, in plan order; with ``keep_empty``
    a part left with nothing stays as an empty polygon.
    """
    if len(parts) <= 1:
        return [(polygonal(p), list(blocks)) for p in parts]
    arr = np.array(parts, dtype=object)
    for p in arr:
        shapely.prepare(p)
    label = np.full(len(xy), -1)
    for k, p in enumerate(arr):
        label[(label < 0) & shapely.contains_xy(p, xy[:, 0], xy[:, 1])] = k
    pieces: list[list] = [[] for _ in parts]
    barr = np.array(blocks, dtype=object)
    # every block against every part and every point at once (the same predicates as block by block)
    bi, pj = shapely.STRtree(arr).query(barr, predicate="intersects")
    by_block = np.argsort(bi, kind="stable")
    bi, pj = bi[by_block], pj[by_block]
    overlap = shapely.area(shapely.intersection(barr[bi], arr[pj]))
    kept = np.nonzero(label >= 0)[0]
    qb, qp = shapely.STRtree(shapely.points(xy[kept])).query(barr, predicate="contains")
    order = np.lexsort((qp, qb))  # per block, its points in their order
    qb, qp = qb[order], kept[qp[order]]
    at_b = np.searchsorted(bi, np.arange(len(barr) + 1))
    at_q = np.searchsorted(qb, np.arange(len(barr) + 1))
    for k, b in enumerate(blocks):
        shares = np.zeros(len(arr))
        shares[pj[at_b[k] : at_b[k + 1]]] = overlap[at_b[k] : at_b[k + 1]]
        sel = qp[at_q[k] : at_q[k + 1]]
        weight = np.bincount(label[sel], weights=w[sel], minlength=len(parts))
        big = b.area > SPLIT_BLOCK_M2 or weight.sum() > SPLIT_BLOCK_HH
        if big and ((shares > 0.1 * b.area) | (weight > 0.1 * weight.sum())).sum() > 1:
            for j in np.nonzero(shares > 0)[0]:
                pieces[j] += [g for g in shapely.get_parts(polygonal(shapely.intersection(b, arr[j])))]
            continue
        pieces[int(np.argmax(weight) if weight.sum() > 0 else np.argmax(shares))].append(b)
    out = [(polygonal(shapely.union_all(p)) if p else polygonal(shapely.Polygon()), p) for p in pieces]
    return out if keep_empty else [o for o in out if o[1]]


def file_residences(A: AreaSet, xy: np.ndarray, households: np.ndarray) -> None:
    """Add residences after ``build``: their small grid joins ``A.residence_grid`` and their
    households every area holding them (the grid, its ancestors and the town's large grid)."""
    if len(xy) == 0:
        return
    small = np.array(A.of_level("grid_small"))
    pi, gi = shapely.STRtree([A.areas[i].geom for i in small]).query(
        shapely.points(xy), predicate="intersects"
    )
    if np.bincount(pi, minlength=len(xy)).max(initial=1) != 1 or len(np.unique(pi)) != len(xy):
        raise RuntimeError("residences added after the grids must lie in exactly one small grid")
    grid = np.empty(len(xy), dtype=np.int64)
    grid[pi] = small[gi]
    A.residence_grid = np.r_[A.residence_grid, grid]
    for g, hh in zip(grid, households, strict=True):
        i = int(g)
        while i >= 0:
            A.households[i] += hh
            i = A.areas[i].parent
    for i in A.of_level("grid_large"):
        A.households[i] = A.households[A.areas[i].parent]


def _depth(A: AreaSet, i: int) -> int:
    d = 0
    while A.areas[i].parent >= 0:
        i, d = A.areas[i].parent, d + 1
    return d


def build(
    geo: Geography,
    s: Settlement,
    res: Residences,
    vnames: list[str],
    namer: Namer,
    district: tuple[str, str],
    towns: list[str],
    rng: np.random.Generator,
    *,
    streets: np.ndarray,
) -> AreaSet:
    """Area tree of one copy (local metres); ``streets``: the segments grids may follow
    (``Network.streets``). See the module docstring for the rules."""
    return _Builder(geo, s, res, vnames, namer, district, towns, rng, streets).run()
