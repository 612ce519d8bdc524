"""Small hand-built street networks and an independent networkx ground truth for geo tests.

Everything is laid out in metres in UTM zone 50N (EPSG:32650, Guangdong) and converted to lon/lat
for the code under test. The ground truth never touches geo's arrays: it re-implements the access
rules for the simple cases used here, snaps by brute force over every usable segment, subdivides the
snapped edges in networkx and runs networkx's Dijkstra.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pyproj

ROOT = Path(__file__).resolve().parents[2]
PROFILES_CSV = ROOT / "data" / "profiles.csv"
UTM = pyproj.CRS.from_epsg(32650)
X0, Y0 = 300_000.0, 2_500_000.0
_TO_LL = pyproj.Transformer.from_crs(UTM, 4326, always_xy=True)
_TO_XY = pyproj.Transformer.from_crs(4326, UTM, always_xy=True)

# km/h per profile for the classes used in the tests (independent of data/profiles.csv parsing)
SPEED_KMH = {
    "walk": {"*": 4.0},
    "walk_elderly": {"*": 3.0, "steps": 2.0},
    "ebike": {"*": 18.0, "trunk": 20.0, "footway": 4.0, "pedestrian": 4.0, "steps": 2.0, "path": 10.0},
    "car": {
        "*": 30.0,
        "primary": 50.0,
        "secondary": 40.0,
        "tertiary": 35.0,
        "residential": 25.0,
        "service": 15.0,
    },
}
BANNED = {
    "walk": {"motorway", "motorway_link"},
    "walk_elderly": {"motorway", "motorway_link"},
    "ebike": {"motorway", "motorway_link"},
    "car": {"footway", "pedestrian", "path", "steps", "cycleway"},
}
VEHICLE = {"ebike", "car"}
ACCESS_KMH = {"walk": 4.0, "walk_elderly": 3.0, "ebike": 4.0, "car": 4.0}


def lonlat(x, y):
    """Metres (EPSG:32650, offsets from X0, Y0) → lon, lat arrays."""
    lon, lat = _TO_LL.transform(np.asarray(x, float) + X0, np.asarray(y, float) + Y0)
    return np.asarray(lon), np.asarray(lat)


def metres(lon, lat):
    x, y = _TO_XY.transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.asarray(x) - X0, np.asarray(y) - Y0


def make_network(
    coords: dict[int, tuple[float, float]], links: list[tuple]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Frames of CONTRACTS.md from node coordinates (metres) and links.

    ``links``: tuples ``(u, v, highway[, oneway[, access]])``; edge ids 1.. in list order, length
    is the straight distance in metres.
    """
    ids = sorted(coords)
    lon, lat = lonlat([coords[i][0] for i in ids], [coords[i][1] for i in ids])
    nodes = pd.DataFrame({"node_id": ids, "lon": lon, "lat": lat})
    rows = []
    for k, link in enumerate(links, start=1):
        u, v, hw = link[:3]
        oneway = link[3] if len(link) > 3 else False
        access = link[4] if len(link) > 4 else None
        length = float(np.hypot(coords[v][0] - coords[u][0], coords[v][1] - coords[u][1]))
        rows.append(
            {
                "edge_id": k,
                "u": u,
                "v": v,
                "length_m": length,
                "highway": hw,
                "oneway": oneway,
                "access": access,
                "foot": None,
                "bicycle": None,
                "bridge": False,
                "name": None,
            }
        )
    return nodes, pd.DataFrame(rows)


def points(xy: list[tuple[float, float]], ids=None) -> pd.DataFrame:
    lon, lat = lonlat([p[0] for p in xy], [p[1] for p in xy])
    return pd.DataFrame({"id": ids if ids is not None else np.arange(len(xy)), "lon": lon, "lat": lat})


# --- ground truth ------------------------------------------------------------------------------


def _usable(profile: str, edge) -> bool:
    return edge.highway not in BANNED[profile] and edge.access != "no"


def _speed(profile: str, highway: str) -> float:
    table = SPEED_KMH[profile]
    return table.get(highway, table["*"]) / 3.6


def brute_snap(nodes, edges, profile, pts, *, allowed=None, max_distance_m=500.0):
    """Nearest usable edge of each point by brute force: list of (edge_id, t, distance) or None.

    Every point is projected on every usable straight segment. ``allowed(i, edges)`` (a bool per
    row of the usable edges frame) may veto edges for point ``i``. Ties go to the lowest edge id.
    """
    xy = dict(zip(nodes.node_id, zip(*metres(nodes.lon, nodes.lat), strict=True), strict=True))
    e = edges.sort_values("edge_id")
    e = e[[_usable(profile, row) for row in e.itertuples()]]
    a = np.array([xy[u] for u in e.u])
    b = np.array([xy[v] for v in e.v])
    ab = b - a
    denom = (ab**2).sum(axis=1)
    px, py = metres(pts.lon, pts.lat)
    out = []
    for i in range(len(pts)):
        p = np.array([px[i], py[i]])
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.clip(np.where(denom > 0, ((p - a) * ab).sum(axis=1) / denom, 0.0), 0.0, 1.0)
        d = np.hypot(*(a + t[:, None] * ab - p).T)
        ok = d <= max_distance_m
        if allowed is not None:
            ok &= np.asarray(allowed(i, e), dtype=bool)
        if not ok.any():
            out.append(None)
            continue
        k = np.flatnonzero(ok)[np.argmin(d[ok])]  # argmin returns the first = lowest edge id
        out.append((int(e.edge_id.iloc[k]), float(t[k]), float(d[k])))
    return out


def truth_graph(nodes, edges, profile, *, private_ok=lambda e: True):
    """networkx DiGraph of the profile: arcs ``a → b`` weighted by seconds.

    Edges with access='private' are included only when ``private_ok(edge)``.
    """
    g = nx.DiGraph()
    g.add_nodes_from(int(n) for n in nodes.node_id)
    for e in edges.itertuples():
        if not _usable(profile, e) or (e.access == "private" and not private_ok(e)):
            continue
        w = e.length_m / _speed(profile, e.highway)
        _add(g, int(e.u), int(e.v), w)
        if not (e.oneway and profile in VEHICLE):
            _add(g, int(e.v), int(e.u), w)
    return g


def _add(g, a, b, w):
    if a != b and (not g.has_edge(a, b) or g[a][b]["weight"] > w):
        g.add_edge(a, b, weight=w)


def attach(g, edges, profile, name, snap, *, as_origin: bool):
    """Subdivide the snapped edge with a node for the point (``('pt', name)``) and its access leg.

    Origins get arcs point → edge position; destinations arcs edge position → point.
    """
    edge_id, t, d = snap
    e = edges.set_index("edge_id").loc[edge_id]
    w = e.length_m / _speed(profile, e.highway)
    pos, pt = ("pos", name), ("pt", name)
    oneway = bool(e.oneway) and profile in VEHICLE
    u, v = int(e.u), int(e.v)
    _add(g, u, pos, t * w)
    _add(g, pos, v, (1 - t) * w)
    if not oneway or t * w == 0:  # a point exactly at a node is at that node
        _add(g, pos, u, t * w)
    if not oneway or (1 - t) * w == 0:
        _add(g, v, pos, (1 - t) * w)
    leg = d / (ACCESS_KMH[profile] / 3.6)
    if as_origin:
        _add(g, pt, pos, leg)
    else:
        _add(g, pos, pt, leg)
    return pt


def same_edge_arcs(g, edges, profile, snaps: dict):
    """Direct along-edge arcs between subdivision points that share an edge (and their order)."""
    by_edge: dict[int, list] = {}
    for name, snap in snaps.items():
        if snap is not None:
            by_edge.setdefault(snap[0], []).append((snap[1], name))
    for edge_id, items in by_edge.items():
        e = edges.set_index("edge_id").loc[edge_id]
        w = e.length_m / _speed(profile, e.highway)
        oneway = bool(e.oneway) and profile in VEHICLE
        for ta, a in items:
            for tb, b in items:
                if a != b and (tb >= ta or not oneway):
                    _add(g, ("pos", a), ("pos", b), abs(tb - ta) * w)


def compound_rule(nodes, edges, pts):
    """``allowed(i, edges)`` for brute_snap: private edges only for points inside the convex hull
    of their compound (a connected group of private edges), computed independently here."""
    import shapely

    private = edges[edges.access == "private"]
    g = nx.Graph()
    g.add_edges_from(zip(private.u, private.v, strict=True))
    xy = dict(zip(nodes.node_id, zip(*metres(nodes.lon, nodes.lat), strict=True), strict=True))
    hull_of = {}
    for comp in nx.connected_components(g):
        hull = shapely.MultiPoint([xy[n] for n in comp]).convex_hull
        hull_of.update({n: hull for n in comp})
    px, py = metres(pts.lon, pts.lat)
    memo: dict[int, tuple] = {}

    def allowed(i, e):
        if id(e) not in memo:  # brute_snap passes the same edges frame for every point
            is_private = (e.access == "private").to_numpy()
            memo[id(e)] = (is_private, np.array([hull_of.get(u) for u in e.u[is_private]], dtype=object))
        is_private, hulls = memo[id(e)]
        inside = np.zeros(len(e), dtype=bool)
        inside[is_private] = shapely.intersects(hulls, shapely.Point(px[i], py[i]))
        return ~is_private | inside

    return allowed


def truth_times(
    nodes,
    edges,
    profile,
    facilities,
    residences,
    *,
    fac_snaps=None,
    res_snaps=None,
    private_ok=lambda e: True,
):
    """Time (s) from each residence to its nearest facility and that facility's id (networkx).

    ``facilities`` needs ``facility_id``, lon, lat; ``residences`` lon, lat. Returns two lists.
    Points snap onto private edges only inside their compound (``compound_rule``).
    """
    fac_snaps = fac_snaps or brute_snap(
        nodes, edges, profile, facilities, allowed=compound_rule(nodes, edges, facilities)
    )
    res_snaps = res_snaps or brute_snap(
        nodes, edges, profile, residences, allowed=compound_rule(nodes, edges, residences)
    )
    g = truth_graph(nodes, edges, profile, private_ok=private_ok)
    snaps = {("f", int(f)): s for f, s in zip(facilities.facility_id, fac_snaps, strict=True)}
    snaps.update({("r", i): s for i, s in enumerate(res_snaps)})
    for name, s in snaps.items():
        if s is not None:
            attach(g, edges, profile, name, s, as_origin=name[0] == "r")
    same_edge_arcs(g, edges, profile, snaps)
    rev = g.reverse(copy=True)
    best: dict = {}
    for f in sorted(int(x) for x in facilities.facility_id):
        if snaps[("f", f)] is None:
            continue
        for node, t in nx.single_source_dijkstra_path_length(rev, ("pt", ("f", f))).items():
            if node not in best or t < best[node][0] - 1e-9:
                best[node] = (t, f)
    times, ids = [], []
    for i in range(len(residences)):
        t, f = best.get(("pt", ("r", i)), (np.inf, -1))
        times.append(t)
        ids.append(f)
    return np.array(times), np.array(ids)


def random_grid(n_side: int, *, seed: int, spacing: float = 80.0, oneway_share: float = 0.15):
    """A jittered n×n street grid with mixed classes, some one-way streets and a few gaps."""
    rng = np.random.default_rng(seed)
    coords = {}
    for i in range(n_side):
        for j in range(n_side):
            coords[i * n_side + j + 1] = (
                i * spacing + rng.uniform(-20, 20),
                j * spacing + rng.uniform(-20, 20),
            )
    classes = np.array(["residential", "tertiary", "secondary", "footway", "service", "primary"])
    links = []
    for i in range(n_side):
        for j in range(n_side):
            a = i * n_side + j + 1
            for b in ([a + n_side] if i + 1 < n_side else []) + ([a + 1] if j + 1 < n_side else []):
                if rng.random() < 0.05:
                    continue
                u, v = (a, b) if rng.random() < 0.5 else (b, a)
                links.append((u, v, str(rng.choice(classes)), bool(rng.random() < oneway_share)))
    return make_network(coords, links)


def curvy_network(n_side: int, *, seed: int, spacing: float = 120.0):
    """A street grid whose streets are split into 1-4 pieces (many nodes of degree two).

    Also: one-way streets (consistently directed along their pieces), a ring road with no
    junction, a loop returning to its own junction, a zero-length piece and a gated compound whose
    private drive is a chain of several pieces.
    """
    rng = np.random.default_rng(seed)
    coords: dict[int, tuple[float, float]] = {}
    links: list[tuple] = []
    nid = 1

    def node(x, y):
        nonlocal nid
        coords[nid] = (float(x), float(y))
        nid += 1
        return nid - 1

    grid = {
        (i, j): node(i * spacing + rng.uniform(-15, 15), j * spacing + rng.uniform(-15, 15))
        for i in range(n_side)
        for j in range(n_side)
    }

    def street(a, b, hw, oneway=False, access=None, pieces=None):
        k = pieces or int(rng.integers(1, 5))
        (xa, ya), (xb, yb) = coords[a], coords[b]
        chain = (
            [a]
            + [
                node(xa + (xb - xa) * t + rng.uniform(-8, 8), ya + (yb - ya) * t + rng.uniform(-8, 8))
                for t in np.arange(1, k) / k
            ]
            + [b]
        )
        links.extend((p, q, hw, oneway, access) for p, q in zip(chain[:-1], chain[1:], strict=True))

    classes = ["residential", "tertiary", "service", "footway", "secondary"]
    for (i, j), a in grid.items():
        for di, dj in ((1, 0), (0, 1)):
            if (i + di, j + dj) in grid and rng.random() > 0.05:
                b = grid[(i + di, j + dj)]
                u, v = (a, b) if rng.random() < 0.5 else (b, a)
                street(u, v, str(rng.choice(classes)), oneway=bool(rng.random() < 0.2))
    # a ring road with no junction, away from the grid
    ring = [node(-400 + 150 * np.cos(t), 300 + 150 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 9)[:-1]]
    links.extend((p, q, "residential", False, None) for p, q in zip(ring, ring[1:] + ring[:1], strict=True))
    # a loop back to its own junction, and a zero-length piece
    corner = grid[(0, 0)]
    x0, y0 = coords[corner]
    p1, p2 = node(x0 - 60, y0 - 40), node(x0 - 60, y0 + 40)
    links += [
        (corner, p1, "residential", False, None),
        (p1, p2, "residential", False, None),
        (p2, corner, "residential", False, None),
    ]
    twin = node(*coords[p1])
    links.append((p1, twin, "footway", False, None))
    # a gated compound hanging off the far corner: private drive of 3 pieces and a private loop
    gate = grid[(n_side - 1, n_side - 1)]
    gx, gy = coords[gate]
    inner = node(gx + 200, gy + 200)
    street(gate, inner, "service", access="private", pieces=3)
    c1, c2 = node(gx + 260, gy + 200), node(gx + 260, gy + 260)
    links += [
        (inner, c1, "service", False, "private"),
        (c1, c2, "service", False, "private"),
        (c2, inner, "service", False, "private"),
    ]
    return make_network(coords, links)
