"""Residence points (aggregated 一标三实 standard addresses) of one copy, local metres.

A point is a building or standard address: high-rise towers hold 90-300 households, walk-up blocks
18-40, old-town houses 4-20, village house clusters 1-5. Household size and age structure vary
by housing type: villages and the old town are older (left-behind elderly), new estates younger.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.spatial import cKDTree

from . import settlement as st
from .geography import Geography

# land use → (min points, max points, min households, max households) per cell
PER_CELL = {
    st.HIGHRISE: (1, 3, 90, 180),
    st.COMPOUND: (1, 2, 100, 220),
    st.MIDRISE: (3, 6, 18, 36),
    st.LOWRISE: (5, 10, 2, 7),
    st.URBAN_VILLAGE: (8, 14, 3, 10),
    st.COMMERCIAL: (0, 1, 15, 50),
}
# kind → (persons per household, elderly share 60+, children share 0-14)
PROFILE = {
    "highrise": (2.75, 0.11, 0.19),
    "compound": (2.85, 0.10, 0.20),
    "midrise": (2.6, 0.18, 0.15),
    "lowrise": (3.2, 0.19, 0.17),
    "urban_village": (2.4, 0.08, 0.14),
    "commercial": (2.2, 0.13, 0.12),
    "old_town": (2.5, 0.27, 0.12),
    "village": (3.5, 0.27, 0.18),
}
KIND_OF = {
    st.HIGHRISE: "highrise",
    st.COMPOUND: "compound",
    st.MIDRISE: "midrise",
    st.LOWRISE: "lowrise",
    st.URBAN_VILLAGE: "urban_village",
    st.COMMERCIAL: "commercial",
}


@dataclass
class Residences:
    """Design residences of one copy (arrays of equal length)."""

    xy: np.ndarray
    households: np.ndarray
    population: np.ndarray
    elderly: np.ndarray
    children: np.ndarray
    kind: np.ndarray
    village: np.ndarray
    estate: np.ndarray
    estates: list[dict]

    def __len__(self) -> int:
        return len(self.xy)


def _cell_points(lat: st.Lattice, li: int, rng: np.random.Generator, estates: list[dict]):
    """Residences in the residential cells of one lattice; registers estates (2 × 2 cell blocks)."""
    xy, hh, kind, est = [], [], [], []
    index: dict[tuple, int] = {}
    for (j, i), lu in np.ndenumerate(lat.landuse):
        if lu not in PER_CELL:
            continue
        lo, hi, hlo, hhi = PER_CELL[lu]
        n = int(rng.integers(lo, hi + 1))
        if n == 0:
            continue
        corner = lat.cell_uv(i, j)[0]
        uv = corner + 22.0 + rng.uniform(0, lat.cell - 44.0, (n, 2))
        xy.append(lat.to_xy(uv))
        hh.append(rng.integers(hlo, hhi + 1, n))
        kind += [KIND_OF[lu]] * n
        comp = int(lat.compound[j, i])
        key = (
            ("c", li, comp)
            if comp >= 0
            else (("b", li, int(lu), i // 2, j // 2) if lu in (st.HIGHRISE, st.MIDRISE) else None)
        )
        if key is not None and key not in index:
            index[key] = len(estates)
            estates.append({"kind": KIND_OF[lu], "lattice": li, "compound": comp, "cells": []})
        if key is not None:
            estates[index[key]]["cells"].append((i, j))
        est += [index[key] if key is not None else -1] * n
    if not xy:
        return np.empty((0, 2)), np.empty(0, int), [], []
    return np.vstack(xy), np.concatenate(hh), kind, est


def _old_town_points(s: st.Settlement, rng: np.random.Generator):
    pts = s.old_town_points
    ang = rng.uniform(0, 2 * np.pi, len(pts))
    xy = pts + 6.0 * np.column_stack([np.cos(ang), np.sin(ang)])
    return xy, rng.integers(4, 21, len(pts))


def _village_points(s: st.Settlement, rng: np.random.Generator):
    xy, hh, vil = [], [], []
    for vi, v in enumerate(s.villages):
        n = len(v.houses)
        ang = rng.uniform(0, 2 * np.pi, n)
        xy.append(v.houses + 7.0 * np.column_stack([np.cos(ang), np.sin(ang)]))
        hh.append(np.clip(np.round(rng.normal(2.6, 1.1, n)), 1, 5).astype(int))
        vil.append(np.full(n, vi))
    return np.vstack(xy), np.concatenate(hh), np.concatenate(vil)


def _people(hh: np.ndarray, kind: np.ndarray, boost: np.ndarray, rng: np.random.Generator):
    """Population, elderly (60+) and children (0-14) per residence."""
    pph = np.array([PROFILE[k][0] for k in kind])
    pe = np.clip(np.array([PROFILE[k][1] for k in kind]) + boost, 0.02, 0.6)
    pc = np.clip(np.array([PROFILE[k][2] for k in kind]) - boost / 2, 0.03, 0.4)
    pop = np.maximum(hh, np.round(hh * pph * rng.lognormal(0.0, 0.12, len(hh)))).astype(int)
    eld = rng.binomial(pop, pe)
    chi = rng.binomial(pop - eld, np.clip(pc / (1 - pe), 0, 1))
    return pop, eld, chi


def build(geo: Geography, s: st.Settlement, rng: np.random.Generator) -> Residences:
    """Residences of one copy with households and age structure."""
    estates: list[dict] = []
    cell_xy: list[np.ndarray] = []
    cell_hh: list[np.ndarray] = []
    cell_kind: list[str] = []
    est: list[int] = []
    for li, lat in enumerate(s.lattices):
        a, b, c, d = _cell_points(lat, li, rng, estates)
        cell_xy.append(a)
        cell_hh.append(b)
        cell_kind.extend(c)
        est.extend(d)
    oxy, ohh = _old_town_points(s, rng)
    vxy, vhh, vil = _village_points(s, rng)
    xy = np.vstack(cell_xy + [oxy, vxy])
    hh = np.concatenate(cell_hh + [ohh, vhh]).astype(int)
    kind = np.array(cell_kind + ["old_town"] * len(oxy) + ["village"] * len(vxy))
    village = np.r_[np.full(len(xy) - len(vxy), -1), vil]
    estate = np.r_[np.array(est, dtype=int), np.full(len(oxy) + len(vxy), -1)]
    # villages differ: some much older (young people left), the islet most of all
    vboost = rng.normal(0.0, 0.05, len(s.villages)) + np.array([0.12 if v.islet else 0.0 for v in s.villages])
    boost = np.where(village >= 0, vboost[np.maximum(village, 0)], rng.normal(0.0, 0.02, len(xy)))
    pop, eld, chi = _people(hh, kind, boost, rng)
    return Residences(
        xy=xy,
        households=hh,
        population=pop,
        elderly=eld,
        children=chi,
        kind=kind,
        village=village,
        estate=estate,
        estates=estates,
    )


# watch houses of fish ponds and orchards far from every road: the planted "unreachable" homes
REMOTE_MIN_M = 600.0  # farther than the default snapping distance (500 m) from any road or path
REMOTE_SPACING_M = 2000.0
REMOTE_COUNT = 2
REMOTE_KIND = "remote"


def _road_distance(
    x: np.ndarray,
    y: np.ndarray,
    xy: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    *,
    beyond: float,
    spacing: float = 25.0,
) -> np.ndarray:
    """Distance of each point ``x, y`` to the nearest road segment ``xy[u]``-``xy[v]``, exact (GEOS)
    for every point farther than ``beyond``; nearer points get 0. Points along the roads every
    ``spacing`` metres bound each distance from above, so only the points whose bound exceeds
    ``beyond`` are measured exactly, and only against the segments that can be nearest."""
    a, b = xy[u], xy[v]
    dist = np.zeros(len(x))
    if len(a) == 0 or len(x) == 0:
        dist[:] = np.inf
        return dist
    steps = np.maximum(np.ceil(np.hypot(*(b - a).T) / spacing).astype(int), 1)
    seg = np.repeat(np.arange(len(a)), steps + 1)
    first = np.repeat(np.cumsum(steps + 1) - (steps + 1), steps + 1)
    t = (np.arange(len(seg)) - first) / steps[seg]
    tree = cKDTree(a[seg] + (b[seg] - a[seg]) * t[:, None])
    points = np.column_stack([x, y])
    far = np.flatnonzero(tree.query(points, k=1, distance_upper_bound=beyond)[0] > beyond)
    bound = tree.query(points[far], k=1)[0]
    for i, reach in zip(far, bound, strict=True):
        # the nearest segment has a sample within its distance + spacing / 2 <= bound + spacing / 2
        near = np.unique(seg[tree.query_ball_point(points[i], reach + spacing / 2 + 1e-6)])
        lines = shapely.linestrings(np.stack([a[near], b[near]], axis=1))
        dist[i] = shapely.distance(shapely.Point(points[i]), lines).min()
    return dist


def with_remote_homes(
    res: Residences, geo: Geography, xy: np.ndarray, u: np.ndarray, v: np.ndarray, *, step: float = 50.0
) -> tuple[Residences, list[int]]:
    """``res`` plus up to ``REMOTE_COUNT`` one-household watch houses (塘寮) at the dry land points
    of the main island farthest from every road segment (``xy[u]``-``xy[v]``), each farther than
    ``REMOTE_MIN_M`` and ``REMOTE_SPACING_M`` apart; returns the new residences' indices.

    Deterministic (no random draw): the rest of the district is the same with or without them.
    """
    land = geo.main.difference(geo.river).difference(geo.lake)
    minx, miny, maxx, maxy = land.bounds
    x_grid, y_grid = np.meshgrid(np.arange(minx, maxx, step), np.arange(miny, maxy, step))
    gx, gy = x_grid.ravel(), y_grid.ravel()
    inland = land.buffer(-step)
    shapely.prepare(inland)
    keep = shapely.contains_xy(inland, gx, gy)  # keep off the coast and river banks
    grid = shapely.points(gx[keep], gy[keep])
    dist = _road_distance(gx[keep], gy[keep], xy, u, v, beyond=REMOTE_MIN_M)
    chosen: list[np.ndarray] = []
    for k in np.argsort(-dist, kind="stable"):
        if dist[k] <= REMOTE_MIN_M or len(chosen) == REMOTE_COUNT:
            break
        p = shapely.get_coordinates(grid[k])[0]
        if all(np.hypot(*(p - q)) >= REMOTE_SPACING_M for q in chosen):
            chosen.append(p)
    if not chosen:
        return res, []
    n, first = len(chosen), len(res)
    one = np.ones(n, dtype=int)
    out = Residences(
        xy=np.vstack([res.xy, np.array(chosen)]),
        households=np.r_[res.households, one],
        population=np.r_[res.population, 2 * one],
        elderly=np.r_[res.elderly, 2 * one],
        children=np.r_[res.children, 0 * one],
        kind=np.r_[res.kind, np.full(n, REMOTE_KIND)],
        village=np.r_[res.village, np.full(n, -1)],
        estate=np.r_[res.estate, np.full(n, -1)],
        estates=res.estates,
    )
    return out, list(range(first, first + n))
