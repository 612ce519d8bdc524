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
    "ebike": {"*": 18.0, "trunk": 20.0, "footway": 6.0, "pedestrian": 6.0, "steps": 2.0, "path": 10.0},
    "car": {"*": 30.0, "primary": 50.0, "secondary": 40.0, "tertiary": 35.0, "residential": 25.0, "service": 15.0},
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


def make_network(coords: dict[int, tuple[float, float]], links: list[tuple]) -> tuple[pd.DataFrame, pd.DataFrame]:
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
        rows.append({"edge_id": k, "u": u, "v": v, "length_m": length, "highway": hw, "oneway": oneway,
                     "access": access, "foot": None, "bicycle": None, "bridge": False, "name": None})
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

    Every point is projected on every usable straight segment. ``allowed(i, edge)`` may veto an
    edge for point ``i``. Ties go to the lowest edge id.
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
            ok &= np.array([allowed(i, row) for row in e.itertuples()], dtype=bool)
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
    if not oneway:
        _add(g, pos, u, t * w)
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


def truth_times(nodes, edges, profile, facilities, residences, *, fac_snaps=None, res_snaps=None, private_ok=lambda e: True):
    """Time (s) from each residence to its nearest facility and that facility's id (networkx).

    ``facilities`` needs ``facility_id``, lon, lat; ``residences`` lon, lat. Returns two lists.
    """
    fac_snaps = fac_snaps or brute_snap(nodes, edges, profile, facilities)
    res_snaps = res_snaps or brute_snap(nodes, edges, profile, residences)
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
            coords[i * n_side + j + 1] = (i * spacing + rng.uniform(-20, 20), j * spacing + rng.uniform(-20, 20))
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
