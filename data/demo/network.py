"""Street network of one copy: lattices, old-town lanes, gated compounds, village lanes, rural roads,
farm tracks, hill paths and a motorway, noded into one graph (local metres).

Intended network components: per copy exactly two, the main island and the islet (reachable
only by ferry, so its village is unreachable from every facility by road). Pieces cut off by the
river, the lake or the coast are dropped. The motorway crosses other roads without junctions and
meets them only through ``motorway_link`` ramps at two interchanges. After noding,
``circulation`` makes every drivable street reachable and leavable by car and e-bike (one-way
edges that would trap become two-way; see there).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from shapely.geometry import LineString

from . import circulation
from . import settlement as st
from ._geom import poisson_points
from ._noding import node
from .geography import Geography
from .names import CHINESE_DIGITS, Namer

CN_NUM = CHINESE_DIGITS
BOUNDARY_CLASSES = frozenset(
    {"motorway", "primary", "secondary", "tertiary", "residential", "unclassified", "track"}
)
"""Road classes that bound blocks (and so grids); lanes, tracks, paths and service roads do not."""


@dataclass
class Road:
    """Attributes shared by the segments of one road (or road piece)."""

    highway: str
    name: str | None = None
    oneway: bool = False
    access: str | None = None
    foot: str | None = None
    bicycle: str | None = None
    bridge_ok: bool = False
    layer: int = 0
    kind: str = "street"
    compound: int = -1


@dataclass
class Network:
    """Noded network of one copy (local metres)."""

    xy: np.ndarray
    u: np.ndarray
    v: np.ndarray
    road: np.ndarray
    bridge: np.ndarray
    roads: list[Road]
    gates: np.ndarray
    oneway: np.ndarray
    """Per edge: one-way in the u→v direction (the road's plan, relaxed where it would trap)."""
    bridges: list[dict] = field(default_factory=list)

    def length(self) -> np.ndarray:
        return np.hypot(*(self.xy[self.u] - self.xy[self.v]).T)

    def streets(self) -> np.ndarray:
        """Segments (LineStrings) of the public streets and roads a grid boundary may follow: the
        classes of ``BOUNDARY_CLASSES``, not private compound roads, lanes, tracks or paths."""
        cls = np.array([r.highway in BOUNDARY_CLASSES and r.access is None for r in self.roads] + [False])[
            :-1
        ]
        sel = cls[self.road]
        return shapely.linestrings(np.stack([self.xy[self.u[sel]], self.xy[self.v[sel]]], axis=1))


class _Soup:
    """Accumulates straight segments with a road index each."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.roads: list[Road] = []
        self.segs: list[np.ndarray] = []
        self.rid: list[np.ndarray] = []

    def road(self, r: Road) -> int:
        self.roads.append(r)
        return len(self.roads) - 1

    def add(self, segs: np.ndarray, rid) -> None:
        segs = np.asarray(segs, dtype=float).reshape(-1, 2, 2)
        self.segs.append(segs)
        self.rid.append(np.broadcast_to(np.asarray(rid), (len(segs),)).astype(np.int64))

    def add_line(self, coords: np.ndarray, rid: int, step: float) -> None:
        """A polyline densified to ``step`` metres."""
        c = np.asarray(shapely.segmentize(LineString(coords), step).coords)
        self.add(np.stack([c[:-1], c[1:]], axis=1), rid)

    def add_wiggly(self, a: np.ndarray, b: np.ndarray, rid: np.ndarray, step: float, wiggle: float) -> None:
        """Straight links a→b densified to ``step`` m and bent sideways by up to ``wiggle`` × length."""
        if len(a) == 0:
            return
        d = b - a
        ln = np.hypot(*d.T)
        n = np.maximum(1, np.ceil(ln / step)).astype(int)
        line = np.repeat(np.arange(len(a)), n + 1)
        t = np.concatenate([np.linspace(0.0, 1.0, k + 1) for k in n])
        c = self.rng.normal(0.0, 1.0, (len(a), 2)) * wiggle * ln[:, None] / 2.0
        off = c[line, 0] * np.sin(np.pi * t) + c[line, 1] * np.sin(2 * np.pi * t)
        normal = np.column_stack([-d[:, 1], d[:, 0]]) / np.maximum(ln, 1e-9)[:, None]
        p = a[line] + t[:, None] * d[line] + off[:, None] * normal[line]
        same = line[1:] == line[:-1]
        self.add(np.stack([p[:-1][same], p[1:][same]], axis=1), np.asarray(rid)[line[:-1][same]])

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate(self.segs), np.concatenate(self.rid)


# --- built-up lattices ---------------------------------------------------------------------


def _line_class(k: int, n: int, period: int, centre: int) -> str:
    """Street class of lattice line ``k``: the central main line is the 大道 (primary)."""
    if k % period:
        return "residential"
    if k == round(centre / (2 * period)) * 2 * period:
        return "primary"
    return "secondary" if k % (2 * period) == 0 else "tertiary"


_GENERIC = {"primary": "大道", "secondary": "路", "tertiary": "路", "residential": "街"}


def _lattice_segments(lat: st.Lattice, axis: int):
    """Half-cell segments along rows (axis 0) or columns (axis 1) with their kept mask."""
    n = lat.shape[0]
    lu, comp = lat.landuse, lat.compound
    k_grid, j_grid = np.meshgrid(np.arange(2 * n), np.arange(n + 1))
    ks, js = k_grid.ravel(), j_grid.ravel()
    i = ks // 2
    lo_j, hi_j = np.clip(js - 1, 0, n - 1), np.clip(js, 0, n - 1)
    if axis == 0:
        a_lu = np.where(js > 0, lu[lo_j, i], st.INACTIVE)
        b_lu = np.where(js < n, lu[hi_j, i], st.INACTIVE)
        a_c, b_c = comp[lo_j, i], comp[hi_j, i]
        p0, p1 = lat.half_uv(ks, 2 * js), lat.half_uv(ks + 1, 2 * js)
    else:
        a_lu = np.where(js > 0, lu[i, lo_j], st.INACTIVE)
        b_lu = np.where(js < n, lu[i, hi_j], st.INACTIVE)
        a_c, b_c = comp[i, lo_j], comp[i, hi_j]
        p0, p1 = lat.half_uv(2 * js, ks), lat.half_uv(2 * js, ks + 1)
    active = (a_lu != st.INACTIVE) | (b_lu != st.INACTIVE)
    inner = ((a_lu == b_lu) & np.isin(a_lu, (st.OLD_TOWN, st.PARK))) | (
        (a_c == b_c) & (a_c >= 0) & (js > 0) & (js < n)
    )
    keep = active & ~inner
    return lat.to_xy(p0[keep]), lat.to_xy(p1[keep]), js[keep]


def _add_lattice(soup: _Soup, lat: st.Lattice, namer: Namer, *, couplet: bool) -> tuple[list[int], list[int]]:
    """Streets of one lattice; returns road ids of arterial lines (for exits) and of rows."""
    n = lat.shape[0]
    centre = n // 2 // lat.period * lat.period
    arterial, rows = [], []
    for axis in (0, 1):
        p0, p1, line = _lattice_segments(lat, axis)
        for k in np.unique(line):
            cls = _line_class(int(k), n, lat.period, centre)
            oneway = cls == "residential" and soup.rng.uniform() < 0.12
            rid = soup.road(
                Road(
                    highway=cls,
                    name=namer.road(_GENERIC[cls]),
                    oneway=bool(oneway),
                    kind=f"lattice:{lat.zone}",
                )
            )
            m = line == k
            a, b = p0[m], p1[m]
            flip = oneway and soup.rng.uniform() < 0.5
            if couplet and axis == 0 and k in (centre + 1, centre + 2):
                soup.roads[rid].oneway, flip = True, k == centre + 2
            soup.add(np.stack([b, a] if flip else [a, b], axis=1), rid)
            if cls != "residential":
                arterial.append(rid)
            if axis == 0:
                rows.append(rid)
    return arterial, rows


def _dangling(segs: np.ndarray) -> np.ndarray:
    p = segs.reshape(-1, 2)
    _, inv, cnt = np.unique(
        np.round(p * 1000).astype(np.int64), axis=0, return_inverse=True, return_counts=True
    )
    return p[cnt[inv.ravel()] == 1]


def _bridge_span(soup: _Soup, geo: Geography, rid: int):
    """Closest pair of this street's dead ends on opposite banks whose link crosses the river."""
    segs, r = soup.arrays()
    ends = _dangling(segs[r == rid])
    west = np.array([x < geo.river_x(y) for x, y in ends], dtype=bool)
    if west.all() or not west.any():
        return None
    w, e = ends[west], ends[~west]
    d = np.hypot(*(w[:, None] - e[None]).transpose(2, 0, 1))
    i, j = np.unravel_index(d.argmin(), d.shape)
    line = LineString([w[i], e[j]])
    if d[i, j] > 600 or not line.intersects(geo.river):
        return None
    return line


def _add_city_bridges(soup: _Soup, geo: Geography, rows: list[int]) -> list[dict]:
    """Few crossings of the river in the city: the trunk road, one more road and a footbridge."""
    out: list[dict] = []
    order = sorted(rows, key=lambda r: {"primary": 0, "secondary": 1}.get(soup.roads[r].highway, 2))
    for rid in order:
        kind = "road" if len(out) < 2 else "foot"
        line = _bridge_span(soup, geo, rid)
        if line is None or any(line.distance(b["line"]) < 700 for b in out):
            continue
        base = soup.roads[rid]
        road = Road(
            base.highway if kind == "road" else "footway", name=base.name, bridge_ok=True, kind="bridge"
        )
        if kind == "foot":
            road.name = None
        b = soup.road(road)
        soup.add_line(np.asarray(line.coords), b, 40.0)
        out.append({"road": b, "kind": kind, "line": line, "street": base.name})
        if len(out) == 3:
            break
    return out


def _rect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([[a[0], a[1]], [b[0], a[1]], [b[0], b[1]], [a[0], b[1]], [a[0], a[1]]])


def _add_compound(soup: _Soup, lat: st.Lattice, c: st.Compound, ci: int) -> list[np.ndarray]:
    """Private roads of a gated compound; returns the gate points (on the perimeter street)."""
    a = lat.cell_uv(c.i0, c.j0)[0]
    b = lat.cell_uv(c.i0 + c.ni, c.j0 + c.nj)[0]
    d = 20.0
    ring = soup.road(Road("service", access="private", kind="compound", compound=ci))
    foot = soup.road(Road("footway", access="private", kind="compound", compound=ci))
    soup.add_line(
        lat.to_xy(np.asarray(shapely.segmentize(LineString(_rect(a + d, b - d)), 30.0).coords)), ring, 40.0
    )
    soup.add_line(
        lat.to_xy(np.asarray(shapely.segmentize(LineString(_rect(a + 55, b - 55)), 25.0).coords)), foot, 40.0
    )
    mid = (a + b) / 2
    spine = (
        [[a[0] + d, mid[1]], [b[0] - d, mid[1]]] if c.ni >= c.nj else [[mid[0], a[1] + d], [mid[0], b[1] - d]]
    )
    soup.add_line(lat.to_xy(np.asarray(shapely.segmentize(LineString(spine), 30.0).coords)), ring, 40.0)
    sides = {
        "S": ((2 * c.i0 + c.ni, 2 * c.j0), (0, d)),
        "N": ((2 * c.i0 + c.ni, 2 * (c.j0 + c.nj)), (0, -d)),
        "W": ((2 * c.i0, 2 * c.j0 + c.nj), (d, 0)),
        "E": ((2 * (c.i0 + c.ni), 2 * c.j0 + c.nj), (-d, 0)),
    }
    gates = []
    for s in soup.rng.permutation(list(sides))[: c.gates]:
        (ku, kv), off = sides[s]
        outer = lat.half_uv(ku, kv)[0]
        pts = lat.to_xy(np.array([outer, outer + off]))
        soup.add(pts[None], ring)
        gates.append(pts[0])
    return gates


def _add_park(soup: _Soup, lat: st.Lattice, park) -> None:
    """Public footways of the city park, joined to the four perimeter streets."""
    i0, j0, ni, nj = park
    a, b = lat.cell_uv(i0, j0)[0], lat.cell_uv(i0 + ni, j0 + nj)[0]
    rid = soup.road(Road("footway", kind="park"))
    loop = _rect(a + 15, b - 15)
    soup.add_line(lat.to_xy(np.asarray(shapely.segmentize(LineString(loop), 20.0).coords)), rid, 40.0)
    for p, q in ((a + 15, b - 15), (np.array([a[0] + 15, b[1] - 15]), np.array([b[0] - 15, a[1] + 15]))):
        soup.add_line(lat.to_xy(np.linspace(p, q, 12)), rid, 40.0)
    for ku, kv, off in (
        (2 * i0 + ni, 2 * j0, (0, 15)),
        (2 * i0 + ni, 2 * (j0 + nj), (0, -15)),
        (2 * i0, 2 * j0 + nj, (15, 0)),
        (2 * (i0 + ni), 2 * j0 + nj, (-15, 0)),
    ):
        outer = lat.half_uv(ku, kv)[0]
        soup.add(lat.to_xy(np.array([outer, outer + off]))[None], rid)


def _add_greenway(soup: _Soup, geo: Geography) -> None:
    """A riverside cycleway on the west bank through the city."""
    rid = soup.road(Road("cycleway", name="滨江绿道", foot="designated", kind="greenway"))
    edge = shapely.intersection(geo.river.buffer(35.0).boundary, geo.city.buffer(-60.0))
    for part in shapely.get_parts(shapely.line_merge(edge)):
        x, y = part.interpolate(0.5, normalized=True).coords[0]
        if x < geo.river_x(y) and part.length > 200:
            soup.add_line(np.asarray(part.coords), rid, 40.0)


def _add_old_town(soup: _Soup, s: st.Settlement, namer: Namer) -> None:
    """Winding old-town lanes (巷), grouped into named lanes; a few one-way."""
    seg = s.old_town_lanes
    if len(seg) == 0:
        return
    mid = seg.mean(axis=1)
    k = max(1, len(seg) // 14)
    seeds = mid[soup.rng.choice(len(mid), k, replace=False)]
    lab = ((mid[:, None] - seeds[None]) ** 2).sum(-1).argmin(1)
    lanes = []
    for _ in range(k):
        hw = "living_street" if soup.rng.uniform() < 0.6 else "footway"
        oneway = hw == "living_street" and soup.rng.uniform() < 0.3
        lanes.append(soup.road(Road(hw, name=namer.lane(), oneway=bool(oneway), kind="lane")))
    rids = np.array(lanes)
    a, b = seg[:, 0], seg[:, 1]
    # one-way lanes run in one consistent direction (that of their first edge)
    ref = (b - a)[np.unique(lab, return_index=True)[1]][np.searchsorted(np.unique(lab), lab)]
    flip = ((b - a) * ref).sum(1) < 0
    a, b = np.where(flip[:, None], b, a), np.where(flip[:, None], a, b)
    soup.add_wiggly(a, b, rids[lab], 14.0, 0.05)


# --- countryside -------------------------------------------------------------------------------


def _add_villages(soup: _Soup, s: st.Settlement, vnames: list[str]) -> None:
    """Village lanes, grouped into numbered named lanes as in standard-address campaigns (东坑三巷)."""
    rng = soup.rng
    for v, vname in zip(s.villages, vnames, strict=True):
        if len(v.lanes) == 0:
            continue
        a, b = v.lanes[:, 0], v.lanes[:, 1]
        mid = (a + b) / 2
        k = int(np.clip(len(mid) // 6, 1, 10))
        seeds = mid[rng.choice(len(mid), k, replace=False)]
        lab = ((mid[:, None] - seeds[None]) ** 2).sum(-1).argmin(1)
        order = np.argsort(np.hypot(*(seeds - v.centre).T))
        rank = np.empty(k, dtype=int)
        rank[order] = np.arange(k)
        rids = np.array(
            [
                soup.road(
                    Road(
                        "residential"
                        if rank[g] == 0
                        else str(rng.choice(["residential", "service", "footway"], p=[0.5, 0.3, 0.2])),
                        name=f"{vname}{CN_NUM[rank[g]]}巷",
                        kind="village",
                    )
                )
                for g in range(k)
            ]
        )
        soup.add_wiggly(a, b, rids[lab], 12.0, 0.08)


def _exits(soup: _Soup, geo: Geography, arterial: list[int], zones) -> np.ndarray:
    """End points of arterial lattice streets at the outer edge of their zone: rural road anchors."""
    segs, rid = soup.arrays()
    out = []
    for r in arterial:
        p = segs[rid == r].reshape(-1, 2)
        key = np.round(p * 1000).astype(np.int64)
        _, inv, cnt = np.unique(key, axis=0, return_inverse=True, return_counts=True)
        out.append(p[cnt[inv.ravel()] == 1])
    pts = np.vstack(out) if out else np.empty((0, 2))
    P = shapely.points(pts)
    near_edge = np.zeros(len(pts), bool)
    for z in zones:
        near_edge |= shapely.dwithin(z.boundary, P, 160.0)
    ok = near_edge & shapely.contains_xy(geo.main.buffer(-120), pts[:, 0], pts[:, 1])
    ok &= ~shapely.dwithin(geo.river, P, 200.0)
    ok &= ~shapely.contains_xy(geo.old_town.buffer(50), pts[:, 0], pts[:, 1])
    return pts[ok]


def _rural_graph(geo: Geography, s: st.Settlement, exits: np.ndarray, rng: np.random.Generator):
    """Candidate rural links between village centres and city exits (Gabriel graph)."""
    cent = np.array([v.centre for v in s.villages if not v.islet])
    pts = np.vstack([cent, exits])
    e = st.gabriel_edges(pts)
    is_exit = np.r_[np.zeros(len(cent), bool), np.ones(len(exits), bool)]
    e = e[~(is_exit[e[:, 0]] & is_exit[e[:, 1]])]
    lines = shapely.linestrings(pts[e])
    ln = shapely.length(lines)
    zones = shapely.union_all([geo.city.buffer(-130), geo.seat.buffer(-120), geo.rural_seat.buffer(-110)])
    bad = shapely.intersects(lines, zones) | shapely.intersects(lines, geo.lake.buffer(20))
    bad |= ~shapely.covered_by(lines, geo.main.buffer(-30)) | (ln > 2600)
    return pts, e[~bad], ln[~bad], len(cent)


def _choose_rural(geo: Geography, pts, e, ln, rng):
    """Keep a spanning tree as roads plus some loops as tracks; cut river crossings but one."""
    wet = shapely.intersects(shapely.linestrings(pts[e]), geo.river)
    mid_y = pts[e].mean(axis=1)[:, 1]
    cand = np.nonzero(wet & (mid_y > 0.52 * geo.h) & (mid_y < 0.75 * geo.h))[0]
    bridge = cand[np.argmin(ln[cand] + 3 * np.abs(mid_y[cand] - 0.63 * geo.h))] if len(cand) else -1
    keep = ~wet
    if bridge >= 0:
        keep[bridge] = True
    tree = st.mst_edges(pts, e[keep])
    tkey = set(map(tuple, np.sort(tree, axis=1)))
    is_tree = np.array([tuple(x) in tkey for x in np.sort(e, axis=1)])
    loop = keep & ~is_tree & (rng.uniform(size=len(e)) < 0.45) & (ln < 1500)
    sel = keep & (is_tree | loop)
    if bridge >= 0:
        sel[bridge] = True
    return e[sel], np.where(is_tree[sel], "unclassified", "track"), (np.nonzero(sel)[0] == bridge)


def _main_roads(pts, e, cls, key_pairs):
    """Upgrade links on shortest paths between key places to primary/secondary/tertiary."""
    n = len(pts)
    ln = np.hypot(*(pts[e[:, 0]] - pts[e[:, 1]]).T)
    w = ln * np.where(cls == "track", 1.6, 1.0)
    g = coo_matrix((np.r_[w, w], (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])), shape=(n, n)).tocsr()
    eid = {(min(a, b), max(a, b)): i for i, (a, b) in enumerate(e)}
    label = np.full(len(e), "", dtype=object)
    for (a, b), hw, name in key_pairs:
        _, pred = dijkstra(g, indices=a, return_predecessors=True)
        x = b
        while pred[x] >= 0:
            i = eid[(min(x, pred[x]), max(x, pred[x]))]
            if not label[i]:
                cls[i], label[i] = hw, name
            x = pred[x]
    return cls, label


def _add_rural(
    soup: _Soup, geo: Geography, s: st.Settlement, exits: np.ndarray, towns: list[str]
) -> list[dict]:
    """Rural roads between villages and town exits; the trunk links get names (澄汐公路 ...)."""
    rng = soup.rng
    pts, e, ln, ncent = _rural_graph(geo, s, exits, rng)
    e, cls, is_bridge = _choose_rural(geo, pts, e, ln, rng)
    cls = cls.astype(object)
    centres = [np.asarray(z.centroid.coords[0]) for z in (geo.city, geo.seat, geo.rural_seat)]

    def nearest(z: int, target: np.ndarray) -> int:
        zone = (geo.city, geo.seat, geo.rural_seat)[z]
        cand = np.nonzero(shapely.dwithin(zone, shapely.points(pts), 200.0))[0]
        cand = cand[cand >= ncent] if (cand >= ncent).any() else cand
        if len(cand) == 0:
            cand = np.arange(len(pts))
        return int(cand[np.argmin(np.hypot(*(pts[cand] - target).T))])

    a, b, c = towns
    pairs = [
        ((nearest(0, centres[1]), nearest(1, centres[0])), "primary", f"{a[0]}{b[0]}公路"),
        ((nearest(0, centres[2]), nearest(2, centres[0])), "secondary", f"{a[0]}{c[0]}公路"),
        ((nearest(1, centres[2]), nearest(2, centres[1])), "tertiary", f"{b[0]}{c[0]}公路"),
    ]
    cls, label = _main_roads(pts, e, cls, pairs)
    rids = np.array(
        [
            soup.road(Road(str(h), name=(lb or None), bridge_ok=bool(br), kind="rural"))
            for h, lb, br in zip(cls, label, is_bridge, strict=True)
        ],
        dtype=np.int64,
    )
    soup.add_wiggly(pts[e[:, 0]], pts[e[:, 1]], rids, 45.0, 0.05)
    return [
        {"road": int(r), "kind": "rural", "line": LineString(pts[e[i]])}
        for r, i in zip(rids[is_bridge], np.nonzero(is_bridge)[0], strict=True)
    ]


def _add_tracks(soup: _Soup, geo: Geography, s: st.Settlement) -> None:
    """Dead-end farm tracks (机耕路) from each village into its fields."""
    rng = soup.rng
    rid = soup.road(Road("track", kind="farm"))
    a, b = [], []
    for v in s.villages:
        if len(v.houses) == 0:
            continue
        for _ in range(int(rng.integers(2, 6))):
            h = v.houses[rng.integers(len(v.houses))]
            d = h - v.centre
            ang = np.arctan2(d[1], d[0]) + rng.normal(0, 0.5)
            L = rng.uniform(220, 650)
            a.append(h)
            b.append(h + L * np.array([np.cos(ang), np.sin(ang)]))
    soup.add_wiggly(np.array(a), np.array(b), np.full(len(a), rid), 40.0, 0.06)


def _add_hill_paths(soup: _Soup, geo: Geography, s: st.Settlement) -> None:
    """Footpaths through the hills: a tree over scattered points and the villages at the foot."""
    rng = soup.rng
    pts = poisson_points(geo.hills.buffer(-100), max(6, int(45 * geo.size)), 420.0, rng)
    cent = np.array([v.centre for v in s.villages if not v.islet])
    foot = cent[shapely.dwithin(geo.hills, shapely.points(cent), 900.0)]
    allp = np.vstack([pts, foot])
    e = st.gabriel_edges(allp)
    e = e[~shapely.intersects(shapely.linestrings(allp[e]), geo.lake.buffer(20))]
    tree = st.mst_edges(allp, e)
    path = soup.road(Road("path", kind="hill"))
    steps = soup.road(Road("steps", kind="hill"))
    rid = np.where(rng.uniform(size=len(tree)) < 0.06, steps, path)
    soup.add_wiggly(allp[tree[:, 0]], allp[tree[:, 1]], rid, 30.0, 0.12)


def _add_motorway(soup: _Soup, geo: Geography, name: str) -> int:
    rid = soup.road(
        Road("motorway", name=name, foot="no", bicycle="no", bridge_ok=True, layer=1, kind="motorway")
    )
    for part in shapely.get_parts(shapely.intersection(geo.motorway, geo.main.buffer(-40))):
        soup.add_line(np.asarray(part.coords), rid, 110.0)
    return rid


def _add_links(soup: _Soup, geo: Geography, motorway: int, targets_x: list[float]) -> None:
    """Motorway ramps: a straight link from a motorway vertex to the nearest main-road vertex."""
    segs, rid = soup.arrays()
    mw = segs[rid == motorway][:, 0]
    main = np.array(
        [
            soup.roads[r].highway in ("primary", "secondary", "tertiary", "unclassified")
            and soup.roads[r].kind == "rural"
            for r in rid
        ]
    )
    cand = segs[main][:, 0]
    for tx in targets_x:
        if len(mw) == 0 or len(cand) == 0:
            return
        m = mw[np.argmin(np.abs(mw[:, 0] - tx))]
        d = np.hypot(*(cand - m).T)
        ok = (d > 150) & (d < 1500)
        line = shapely.linestrings(np.stack([np.broadcast_to(m, cand.shape), cand], axis=1))
        ok &= ~shapely.intersects(line, geo.river.buffer(5))
        if ok.any():
            main_road = np.array([soup.roads[r].highway != "unclassified" for r in rid[main]])
            j = np.nonzero(ok)[0][np.argmin(d[ok] * np.where(main_road[ok], 0.5, 1.0))]
            r = soup.road(Road("motorway_link", name=None, foot="no", bicycle="no", kind="link"))
            soup.add(np.array([[m, cand[j]]]), r)


# --- assembly ----------------------------------------------------------------------------------


def _filter(soup: _Soup, geo: Geography, s: st.Settlement):
    """Drop segments in the sea, lake, river (bridges excepted) or inside someone else's compound."""
    segs, rid = soup.arrays()
    lines = shapely.linestrings(segs)
    land = geo.land.buffer(-1.0)
    shapely.prepare(land)
    # segments are short (<= 110 m) next to a smooth coast: testing both ends and the middle is enough
    keep = np.ones(len(segs), dtype=bool)
    for p in (segs[:, 0], segs[:, 1], segs.mean(axis=1)):
        keep &= shapely.contains_xy(land, p[:, 0], p[:, 1])
    wet = shapely.intersects(lines, geo.river.buffer(2.0))
    bridge_ok = np.array([r.bridge_ok for r in soup.roads])[rid]
    keep &= ~wet | bridge_ok
    keep &= ~shapely.intersects(lines, geo.lake.buffer(2.0))
    comp_of = np.array([r.compound for r in soup.roads])[rid]
    for ci, c in enumerate(s.compounds):
        inner = c.polygon(s.lattices[c.lattice], inset=3.0)
        keep &= ~(shapely.intersects(lines, inner) & (comp_of != ci))
    return segs[keep], rid[keep], (wet & bridge_ok)[keep]


def _largest_per_island(xy, u, v, geo: Geography) -> np.ndarray:
    """Edge mask keeping the largest component on the main island and on the islet."""
    n = len(xy)
    g = coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
    _, lab = connected_components(g, directed=False)
    keep_lab = []
    for isl in (geo.main, geo.islet):
        on = shapely.contains_xy(isl.buffer(5), xy[:, 0], xy[:, 1])
        if on.any():
            keep_lab.append(np.bincount(lab[on]).argmax())
    return np.isin(lab[u], keep_lab)


def build(
    geo: Geography,
    s: st.Settlement,
    namer: Namer,
    vnames: list[str],
    towns: list[str],
    motorway_name: str,
    rng: np.random.Generator,
) -> Network:
    """Build the noded street network of one copy."""
    soup = _Soup(rng)
    arterial, city_rows = [], []
    for li, lat in enumerate(s.lattices):
        art, rows = _add_lattice(soup, lat, namer, couplet=li == 0)
        arterial += art
        city_rows += rows if li == 0 else []
    gates = [g for ci, c in enumerate(s.compounds) for g in _add_compound(soup, s.lattices[c.lattice], c, ci)]
    if s.park is not None:
        _add_park(soup, s.lattices[0], s.park)
    _add_greenway(soup, geo)
    _add_old_town(soup, s, namer)
    _add_villages(soup, s, vnames)
    exits = _exits(soup, geo, arterial, (geo.city, geo.seat, geo.rural_seat))
    bridges = _add_city_bridges(soup, geo, city_rows)
    bridges += _add_rural(soup, geo, s, exits, towns)
    _add_tracks(soup, geo, s)
    _add_hill_paths(soup, geo, s)
    mw = _add_motorway(soup, geo, motorway_name)
    _add_links(soup, geo, mw, [geo.river_x(0.47 * geo.h) - 1800.0, 0.80 * geo.w])
    segs, rid, wet = _filter(soup, geo, s)
    layer = np.array([r.layer for r in soup.roads])[rid]
    xy, u, v, parent = node(segs[:, 0], segs[:, 1], layer)
    keep = _largest_per_island(xy, u, v, geo)
    u, v, parent = u[keep], v[keep], parent[keep]
    used, inv = np.unique(np.r_[u, v], return_inverse=True)
    gate_idx = np.searchsorted(used, _find_nodes(xy, np.array(gates)))
    road = rid[parent]
    net = Network(
        xy=xy[used],
        u=inv[: len(u)],
        v=inv[len(u) :],
        road=road,
        bridge=wet[parent],
        roads=soup.roads,
        gates=gate_idx,
        oneway=np.array([r.oneway for r in soup.roads])[road],
        bridges=bridges,
    )
    circulation.connect_drivable(net)
    circulation.untrap_oneways(net)
    return net


def _find_nodes(xy: np.ndarray, pts: np.ndarray) -> np.ndarray:
    if len(pts) == 0:
        return np.empty(0, dtype=np.int64)
    d = ((xy[None] - pts[:, None]) ** 2).sum(-1) if len(xy) * len(pts) < 5e7 else None
    if d is not None:
        return d.argmin(axis=1)
    tree = shapely.STRtree(shapely.points(xy))
    return tree.nearest(shapely.points(pts))
