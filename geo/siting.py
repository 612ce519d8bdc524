"""Siting new facilities: maximal covering (MCLP) and set covering (LSCP) along the streets.

Existing facilities stay fixed: residents they already cover do not count. The *demand* of a
facility type is every applicable residence (its circle has a tier for the type) that is snapped
and not yet covered; its weight is one of population, households, elderly or children.

Candidate sites come from user points (``point_candidates``), public-land parcels
(``parcel_candidates``: the parcel point nearest the street its representative point snaps to) or
street nodes inside gap polygons, thinned to a spacing (``gap_candidates``).

``coverage_matrix`` runs one bounded Dijkstra *per candidate* (scipy ``dijkstra(indices=...,
limit=...)``) on ``Network.reverse`` — residents travel to the site, so the search runs backwards
from it — with the candidate joined as a virtual source exactly like an existing facility
(``geo.circles.with_sources`` + ``geo.snapping.entries``); residences read their times with
``geo.circles.read_points`` (both edge ends, one-way rules, same-edge trips, access legs). A pair
(candidate, residence) covers when that time is within the residence's circle limit.

Solving: identical demand columns are merged, then HiGHS solves the MILP exactly when
``candidates × demand groups <= max_exact`` (within ``time_limit_s``; its dual bound and gap are
reported). Larger cases use the greedy heuristic with a valid bound: for MCLP an *upper* bound on
the best value (the least, over the greedy steps, of value so far plus the ``k`` largest marginal
gains — valid because coverage is submodular — also min'ed with the LP relaxation when it is small
enough to solve); for LSCP a *lower* bound on the number of sites derived the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import highspy
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from geo.circles import TIE_TOLERANCE_S, Reach, read_points, with_sources
from geo.coverage import MEASURES, Prepared, service_tiers
from geo.crs import WGS84, geometries_to, to_lonlat, to_metric
from geo.errors import GeoError, UnknownFacilityTypeError, UnreachablePointError
from geo.network import Network
from geo.snapping import Snap, entries, snap_points, with_lonlat

SOLVERS = ("auto", "exact", "greedy")
DEFAULT_MAX_EXACT = 5_000_000
"""Largest ``candidates × demand groups`` solved exactly as a MILP (larger: greedy)."""
DEFAULT_MAX_LP = 20_000_000
"""Largest size whose LP relaxation is solved to tighten the greedy bound."""
DEFAULT_TIME_LIMIT_S = 60.0
BATCH = 64
"""Candidates searched per scipy call (memory: BATCH × network nodes floats)."""
CANDIDATE_COLUMNS = ["candidate_id", "lon", "lat", "source", "name"]


class SitingError(GeoError):
    """Bad siting input (type, budget, target, candidates)."""

    status = 422


@dataclass(frozen=True, eq=False)
class CoverageMatrix:
    """Which candidate sites would newly cover which demand residences.

    Attributes
    ----------
    type_code : facility type sited.
    weight : demand measure maximised (population|households|elderly|children).
    candidates : one row per candidate (``CANDIDATE_COLUMNS`` + ``snapped``), row ``j`` = index j.
    demand : uncovered applicable residences (private: never return them to the public):
        ``residence_id``, ``lon``, ``lat``, ``circle``, ``profile``, ``max_time_s``, the four
        measures and ``weight``; row ``i`` = index i.
    pairs : covering pairs ``candidate`` (row), ``demand`` (row), ``time_s`` (seconds).
    total_weight : weight of every applicable residence of the type (covered or not).
    base_weight : weight already covered by the existing facilities.
    """

    type_code: str
    weight: str
    candidates: pd.DataFrame
    demand: pd.DataFrame
    pairs: pd.DataFrame
    total_weight: float
    base_weight: float

    @property
    def cover(self) -> sp.csr_matrix:
        """(n_candidates, n_demand) 0/1 matrix of the covering pairs."""
        shape = (len(self.candidates), len(self.demand))
        ones = np.ones(len(self.pairs))
        return sp.csr_matrix((ones, (self.pairs.candidate.to_numpy(), self.pairs.demand.to_numpy())), shape=shape)


@dataclass(frozen=True)
class Solution:
    """Outcome of ``maximal_covering`` or ``set_covering``.

    Attributes
    ----------
    problem : ``'mclp'`` or ``'lscp'``.
    chosen : candidate rows, in order of decreasing marginal gain.
    value : weight newly covered by ``chosen``.
    bound : MCLP: an upper bound on the best achievable ``value``; LSCP: a lower bound on the
        number of sites needed.
    gap : relative optimality gap, 0 when proven optimal (MCLP ``(bound - value) / bound``, LSCP
        ``(sites - bound) / sites``).
    method : ``'exact'`` (HiGHS MILP), ``'exact_time_limit'`` (MILP stopped at the time limit) or
        ``'greedy'``.
    size : ``useful candidates × demand groups`` of the model.
    feasible : LSCP only: False when the candidates cannot reach the target (then ``chosen``
        reaches the most they can).
    needed : LSCP: weight that had to be added to reach the target.
    """

    problem: str
    chosen: np.ndarray
    value: float
    bound: float
    gap: float
    method: str
    size: int
    feasible: bool = True
    needed: float = 0.0


# --- candidates ---------------------------------------------------------------------------------


def point_candidates(points: pd.DataFrame, *, source: str = "point") -> pd.DataFrame:
    """Candidates from user points (``lon``/``lat`` degrees EPSG:4326, or point geometry).

    Keeps ``candidate_id`` and ``name`` when given (else 1.. and ``候选点{id}``).
    """
    pts = with_lonlat(points).reset_index(drop=True)
    ids = pts["candidate_id"] if "candidate_id" in pts else pd.Series(np.arange(1, len(pts) + 1))
    names = pts["name"] if "name" in pts else pd.Series([f"候选点{i}" for i in ids])
    return pd.DataFrame({"candidate_id": ids.to_numpy(np.int64), "lon": pts.lon.to_numpy(float),
                         "lat": pts.lat.to_numpy(float), "source": source, "name": names.astype(str).to_numpy()})


def parcel_candidates(parcels: gpd.GeoDataFrame, *, network: Network | None = None,
                      max_distance_m: float = 500.0) -> pd.DataFrame:
    """One candidate per public-land parcel (polygons, any CRS).

    The candidate is the parcel's representative point; with ``network`` it moves to the parcel's
    street access: the point of the parcel nearest to where the representative point joins the
    street (a street crossing the parcel gives that street point itself).
    """
    parcels = parcels.reset_index(drop=True)
    if parcels.crs is None:
        parcels = parcels.set_crs(WGS84)
    geoms = parcels.to_crs(WGS84).geometry.to_numpy()
    points = shapely.point_on_surface(geoms)
    lon, lat = shapely.get_x(points), shapely.get_y(points)
    if network is not None:
        lon, lat = _street_access(network, geoms, lon, lat, max_distance_m)
    names = parcels["name"].astype(str) if "name" in parcels else pd.Series([f"地块{i + 1}" for i in range(len(parcels))])
    frame = pd.DataFrame({"lon": lon, "lat": lat, "name": names.to_numpy()})
    if "candidate_id" in parcels:
        frame["candidate_id"] = parcels["candidate_id"].to_numpy()
    return point_candidates(frame, source="parcel")


def _street_access(network: Network, geoms: np.ndarray, lon: np.ndarray, lat: np.ndarray, max_distance_m: float):
    """The parcel points nearest to where their representative points join the street (degrees)."""
    snap = snap_points(network, lon, lat, max_distance_m=max_distance_m)
    ok = np.flatnonzero(snap.reachable)
    street = shapely.line_interpolate_point(network.edge_geometry[snap.edge[ok]], snap.fraction[ok], normalized=True)
    parcel = geometries_to(geoms[ok], WGS84, network.crs)
    access = shapely.get_point(shapely.shortest_line(parcel, street), 0)
    lon, lat = lon.copy(), lat.copy()
    lon[ok], lat[ok] = to_lonlat(shapely.get_x(access), shapely.get_y(access), network.crs)
    return lon, lat


def gap_candidates(network: Network, gaps: gpd.GeoDataFrame, *, spacing_m: float = 150.0) -> pd.DataFrame:
    """Street nodes inside the gap polygons (EPSG:4326), thinned to one per ``spacing_m`` cell.

    Only nodes on public usable edges of ``network`` count (never inside a gated compound). In
    each square cell of ``spacing_m`` metres the node nearest the cell centre is kept (ties: the
    lowest node id). ``gap_rank`` tells which gap a candidate lies in.
    """
    if spacing_m <= 0:
        raise SitingError(f"spacing_m={spacing_m} must be > 0: give the candidate spacing in metres, e.g. 150")
    public = network.edge_compound < 0
    nodes = np.unique(np.concatenate([network.edge_u[public], network.edge_v[public]]))
    if len(gaps) == 0 or len(nodes) == 0:
        return point_candidates(pd.DataFrame({"lon": [], "lat": []}), source="gap").assign(gap_rank=[])
    polys = geometries_to(gaps.to_crs(WGS84).geometry.to_numpy(), WGS84, network.crs)
    inside, gap = shapely.STRtree(polys).query(shapely.points(network.node_xy[nodes]), predicate="within")
    first = np.unique(inside, return_index=True)[1]
    nodes, gap = nodes[inside[first]], gap[first]
    keep = _thin(network.node_xy[nodes], network.node_ids[nodes], spacing_m)
    nodes, gap = nodes[keep], gap[keep]
    lon, lat = to_lonlat(network.node_xy[nodes, 0], network.node_xy[nodes, 1], network.crs)
    column = next((c for c in ("gap_rank", "rank") if c in gaps), None)  # computed or stored gaps
    ranks = gaps[column].to_numpy()[gap] if column else gap + 1
    names = [f"缺口{r}-路口{n}" for r, n in zip(ranks, network.node_ids[nodes], strict=True)]
    out = point_candidates(pd.DataFrame({"lon": lon, "lat": lat, "name": names}), source="gap")
    return out.assign(gap_rank=ranks, node_id=network.node_ids[nodes])


def _thin(xy: np.ndarray, ids: np.ndarray, spacing_m: float) -> np.ndarray:
    """Positions of the points kept: per grid cell the one nearest the centre, ascending."""
    if len(xy) == 0:
        return np.empty(0, np.int64)
    cell = np.floor(xy / spacing_m).astype(np.int64)
    off = np.hypot(*(xy - (cell + 0.5) * spacing_m).T)
    order = np.lexsort((ids, off, cell[:, 1], cell[:, 0]))
    c = cell[order]
    first = np.ones(len(order), bool)
    first[1:] = (c[1:] != c[:-1]).any(axis=1)
    return np.sort(order[first])


# --- coverage matrix ----------------------------------------------------------------------------


def coverage_matrix(
    prepared: Prepared,
    facility_types: pd.DataFrame,
    type_code: str,
    candidates: pd.DataFrame,
    *,
    existing: pd.DataFrame,
    weight: str = "population",
) -> CoverageMatrix:
    """Candidate × demand coverage of ``type_code`` on the prepared networks.

    Parameters
    ----------
    prepared : ``geo.coverage.prepare`` output (networks, residence snaps).
    facility_types : facility-types table (tiers: profile and minutes per circle).
    type_code : facility type to site.
    candidates : ``CANDIDATE_COLUMNS`` frame (``point_candidates`` & co.), lon/lat EPSG:4326.
    existing : ``CoverageResult.per_residence`` of the current facilities (``residence_id``,
        ``type_code``, ``covered``): covered residences are not demand.
    weight : measure to maximise.
    """
    if weight not in MEASURES:
        raise SitingError(f"weight {weight!r} is not one of {MEASURES}: choose one of them")
    tiers = service_tiers(facility_types)
    tiers = tiers[tiers.type_code == type_code]
    if tiers.empty:
        if type_code not in set(facility_types.code.astype(str)):
            raise UnknownFacilityTypeError([type_code])
        raise SitingError(f"facility type {type_code!r} has no service circle: give it a tier in data/facility_types.csv")
    covered = _covered_rows(prepared, existing, type_code)
    demand, readers, total, base = _demand(prepared, tiers, covered, weight)
    cand = _candidate_frame(candidates)
    parts, snapped = [], np.zeros(len(cand), bool)
    for profile, group in tiers.groupby("profile", sort=True):
        csnap = snap_points(prepared.network(profile), cand.lon.to_numpy(), cand.lat.to_numpy(),
                            max_distance_m=prepared.max_distance_m)
        snapped |= csnap.reachable
        parts.append(_profile_pairs(prepared.network(profile), csnap, cand, [readers[c] for c in group.circle]))
    pairs = pd.concat(parts, ignore_index=True).sort_values(["candidate", "demand"], ignore_index=True)
    return CoverageMatrix(type_code, weight, cand.assign(snapped=snapped), demand, pairs, total, base)


def _candidate_frame(candidates: pd.DataFrame) -> pd.DataFrame:
    cand = point_candidates(candidates) if not set(CANDIDATE_COLUMNS) <= set(candidates) else candidates
    cand = cand.reset_index(drop=True)
    if cand.candidate_id.duplicated().any():
        dup = cand.candidate_id[cand.candidate_id.duplicated()].head(5).tolist()
        raise SitingError(f"duplicate candidate_id values {dup}: give each candidate its own id")
    return cand


def _covered_rows(prepared: Prepared, existing: pd.DataFrame, type_code: str) -> np.ndarray:
    """Bool per prepared residence row: already covered by an existing facility of the type."""
    rows = existing[(existing.type_code == type_code) & existing.covered.astype(bool)]
    return prepared.residences.residence_id.isin(rows.residence_id).to_numpy()


@dataclass(frozen=True, eq=False)
class _Reader:
    """Demand residences of one circle: their demand rows, snaps and a metric point index."""

    max_time_s: float
    demand_rows: np.ndarray
    snap: Snap
    lon: np.ndarray
    lat: np.ndarray


def _demand(prepared: Prepared, tiers: pd.DataFrame, covered: np.ndarray, weight: str):
    """Demand frame, one ``_Reader`` per circle, total and already covered weights."""
    res = prepared.residences
    frames, readers, total, base, offset = [], {}, 0.0, 0.0, 0
    for tier in tiers.itertuples():
        rows, snap, _ = prepared.readers[(tier.profile, tier.circle)]
        w = res[weight].to_numpy(float)[rows]
        total += float(w.sum())
        base += float(w[covered[rows]].sum())
        pick = np.flatnonzero(~covered[rows] & snap.reachable)
        part = res.iloc[rows[pick]][["residence_id", "lon", "lat", *MEASURES]].reset_index(drop=True)
        frames.append(part.assign(circle=tier.circle, profile=tier.profile, max_time_s=tier.max_time_s,
                                  weight=part[weight].astype(float)))
        readers[tier.circle] = _Reader(float(tier.max_time_s), offset + np.arange(len(pick)), snap.take(pick),
                                       part.lon.to_numpy(), part.lat.to_numpy())
        offset += len(pick)
    cols = ["residence_id", "lon", "lat", "circle", "profile", "max_time_s", *MEASURES, "weight"]
    demand = pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)
    return demand, readers, total, base


def _profile_pairs(network: Network, csnap: Snap, cand: pd.DataFrame, readers: list[_Reader]) -> pd.DataFrame:
    """Covering (candidate, demand, time) pairs of the circles that use ``network``'s profile.

    One bounded search per candidate, ``BATCH`` candidates per scipy call, from the candidate
    joined to the reversed graph like an existing facility (``geo.circles.nearest_facility``).
    """
    ok = np.flatnonzero(csnap.reachable)
    empty = pd.DataFrame({"candidate": np.empty(0, np.int64), "demand": np.empty(0, np.int64), "time_s": []})
    if len(ok) == 0 or not readers:
        return empty
    snap = csnap.take(ok)
    nodes, cost = entries(network, snap)
    graph = with_sources(network.reverse, nodes, cost + snap.access_s[:, None])
    limit = max(r.max_time_s for r in readers)
    near = _near(network, cand.iloc[ok], readers, limit)
    n, found = network.n_total, []
    for start in range(0, len(ok), BATCH):
        local = np.arange(start, min(start + BATCH, len(ok)))
        dist = dijkstra(graph, indices=n + local, min_only=False, limit=limit + TIE_TOLERANCE_S)
        for b, j in enumerate(local):
            reach = _single_reach(network, dist[b, :n], snap.take(np.array([j])), limit)
            found += [_read(network, reach, reader, near[r][j], ok[j]) for r, reader in enumerate(readers)
                      if len(near[r][j])]
    if not found:
        return empty
    cand_rows, demand, time = (np.concatenate(parts) for parts in zip(*found, strict=True))
    return pd.DataFrame({"candidate": cand_rows, "demand": demand, "time_s": time})


def _near(network: Network, cand: pd.DataFrame, readers: list[_Reader], limit_s: float) -> list[list]:
    """Per reader and candidate, the reader's points within the farthest distance reachable in
    ``limit_s`` (top speed × time: nothing farther can be in reach, whatever the streets)."""
    speed = max(np.max(network.edge_length_m / np.maximum(network.edge_time_s, 1e-9), initial=0.0),
                network.profile.access_speed_mps)
    cx, cy, _ = to_metric((cand.lon.to_numpy(), cand.lat.to_numpy()), crs=network.crs)
    out = []
    for reader in readers:
        x, y, _ = to_metric((reader.lon, reader.lat), crs=network.crs)
        tree = cKDTree(np.column_stack([x, y]))
        radius = speed * min(limit_s, reader.max_time_s) * 1.001 + 1.0
        out.append([np.asarray(i, np.int64) for i in tree.query_ball_point(np.column_stack([cx, cy]), radius)])
    return out


def _single_reach(network: Network, time_s: np.ndarray, snap: Snap, limit_s: float) -> Reach:
    """A ``Reach`` of one facility (the candidate) from its search row."""
    reach = Reach(time_s, np.where(np.isfinite(time_s), 0, -1), np.zeros(1, np.int64), snap, float(limit_s))
    prepare = getattr(reach, "with_position", None)  # networks with chains also need positions
    return prepare(network) if prepare is not None else reach


def _read(network: Network, reach: Reach, reader: _Reader, idx: np.ndarray, candidate: int):
    """(candidate, demand rows, seconds) of the reader's points ``idx`` within its circle's limit."""
    idx = np.sort(idx)
    time, _ = read_points(network, reach, reader.snap.take(idx))
    hit = time <= reader.max_time_s + TIE_TOLERANCE_S
    return np.full(hit.sum(), candidate, np.int64), reader.demand_rows[idx[hit]], time[hit]


# --- solvers ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Model:
    """Merged model: useful candidates × demand groups (identical demand columns merged)."""

    candidates: np.ndarray
    cover: sp.csr_matrix
    weight: np.ndarray

    @property
    def size(self) -> int:
        return len(self.candidates) * len(self.weight)


def _model(matrix: CoverageMatrix) -> _Model:
    """Drop candidates that cover nobody and merge demand columns covered by the same candidates."""
    cover = matrix.cover
    useful = np.flatnonzero(np.diff(cover.indptr) > 0)
    sub = cover[useful].tocsc()
    sub.sort_indices()
    keys: dict[bytes, int] = {}
    group = np.full(sub.shape[1], -1, np.int64)
    for col in np.flatnonzero(np.diff(sub.indptr) > 0):
        group[col] = keys.setdefault(sub.indices[sub.indptr[col]:sub.indptr[col + 1]].tobytes(), len(keys))
    has = group >= 0
    weights = np.bincount(group[has], weights=matrix.demand.weight.to_numpy(float)[has], minlength=len(keys))
    first = np.unique(group[has], return_index=True)[1]
    representative = np.flatnonzero(has)[first]
    return _Model(useful, sub[:, representative].tocsr(), weights)


def maximal_covering(
    matrix: CoverageMatrix,
    k: int,
    *,
    solver: str = "auto",
    max_exact: int = DEFAULT_MAX_EXACT,
    max_lp: int = DEFAULT_MAX_LP,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
) -> Solution:
    """Up to ``k`` sites that newly cover the most demand weight (MCLP).

    ``solver``: ``'exact'`` (HiGHS MILP), ``'greedy'`` or ``'auto'`` (exact when the merged model
    has at most ``max_exact`` candidate × demand-group cells). The greedy's upper bound also uses
    the LP relaxation when the model has at most ``max_lp`` cells. ``time_limit_s`` (seconds)
    caps the MILP; when it stops early the best solution and HiGHS's dual bound are reported.
    """
    if not 1 <= int(k) <= 10_000:
        raise SitingError(f"k={k} must be between 1 and 10000: give the number of new sites")
    model = _model(matrix)
    method, chosen, bound = "greedy", None, np.inf
    if _use_exact(solver, model, max_exact):
        chosen, bound, method = _milp(model, k=int(k), time_limit_s=time_limit_s)
    if chosen is None:
        chosen, bound = _greedy(model, k=int(k))
        method = "greedy"
        if model.size <= max_lp:
            bound = min(bound, _lp_bound(model, k=int(k), time_limit_s=time_limit_s))
    chosen, value = _by_gain(model, chosen)
    if np.isfinite(bound) and np.all(model.weight == np.round(model.weight)):
        bound = np.floor(bound + 1e-6)  # integer weights: the optimum is an integer
    bound = max(bound, value)
    gap = (bound - value) / bound if bound > 0 else 0.0
    return Solution("mclp", model.candidates[chosen], value, float(bound), float(gap), method, model.size)


def set_covering(
    matrix: CoverageMatrix,
    target_share: float,
    *,
    solver: str = "auto",
    max_exact: int = DEFAULT_MAX_EXACT,
    max_lp: int = DEFAULT_MAX_LP,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
) -> Solution:
    """The fewest sites after which ``target_share`` (0..1) of the type's applicable demand weight
    is covered, existing facilities included (a partial set-covering problem; 1.0 is LSCP).

    When even every candidate cannot reach the target, ``feasible`` is False and the sites cover
    all the candidates can. Options as in ``maximal_covering``.
    """
    if not 0 < float(target_share) <= 1:
        raise SitingError(f"target share {target_share} must be in (0, 1]: e.g. 0.8 for 80%")
    model = _model(matrix)
    needed = float(target_share) * matrix.total_weight - matrix.base_weight
    reachable = float(model.weight.sum())
    feasible = needed <= reachable + 1e-9
    need = min(needed, reachable)
    if need <= 1e-9:
        return Solution("lscp", np.empty(0, np.int64), 0.0, 0.0, 0.0, "exact", model.size, feasible, max(needed, 0.0))
    method, chosen, bound = "greedy", None, 0.0
    if _use_exact(solver, model, max_exact):
        chosen, bound, method = _milp(model, need=need, time_limit_s=time_limit_s)
    if chosen is None:
        chosen, bound = _greedy(model, need=need)
        method = "greedy"
        if model.size <= max_lp:
            bound = max(bound, _lp_bound(model, need=need, time_limit_s=time_limit_s))
    chosen, value = _by_gain(model, chosen)
    bound = min(float(bound), len(chosen))
    gap = (len(chosen) - bound) / len(chosen) if len(chosen) else 0.0
    return Solution("lscp", model.candidates[chosen], value, bound, float(gap), method, model.size, feasible, needed)


def _use_exact(solver: str, model: _Model, max_exact: int) -> bool:
    if solver not in SOLVERS:
        raise SitingError(f"solver {solver!r} is not one of {SOLVERS}: choose one of them")
    return solver == "exact" or (solver == "auto" and model.size <= max_exact)


def _greedy(model: _Model, *, k: int | None = None, need: float | None = None) -> tuple[np.ndarray, float]:
    """Greedy picks and their bound (MCLP: upper bound on value; LSCP: lower bound on sites).

    At every step ``t`` with value ``f_t`` and marginal gains ``g_t``, any ``m`` sites reach at
    most ``f_t + (sum of the m largest g_t)`` (submodularity): the least such figure with
    ``m = k`` bounds MCLP; the least ``m`` reaching ``need`` bounds LSCP (max over steps).
    """
    uncovered = model.weight.copy()
    chosen: list[int] = []
    value, bound = 0.0, (np.inf if need is None else 0.0)
    while True:
        gains = model.cover @ uncovered
        gains[chosen] = 0.0
        top = np.sort(gains)[::-1]
        if need is None:
            bound = min(bound, value + top[:k].sum())
        else:
            bound = max(bound, _sites_needed(value, top, need))
        if (need is None and k is not None and len(chosen) >= k) or (need is not None and value >= need - 1e-9):
            break
        if len(gains) == 0 or gains.max() <= 0:
            break
        j = int(np.argmax(gains))  # the first maximum: lowest candidate row on ties
        chosen.append(j)
        value += gains[j]
        uncovered[model.cover.indices[model.cover.indptr[j]:model.cover.indptr[j + 1]]] = 0.0
    return np.asarray(chosen, np.int64), float(bound)


def _sites_needed(value: float, top: np.ndarray, need: float) -> int:
    """Least ``m`` with ``value + sum(top[:m]) >= need`` (len(top) + 1 when none)."""
    if value >= need - 1e-9:
        return 0
    reach = value + np.cumsum(top)
    hit = np.flatnonzero(reach >= need - 1e-9)
    return int(hit[0]) + 1 if len(hit) else len(top) + 1


def _by_gain(model: _Model, chosen: np.ndarray) -> tuple[np.ndarray, float]:
    """Chosen sites re-ordered by decreasing marginal gain, dropping sites that add nothing."""
    chosen = np.asarray(chosen, np.int64)
    sub = _Model(np.arange(len(chosen)), model.cover[chosen], model.weight)
    order = _greedy(sub, k=len(chosen))[0]
    covered = np.zeros(len(model.weight), bool)
    for j in chosen[order]:
        covered[model.cover.indices[model.cover.indptr[j]:model.cover.indptr[j + 1]]] = True
    value = float(model.weight[covered].sum())
    return chosen[order], value


def _lp(model: _Model, *, k: int | None, need: float | None, relax: bool) -> highspy.HighsLp:
    """The MILP (or its relaxation) over ``x`` (candidates, 0/1) then ``y`` (groups, 0..1)."""
    n_c, n_g = model.cover.shape
    link = sp.hstack([-model.cover.T, sp.identity(n_g)])  # y_g - sum_j x_j <= 0
    if need is None:  # MCLP: max sum w y, sum x <= k
        last = sp.hstack([sp.csr_matrix(np.ones((1, n_c))), sp.csr_matrix((1, n_g))])
        cost = np.concatenate([np.zeros(n_c), model.weight])
        row_lo, row_hi = -highspy.kHighsInf, float(k if k is not None else 0)
    else:  # LSCP: min sum x, sum w y >= need
        last = sp.hstack([sp.csr_matrix((1, n_c)), sp.csr_matrix(model.weight[None, :])])
        cost = np.concatenate([np.ones(n_c), np.zeros(n_g)])
        row_lo, row_hi = float(need) - 1e-9, highspy.kHighsInf
    a = sp.vstack([link, last]).tocsc()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_c + n_g, n_g + 1
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, np.zeros(n_c + n_g), np.ones(n_c + n_g)
    lp.row_lower_ = np.concatenate([np.full(n_g, -highspy.kHighsInf), [row_lo]])
    lp.row_upper_ = np.concatenate([np.zeros(n_g), [row_hi]])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a.indptr, a.indices, a.data
    lp.sense_ = highspy.ObjSense.kMaximize if need is None else highspy.ObjSense.kMinimize
    if not relax:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * n_c + [highspy.HighsVarType.kContinuous] * n_g
    return lp


def _run(lp: highspy.HighsLp, time_limit_s: float) -> highspy.Highs:
    h = highspy.Highs()
    for name, value in (("output_flag", False), ("time_limit", float(time_limit_s)), ("mip_rel_gap", 0.0),
                        ("mip_abs_gap", 1e-6)):
        h.setOptionValue(name, value)
    h.passModel(lp)
    h.run()
    return h


def _milp(model: _Model, *, k: int | None = None, need: float | None = None,
          time_limit_s: float) -> tuple[np.ndarray | None, float, str]:
    """Exact picks, the solver's bound and the method; ``None`` picks when no solution was found."""
    if model.size == 0:
        return np.empty(0, np.int64), 0.0, "exact"
    h = _run(_lp(model, k=k, need=need, relax=False), time_limit_s)
    status = h.getModelStatus()
    info = h.getInfo()
    if info.primal_solution_status != highspy.kSolutionStatusFeasible:
        return None, np.inf, "greedy"
    x = np.asarray(h.getSolution().col_value)[: model.cover.shape[0]]
    chosen = np.flatnonzero(x > 0.5)
    optimal = status == highspy.HighsModelStatus.kOptimal
    if need is None:
        bound = info.objective_function_value if optimal else info.mip_dual_bound
    else:
        bound = len(chosen) if optimal else np.ceil(info.mip_dual_bound - 1e-6)
    return chosen, float(bound), "exact" if optimal else "exact_time_limit"


def _lp_bound(model: _Model, *, k: int | None = None, need: float | None = None, time_limit_s: float) -> float:
    """LP-relaxation bound (MCLP upper bound on value, LSCP lower bound on sites); loose on failure."""
    if model.size == 0:
        return 0.0
    h = _run(_lp(model, k=k, need=need, relax=True), time_limit_s)
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return np.inf if need is None else 0.0
    value = h.getInfo().objective_function_value
    return float(value) * (1 + 1e-9) + 1e-6 if need is None else float(np.ceil(value - 1e-6))


# --- proposals ----------------------------------------------------------------------------------


def proposals(matrix: CoverageMatrix, solution: Solution) -> pd.DataFrame:
    """One row per chosen site (in ``solution`` order): the candidate's columns, ``rank`` (1..),
    the residents it gains (``population_gained``, ``households_gained``, ``elderly_gained``,
    ``children_gained``: newly covered residents, each counted once at its nearest chosen site),
    ``circle``/``profile``/``max_time_s`` of the residents it mostly serves, and ``candidate_row``
    (its row in ``matrix.candidates``)."""
    chosen = np.asarray(solution.chosen, np.int64)
    rank = pd.Series(np.arange(len(chosen)), index=chosen)
    pairs = matrix.pairs[matrix.pairs.candidate.isin(chosen)]
    pairs = pairs.assign(rank=rank.reindex(pairs.candidate).to_numpy())
    nearest = pairs.sort_values(["demand", "time_s", "rank"], kind="stable").drop_duplicates("demand")
    served = matrix.demand.iloc[nearest.demand.to_numpy()].assign(rank=nearest["rank"].to_numpy())
    out = matrix.candidates.iloc[chosen].reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(chosen) + 1))
    out["candidate_row"] = chosen
    sums = served.groupby("rank")[MEASURES].sum().reindex(range(len(chosen)), fill_value=0)
    for m in MEASURES:
        out[f"{m}_gained"] = sums[m].to_numpy(np.int64)
    main = served.sort_values(["rank", "weight"], ascending=[True, False]).groupby("rank").first()
    tier = matrix.demand.iloc[0] if len(matrix.demand) else None
    for col in ("circle", "profile", "max_time_s"):
        default = None if tier is None else tier[col]
        out[col] = main[col].reindex(range(len(chosen))).fillna(default).to_numpy() if len(main) else default
    return out


def service_areas(prepared: Prepared, matrix: CoverageMatrix, sites: pd.DataFrame, *,
                  buffer_m: float = 60.0) -> gpd.GeoDataFrame:
    """``sites`` (``proposals`` output) with the area each would serve (EPSG:4326): the isochrone
    of its circle's limit towards the site along the streets (``geo.isochrone``, direction
    ``'to'``); a site whose isochrone cannot be built gets the buffered hull of the residents it
    gains instead. ``area_kind`` says which."""
    from geo.isochrone import isochrones

    geoms, kinds = [], []
    for site in sites.itertuples():
        try:
            iso = isochrones(prepared.network(site.profile), site.lon, site.lat, minutes=(site.max_time_s / 60.0,),
                             direction="to", buffer_m=buffer_m, max_distance_m=prepared.max_distance_m)
            geoms.append(iso.polygons.geometry.iloc[0])
            kinds.append("isochrone")
        except UnreachablePointError:
            geoms.append(_served_hull(matrix, site.candidate_row, site.lon, site.lat, buffer_m))
            kinds.append("hull")
    return gpd.GeoDataFrame(sites.assign(area_kind=kinds), geometry=geoms, crs=WGS84)


def _served_hull(matrix: CoverageMatrix, candidate: int, lon: float, lat: float, buffer_m: float):
    """Buffered convex hull (EPSG:4326) of the site and the demand it covers."""
    demand = matrix.demand.iloc[matrix.pairs.demand[matrix.pairs.candidate == candidate].to_numpy()]
    x, y, crs = to_metric((np.append(demand.lon.to_numpy(), lon), np.append(demand.lat.to_numpy(), lat)))
    hull = shapely.convex_hull(shapely.multipoints(np.column_stack([x, y])))
    return geometries_to(np.array([shapely.buffer(hull, buffer_m)]), crs, WGS84)[0]
