"""An independent networkx ground truth for travel times on real-sized data (the demo district).

Nothing here uses ``geo``: the travel profiles are parsed from data/profiles.csv with the csv
module, the OSM access rules are re-implemented as documented in geo.profiles, points are snapped
by brute force onto every usable straight segment (metres in UTM 50N, EPSG:32650, the zone of the
demo), the snapped edges are subdivided, and gated compounds are modelled by their documented rule
— a trip is [inside its origin's compound] → public streets → [inside its destination's compound]:
three copies of the private nodes' world, ``M`` (public), ``P`` (leaving the origin's compound, exit
to ``M`` at a gate) and ``S`` (entering the destination's compound from ``M`` at a gate).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import shapely

ROOT = Path(__file__).resolve().parents[2]
OPEN = {"yes", "designated", "permissive"}
OWN_TAG = {"foot": "foot", "bicycle": "bicycle", "motor": None}
_TO_UTM = pyproj.Transformer.from_crs(4326, 32650, always_xy=True)


@dataclass(frozen=True)
class Mode:
    """A travel profile as written in data/profiles.csv."""

    name: str
    mode: str
    speed_kmh: dict[str, float]
    usable: dict[str, bool]
    respect_oneway: bool
    access_kmh: float


def read_profiles(path: Path = ROOT / "data" / "profiles.csv") -> dict[str, Mode]:
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    by_name: dict[str, list[dict]] = {}
    for r in rows:
        by_name.setdefault(r["profile"], []).append(r)
    default = {name: next(r for r in rs if r["highway"] == "*") for name, rs in by_name.items()}
    out = {}
    for name, rs in by_name.items():
        access = default[name]["access_profile"] or name
        out[name] = Mode(
            name,
            default[name]["mode"],
            {r["highway"]: float(r["speed_kmh"]) for r in rs},
            {r["highway"]: r["usable"] == "1" for r in rs},
            default[name]["respect_oneway"] == "1",
            float(default[access]["speed_kmh"]),
        )
    return out


def _clean(value) -> str:
    return (
        "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip().lower()
    )


def edge_rules(mode: Mode, edges: pd.DataFrame) -> pd.DataFrame:
    """Per edge: usable, speed (m/s), private (in a gated compound), binding one-way."""
    rows = []
    tag = OWN_TAG[mode.mode]
    for e in edges.itertuples():
        hw = e.highway if e.highway in mode.speed_kmh else "*"
        own = _clean(getattr(e, tag)) if tag else ""
        effective = own or _clean(e.access)
        usable = (mode.usable[hw] or own in OPEN) and effective != "no"
        rows.append(
            (
                usable,
                mode.speed_kmh[hw] / 3.6,
                usable and effective == "private",
                bool(e.oneway) and mode.respect_oneway,
            )
        )
    return pd.DataFrame(rows, columns=["usable", "speed", "private", "oneway"], index=edges.index)


def utm(lon, lat) -> np.ndarray:
    x, y = _TO_UTM.transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.column_stack([x, y])


class DemoTruth:
    """networkx graph of one profile with ``origins`` and ``destinations`` (name → (lon, lat)) attached.

    ``times_from(name, cutoff)``: seconds from origin ``name`` to every reachable destination.
    """

    def __init__(
        self,
        nodes: pd.DataFrame,
        edges: pd.DataFrame,
        mode: Mode,
        *,
        origins: dict,
        destinations: dict,
        max_distance_m: float = 500.0,
    ):
        self.mode = mode
        rules = edge_rules(mode, edges)
        e = edges[rules.usable].assign(
            **{c: rules.loc[rules.usable, c] for c in ("speed", "private", "oneway")}
        )
        self.edges = e.sort_values("edge_id").reset_index(drop=True)
        xy = dict(zip(nodes.node_id, map(tuple, utm(nodes.lon, nodes.lat)), strict=True))
        self.a = np.array([xy[u] for u in self.edges.u])
        self.b = np.array([xy[v] for v in self.edges.v])
        self.hull_of_edge = self._compound_hulls()
        points = {("o", k): v for k, v in origins.items()} | {("d", k): v for k, v in destinations.items()}
        names = list(points)
        pxy = utm([points[n][0] for n in names], [points[n][1] for n in names]) if names else np.empty((0, 2))
        self.snaps = {n: self._snap(p, max_distance_m) for n, p in zip(names, pxy, strict=True)}
        self.graph = self._graph()

    def _compound_hulls(self) -> np.ndarray:
        """Convex hull of each private edge's compound (connected private edges), per edge."""
        private = self.edges[self.edges.private]
        g = nx.Graph()
        g.add_edges_from(zip(private.u, private.v, strict=True))
        comp = {n: k for k, c in enumerate(nx.connected_components(g)) for n in c}
        hulls = {}
        for k in set(comp.values()):
            rows = [i for i, u in zip(private.index, private.u, strict=True) if comp[u] == k]
            pts = np.vstack([self.a[rows], self.b[rows]])
            hulls[k] = shapely.MultiPoint(pts).convex_hull
        out = np.full(len(self.edges), None, dtype=object)
        for i, u in zip(private.index, private.u, strict=True):
            out[i] = hulls[comp[u]]
        return out

    def _snap(self, p: np.ndarray, max_distance_m: float):
        ab = self.b - self.a
        denom = (ab**2).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.clip(np.where(denom > 0, ((p - self.a) * ab).sum(axis=1) / denom, 0.0), 0.0, 1.0)
        d = np.hypot(*(self.a + t[:, None] * ab - p).T)
        ok = d <= max_distance_m
        private = self.edges.private.to_numpy()
        cand = np.flatnonzero(ok & private)
        if len(cand):  # private roads only for points inside their compound
            inside = shapely.intersects(self.hull_of_edge[cand], shapely.Point(p))
            ok[cand[~inside]] = False
        if not ok.any():
            return None
        k = np.flatnonzero(ok)[np.argmin(d[ok])]  # first of equal distances: lowest edge id
        return int(k), float(t[k]), float(d[k])

    def _graph(self) -> nx.DiGraph:
        g = nx.DiGraph()
        on_edge: dict[int, list] = {}
        for name, s in self.snaps.items():
            if s is not None:
                on_edge.setdefault(s[0], []).append((s[1], name))
        for i, e in enumerate(self.edges.itertuples()):
            w = e.length_m / e.speed
            for layer in ("P", "S") if e.private else ("M",):
                stops = (
                    [(0.0, (layer, e.u))]
                    + sorted((t, (layer, "pos", n)) for t, n in on_edge.get(i, []))
                    + [(1.0, (layer, e.v))]
                )
                for (t0, n0), (t1, n1) in zip(stops[:-1], stops[1:], strict=True):
                    _arc(g, n0, n1, (t1 - t0) * w)
                    if not e.oneway or (t1 - t0) * w == 0:  # standing at a node: leave it either way
                        _arc(g, n1, n0, (t1 - t0) * w)
        public = set(self.edges.u[~self.edges.private]) | set(self.edges.v[~self.edges.private])
        private = set(self.edges.u[self.edges.private]) | set(self.edges.v[self.edges.private])
        for gate in public & private:
            _arc(g, ("P", gate), ("M", gate), 0.0)
            _arc(g, ("M", gate), ("S", gate), 0.0)
        leg_speed = self.mode.access_kmh / 3.6
        for name, s in self.snaps.items():
            if s is None:
                continue
            layers = (("P", "S") if name[0] == "o" else ("S",)) if self.edges.private.iat[s[0]] else ("M",)
            for layer in layers:
                if name[0] == "o":
                    _arc(g, name, (layer, "pos", name), s[2] / leg_speed)
                else:
                    _arc(g, (layer, "pos", name), name, s[2] / leg_speed)
        return g

    def times_from(self, origin, cutoff: float) -> dict:
        """Seconds from origin ``origin`` to each destination reached within ``cutoff``."""
        start = ("o", origin)
        if start not in self.graph:
            return {}
        dist = nx.single_source_dijkstra_path_length(self.graph, start, cutoff=cutoff)
        return {n[1]: t for n, t in dist.items() if isinstance(n, tuple) and n[0] == "d"}


def _arc(g: nx.DiGraph, a, b, w: float) -> None:
    if a != b and (not g.has_edge(a, b) or g[a][b]["weight"] > w):
        g.add_edge(a, b, weight=w)


def nearest(times: dict, candidates: list[int], *, tie_s: float = 1e-7) -> tuple[float, int]:
    """(time, id) of the nearest of ``candidates`` in ``times``; equal times go to the lowest id."""
    reached = [(times[c], c) for c in candidates if c in times]
    if not reached:
        return np.inf, -1
    best = min(t for t, _ in reached)
    return best, min(c for t, c in reached if t <= best + tie_s)
