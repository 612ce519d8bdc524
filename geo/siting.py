"""Siting new facilities: maximal covering (MCLP) and set covering (LSCP) along the streets.

Existing facilities stay fixed: residents they already cover do not count. The *demand* of a
facility type is every applicable residence (its circle has a tier for the type) that is snapped
and not yet covered; its weight is, by default, the type's *users* (``Users``: elderly for elderly
services, the age band of children for schools and kindergartens, everyone else's residents; from
``capacity_basis`` and ``basis_per_unit`` of data/facility_types.csv), or one of population,
households, elderly or children.

Capacities: with ``capacity`` (users one new site can serve) a site serves at most that many users
(capacitated maximal covering: every demand group may be split between the sites that reach it;
HiGHS solves the MILP with assignment variables exactly; the greedy fallback fills sites in turn
and re-optimises the assignment of its sites by LP). ``min_spacing_m`` keeps chosen sites at least
that far apart (straight line).

Candidate sites come from user points (``point_candidates``, e.g. a planner's parcel list or the
open facilities of other types for co-location), public-land parcels (``parcel_candidates``: the
parcel point nearest the street its representative point snaps to), street nodes inside gap
polygons thinned to a spacing (``gap_candidates``), or the street intersections (nodes of degree
>= 3) inside them (``intersection_candidates``).

``coverage_matrix`` runs one bounded Dijkstra *per candidate* (scipy ``dijkstra(indices=...,
limit=...)``) on ``Network.reverse`` — residents travel to the site, so the search runs backwards
from it — with the candidate joined as a virtual source exactly like an existing facility
(``geo.reach.with_sources`` + ``geo.snapping.entries``); residences read their times with
``geo.reach.read_points`` (both edge ends, one-way rules, same-edge trips, access legs). A pair
(candidate, residence) covers when that time is within the residence's circle limit.

Solving: identical demand columns are merged, then HiGHS solves the MILP exactly when
``candidates × demand groups <= max_exact`` (within ``time_limit_s``; its dual bound and gap are
reported). Larger cases use the greedy heuristic with a valid bound: for MCLP an *upper* bound on
the best value (the least, over the greedy steps, of value so far plus the ``k`` largest marginal
gains — valid because coverage is submodular — also min'ed with the LP relaxation when it is small
enough to solve); for LSCP a *lower* bound on the number of sites derived the same way.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass

import geopandas as gpd
import highspy
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from geo.coverage import MEASURES, Prepared, service_tiers
from geo.crs import WGS84, geometries_to, to_metric, to_wgs84
from geo.errors import GeoError, UnknownFacilityTypeError, UnreachablePointError
from geo.isochrone import isochrones
from geo.network import Network
from geo.reach import TIE_TOLERANCE_S, Reach, read_points, with_sources
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
WEIGHTS = ("users", *MEASURES)
USER_LABELS = {"elderly": "老年人", "children": "适龄儿童", "population": "居民"}


@dataclass(frozen=True)
class Users:
    """Whom a facility type serves and how many of them one unit of capacity serves.

    Attributes
    ----------
    measure : residents' count the users come from: ``population``, ``elderly`` or ``children``.
    band : users per person of ``measure``: 1, or for children the type's age band (a
        kindergarten's 3 of the 15 one-year cohorts 0-14: ``1 / basis_per_unit``, since each child
        of the band takes one place).
    per_unit : users one unit of capacity (place, seat, bed) serves; None: the type's capacity has
        no basis, so sites are never capacity-bound.
    label : Chinese name of the users (老年人, 适龄儿童, 居民).
    """

    measure: str = "population"
    band: float = 1.0
    per_unit: float | None = None
    label: str = USER_LABELS["population"]


def users_of(capacity_basis: str | None, basis_per_unit: float | None) -> Users:
    """The ``Users`` of a type from its ``capacity_basis`` and ``basis_per_unit`` (facility_types.csv).

    Elderly → the elderly, ``basis_per_unit`` of them per unit; children → the age band
    (children / ``basis_per_unit``), one per unit; population → residents, ``basis_per_unit`` per
    unit; no basis → residents, no capacity limit.
    """
    per = float(basis_per_unit) if basis_per_unit is not None and np.isfinite(float(basis_per_unit)) else None
    if capacity_basis == "children" and per:
        return Users("children", 1.0 / per, 1.0, USER_LABELS["children"])
    if capacity_basis in ("elderly", "population") and per:
        return Users(str(capacity_basis), 1.0, per, USER_LABELS[str(capacity_basis)])
    return Users()


class SitingError(GeoError):
    """Bad siting input (type, budget, target, candidates)."""

    status = 422


@dataclass(frozen=True, eq=False)
class CoverageMatrix:
    """Which candidate sites would newly cover which demand residences.

    Attributes
    ----------
    type_code : facility type sited.
    weight : demand measure maximised (users|population|households|elderly|children).
    users : the type's users (``Users``).
    candidates : one row per candidate (``CANDIDATE_COLUMNS`` + ``snapped``), row ``j`` = index j.
    demand : uncovered applicable residences (private: never return them to the public):
        ``residence_id``, ``lon``, ``lat``, ``circle``, ``profile``, ``max_time_s``, the four
        measures, ``users`` and ``weight``; row ``i`` = index i.
    pairs : covering pairs ``candidate`` (row), ``demand`` (row), ``time_s`` (seconds).
    total_weight : weight of every applicable residence of the type (covered or not).
    base_weight : weight already covered by the existing facilities.
    totals : per measure (the four and ``users``) the applicable total and the part already
        covered: ``{measure: (total, covered)}``.
    """

    type_code: str
    weight: str
    candidates: pd.DataFrame
    demand: pd.DataFrame
    pairs: pd.DataFrame
    total_weight: float
    base_weight: float
    users: Users = Users()
    totals: dict | None = None

    @property
    def cover(self) -> sp.csr_matrix:
        """(n_candidates, n_demand) 0/1 matrix of the covering pairs."""
        shape = (len(self.candidates), len(self.demand))
        ones = np.ones(len(self.pairs))
        return sp.csr_matrix(
            (ones, (self.pairs.candidate.to_numpy(), self.pairs.demand.to_numpy())), shape=shape
        )


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
    served : weight each chosen site serves (same order as ``chosen``): with capacities its share
        of the best assignment, else the demand it reaches first (nearest chosen site).
    capacity : capacity (in weight) of each chosen site; None when uncapacitated.
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
    served: np.ndarray | None = None
    capacity: np.ndarray | None = None


# --- candidates ---------------------------------------------------------------------------------


def point_candidates(points: pd.DataFrame, *, source: str = "point") -> pd.DataFrame:
    """Candidates from user points (``lon``/``lat`` degrees EPSG:4326, or point geometry).

    Keeps ``candidate_id`` and ``name`` when given (else 1.. and ``候选点{id}``).
    """
    pts = with_lonlat(points).reset_index(drop=True)
    ids = pts["candidate_id"] if "candidate_id" in pts else pd.Series(np.arange(1, len(pts) + 1))
    names = pts["name"] if "name" in pts else pd.Series([f"候选点{i}" for i in ids])
    return pd.DataFrame(
        {
            "candidate_id": ids.to_numpy(np.int64),
            "lon": pts.lon.to_numpy(float),
            "lat": pts.lat.to_numpy(float),
            "source": source,
            "name": names.astype(str).to_numpy(),
        }
    )


def parcel_candidates(
    parcels: gpd.GeoDataFrame, *, network: Network | None = None, max_distance_m: float = 500.0
) -> pd.DataFrame:
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
    names = (
        parcels["name"].astype(str)
        if "name" in parcels
        else pd.Series([f"地块{i + 1}" for i in range(len(parcels))])
    )
    frame = pd.DataFrame({"lon": lon, "lat": lat, "name": names.to_numpy()})
    if "candidate_id" in parcels:
        frame["candidate_id"] = parcels["candidate_id"].to_numpy()
    return point_candidates(frame, source="parcel")


def _street_access(
    network: Network, geoms: np.ndarray, lon: np.ndarray, lat: np.ndarray, max_distance_m: float
):
    """The parcel points nearest to where their representative points join the street (degrees)."""
    snap = snap_points(network, lon, lat, max_distance_m=max_distance_m)
    ok = np.flatnonzero(snap.reachable)
    street = shapely.line_interpolate_point(
        network.edge_geometry[snap.edge[ok]], snap.fraction[ok], normalized=True
    )
    parcel = geometries_to(geoms[ok], WGS84, network.crs)
    access = shapely.get_point(shapely.shortest_line(parcel, street), 0)
    lon, lat = lon.copy(), lat.copy()
    lon[ok], lat[ok] = to_wgs84(shapely.get_x(access), shapely.get_y(access), crs=network.crs)
    return lon, lat


def gap_candidates(network: Network, gaps: gpd.GeoDataFrame, *, spacing_m: float = 150.0) -> pd.DataFrame:
    """Street nodes inside the gap polygons (EPSG:4326), thinned to one per ``spacing_m`` cell.

    Only nodes on public usable edges of ``network`` count (never inside a gated compound). In
    each square cell of ``spacing_m`` metres the node nearest the cell centre is kept (ties: the
    lowest node id). ``gap_rank`` tells which gap a candidate lies in.
    """
    if spacing_m <= 0:
        raise SitingError(
            f"spacing_m={spacing_m} must be > 0: give the candidate spacing in metres, e.g. 150"
        )
    public = network.edge_compound < 0
    nodes = np.unique(np.concatenate([network.edge_u[public], network.edge_v[public]]))
    return _nodes_in_gaps(network, gaps, nodes, spacing_m, source="gap")


def intersection_candidates(
    network: Network, gaps: gpd.GeoDataFrame, *, spacing_m: float | None = None, min_degree: int = 3
) -> pd.DataFrame:
    """Street intersections inside the gap polygons (EPSG:4326).

    Nodes where at least ``min_degree`` public usable streets of ``network`` meet (distinct
    neighbours), optionally thinned to one per ``spacing_m`` cell as ``gap_candidates`` does.
    ``gap_rank`` tells which gap each lies in.
    """
    if spacing_m is not None and spacing_m <= 0:
        raise SitingError(f"spacing_m={spacing_m} must be > 0 (metres), or none for every intersection")
    public = (network.edge_compound < 0) & (network.edge_u != network.edge_v)
    ends = np.sort(np.column_stack([network.edge_u[public], network.edge_v[public]]), axis=1)
    ends = np.unique(ends, axis=0)
    degree = np.bincount(ends.ravel(), minlength=len(network.node_ids))
    return _nodes_in_gaps(
        network, gaps, np.flatnonzero(degree >= min_degree), spacing_m, source="intersection"
    )


def _nodes_in_gaps(
    network: Network, gaps: gpd.GeoDataFrame, nodes: np.ndarray, spacing_m: float | None, *, source: str
) -> pd.DataFrame:
    """Candidates at the ``nodes`` (network rows) lying inside the gap polygons, thinned per cell."""
    if len(gaps) == 0 or len(nodes) == 0:
        return point_candidates(pd.DataFrame({"lon": [], "lat": []}), source=source).assign(
            gap_rank=[], node_id=[]
        )
    polys = geometries_to(gaps.to_crs(WGS84).geometry.to_numpy(), WGS84, network.crs)
    inside, gap = shapely.STRtree(polys).query(shapely.points(network.node_xy[nodes]), predicate="within")
    first = np.unique(inside, return_index=True)[1]
    nodes, gap = nodes[inside[first]], gap[first]
    if spacing_m:
        keep = _thin(network.node_xy[nodes], network.node_ids[nodes], spacing_m)
        nodes, gap = nodes[keep], gap[keep]
    lon, lat = to_wgs84(network.node_xy[nodes, 0], network.node_xy[nodes, 1], crs=network.crs)
    column = next((c for c in ("gap_rank", "rank") if c in gaps), None)  # computed or stored gaps
    ranks = gaps[column].to_numpy()[gap] if column else gap + 1
    names = [f"缺口{r}-路口{n}" for r, n in zip(ranks, network.node_ids[nodes], strict=True)]
    out = point_candidates(pd.DataFrame({"lon": lon, "lat": lat, "name": names}), source=source)
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
    weight: str = "users",
    users: Users | None = None,
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
    weight : measure to maximise: ``users`` (the type's users) or one of the four counts.
    users : the type's users (``users_of``); default: every resident, no capacity basis.
    """
    if weight not in WEIGHTS:
        raise SitingError(f"weight {weight!r} is not one of {WEIGHTS}: choose one of them")
    users = users or Users()
    tiers = service_tiers(facility_types)
    tiers = tiers[tiers.type_code == type_code]
    if tiers.empty:
        if type_code not in set(facility_types.code.astype(str)):
            raise UnknownFacilityTypeError([type_code])
        raise SitingError(
            f"facility type {type_code!r} has no service circle: give it a tier in data/facility_types.csv"
        )
    covered = _covered_rows(prepared, existing, type_code)
    demand, readers, totals = _demand(prepared, tiers, covered, weight, users)
    cand = _candidate_frame(candidates)
    parts, snapped = [], np.zeros(len(cand), bool)
    for profile, group in tiers.groupby("profile", sort=True):
        csnap = snap_points(
            prepared.network(profile),
            cand.lon.to_numpy(),
            cand.lat.to_numpy(),
            max_distance_m=prepared.max_distance_m,
        )
        snapped |= csnap.reachable
        parts.append(
            _profile_pairs(prepared.network(profile), csnap, cand, [readers[c] for c in group.circle])
        )
    pairs = pd.concat(parts, ignore_index=True).sort_values(["candidate", "demand"], ignore_index=True)
    total, base = totals[weight]
    return CoverageMatrix(
        type_code, weight, cand.assign(snapped=snapped), demand, pairs, total, base, users, totals
    )


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


def _demand(prepared: Prepared, tiers: pd.DataFrame, covered: np.ndarray, weight: str, users: Users):
    """Demand frame, one ``_Reader`` per circle, and per measure the total and already covered count.

    The measures are the four and ``users``.
    """
    res = prepared.residences
    user_count = res[users.measure].to_numpy(float) * users.band
    frames, readers, offset = [], {}, 0
    sums = {m: [0.0, 0.0] for m in WEIGHTS}
    for tier in tiers.itertuples():
        rows, snap, _ = prepared.readers[(tier.profile, tier.circle)]
        for m in WEIGHTS:
            w = user_count[rows] if m == "users" else res[m].to_numpy(float)[rows]
            sums[m][0] += float(w.sum())
            sums[m][1] += float(w[covered[rows]].sum())
        pick = np.flatnonzero(~covered[rows] & snap.reachable)
        part = res.iloc[rows[pick]][["residence_id", "lon", "lat", *MEASURES]].reset_index(drop=True)
        part["users"] = user_count[rows[pick]]
        frames.append(
            part.assign(
                circle=tier.circle,
                profile=tier.profile,
                max_time_s=tier.max_time_s,
                weight=part[weight].astype(float),
            )
        )
        readers[tier.circle] = _Reader(
            float(tier.max_time_s),
            offset + np.arange(len(pick)),
            snap.take(pick),
            part.lon.to_numpy(),
            part.lat.to_numpy(),
        )
        offset += len(pick)
    cols = ["residence_id", "lon", "lat", "circle", "profile", "max_time_s", *MEASURES, "users", "weight"]
    demand = pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)
    return demand, readers, {m: (t, c) for m, (t, c) in sums.items()}


def _profile_pairs(network: Network, csnap: Snap, cand: pd.DataFrame, readers: list[_Reader]) -> pd.DataFrame:
    """Covering (candidate, demand, time) pairs of the circles that use ``network``'s profile.

    One bounded search per candidate, ``BATCH`` candidates per scipy call, from the candidate
    joined to the reversed graph like an existing facility (``geo.reach.nearest_facility``).
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
            found += [
                _read(network, reach, reader, near[r][j], ok[j])
                for r, reader in enumerate(readers)
                if len(near[r][j])
            ]
    if not found:
        return empty
    cand_rows, demand, time = (np.concatenate(parts) for parts in zip(*found, strict=True))
    return pd.DataFrame({"candidate": cand_rows, "demand": demand, "time_s": time})


def _near(network: Network, cand: pd.DataFrame, readers: list[_Reader], limit_s: float) -> list[list]:
    """Per reader and candidate, the reader's points within the farthest distance reachable in ``limit_s``.

    That distance is top speed × time: nothing farther can be in reach, whatever the streets.
    """
    speed = max(
        np.max(network.edge_length_m / np.maximum(network.edge_time_s, 1e-9), initial=0.0),
        network.profile.access_speed_mps,
    )
    cx, cy, _ = to_metric((cand.lon.to_numpy(), cand.lat.to_numpy()), crs=network.crs)
    out = []
    for reader in readers:
        x, y, _ = to_metric((reader.lon, reader.lat), crs=network.crs)
        tree = cKDTree(np.column_stack([x, y]))
        radius = speed * min(limit_s, reader.max_time_s) * 1.001 + 1.0
        out.append(
            [np.asarray(i, np.int64) for i in tree.query_ball_point(np.column_stack([cx, cy]), radius)]
        )
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
    """Merged model: useful candidates × demand groups (identical demand columns merged).

    ``capacity``: per useful candidate the weight it can serve (inf: uncapacitated); ``conflicts``:
    pairs of model rows closer than the minimum spacing (2, n); ``groups``: per model row a group
    of which at most one site may be chosen (-1: none), e.g. its community.
    """

    candidates: np.ndarray
    cover: sp.csr_matrix
    weight: np.ndarray
    capacity: np.ndarray
    conflicts: np.ndarray
    groups: np.ndarray | None = None

    @property
    def size(self) -> int:
        return len(self.candidates) * len(self.weight)

    @property
    def capacitated(self) -> bool:
        return bool(np.isfinite(self.capacity).any())


def _model(matrix: CoverageMatrix, capacity=None, min_spacing_m: float | None = None, one_per=None) -> _Model:
    """Drop candidates that cover nobody, merge demand columns covered by the same candidates.

    Then attach capacities (weight per candidate row: a number, an array over ``matrix.candidates`` or
    None), the spacing conflicts and the groups (``one_per``: an id per candidate row, -1 none).
    """
    cover = matrix.cover
    useful = np.flatnonzero(np.diff(cover.indptr) > 0)
    sub = cover[useful].tocsc()
    sub.sort_indices()
    keys: dict[bytes, int] = {}
    group = np.full(sub.shape[1], -1, np.int64)
    for col in np.flatnonzero(np.diff(sub.indptr) > 0):
        group[col] = keys.setdefault(sub.indices[sub.indptr[col] : sub.indptr[col + 1]].tobytes(), len(keys))
    has = group >= 0
    weights = np.bincount(group[has], weights=matrix.demand.weight.to_numpy(float)[has], minlength=len(keys))
    first = np.unique(group[has], return_index=True)[1]
    representative = np.flatnonzero(has)[first]
    caps = _capacities(matrix, capacity)[useful]
    conflicts = _conflicts(matrix.candidates.iloc[useful], min_spacing_m)
    groups = None if one_per is None else np.asarray(one_per, np.int64)[useful]
    return _Model(useful, sub[:, representative].tocsr(), weights, caps, conflicts, groups)


def _capacities(matrix: CoverageMatrix, capacity) -> np.ndarray:
    n = len(matrix.candidates)
    if capacity is None:
        return np.full(n, np.inf)
    caps = np.broadcast_to(np.asarray(capacity, float), (n,)).astype(float)
    if np.isnan(caps).any() or (caps <= 0).any():
        raise SitingError(
            "capacity must be a number > 0 for every candidate: give the users one new site serves"
        )
    if matrix.weight != "users":
        raise SitingError(f"capacities are counted in users: use weight 'users', not {matrix.weight!r}")
    return caps


def _conflicts(candidates: pd.DataFrame, min_spacing_m: float | None) -> np.ndarray:
    """Pairs (rows of ``candidates``) closer than ``min_spacing_m`` metres (straight line)."""
    if not min_spacing_m or len(candidates) < 2:
        return np.empty((2, 0), np.int64)
    if min_spacing_m < 0:
        raise SitingError(f"min_spacing_m={min_spacing_m} must be >= 0 (metres between chosen sites)")
    x, y, _ = to_metric((candidates.lon.to_numpy(float), candidates.lat.to_numpy(float)))
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(
        float(min_spacing_m) * (1 - 1e-9), output_type="ndarray"
    )
    return np.asarray(pairs, np.int64).reshape(-1, 2).T


def maximal_covering(
    matrix: CoverageMatrix,
    k: int,
    *,
    capacity=None,
    min_spacing_m: float | None = None,
    one_per=None,
    solver: str = "auto",
    max_exact: int = DEFAULT_MAX_EXACT,
    max_lp: int = DEFAULT_MAX_LP,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
) -> Solution:
    """Up to ``k`` sites that newly cover (with ``capacity``: serve) the most demand weight (MCLP).

    ``capacity``: users one new site serves (a number, or one per row of ``matrix.candidates``);
    None: uncapacitated. ``min_spacing_m``: chosen sites at least this far apart (metres).
    ``one_per``: per row of ``matrix.candidates`` a group id (e.g. the community it lies in; -1:
    none): at most one site per group.
    ``solver``: ``'exact'`` (HiGHS MILP), ``'greedy'`` or ``'auto'`` (exact when the merged model
    has at most ``max_exact`` candidate × demand-group cells). The greedy's upper bound also uses
    the LP relaxation when the model has at most ``max_lp`` cells. ``time_limit_s`` (seconds)
    caps the MILP; when it stops early the best solution and HiGHS's dual bound are reported.
    """
    if not 1 <= int(k) <= 10_000:
        raise SitingError(f"k={k} must be between 1 and 10000: give the number of new sites")
    model = _model(matrix, capacity, min_spacing_m, one_per)
    method, chosen, bound = "greedy", None, np.inf
    if _use_exact(solver, model, max_exact):
        chosen, bound, method = _milp(model, k=int(k), time_limit_s=time_limit_s)
    if chosen is None:
        chosen, bound = _greedy(model, k=int(k))
        method = "greedy"
        if model.size <= max_lp:
            bound = min(bound, _lp_bound(model, k=int(k), time_limit_s=time_limit_s))
    chosen, value, served = _by_gain(model, chosen, time_limit_s)
    if np.isfinite(bound) and not model.capacitated and np.all(model.weight == np.round(model.weight)):
        bound = np.floor(bound + 1e-6)  # integer weights: the optimum is an integer
    bound = max(bound, value)
    gap = (bound - value) / bound if bound > 0 else 0.0
    return Solution(
        "mclp",
        model.candidates[chosen],
        value,
        float(bound),
        float(gap),
        method,
        model.size,
        served=served,
        capacity=model.capacity[chosen] if model.capacitated else None,
    )


def set_covering(
    matrix: CoverageMatrix,
    target_share: float,
    *,
    capacity=None,
    min_spacing_m: float | None = None,
    one_per=None,
    solver: str = "auto",
    max_exact: int = DEFAULT_MAX_EXACT,
    max_lp: int = DEFAULT_MAX_LP,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
) -> Solution:
    """The fewest sites after which ``target_share`` (0..1) of the type's applicable demand is covered.

    Demand weight is covered (with ``capacity``: served), existing facilities included (a partial
    set-covering problem; 1.0 is LSCP).

    When even every candidate cannot reach the target, ``feasible`` is False and the sites cover
    all the candidates can. Options as in ``maximal_covering``.
    """
    if not 0 < float(target_share) <= 1:
        raise SitingError(f"target share {target_share} must be in (0, 1]: e.g. 0.8 for 80%")
    model = _model(matrix, capacity, min_spacing_m, one_per)
    needed = float(target_share) * matrix.total_weight - matrix.base_weight
    reachable = _reachable(model, time_limit_s)
    feasible = needed <= reachable + 1e-9
    need = min(needed, reachable) * (1 - 1e-12)
    if need <= 1e-9:
        return Solution(
            "lscp",
            np.empty(0, np.int64),
            0.0,
            0.0,
            0.0,
            "exact",
            model.size,
            feasible,
            max(needed, 0.0),
            served=np.empty(0),
            capacity=np.empty(0) if model.capacitated else None,
        )
    method, chosen, bound = "greedy", None, 0.0
    if _use_exact(solver, model, max_exact):
        chosen, bound, method = _milp(model, need=need, time_limit_s=time_limit_s)
    if chosen is None:
        chosen, bound = _greedy(model, need=need)
        method = "greedy"
        if model.size <= max_lp:
            bound = max(bound, _lp_bound(model, need=need, time_limit_s=time_limit_s))
    chosen, value, served = _by_gain(model, chosen, time_limit_s)
    bound = min(float(bound), len(chosen))
    gap = (len(chosen) - bound) / len(chosen) if len(chosen) else 0.0
    return Solution(
        "lscp",
        model.candidates[chosen],
        value,
        bound,
        float(gap),
        method,
        model.size,
        feasible,
        needed,
        served=served,
        capacity=model.capacity[chosen] if model.capacitated else None,
    )


def _reachable(model: _Model, time_limit_s: float) -> float:
    """The most weight every candidate together can cover or serve.

    Spacing is ignored: an upper bound when sites conflict, and then LSCP's feasibility is judged on it.
    """
    if not model.capacitated:
        return float(model.weight.sum())
    every = _Model(model.candidates, model.cover, model.weight, model.capacity, np.empty((2, 0), np.int64))
    # (one site per group is ignored too: an upper bound, as for the spacing)
    return _assign(every, np.arange(len(model.candidates)), time_limit_s)[0]


def _use_exact(solver: str, model: _Model, max_exact: int) -> bool:
    if solver not in SOLVERS:
        raise SitingError(f"solver {solver!r} is not one of {SOLVERS}: choose one of them")
    return solver == "exact" or (solver == "auto" and model.size <= max_exact)


def _singletons(model: _Model) -> np.ndarray:
    """What each candidate alone covers or serves: an upper bound on its gain to any set of sites.

    Coverage, capacitated or not, is submodular.
    """
    return np.minimum(model.cover @ model.weight, model.capacity)


def _greedy(model: _Model, *, k: int | None = None, need: float | None = None) -> tuple[np.ndarray, float]:
    """Greedy picks and their bound (MCLP: upper bound on value; LSCP: lower bound on sites).

    Uncapacitated: at every step ``t`` with value ``f_t`` and marginal gains ``g_t``, any ``m``
    sites reach at most ``f_t + (sum of the m largest g_t)`` (submodularity): the least such
    figure with ``m = k`` bounds MCLP; the least ``m`` reaching ``need`` bounds LSCP (max over
    steps). Capacitated: each pick serves up to its capacity from the demand still unserved (the
    groups with the fewest other sites first); the bound is the sum of the ``k`` largest
    single-site values (also submodular), and for LSCP the least ``m`` whose largest single-site
    values reach ``need``. Sites closer than the spacing to a pick are skipped, never left out of
    the bound (the optimum may hold them).
    """
    if model.capacitated:
        return _greedy_capacitated(model, k=k, need=need)
    uncovered = model.weight.copy()
    blocked = np.zeros(len(model.candidates), bool)
    chosen: list[int] = []
    value, bound = 0.0, (np.inf if need is None else 0.0)
    while True:
        gains = model.cover @ uncovered
        gains[chosen] = 0.0
        top = np.sort(_per_group_best(gains, model.groups))[::-1]
        if need is None:
            bound = min(bound, value + top[:k].sum())
        else:
            bound = max(bound, _sites_needed(value, top, need))
        if (need is None and k is not None and len(chosen) >= k) or (
            need is not None and value >= need - 1e-9
        ):
            break
        allowed = np.where(blocked, 0.0, gains)
        if len(allowed) == 0 or allowed.max() <= 0:
            break
        j = int(np.argmax(allowed))  # the first maximum: lowest candidate row on ties
        chosen.append(j)
        blocked |= _neighbours(model, j)
        value += gains[j]
        uncovered[model.cover.indices[model.cover.indptr[j] : model.cover.indptr[j + 1]]] = 0.0
    return np.asarray(chosen, np.int64), float(bound)


def _neighbours(model: _Model, j: int) -> np.ndarray:
    """Bool per model row: ``j`` itself and the rows closer to it than the spacing."""
    out = np.zeros(len(model.candidates), bool)
    a, b = model.conflicts
    out[b[a == j]] = True
    out[a[b == j]] = True
    out[j] = True
    if model.groups is not None and model.groups[j] >= 0:
        out |= model.groups == model.groups[j]
    return out


def _per_group_best(values: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """``values`` with each group (id >= 0) reduced to its largest.

    That is what at most one site per group can add (for the bounds).
    """
    if groups is None or not (groups >= 0).any():
        return values
    alone = values[groups < 0]
    grouped = pd.Series(values[groups >= 0]).groupby(groups[groups >= 0]).max().to_numpy()
    return np.concatenate([alone, grouped])


def _greedy_capacitated(model: _Model, *, k: int | None, need: float | None) -> tuple[np.ndarray, float]:
    single = np.sort(_per_group_best(_singletons(model), model.groups))[::-1]
    if need is None:
        bound = min(float(single[:k].sum()), float(model.weight.sum()))
    else:
        bound = float(_sites_needed(0.0, single, need))
    left = model.weight.copy()
    degree = np.diff(model.cover.tocsc().indptr)  # sites reaching each group
    k = len(model.candidates) if k is None else k
    blocked = np.zeros(len(model.candidates), bool)
    chosen: list[int] = []
    value = 0.0
    while (need is None and len(chosen) < k) or (need is not None and value < need - 1e-9):
        gains = np.where(blocked, 0.0, np.minimum(model.cover @ left, model.capacity))
        if len(gains) == 0 or gains.max() <= 1e-12:
            break
        j = int(np.argmax(gains))
        chosen.append(j)
        blocked |= _neighbours(model, j)
        room = model.capacity[j]
        groups = model.cover.indices[model.cover.indptr[j] : model.cover.indptr[j + 1]]
        for g in groups[np.argsort(degree[groups], kind="stable")]:
            take = min(left[g], room)
            left[g] -= take
            room -= take
            if room <= 0:
                break
        value += gains[j]
    return np.asarray(chosen, np.int64), bound


def _sites_needed(value: float, top: np.ndarray, need: float) -> int:
    """Least ``m`` with ``value + sum(top[:m]) >= need`` (len(top) + 1 when none)."""
    if value >= need - 1e-9:
        return 0
    reach = value + np.cumsum(top)
    hit = np.flatnonzero(reach >= need - 1e-9)
    return int(hit[0]) + 1 if len(hit) else len(top) + 1


def _by_gain(model: _Model, chosen: np.ndarray, time_limit_s: float) -> tuple[np.ndarray, float, np.ndarray]:
    """Chosen sites re-ordered by decreasing marginal gain, dropping sites that add nothing.

    Also the value they reach (capacitated: the best assignment, by LP) and what each serves.
    """
    chosen = np.asarray(chosen, np.int64)
    sub = _Model(
        np.arange(len(chosen)),
        model.cover[chosen],
        model.weight,
        model.capacity[chosen],
        np.empty((2, 0), np.int64),
    )
    order = _greedy(sub, k=len(chosen))[0]
    chosen = chosen[order]
    if model.capacitated:
        value, served = _assign(model, chosen, time_limit_s)
        keep = served > 1e-9
        return chosen[keep], value, served[keep]
    covered = np.zeros(len(model.weight), bool)
    served = np.zeros(len(chosen))
    for i, j in enumerate(chosen):
        groups = model.cover.indices[model.cover.indptr[j] : model.cover.indptr[j + 1]]
        served[i] = model.weight[groups[~covered[groups]]].sum()
        covered[groups] = True
    return chosen, float(model.weight[covered].sum()), served


def _assign(model: _Model, chosen: np.ndarray, time_limit_s: float) -> tuple[float, np.ndarray]:
    """The most the ``chosen`` sites serve together within their capacities, and what each serves.

    An LP over the assignment, HiGHS.
    """
    if len(chosen) == 0:
        return 0.0, np.empty(0)
    sub = _Model(
        np.arange(len(chosen)),
        model.cover[chosen],
        model.weight,
        model.capacity[chosen],
        np.empty((2, 0), np.int64),
    )
    h = _run(_capacitated_lp(sub, k=len(chosen), need=None, relax=True), time_limit_s)
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise SitingError(
            "the assignment of users to the chosen sites could not be solved: try again or use fewer "
            "candidates"
        )
    x = np.asarray(h.getSolution().col_value)[len(chosen) :]
    pairs = sub.cover.tocoo()
    served = np.bincount(pairs.row, weights=x * sub.weight[pairs.col], minlength=len(chosen))
    return float(served.sum()), served


def _lp(model: _Model, *, k: int | None, need: float | None, relax: bool) -> highspy.HighsLp:
    """The MILP (or its relaxation) of ``model``.

    Uncapacitated over ``x`` (candidates, 0/1) then ``y`` (groups, 0..1); capacitated:
    ``_capacitated_lp``.
    """
    if model.capacitated:
        return _capacitated_lp(model, k=k, need=need, relax=relax)
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
    spacing = sp.vstack([_spacing_rows(model, n_g), _group_rows(model, n_g)])
    a = sp.vstack([link, spacing, last]).tocsc()
    n_s = spacing.shape[0]
    lower = np.concatenate([np.full(n_g + n_s, -highspy.kHighsInf), [row_lo]])
    upper = np.concatenate([np.zeros(n_g), np.ones(n_s), [row_hi]])
    return _highs_lp(a, cost, lower, upper, n_int=n_c if not relax else 0, maximise=need is None)


def _spacing_rows(model: _Model, n_other: int) -> sp.csr_matrix:
    """x_a + x_b <= 1 for every conflicting pair (site columns first, ``n_other`` columns after)."""
    a, b = model.conflicts
    n_c = len(model.candidates)
    rows = np.repeat(np.arange(len(a)), 2)
    cols = np.column_stack([a, b]).ravel()
    return sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(a), n_c + n_other))


def _group_rows(model: _Model, n_other: int) -> sp.csr_matrix:
    """Sum of x_j over each group <= 1 (site columns first, ``n_other`` columns after)."""
    n_c = len(model.candidates)
    if model.groups is None:
        return sp.csr_matrix((0, n_c + n_other))
    members = np.flatnonzero(model.groups >= 0)
    ids, row = np.unique(model.groups[members], return_inverse=True)
    return sp.csr_matrix((np.ones(len(members)), (row, members)), shape=(len(ids), n_c + n_other))


def _capacitated_lp(model: _Model, *, k: int | None, need: float | None, relax: bool) -> highspy.HighsLp:
    """Capacitated covering over ``y`` (sites, 0/1) then ``x``, subject to the constraints below.

    ``x``: one per covering pair, the share of the group the site serves, 0..1.

    ``sum_j x_jg <= 1`` (a group is served at most once), ``x_jg <= y_j`` (only open sites serve),
    ``sum_g w_g x_jg <= c_j y_j`` (capacity), spacing ``y_a + y_b <= 1``; MCLP: ``sum y <= k``,
    maximise ``sum w_g x_jg``; LSCP: ``sum w_g x_jg >= need``, minimise ``sum y``.
    """
    pairs = model.cover.tocoo()
    site, group = pairs.row, pairs.col
    n_c, n_g, n_p = len(model.candidates), len(model.weight), len(site)
    w = model.weight[group]
    idx = np.arange(n_p)
    once = sp.csr_matrix((np.ones(n_p), (group, n_c + idx)), shape=(n_g, n_c + n_p))
    open_ = sp.csr_matrix(
        (
            np.concatenate([np.ones(n_p), -np.ones(n_p)]),
            (np.concatenate([idx, idx]), np.concatenate([n_c + idx, site])),
        ),
        shape=(n_p, n_c + n_p),
    )
    cap = np.where(np.isfinite(model.capacity), model.capacity, w.sum() if n_p else 0.0)
    capacity = sp.csr_matrix(
        (
            np.concatenate([w, -cap]),
            (np.concatenate([site, np.arange(n_c)]), np.concatenate([n_c + idx, np.arange(n_c)])),
        ),
        shape=(n_c, n_c + n_p),
    )
    spacing = sp.vstack([_spacing_rows(model, n_p), _group_rows(model, n_p)])
    if need is None:
        last = sp.csr_matrix((np.ones(n_c), (np.zeros(n_c, int), np.arange(n_c))), shape=(1, n_c + n_p))
        cost = np.concatenate([np.zeros(n_c), w])
        row_lo, row_hi = -highspy.kHighsInf, float(k if k is not None else 0)
    else:
        last = sp.csr_matrix((w, (np.zeros(n_p, int), n_c + idx)), shape=(1, n_c + n_p))
        cost = np.concatenate([np.ones(n_c), np.zeros(n_p)])
        row_lo, row_hi = float(need) - 1e-9, highspy.kHighsInf
    a = sp.vstack([once, open_, capacity, spacing, last]).tocsc()
    n_s = spacing.shape[0]
    lower = np.full(n_g + n_p + n_c + n_s + 1, -highspy.kHighsInf)
    lower[-1] = row_lo
    upper = np.concatenate([np.ones(n_g), np.zeros(n_p + n_c), np.ones(n_s), [row_hi]])
    return _highs_lp(a, cost, lower, upper, n_int=0 if relax else n_c, maximise=need is None)


def _highs_lp(
    a: sp.csc_matrix, cost: np.ndarray, lower: np.ndarray, upper: np.ndarray, *, n_int: int, maximise: bool
) -> highspy.HighsLp:
    """A HiGHS model over columns in [0, 1], the first ``n_int`` integer."""
    n = a.shape[1]
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, a.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, np.zeros(n), np.ones(n)
    lp.row_lower_, lp.row_upper_ = lower, upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a.indptr, a.indices, a.data
    lp.sense_ = highspy.ObjSense.kMaximize if maximise else highspy.ObjSense.kMinimize
    if n_int:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * n_int + [highspy.HighsVarType.kContinuous] * (
            n - n_int
        )
    return lp


_BANNER = {"shown": False}


def _highs() -> highspy.Highs:
    """A HiGHS instance.

    The first of a process prints HiGHS's banner on standard output whatever the options; it is sent
    to standard error instead, so JSON written to standard output (``minqing plan site --format
    json``) stays readable.
    """
    if _BANNER["shown"]:
        return highspy.Highs()
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        h = highspy.Highs()
        ctypes.CDLL(None).fflush(None)  # the banner is in C's stdio buffer: out before fd 1 is restored
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        _BANNER["shown"] = True
    return h


def _run(lp: highspy.HighsLp, time_limit_s: float) -> highspy.Highs:
    h = _highs()
    for name, value in (
        ("output_flag", False),
        ("time_limit", float(time_limit_s)),
        ("mip_rel_gap", 0.0),
        ("mip_abs_gap", 1e-6),
    ):
        h.setOptionValue(name, value)
    h.passModel(lp)
    h.run()
    return h


def _milp(
    model: _Model, *, k: int | None = None, need: float | None = None, time_limit_s: float
) -> tuple[np.ndarray | None, float, str]:
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


def _lp_bound(
    model: _Model, *, k: int | None = None, need: float | None = None, time_limit_s: float
) -> float:
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
    """One row per chosen site (in ``solution`` order).

    Columns: the candidate's columns, ``rank`` (1..), the residents it gains (``population_gained``,
    ``households_gained``, ``elderly_gained``, ``children_gained``: newly covered residents, each
    counted once at its nearest chosen site), ``users_reached`` (the type's users newly within reach,
    counted the same way), ``users_served`` (what the site serves: with capacities its share of the
    best assignment, at most ``capacity_users``; uncapacitated: ``users_reached``), ``capacity_users``
    (NaN when uncapacitated), ``circle``/``profile``/``max_time_s`` of the residents it mostly serves,
    and ``candidate_row`` (its row in ``matrix.candidates``).
    """
    chosen = np.asarray(solution.chosen, np.int64)
    rank = pd.Series(np.arange(len(chosen)), index=chosen)
    pairs = matrix.pairs[matrix.pairs.candidate.isin(chosen)]
    pairs = pairs.assign(rank=rank.reindex(pairs.candidate).to_numpy())
    nearest = pairs.sort_values(["demand", "time_s", "rank"], kind="stable").drop_duplicates("demand")
    served = matrix.demand.iloc[nearest.demand.to_numpy()].assign(rank=nearest["rank"].to_numpy())
    out = matrix.candidates.iloc[chosen].reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(chosen) + 1))
    out["candidate_row"] = chosen
    sums = served.groupby("rank")[[*MEASURES, "users"]].sum().reindex(range(len(chosen)), fill_value=0)
    for m in MEASURES:
        out[f"{m}_gained"] = sums[m].to_numpy(np.int64)
    out["users_reached"] = sums["users"].to_numpy(float)
    given = (
        solution.capacity is not None and solution.served is not None and len(solution.served) == len(chosen)
    )
    out["users_served"] = np.asarray(solution.served, float) if given else out["users_reached"].to_numpy()
    out["capacity_users"] = np.asarray(solution.capacity, float) if solution.capacity is not None else np.nan
    main = served.sort_values(["rank", "weight"], ascending=[True, False]).groupby("rank").first()
    tier = matrix.demand.iloc[0] if len(matrix.demand) else None
    for col in ("circle", "profile", "max_time_s"):
        default = None if tier is None else tier[col]
        out[col] = main[col].reindex(range(len(chosen))).fillna(default).to_numpy() if len(main) else default
    return out


def service_areas(
    prepared: Prepared, matrix: CoverageMatrix, sites: pd.DataFrame, *, buffer_m: float = 60.0
) -> gpd.GeoDataFrame:
    """``sites`` (``proposals`` output) with the area each would serve (EPSG:4326).

    The area is the isochrone of its circle's limit towards the site along the streets
    (``geo.isochrone``, direction ``'to'``); a site whose isochrone cannot be built gets the buffered
    hull of the residents it gains instead. ``area_kind`` says which.
    """
    geoms, kinds = [], []
    for site in sites.itertuples():
        try:
            iso = isochrones(
                prepared.network(site.profile),
                site.lon,
                site.lat,
                minutes=(site.max_time_s / 60.0,),
                direction="to",
                buffer_m=buffer_m,
                max_distance_m=prepared.max_distance_m,
            )
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
