"""Coverage of residents by the service circles of every facility type.

Which circle applies: a residence whose community (its nearest ``community`` ancestor in the area
tree, else its own area) is ``urban`` uses the type's urban tier (``urban_profile``,
``urban_max_time_min``); otherwise the rural tier (``rural_profile``, ``rural_max_time_min``).
A type with no tier for a class is not applicable there: no rows, not counted.

Work is split in two so an edit costs little:

* ``prepare`` builds the networks of the profiles in use and snaps the residences (once per data
  version);
* ``run_coverage`` / ``recompute_types`` snap the facilities and run ONE bounded multi-source
  search per (facility type, profile) (``geo.reach``), then aggregate.

After facilities change, only the types returned by ``affected_types(before, after)`` need
``recompute_types``: a facility affects exactly the type it has before and after the edit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.spatial import cKDTree

from geo.crs import WGS84, geometries_to, to_metric, utm_crs_for
from geo.errors import AreaTreeError, GeoError, MissingColumnsError, UnknownFacilityTypeError
from geo.gaps import GAP_COLUMNS, PointIndex, gaps_of, point_index
from geo.gaps import MEASURES as GAP_MEASURES
from geo.network import Network, build_network, with_metric_geometry
from geo.profiles import Profile, get_profile
from geo.reach import TIE_TOLERANCE_S, Starts, nearest_facility, read_points, starts_of
from geo.snapping import Snap, snap_points, with_lonlat

CIRCLES = ("urban", "rural")
MEASURES = ["population", "households", "elderly", "children"]
RESIDENCE_COLUMNS = [
    "residence_id",
    "lon",
    "lat",
    "households",
    "population",
    "elderly",
    "children",
    "area_id",
]
FACILITY_COLUMNS = ["facility_id", "type_code", "lon", "lat", "status"]
AREA_COLUMNS = ["area_id", "parent_id", "level", "urban"]
TYPE_COLUMNS = ["code", "category", *(f"{c}_{f}" for c in CIRCLES for f in ("profile", "max_time_min"))]
# optional: the service radius of each circle's tier in metres (``urban_max_distance_m``,
# ``rural_max_distance_m``), for the radius measure (服务半径覆盖率); missing or empty: no radius
RADIUS_COLUMNS = [f"{c}_max_distance_m" for c in CIRCLES]
# optional facility-type columns saying what one unit of a facility's ``capacity`` serves:
# ``capacity_basis`` (one of MEASURES, empty: the capacity has no meaningful load) and
# ``basis_per_unit`` (how many people of that measure one unit serves), e.g. kindergarten places
# → children, 5 per place (data/facility_types.csv)
CAPACITY_COLUMNS = ["capacity_basis", "basis_per_unit"]
_MAX_TREE_DEPTH = 32


@dataclass(frozen=True, eq=False)
class Prepared:
    """Networks and residence snaps reused across coverage runs (one data version).

    ``residences`` is sorted by ``residence_id`` with an added bool column ``urban``;
    ``area_up`` is a sparse (n_areas, n_areas) 0/1 matrix whose row ``a`` marks ``a`` and all its
    ancestors; ``residence_area`` indexes ``areas`` rows; ``readers[(profile, circle)]`` holds the
    residence rows of that circle, their snaps and their ``geo.snapping.exits``;
    ``reader_starts`` the same as ``geo.reach.Starts`` (with chain positions);
    ``residence_large`` the row in ``areas`` of the large grid holding each residence (-1: none);
    ``xy`` the residences' coordinates in metres (``crs``), for straight-line distances.
    Large grids hang under their town beside the communities, so they are nobody's ancestor:
    they collect the residences inside their polygon instead (``large_grid_of``).
    """

    networks: dict[str, Network]
    residences: pd.DataFrame
    snaps: dict[str, Snap]
    areas: pd.DataFrame
    area_up: sp.csr_matrix
    residence_area: np.ndarray
    max_distance_m: float
    gap_index: PointIndex
    readers: dict[tuple[str, str], tuple[np.ndarray, Snap, tuple[np.ndarray, np.ndarray]]]
    reader_starts: dict[tuple[str, str], Starts]
    residence_large: np.ndarray
    xy: np.ndarray
    crs: pyproj.CRS | None

    def network(self, profile: str) -> Network:
        """The prepared network of ``profile`` (error names the fix when it was not prepared)."""
        if profile not in self.networks:
            raise GeoError(
                f"profile {profile!r} was not prepared (have {sorted(self.networks)}): call prepare() "
                "with the facility_types that use it"
            )
        return self.networks[profile]


@dataclass(frozen=True)
class CoverageResult:
    """Coverage tables.

    Attributes
    ----------
    per_residence : one row per applicable (residence, type), ordered by type, circle, residence:
        ``residence_id``, ``type_code``, ``circle`` (urban|rural), ``profile`` (these three
        categorical), ``max_time_s``, ``snapped`` (found a street),
        ``time_s`` (seconds to the nearest facility, NaN when none within the search bound),
        ``facility_id`` (nullable Int64), ``covered`` (time_s <= max_time_s), ``distance_m``
        (straight line to the nearest facility of the type, metres; inf without one),
        ``radius_m`` (the tier's service radius, NaN without one) and ``in_radius``.
    per_area : one row per (area at any level, type) with applicable residents: ``area_id``,
        ``level``, ``type_code``, ``points``, and for each of population, households, elderly,
        children: the total, ``*_covered`` and ``*_share`` (0..1); ``households_estimated`` and
        ``population_estimated``: how many of the households and residents come from estimates
        (residence columns ``households_estimated`` / ``estimated``, see ``estimate_flags``);
        the radius measure: ``*_in_radius`` per measure (homes within the tier's service radius in
        a straight line) and ``radius_share`` (residents, 0..1).
    per_area_circle : one row per (area at any level, type, circle) with applicable residents of
        that life circle: ``area_id``, ``level``, ``type_code``, ``circle`` (urban|rural),
        ``points``, and per measure the total and ``*_covered`` (each circle's residents judged by
        their own circle's tier; the two circles sum to ``per_area``).
    per_facility : one row per considered facility: catchment (covered residents whose nearest
        facility it is) per measure, ``capacity``, ``capacity_basis`` and ``basis_per_unit`` of its
        type, ``load`` = catchment of the basis / (capacity × basis_per_unit) (1.0: exactly full;
        NaN when the type has no capacity basis or the facility no capacity) and ``snapped``.
    gaps : GeoDataFrame (EPSG:4326) of gap areas per type (``geo.gaps``), ranked by population.
    """

    per_residence: pd.DataFrame
    per_area: pd.DataFrame
    per_area_circle: pd.DataFrame
    per_facility: pd.DataFrame
    gaps: gpd.GeoDataFrame


class _Block(NamedTuple):
    """Search outcome of one (type, circle) for the residences ``rows`` of that circle."""

    type_code: str
    circle: str
    profile: str
    max_time_s: float
    rows: np.ndarray
    snapped: np.ndarray
    time_s: np.ndarray
    facility_id: np.ndarray
    covered: np.ndarray
    distance_m: np.ndarray
    radius_m: float


def service_tiers(facility_types: pd.DataFrame) -> pd.DataFrame:
    """Applicable (type, circle) tiers, one per row.

    Columns ``type_code, circle, profile, max_time_s, radius_m`` (metres, NaN without a service radius).
    """
    _require(facility_types, TYPE_COLUMNS, "facility_types")
    frames = []
    for circle in CIRCLES:
        part = pd.DataFrame(
            {
                "type_code": facility_types["code"].astype(str),
                "circle": circle,
                "profile": facility_types[f"{circle}_profile"],
                "max_time_s": pd.to_numeric(facility_types[f"{circle}_max_time_min"], errors="coerce") * 60.0,
                "radius_m": pd.to_numeric(
                    facility_types.get(f"{circle}_max_distance_m", np.nan), errors="coerce"
                ),
            }
        )
        usable = part.profile.notna() & (part.profile.astype(str).str.strip() != "") & (part.max_time_s > 0)
        frames.append(part[usable])
    return pd.concat(frames).sort_values(["type_code", "circle"]).reset_index(drop=True)


def prepare(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    residences: pd.DataFrame,
    areas: pd.DataFrame,
    profiles: dict[str, Profile],
    *,
    facility_types: pd.DataFrame | None = None,
    max_distance_m: float = 500.0,
    gap_link_m: float = 250.0,
    compound_margin_m: float = 0.0,
) -> Prepared:
    """Build the networks (only of profiles the facility types use, if given) and snap residences.

    ``max_distance_m`` (metres) is the farthest a point may lie from a usable street;
    ``gap_link_m`` (metres) the single-linkage distance of gap areas (``geo.gaps``);
    ``compound_margin_m`` (metres) grows each gated compound's extent beyond the hull of its
    private roads (``geo.network.build_network``).
    """
    residences = with_lonlat(residences)
    _require(residences, RESIDENCE_COLUMNS, "residences")
    names = sorted(profiles) if facility_types is None else sorted(set(service_tiers(facility_types).profile))
    metric = (
        utm_crs_for(float(nodes.lon.median()), float(nodes.lat.median())) if len(nodes) and names else None
    )
    # projected once, not per profile
    shared = with_metric_geometry(edges, metric) if metric is not None else edges
    networks = {
        name: build_network(
            nodes, shared, get_profile(profiles, name), crs=metric, compound_margin_m=compound_margin_m
        )
        for name in names
    }
    res = residences.sort_values("residence_id", kind="stable").reset_index(drop=True)
    sorted_areas, area_up, res_area, urban = _area_tree(areas, res.area_id.to_numpy())
    res = res.assign(urban=urban)
    snaps = _snap_all(networks, res.lon.to_numpy(), res.lat.to_numpy(), max_distance_m)
    crs = next(iter(networks.values())).crs if networks else None
    if crs is None and len(res):
        crs = utm_crs_for(float(res.lon.median()), float(res.lat.median()))
    x, y, _ = to_metric((res.lon.to_numpy(), res.lat.to_numpy()), crs=crs) if len(res) else (np.empty(0),) * 3
    large = large_grid_of(sorted_areas, area_up, res_area, res.lon.to_numpy(), res.lat.to_numpy(), crs=crs)
    gap_index = point_index(res.lon.to_numpy(), res.lat.to_numpy(), link_m=gap_link_m, crs=crs)
    readers, reader_starts = {}, {}
    for circle in CIRCLES:
        rows = np.flatnonzero(res.urban.to_numpy() == (circle == "urban"))
        for name, net in networks.items():
            starts = starts_of(net, snaps[name].take(rows))
            readers[(name, circle)] = (rows, starts.snap, (starts.nodes, starts.cost_s))
            reader_starts[(name, circle)] = starts
    return Prepared(
        networks,
        res,
        snaps,
        sorted_areas,
        area_up,
        res_area,
        float(max_distance_m),
        gap_index,
        readers,
        reader_starts,
        large,
        np.column_stack([x, y]),
        crs,
    )


def run_coverage(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    facilities: pd.DataFrame,
    residences: pd.DataFrame,
    areas: pd.DataFrame,
    facility_types: pd.DataFrame,
    profiles: dict[str, Profile],
    *,
    types: list[str] | None = None,
    prepared: Prepared | None = None,
    statuses: tuple[str, ...] = ("open",),
    max_distance_m: float = 500.0,
    with_gaps: bool = True,
    gap_link_m: float = 250.0,
    progress: Callable[[str, int], None] | None = None,
) -> CoverageResult:
    """Coverage of every (or the listed) facility type, both circles, all area levels.

    Parameters
    ----------
    nodes, edges, facilities, residences, areas, facility_types : frames of docs/CONTRACTS.md.
    profiles : ``geo.profiles.load_profiles`` result.
    types : facility type codes to compute; default all types with a tier.
    prepared : reuse the output of ``prepare`` (then nodes/edges/residences/areas are ignored).
    statuses : facility statuses that count (add ``'planned'`` for what-if scenarios).
    max_distance_m, gap_link_m : snapping distance of points to streets and single-linkage distance
        of gap areas, metres (used only when preparing here).
    with_gaps : also build the gap polygons (``geo.gaps``).
    progress : called once per step done as ``progress(label, total_steps)``: one step per search
        (facility type × profile, label ``'type/profile'``), then ``'areas'`` and ``'gaps'``.
    """
    if prepared is None:
        prepared = prepare(
            nodes,
            edges,
            residences,
            areas,
            profiles,
            facility_types=facility_types,
            max_distance_m=max_distance_m,
            gap_link_m=gap_link_m,
        )
    tiers = _selected_tiers(facility_types, types)
    fac = _facilities(facilities, facility_types, statuses)
    fac = fac[fac.type_code.isin(set(tiers.type_code))].reset_index(drop=True)
    fac_snaps = _snap_facilities(prepared, fac, sorted(set(tiers.profile)))
    fac_xy = _metric_xy(prepared, fac)
    of_type = {code: rows for code, rows in fac.groupby("type_code", sort=True).indices.items()}
    groups: dict[tuple[str, str], list[dict]] = {}
    for tier in tiers.to_dict("records"):
        groups.setdefault((tier["type_code"], tier["profile"]), []).append(tier)
    total = len(groups) + 1 + int(with_gaps)
    step = (lambda label: progress(label, total)) if progress is not None else (lambda label: None)
    blocks, snapped = [], []
    for (code, profile), group in sorted(groups.items()):
        rows = of_type.get(code, np.empty(0, np.int64))
        ids = fac.facility_id.to_numpy()[rows]
        blocks += _search(prepared, ids, fac_snaps[profile].take(rows), code, profile, group, fac_xy[rows])
        snapped.append(pd.Series(fac_snaps[profile].reachable[rows], index=ids))
        step(f"{code}/{profile}")
    codes = sorted(set(tiers.type_code))
    per_residence = _per_residence(prepared, blocks, _categories(facility_types))
    per_area = _per_area(prepared, blocks, codes)
    per_area_circle = _per_area_circle(prepared, blocks, codes)
    per_facility = _per_facility(prepared, blocks, fac, facility_types, snapped)
    step("areas")
    gaps = _gaps(prepared, blocks) if with_gaps else _no_gaps()
    if with_gaps:
        step("gaps")
    return CoverageResult(
        per_residence=per_residence,
        per_area=per_area,
        per_area_circle=per_area_circle,
        per_facility=per_facility,
        gaps=gaps,
    )


def unsnapped(
    prepared: Prepared, facility_types: pd.DataFrame, types: list[str] | None = None
) -> pd.DataFrame:
    """Homes farther than the snapping distance from every street of their tier's profile (never covered).

    Parameters
    ----------
    prepared : output of ``prepare``.
    facility_types : the facility-type table (its tiers say which circle uses which profile).
    types : type codes; default all types with a tier.

    Returns
    -------
    DataFrame with one row per (type, home): ``type_code``, ``residence_id``, ``population``; the
    same homes a run marks ``snapped`` False, read from the prepared snaps without searching.
    """
    tiers = _selected_tiers(facility_types, types)
    res = prepared.residences
    parts = [pd.DataFrame(columns=["type_code", "residence_id", "population"])]
    for tier in tiers.itertuples():
        rows, snap, _ = prepared.readers[(tier.profile, tier.circle)]
        bad = rows[~snap.reachable]
        parts.append(
            pd.DataFrame(
                {
                    "type_code": tier.type_code,
                    "residence_id": res.residence_id.to_numpy()[bad],
                    "population": res.population.to_numpy()[bad],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def search_count(facility_types: pd.DataFrame, types: list[str] | None = None) -> int:
    """Number of bounded searches (facility type × profile) ``run_coverage`` makes for ``types``."""
    tiers = _selected_tiers(facility_types, types)
    return len(set(zip(tiers.type_code, tiers.profile, strict=True)))


def recompute_types(
    previous: CoverageResult,
    prepared: Prepared,
    facilities: pd.DataFrame,
    facility_types: pd.DataFrame,
    *,
    types: list[str],
    statuses: tuple[str, ...] = ("open",),
    with_gaps: bool = True,
) -> CoverageResult:
    """``previous`` with the rows of ``types`` recomputed from the current ``facilities``.

    Use ``affected_types(old_facilities, new_facilities)`` to know which types changed; the result
    equals a full ``run_coverage`` with the same inputs.
    """
    if not types:
        return previous
    fresh = run_coverage(
        None,
        None,
        facilities,
        None,
        None,
        facility_types,
        {},
        types=list(types),
        prepared=prepared,
        statuses=statuses,
        with_gaps=with_gaps,
    )
    keys = {
        "per_residence": ["type_code", "circle", "residence_id"],
        "per_area": ["type_code", "area_id"],
        "per_area_circle": ["type_code", "circle", "area_id"],
        "per_facility": ["facility_id"],
        "gaps": ["type_code", "gap_rank"],
    }
    merged = {
        name: _merge(getattr(previous, name), getattr(fresh, name), set(types), by)
        for name, by in keys.items()
    }
    return CoverageResult(**merged)


def affected_types(
    before: pd.DataFrame,
    after: pd.DataFrame,
    *,
    columns: tuple[str, ...] = ("type_code", "lon", "lat", "status", "capacity"),
) -> list[str]:
    """Type codes whose coverage may change between two versions of the facilities frame.

    A facility added, removed or edited (any of ``columns``) affects its type before and after.
    """
    before, after = with_lonlat(before), with_lonlat(after)
    cols = ["facility_id", *[c for c in columns if c in before and c in after]]
    old, new = before[cols].set_index("facility_id"), after[cols].set_index("facility_id")
    both = old.index.intersection(new.index)
    changed = ~(old.loc[both].fillna(-1).astype(str) == new.loc[both].fillna(-1).astype(str)).all(axis=1)
    ids = (
        set(both[changed.to_numpy()])
        | set(old.index.difference(new.index))
        | set(new.index.difference(old.index))
    )
    codes = set(old.type_code[old.index.isin(ids)]) | set(new.type_code[new.index.isin(ids)])
    return sorted(map(str, codes))


# --- inputs -------------------------------------------------------------------------------------


def _require(frame: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in frame]
    if missing:
        raise MissingColumnsError(name, missing)


def _selected_tiers(facility_types: pd.DataFrame, types: list[str] | None) -> pd.DataFrame:
    tiers = service_tiers(facility_types)
    if types is None:
        return tiers
    unknown = sorted(set(types) - set(facility_types.code.astype(str)))
    if unknown:
        raise UnknownFacilityTypeError(unknown)
    return tiers[tiers.type_code.isin(types)]


def _facilities(
    facilities: pd.DataFrame, facility_types: pd.DataFrame, statuses: tuple[str, ...]
) -> pd.DataFrame:
    facilities = with_lonlat(facilities)
    _require(facilities, FACILITY_COLUMNS, "facilities")
    unknown = sorted(set(facilities.type_code.astype(str)) - set(facility_types.code.astype(str)))
    if unknown:
        raise UnknownFacilityTypeError(unknown)
    fac = facilities[facilities.status.isin(statuses)]
    return fac.sort_values("facility_id", kind="stable").reset_index(drop=True)


def _area_tree(areas: pd.DataFrame, residence_area_ids: np.ndarray):
    """Sorted areas, ancestor matrix, residence→area index, and each residence's urban flag."""
    _require(areas, AREA_COLUMNS, "areas")
    areas = areas.sort_values("area_id", kind="stable").reset_index(drop=True)
    ids = areas.area_id.to_numpy(np.int64)
    parent = _index_of(ids, areas.parent_id, what="parent_id")
    chain = _ancestor_chain(parent)
    n = len(ids)
    rows = np.repeat(np.arange(n), chain.shape[1]).reshape(n, -1)
    up = sp.csr_matrix((np.ones((chain >= 0).sum()), (rows[chain >= 0], chain[chain >= 0])), shape=(n, n))
    res_area = _index_of(ids, pd.Series(residence_area_ids), what="residence area_id")
    if (res_area < 0).any():
        raise AreaTreeError("residences without area_id: give each residence its small grid's area_id")
    source = _circle_source(areas, chain)[res_area]
    flag = areas.urban.to_numpy(object)[source]
    missing = pd.isna(flag)
    if missing.any():
        bad = sorted({int(a) for a in areas.area_id.to_numpy()[source[missing]]})[:5]
        raise AreaTreeError(
            f"areas {bad} have no urban flag: set urban on every community (grids inherit it)"
        )
    return areas, up, res_area, flag.astype(bool)


def _index_of(ids: np.ndarray, values: pd.Series, *, what: str) -> np.ndarray:
    """Row of each value in sorted ``ids`` (-1 for missing values); unknown ids raise."""
    present = values.notna().to_numpy()
    wanted = values[present].astype(np.int64).to_numpy()
    pos = np.searchsorted(ids, wanted).clip(0, max(len(ids) - 1, 0))
    unknown = (ids[pos] != wanted) if len(ids) else np.ones(len(wanted), bool)
    if unknown.any():
        bad = sorted({int(a) for a in wanted[unknown]})[:5]
        raise AreaTreeError(f"{what} values {bad} are not in the areas table: load those areas")
    out = np.full(len(values), -1, dtype=np.int64)
    out[present] = pos
    return out


def _ancestor_chain(parent: np.ndarray) -> np.ndarray:
    """(n, depth) matrix: column k is the k-th ancestor (column 0 the area itself), -1 past the root."""
    columns = [np.arange(len(parent))]
    while (columns[-1] >= 0).any():
        if len(columns) > _MAX_TREE_DEPTH:
            raise AreaTreeError("the areas' parent_id links form a cycle: every chain must end at a district")
        cur = columns[-1]
        columns.append(np.where(cur >= 0, parent[np.maximum(cur, 0)], -1))
    return np.column_stack(columns[:-1])


def _circle_source(areas: pd.DataFrame, chain: np.ndarray) -> np.ndarray:
    """Per area: the row whose ``urban`` flag decides its circle.

    That row is its nearest community ancestor (itself included), else the area itself.
    """
    is_community = (areas.level.to_numpy() == "community")[np.maximum(chain, 0)] & (chain >= 0)
    first = np.where(is_community.any(axis=1), is_community.argmax(axis=1), 0)
    return chain[np.arange(len(chain)), first]


def large_grid_of(
    areas: pd.DataFrame,
    area_up: sp.csr_matrix,
    residence_area: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    crs=None,
) -> np.ndarray:
    """Row in ``areas`` of the large grid (``grid_large``) holding each residence, -1 for none.

    ``areas`` are sorted by ``area_id`` with a positional index and ``area_up`` their ancestor matrix
    (see ``Prepared``). A residence belongs to a large grid of its own town (the large grid's parent)
    whose polygon contains it; one that lies in none of its town's large grids (slivers along a
    coast or border) goes to the nearest of them (metres in ``crs``), so a town's large grids add up
    to the town whenever it has any. Needs the areas' ``geometry`` (EPSG:4326); without it no
    residence has a large grid.
    """
    out = np.full(len(residence_area), -1, dtype=np.int64)
    if "geometry" not in areas:
        return out
    large = np.flatnonzero((areas.level.to_numpy() == "grid_large") & areas.geometry.notna().to_numpy())
    if len(large) == 0 or len(residence_area) == 0:
        return out
    parent = _index_of(areas.area_id.to_numpy(np.int64), areas.parent_id.iloc[large], what="parent_id")
    crs = crs or utm_crs_for(float(np.median(lon)), float(np.median(lat)))
    x, y, _ = to_metric((lon, lat), crs=crs)
    shapes = geometries_to(np.asarray(areas.geometry.to_numpy()[large], dtype=object), WGS84, crs)
    below = area_up.tocsc()  # column t marks t and every area below it
    best = np.full(len(out), np.inf)
    for grid, town, shape in zip(large, parent, shapes, strict=True):
        if town < 0:
            continue
        # residences of the town, except any filed under a large grid itself (the tree counts those)
        mine = np.flatnonzero(
            np.isin(residence_area, below[:, town].nonzero()[0]) & ~np.isin(residence_area, large)
        )
        shapely.prepare(shape)
        gap = np.zeros(len(mine))
        outside = ~shapely.contains_xy(shape, x[mine], y[mine])
        gap[outside] = shapely.distance(shape, shapely.points(x[mine[outside]], y[mine[outside]]))
        closer = gap < best[mine]  # ties keep the earlier (lower area_id) grid
        out[mine[closer]] = grid
        best[mine[closer]] = gap[closer]
    return out


# --- search -------------------------------------------------------------------------------------


def _snap_facilities(prepared: Prepared, fac: pd.DataFrame, profiles: list[str]) -> dict[str, Snap]:
    """All facilities snapped once per profile (types then take their rows)."""
    networks = {p: prepared.network(p) for p in profiles}
    return _snap_all(networks, fac.lon.to_numpy(), fac.lat.to_numpy(), prepared.max_distance_m)


def _snap_all(networks: dict[str, Network], lon, lat, max_distance_m: float) -> dict[str, Snap]:
    """Snap points on every network.

    Profiles sharing the same usable edges and compounds (walk and walk_elderly) share one snap, only
    the access-leg time differs.
    """
    out: dict[str, Snap] = {}
    done: dict[tuple, Snap] = {}
    for name, net in sorted(networks.items()):
        key = (net.edge_id.tobytes(), net.edge_compound.tobytes(), len(net.compound_hulls))
        if key not in done:
            done[key] = snap_points(net, lon, lat, max_distance_m=max_distance_m)
        snap = done[key]
        out[name] = Snap(
            snap.edge, snap.fraction, snap.distance_m, snap.distance_m / net.profile.access_speed_mps
        )
    return out


def _metric_xy(prepared: Prepared, fac: pd.DataFrame) -> np.ndarray:
    """Facilities' coordinates in metres, in the residences' CRS (``Prepared.xy``)."""
    if len(fac) == 0 or prepared.crs is None:
        return np.empty((len(fac), 2))
    x, y, _ = to_metric((fac.lon.to_numpy(), fac.lat.to_numpy()), crs=prepared.crs)
    return np.column_stack([x, y])


def straight_line(from_xy: np.ndarray, to_xy: np.ndarray) -> np.ndarray:
    """Straight-line distance (metres) from each ``from_xy`` row to the nearest ``to_xy`` row.

    Inf when ``to_xy`` is empty. Both in the same metric CRS.
    """
    if len(to_xy) == 0:
        return np.full(len(from_xy), np.inf)
    return cKDTree(to_xy).query(from_xy, k=1)[0] if len(from_xy) else np.empty(0)


def _search(
    prepared: Prepared,
    ids: np.ndarray,
    fsnap: Snap,
    code: str,
    profile: str,
    tiers: list[dict],
    fac_xy: np.ndarray,
) -> list[_Block]:
    """ONE bounded search for (type, profile); read it for each circle using that profile.

    Also the straight-line distance of the circle's homes to the type's nearest facility (radius measure).
    """
    net = prepared.network(profile)
    reach = nearest_facility(net, ids, fsnap, limit_s=max(t["max_time_s"] for t in tiers))
    blocks = []
    for tier in tiers:
        rows = prepared.readers[(profile, tier["circle"])][0]
        starts = prepared.reader_starts[(profile, tier["circle"])]
        time, fid = read_points(net, reach, starts)
        covered = time <= tier["max_time_s"] + TIE_TOLERANCE_S
        distance = straight_line(prepared.xy[rows], fac_xy)
        blocks.append(
            _Block(
                code,
                tier["circle"],
                profile,
                tier["max_time_s"],
                rows,
                starts.snap.reachable,
                time,
                fid,
                covered,
                distance,
                float(tier["radius_m"]),
            )
        )
    return blocks


# --- outputs ------------------------------------------------------------------------------------


def _per_residence(
    prepared: Prepared, blocks: list[_Block], categories: dict[str, list[str]]
) -> pd.DataFrame:
    """Rows in (type_code, circle, residence_id) order: the blocks' own order, no reshuffle.

    ``type_code``, ``circle`` and ``profile`` are categoricals over ``categories`` (the same for
    any subset of types, so recomputed frames concatenate with earlier ones).
    """
    blocks = sorted(blocks, key=lambda b: (b.type_code, b.circle))
    ids = prepared.residences.residence_id.to_numpy()
    fid = _concat(blocks, lambda b: b.facility_id, np.int64)
    return pd.DataFrame(
        {
            "residence_id": ids[_concat(blocks, lambda b: b.rows, np.int64)],
            **{
                field: _categorical(blocks, field, categories[field])
                for field in ("type_code", "circle", "profile")
            },
            "max_time_s": _concat(blocks, lambda b: np.full(len(b.rows), b.max_time_s), float),
            "snapped": _concat(blocks, lambda b: b.snapped, bool),
            "time_s": _concat(blocks, lambda b: np.where(np.isfinite(b.time_s), b.time_s, np.nan), float),
            "facility_id": pd.arrays.IntegerArray(np.where(fid >= 0, fid, 0), fid < 0),
            "covered": _concat(blocks, lambda b: b.covered, bool),
            "distance_m": _concat(blocks, lambda b: b.distance_m, float),
            "radius_m": _concat(blocks, lambda b: np.full(len(b.rows), b.radius_m), float),
            "in_radius": _concat(blocks, _in_radius, bool),
        }
    )


def _in_radius(b: _Block) -> np.ndarray:
    """Homes of a block within its tier's service radius (none when the tier has no radius)."""
    return b.distance_m <= b.radius_m if np.isfinite(b.radius_m) else np.zeros(len(b.rows), bool)


def _categorical(blocks: list[_Block], field: str, categories: list[str]) -> pd.Categorical:
    code = np.asarray([categories.index(getattr(b, field)) for b in blocks], dtype=np.int64)
    return pd.Categorical.from_codes(np.repeat(code, [len(b.rows) for b in blocks]), categories=categories)


def _concat(blocks: list[_Block], get, dtype) -> np.ndarray:
    return np.concatenate([np.asarray(get(b), dtype=dtype) for b in blocks]) if blocks else np.empty(0, dtype)


def _categories(facility_types: pd.DataFrame) -> dict[str, list[str]]:
    tiers = service_tiers(facility_types)
    return {
        "type_code": sorted(set(tiers.type_code)),
        "circle": sorted(CIRCLES),
        "profile": sorted(set(tiers.profile)),
    }


class _Sums(NamedTuple):
    """Residence rows of some blocks, ready to be summed per (type, area) by ``rollup``."""

    keys: RollupKeys
    rows: np.ndarray
    covered: np.ndarray


def _sums(prepared: Prepared, blocks: list[_Block], codes: list[str]) -> _Sums:
    type_index = {c: i for i, c in enumerate(codes)}
    types = _concat(blocks, lambda b: np.full(len(b.rows), type_index[b.type_code]), np.int64)
    rows = _concat(blocks, lambda b: b.rows, np.int64)
    return _Sums(
        rollup_keys(prepared, types, rows, len(codes)), rows, _concat(blocks, lambda b: b.covered, float)
    )


def _area_frame(prepared: Prepared, codes: list[str], columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per (type, area) of the flat ``rollup`` columns."""
    n_areas = len(prepared.areas)
    return pd.DataFrame(
        {
            "area_id": np.tile(prepared.areas.area_id.to_numpy(), len(codes)),
            "level": np.tile(prepared.areas.level.to_numpy(), len(codes)),
            "type_code": np.repeat(np.asarray(codes, dtype=object), n_areas),
            **{name: value.astype(np.int64) for name, value in columns.items()},
        }
    )


def _per_area_circle(prepared: Prepared, blocks: list[_Block], codes: list[str]) -> pd.DataFrame:
    frames = []
    for circle in CIRCLES:
        sums = _sums(prepared, [b for b in blocks if b.circle == circle], codes)
        columns = {"points": rollup(prepared, sums.keys, np.ones(len(sums.rows)))}
        for m in MEASURES:
            weight = prepared.residences[m].to_numpy(float)[sums.rows]
            columns[m] = rollup(prepared, sums.keys, weight)
            columns[f"{m}_covered"] = rollup(prepared, sums.keys, weight * sums.covered)
        frame = _area_frame(prepared, codes, columns)
        frame.insert(3, "circle", circle)
        frames.append(frame[frame.points > 0])
    return pd.concat(frames).sort_values(["type_code", "circle", "area_id"]).reset_index(drop=True)


def _per_area(prepared: Prepared, blocks: list[_Block], codes: list[str]) -> pd.DataFrame:
    sums = _sums(prepared, blocks, codes)
    keys, rows = sums.keys, sums.rows
    in_radius = _concat(blocks, _in_radius, float)
    res = prepared.residences
    columns = {"points": rollup(prepared, keys, np.ones(len(rows)))}
    for m in MEASURES:
        weight = res[m].to_numpy(float)[rows]
        columns[m] = rollup(prepared, keys, weight)
        columns[f"{m}_covered"] = rollup(prepared, keys, weight * sums.covered)
        columns[f"{m}_in_radius"] = rollup(prepared, keys, weight * in_radius)
    households_estimated, people_estimated = estimate_flags(res)
    for m, flag in (("households", households_estimated), ("population", people_estimated)):
        columns[f"{m}_estimated"] = rollup(prepared, keys, res[m].to_numpy(float)[rows] * flag[rows])
    frame = _area_frame(prepared, codes, columns)
    for m in MEASURES:
        with np.errstate(invalid="ignore", divide="ignore"):
            frame[f"{m}_share"] = frame[f"{m}_covered"] / frame[m].where(frame[m] > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["radius_share"] = frame["population_in_radius"] / frame["population"].where(
            frame["population"] > 0
        )
    return frame[frame.points > 0].sort_values(["type_code", "area_id"]).reset_index(drop=True)


def estimate_flags(residences: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per residence: whether its households and its people are estimated.

    Households: ``households_estimated`` (from a building footprint); people: ``estimated`` (any count
    estimated, or the households). Residences without these optional columns count as real.
    """

    def flag(column: str) -> np.ndarray:
        if column not in residences:
            return np.zeros(len(residences), dtype=bool)
        return residences[column].fillna(False).to_numpy(bool)

    households = flag("households_estimated")
    return households, households | flag("estimated")


class RollupKeys(NamedTuple):
    """Where residence rows are summed: (type, own area) and (type, large grid) flat indices."""

    own: np.ndarray
    large: np.ndarray
    held: np.ndarray  # rows that lie in a large grid
    n_types: int


def rollup_keys(prepared: Prepared, type_index: np.ndarray, rows: np.ndarray, n_types: int) -> RollupKeys:
    """Keys of ``rollup`` for residence ``rows`` of facility types ``type_index`` (compute once)."""
    n_areas = len(prepared.areas)
    large = prepared.residence_large[rows]
    held = np.flatnonzero(large >= 0)
    return RollupKeys(
        type_index * n_areas + prepared.residence_area[rows],
        type_index[held] * n_areas + large[held],
        held,
        n_types,
    )


def rollup(prepared: Prepared, keys: RollupKeys, weight: np.ndarray) -> np.ndarray:
    """Sum ``weight`` (one per row of ``keys``) per (type, area) for every area holding the residence.

    Those areas are its own area, every ancestor, and its large grid. Flat (type, area), rounded.
    """
    n = keys.n_types * len(prepared.areas)
    own = np.bincount(keys.own, weights=weight, minlength=n).reshape(keys.n_types, -1)
    total = np.asarray(prepared.area_up.T @ own.T).T.ravel()
    total += np.bincount(keys.large, weights=weight[keys.held], minlength=n)
    return np.rint(total)


def _per_facility(prepared, blocks, fac, facility_types, snapped) -> pd.DataFrame:
    ids = fac.facility_id.to_numpy(np.int64)
    fid = _concat(blocks, lambda b: np.where(b.covered, b.facility_id, -1), np.int64)
    rows = _concat(blocks, lambda b: b.rows, np.int64)
    hit = fid >= 0
    index = np.searchsorted(ids, fid[hit])
    out = pd.DataFrame(
        {"facility_id": ids, "type_code": fac.type_code.to_numpy(), "status": fac.status.to_numpy()}
    )
    out["catchment_points"] = np.bincount(index, minlength=len(ids))
    for m in MEASURES:
        weight = prepared.residences[m].to_numpy(float)[rows[hit]]
        out[f"catchment_{m}"] = np.rint(np.bincount(index, weights=weight, minlength=len(ids))).astype(
            np.int64
        )
    flags = pd.concat(snapped) if snapped else pd.Series(dtype=bool)
    out["snapped"] = flags.groupby(level=0).all().reindex(ids).fillna(False).to_numpy(bool)
    out["capacity"] = (
        pd.to_numeric(fac["capacity"], errors="coerce").to_numpy() if "capacity" in fac else np.nan
    )
    basis_of = capacity_basis(facility_types)
    out["capacity_basis"] = out.type_code.map(basis_of.capacity_basis).astype(object)
    out["basis_per_unit"] = out.type_code.map(basis_of.basis_per_unit).astype(float)
    demand = np.select(
        [out.capacity_basis == m for m in MEASURES], [out[f"catchment_{m}"] for m in MEASURES], np.nan
    )
    units = out.capacity.to_numpy(float) * out.basis_per_unit.to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["load"] = np.where(units > 0, demand / units, np.nan)
    return out


def capacity_basis(facility_types: pd.DataFrame) -> pd.DataFrame:
    """Per type code: ``capacity_basis`` (a measure, or None) and ``basis_per_unit`` (> 0, or NaN).

    Types without both (or without the columns at all) get None/NaN: their load is not computed.
    Raises ``GeoError`` for a basis that is not one of ``MEASURES`` or a non-positive per-unit figure.
    """
    codes = facility_types.code.astype(str).to_numpy()
    if not set(CAPACITY_COLUMNS) <= set(facility_types.columns):
        return pd.DataFrame({"capacity_basis": None, "basis_per_unit": np.nan}, index=codes)
    basis = (
        facility_types.capacity_basis.where(facility_types.capacity_basis.notna(), "").astype(str).str.strip()
    )
    per_unit = pd.to_numeric(facility_types.basis_per_unit, errors="coerce").to_numpy(float)
    bad = sorted(set(basis[(basis != "") & ~basis.isin(MEASURES)]))
    if bad:
        raise GeoError(f"capacity_basis values {bad} are not one of {MEASURES}: fix data/facility_types.csv")
    given = (basis != "").to_numpy()
    if (given & ~(per_unit > 0)).any():
        wrong = sorted(codes[given & ~(per_unit > 0)])
        raise GeoError(
            f"facility types {wrong} have a capacity_basis but no basis_per_unit > 0: give how many "
            "people of the basis one unit of capacity serves (data/facility_types.csv)"
        )
    return pd.DataFrame(
        {"capacity_basis": np.where(given, basis, None), "basis_per_unit": np.where(given, per_unit, np.nan)},
        index=codes,
    )


def _gaps(prepared: Prepared, blocks: list[_Block]) -> gpd.GeoDataFrame:
    """Gap areas of every type in one batch (types kept apart as groups)."""
    codes = sorted({b.type_code for b in blocks})
    rows, group = [], []
    for k, code in enumerate(codes):
        uncovered = np.sort(np.concatenate([b.rows[~b.covered] for b in blocks if b.type_code == code]))
        rows.append(uncovered)
        group.append(np.full(len(uncovered), k))
    rows_all = np.concatenate(rows) if rows else np.empty(0, np.int64)
    counts = prepared.residences[GAP_MEASURES].iloc[rows_all]
    out = gaps_of(prepared.gap_index, rows_all, counts, group=np.concatenate(group) if group else None)
    if len(out) == 0:
        return _no_gaps()
    out.insert(0, "type_code", np.asarray(codes, dtype=object)[out.pop("group").to_numpy()])
    return gpd.GeoDataFrame(out[["type_code", *GAP_COLUMNS]], geometry="geometry", crs=WGS84)


def _no_gaps() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns=["type_code", *GAP_COLUMNS], geometry="geometry", crs=WGS84)


def _merge(old: pd.DataFrame, new: pd.DataFrame, types: set[str], by: list[str]) -> pd.DataFrame:
    kept = old[~old.type_code.isin(types)]
    merged = pd.concat([kept, new], ignore_index=True) if len(kept) else new.copy()
    if isinstance(merged.type_code.dtype, pd.CategoricalDtype):
        # each type's rows come whole and in order from one frame: a stable sort by type suffices
        merged = merged.iloc[np.argsort(merged.type_code.cat.codes.to_numpy(), kind="stable")]
    else:
        merged = merged.sort_values(by, kind="stable")
    merged = merged.reset_index(drop=True)
    return (
        gpd.GeoDataFrame(merged, geometry="geometry", crs=WGS84)
        if isinstance(new, gpd.GeoDataFrame)
        else merged
    )
