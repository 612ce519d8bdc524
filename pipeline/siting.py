"""Siting new facilities of one type: read the layers, build candidates, solve with ``geo.siting``.

Shared by ``minqing plan site`` and ``POST /siting``. Existing open facilities stay fixed; the
residents they cover do not count. Demand is the type's users (``geo.siting.users_of`` from the
capacity basis of data/facility_types.csv: the elderly for elderly services, the age band of
children for schools and kindergartens, residents otherwise) and each new site serves at most its
capacity (the type's ``new_site_capacity`` of data/facility_types.csv, or the request's) times the
users one unit serves. Candidates: ``"intersections"`` (street junctions in the type's current
gap areas), ``"gaps"`` (street nodes there, thinned to ``spacing_m``), ``"facilities"`` (open
facilities of other types: co-location in existing public buildings), user points (a planner's
parcel list: ``read_candidates``) or public-land parcels (polygons). Every proposed site carries
its place label (``layers.labels``), and a result can be saved as a what-if scenario.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from geo import siting
from geo.coverage import Prepared, capacity_basis, service_tiers
from geo.crs import to_wgs84
from geo.siting import SitingError
from layers import labels, planning, queries
from layers.load.report import ImportReport
from layers.load.source import map_columns, read_source
from pipeline import coverage as runs
from pipeline import scenarios
from pipeline.runs import known_types

MAX_CANDIDATES = 5000
DEFAULT_SPACING_M = {"intersections": 100.0, "gaps": 150.0}
"""Thinning of street candidates when none is given (metres): one per square of this size."""
CANDIDATE_KINDS = ("intersections", "gaps", "facilities")
SITE_COLUMNS = [
    "rank",
    "candidate_id",
    "name",
    "place",
    "town",
    "community",
    "road",
    "source",
    "lon",
    "lat",
    "capacity",
    "capacity_users",
    "users_served",
    "users_reached",
    "population_gained",
    "households_gained",
    "elderly_gained",
    "children_gained",
    "circle",
    "max_time_min",
    "area_kind",
]
PLANS = {"maximal_covering": "maximal", "set_covering": "covering"}


@dataclass
class Plan:
    """One solved problem: the solution and its sites (GeoDataFrame, service areas EPSG:4326)."""

    solution: siting.Solution
    sites: gpd.GeoDataFrame
    share_after: float
    after: dict[str, Any] = field(default_factory=dict)


@dataclass
class SitingResult:
    """Everything ``site`` found (candidates and demand stay internal: demand is per residence)."""

    type_code: str
    type_name: str
    weight: str
    candidate_source: str
    candidates: int
    snapped: int
    total_weight: float
    base_weight: float
    users: siting.Users = field(default_factory=siting.Users)
    capacity: float | None = None
    capacity_unit: str | None = None
    capacity_users: float | None = None
    min_spacing_m: float | None = None
    totals: dict[str, tuple[float, float]] = field(default_factory=dict)
    maximal: Plan | None = None
    covering: Plan | None = None
    target: float | None = None
    k: int | None = None
    notes: list[str] = field(default_factory=list)


def site(
    s: Session,
    *,
    type_code: str,
    k: int | None = 3,
    target: float | None = None,
    candidates: str | pd.DataFrame = "intersections",
    spacing_m: float | None = None,
    weight: str = "users",
    capacity: float | None = None,
    min_spacing_m: float | None = None,
    candidate_types: list[str] | None = None,
    one_per_community: bool = False,
    solver: str = "auto",
    max_exact: int = siting.DEFAULT_MAX_EXACT,
    time_limit_s: float = siting.DEFAULT_TIME_LIMIT_S,
    progress: Callable[[str], None] | None = None,
) -> SitingResult:
    """Propose up to ``k`` sites (MCLP) and/or the fewest sites reaching ``target`` (share 0..1 of
    the type's users, existing coverage included; LSCP) for ``type_code``.

    ``candidates``: one of ``CANDIDATE_KINDS``, or a frame of points (``lon``/``lat`` WGS84 or
    point geometry; optional ``name``, ``capacity``) or of parcel polygons (GeoDataFrame).
    ``spacing_m``: thinning of street candidates (metres; default ``DEFAULT_SPACING_M``; 0 keeps
    every intersection).
    ``capacity``: capacity of each new site in the type's unit (default: the type's
    ``new_site_capacity``; a candidate's own ``capacity`` column wins); types without a capacity
    basis are never capacity-bound. ``min_spacing_m``: least distance between new sites (metres).
    ``candidate_types``: with ``"facilities"``, only open facilities of these types.
    ``one_per_community``: new sites only in communities without an open facility of the type
    inside their boundary, at most one in each (the presence measure, 设施覆盖社区比例); the plans
    then also count such communities before → after.
    ``progress(label)`` is called after each step (CLI bars).
    """
    step = progress or (lambda label: None)
    if k is None and target is None:
        raise SitingError("give k (number of new sites) and/or target (coverage share 0..1 to reach)")
    inputs = runs.read_inputs(s)
    prepared = runs.prepared_for(inputs)
    base = runs.compute(
        inputs,
        types=[_known_type(inputs, type_code)],
        with_gaps=candidates in ("gaps", "intersections") if isinstance(candidates, str) else False,
    )
    step("现状覆盖 current coverage")
    users, unit, per_site = type_capacity(inputs, type_code, capacity, weight)
    cand, source = _candidates(prepared, inputs, type_code, candidates, base.gaps, spacing_m, candidate_types)
    communities = _presence(s, inputs, type_code) if one_per_community else None
    if communities is not None:
        cand = _in_communities_without(cand, communities)
    step("候选点 candidates")
    matrix = siting.coverage_matrix(
        prepared,
        inputs.facility_types,
        type_code,
        cand,
        existing=base.per_residence,
        weight=weight,
        users=users,
    )
    step("覆盖矩阵 coverage matrix")
    names = dict(zip(inputs.facility_types.code, inputs.facility_types.name_zh, strict=True))
    out = SitingResult(
        type_code,
        names[type_code],
        weight,
        source,
        len(cand),
        int(matrix.candidates.snapped.sum()),
        matrix.total_weight,
        matrix.base_weight,
        users=users,
        capacity=per_site,
        capacity_unit=unit,
        capacity_users=None if per_site is None else per_site * float(users.per_unit or 1.0),
        min_spacing_m=min_spacing_m,
        totals=matrix.totals or {},
        target=target,
        k=k,
    )
    caps = _site_capacities(matrix, per_site, users)
    options = {
        "capacity": caps,
        "min_spacing_m": min_spacing_m,
        "solver": solver,
        "max_exact": max_exact,
        "time_limit_s": time_limit_s,
        "one_per": None if communities is None else matrix.candidates.community_id.to_numpy(np.int64),
    }
    if k is not None:
        out.maximal = _plan(
            s, prepared, matrix, siting.maximal_covering(matrix, int(k), **options), source, users
        )
        step("最大覆盖 maximal covering")
    if target is not None:
        out.covering = _plan(
            s, prepared, matrix, siting.set_covering(matrix, float(target), **options), source, users
        )
        step("集合覆盖 set covering")
    if communities is not None:
        for plan in (out.maximal, out.covering):
            if plan is not None:
                after = _presence(s, inputs, type_code, new_sites=plan.sites)
                plan.after["communities"] = presence_before_after(communities, after)
    return out


def _presence(s: Session, inputs: runs.Inputs, type_code: str, new_sites: pd.DataFrame | None = None):
    """The communities where ``type_code`` applies, with their polygon, ``urban`` and ``present``: the
    presence measure (``pipeline.coverage.presence_rows``: a facility inside, or a service-area
    rule), now or with ``new_sites`` (``lon``, ``lat``) opened."""
    if new_sites is not None and len(new_sites):
        extra = pd.DataFrame(
            {
                "facility_id": -1 - np.arange(len(new_sites)),
                "type_code": type_code,
                "name": "拟建",
                "lon": new_sites.lon.to_numpy(float),
                "lat": new_sites.lat.to_numpy(float),
                "status": "open",
            }
        )
        inputs = dataclasses.replace(
            inputs, facilities=pd.concat([inputs.facilities, extra], ignore_index=True)
        )
    rows = runs.presence_rows(s, inputs)
    rows = rows[rows.type_code == type_code][["area_id", "present"]]
    comm = queries.areas(s, levels=("community",))[["area_id", "urban", "geometry"]]
    return comm.merge(rows, on="area_id", how="inner")


def _in_communities_without(cand: pd.DataFrame, communities: gpd.GeoDataFrame) -> pd.DataFrame:
    """The candidates inside a community without the type (``_presence``), with its
    ``community_id`` (the lowest area id when on a shared boundary)."""
    lacking = communities[~communities.present.astype(bool)].reset_index(drop=True)
    points = shapely.points(cand.lon.to_numpy(float), cand.lat.to_numpy(float))
    point, area = shapely.STRtree(lacking.geometry.to_numpy()).query(points, predicate="intersects")
    hits = pd.DataFrame({"point": point, "area_id": lacking.area_id.to_numpy()[area]})
    first = hits.sort_values(["point", "area_id"]).drop_duplicates("point")
    out = (
        cand.iloc[first.point.to_numpy()].assign(community_id=first.area_id.to_numpy()).reset_index(drop=True)
    )
    if out.empty:
        raise SitingError(
            "no candidate lies in a community without this type of facility: every community has one, "
            "or choose other candidates"
        )
    return out


def presence_before_after(before: pd.DataFrame, after: pd.DataFrame) -> dict[str, Any]:
    """Communities that have the type (``_presence`` frames now and with the new sites), urban and
    rural apart: ``{urban: {total, before, after, share_before, share_after}, rural: …}``."""
    now = before.set_index("area_id")
    then = after.set_index("area_id").present.reindex(now.index, fill_value=False).astype(bool)
    out = {}
    for key, mask in (("urban", now.urban.astype(bool)), ("rural", ~now.urban.astype(bool))):
        out[key] = _before_after(
            int(mask.sum()), int((now.present.astype(bool) & mask).sum()), int((then & mask).sum())
        )
    return out


def type_capacity(
    inputs: runs.Inputs, type_code: str, capacity: float | None, weight: str
) -> tuple[siting.Users, str | None, float | None]:
    """The type's users, its capacity unit and the capacity of a new site (units; None: uncapacitated).

    The default capacity is ``new_site_capacity`` of data/facility_types.csv; a type without a
    capacity basis, or siting for a weight other than its users, has none.
    """
    basis = capacity_basis(inputs.facility_types)
    users = siting.users_of(basis.capacity_basis.get(type_code), basis.basis_per_unit.get(type_code))
    table = pd.read_csv(inputs.config.facility_types_csv, dtype={"code": str}).set_index("code")
    unit = _text(table.capacity_unit.get(type_code)) if "capacity_unit" in table else None
    if users.per_unit is None or weight != "users":
        if capacity is not None:
            raise SitingError(
                f"facility type {type_code!r} has no capacity basis for weight {weight!r}: leave out "
                "the capacity, or site for its users (weight 'users') when data/facility_types.csv "
                "gives capacity_basis and basis_per_unit"
            )
        return users, unit, None
    if capacity is None and "new_site_capacity" in table:
        default = pd.to_numeric(pd.Series([table.new_site_capacity.get(type_code)]), errors="coerce").iloc[0]
        capacity = float(default) if np.isfinite(default) and default > 0 else None
    return users, unit, capacity


def _site_capacities(matrix: siting.CoverageMatrix, per_site: float | None, users: siting.Users):
    """Users each candidate could serve: its own ``capacity`` column, else ``per_site`` (units × users
    per unit); None: uncapacitated."""
    if per_site is None:
        return None
    per_unit = float(users.per_unit or 1.0)
    own = pd.to_numeric(
        matrix.candidates.get("capacity", pd.Series(np.nan, index=matrix.candidates.index)), errors="coerce"
    ).to_numpy(float)
    return np.where(np.isfinite(own) & (own > 0), own, per_site) * per_unit


def check_inside_district(s: Session, points: pd.DataFrame, *, what: str) -> None:
    """Raise ``SitingError`` (422) naming the points (``lon``/``lat``, WGS84) outside the district."""
    outside = planning.outside_district(s, points["lon"].tolist(), points["lat"].tolist())
    if outside:
        shown = "; ".join(f"#{i + 1} ({points.lon.iat[i]:.6f}, {points.lat.iat[i]:.6f})" for i in outside[:5])
        more = f" and {len(outside) - 5} more" if len(outside) > 5 else ""
        raise SitingError(
            f"{len(outside)} {what}(s) lie outside the district: {shown}{more}; give WGS84 "
            "longitude, latitude (lon first) of places inside the district, or name the file's "
            "coordinate system (crs: gcj02, bd09, cgcs2000, epsg:NNNN)"
        )


def _known_type(inputs: runs.Inputs, type_code: str) -> str:
    tiered = sorted(set(service_tiers(inputs.facility_types).type_code))
    if type_code not in tiered:
        raise SitingError(
            f"facility type {type_code!r} has no service circle to site for: use one of {tiered}"
        )
    return type_code


def _candidates(
    prepared: Prepared,
    inputs: runs.Inputs,
    type_code: str,
    candidates: str | pd.DataFrame,
    gaps: gpd.GeoDataFrame,
    spacing_m: float | None,
    candidate_types: list[str] | None,
) -> tuple[pd.DataFrame, str]:
    """The candidate frame and its source label."""
    network = prepared.network(_main_profile(inputs, type_code))
    if isinstance(candidates, str):
        own = gaps[gaps.type_code == type_code] if len(gaps) else gaps
        spacing = DEFAULT_SPACING_M.get(candidates) if spacing_m is None else spacing_m
        if candidates == "intersections":
            frame = siting.intersection_candidates(network, own, spacing_m=spacing or None)
        elif candidates == "gaps":
            frame = siting.gap_candidates(network, own, spacing_m=spacing or DEFAULT_SPACING_M["gaps"])
        elif candidates == "facilities":
            frame = colocation_candidates(inputs, type_code, candidate_types)
        else:
            raise SitingError(
                f"candidates {candidates!r} unknown: use one of {CANDIDATE_KINDS}, points or parcels"
            )
        source = candidates
    elif _polygonal(candidates):
        frame, source = (
            siting.parcel_candidates(candidates, network=network, max_distance_m=prepared.max_distance_m),
            "parcels",
        )
    else:
        frame, source = siting.point_candidates(candidates), "points"
        if "capacity" in candidates:
            frame["capacity"] = pd.to_numeric(candidates["capacity"], errors="coerce").to_numpy(float)
    if len(frame) > MAX_CANDIDATES:
        raise SitingError(
            f"{len(frame)} candidates are more than {MAX_CANDIDATES}: raise spacing_m or send fewer"
        )
    if len(frame) == 0:
        raise SitingError(
            f"no candidate sites ({source}): choose other candidates (intersections, gaps, "
            "facilities, points or parcels), or lower spacing_m"
        )
    return frame, source


def colocation_candidates(
    inputs: runs.Inputs, type_code: str, types: list[str] | None = None
) -> pd.DataFrame:
    """Open facilities of other types (optionally only ``types``) as candidate sites, one per place
    (co-location in an existing public building): ``candidate_id`` = the facility id, ``name`` =
    "与<facility>同址"."""
    fac = inputs.facilities
    fac = fac[(fac.status == "open") & (fac.type_code != type_code)]
    if types:
        unknown = sorted(set(types) - set(inputs.facility_types.code))
        if unknown:
            raise SitingError(
                f"facility types {unknown} unknown: candidate_types must be facility type codes"
            )
        fac = fac[fac.type_code.isin(types)]
    fac = fac.sort_values("facility_id").drop_duplicates(["lon", "lat"])
    frame = pd.DataFrame(
        {
            "candidate_id": fac.facility_id.to_numpy(np.int64),
            "lon": fac.lon.to_numpy(float),
            "lat": fac.lat.to_numpy(float),
            "name": [f"与{n}同址" for n in fac.name],
        }
    )
    return siting.point_candidates(frame, source="facility")


def _main_profile(inputs: runs.Inputs, type_code: str) -> str:
    """The profile of the type's urban tier (else rural): its streets give the gap candidates."""
    tiers = service_tiers(inputs.facility_types)
    return str(tiers[tiers.type_code == type_code].sort_values("circle", ascending=False).profile.iloc[0])


def _polygonal(frame: pd.DataFrame) -> bool:
    if not isinstance(frame, gpd.GeoDataFrame) or len(frame) == 0:
        return False
    return bool(shapely.get_dimensions(frame.geometry.to_numpy()).max() == 2)


def _plan(
    s: Session,
    prepared: Prepared,
    matrix: siting.CoverageMatrix,
    solution: siting.Solution,
    source: str,
    users: siting.Users,
) -> Plan:
    sites = siting.service_areas(prepared, matrix, siting.proposals(matrix, solution))
    sites["max_time_min"] = sites.max_time_s.astype(float) / 60.0
    names = labels.place_labels(s, sites.lon.to_numpy(float), sites.lat.to_numpy(float))
    for column in ("town", "community", "road"):
        sites[column] = names[column].to_numpy(object)
    sites["place"] = names.label.to_numpy(object)
    if source in ("intersections", "gaps"):  # generated candidates are named by where they lie
        sites["name"] = [p or n for p, n in zip(sites.place, sites.name, strict=True)]
    per_unit = float(users.per_unit or 1.0)
    sites["capacity"] = sites.capacity_users / per_unit
    share = (
        (matrix.base_weight + solution.value) / matrix.total_weight if matrix.total_weight else float("nan")
    )
    extra = ["community_id"] if "community_id" in sites else []
    return Plan(
        solution, sites[[*SITE_COLUMNS, *extra, "geometry"]], float(share), _after(matrix, solution, sites)
    )


def _after(matrix: siting.CoverageMatrix, solution: siting.Solution, sites: pd.DataFrame) -> dict[str, Any]:
    """Before → after for the type: its users served and residents within reach (network time)."""
    totals = matrix.totals or {}
    users_total, users_before = totals.get("users", (matrix.total_weight, matrix.base_weight))
    pop_total, pop_before = totals.get("population", (float("nan"), float("nan")))
    users_after = users_before + float(sites.users_served.sum())
    pop_after = pop_before + float(sites.population_gained.sum())
    return {
        "users": _before_after(users_total, users_before, users_after),
        "residents": _before_after(pop_total, pop_before, pop_after),
    }


def _before_after(total: float, before: float, after: float) -> dict[str, Any]:
    return {
        "total": round(total, 1),
        "before": round(before, 1),
        "after": round(after, 1),
        "share_before": _share(before, total),
        "share_after": _share(after, total),
    }


CSV_CRS_HINT = "wgs84, cgcs2000, gcj02 (高德/腾讯), bd09 (百度) or epsg:NNNN"


def read_candidates(path: Path, *, crs: str = "wgs84") -> gpd.GeoDataFrame:
    """Candidate points or parcel polygons from a planner's file: CSV/XLSX with longitude and latitude
    columns (经度/纬度, lon/lat, x/y as for facility imports; optional 名称/name and 容量/capacity)
    or a GeoJSON/GeoPackage/zipped shapefile of points or polygons, in ``crs`` (a file's declared
    CRS wins, except GCJ-02/BD-09 data, which such files declare as WGS84); returned in WGS84."""

    report = ImportReport(layer="siting candidates", path=Path(path).name)
    try:
        source = read_source(Path(path), report, crs=crs)
    except Exception as e:  # the reader stops on a file it cannot read, with the problem in the report
        if not report.problems:
            raise
        raise SitingError(_problem(path, report)) from e
    table = map_columns(source.frame, "facilities", report, None)
    rows = pd.DataFrame(index=range(len(table)))
    rows["name"] = table["name"].astype(str).str.strip().replace("", np.nan) if "name" in table else np.nan
    if "capacity" in table:
        rows["capacity"] = pd.to_numeric(table["capacity"].astype(str).str.replace(",", ""), errors="coerce")
    if source.geometry is not None:
        geoms = source.geometry.to_numpy()
        if len(geoms) and shapely.get_dimensions(geoms).max() == 1:
            raise SitingError(f"{Path(path).name} holds lines: give candidate points or parcel polygons")
        frame = gpd.GeoDataFrame(rows, geometry=list(geoms), crs=4326)
        if source.crs != "wgs84":
            frame["geometry"] = [
                shapely.transform(g, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], crs=source.crs)))
                for g in frame.geometry
            ]
        frame = frame.explode(index_parts=False).reset_index(drop=True)
        if frame.empty:
            raise SitingError(
                f"{Path(path).name} holds no geometry: give candidate points or parcel polygons"
            )
        if "name" in frame and frame["name"].isna().all():
            frame = frame.drop(columns="name")
        return frame
    if "lon" not in table or "lat" not in table:
        raise SitingError(
            f"{Path(path).name} has no longitude/latitude columns: name them 经度 and 纬度 (or lon, lat)"
        )
    x = pd.to_numeric(table["lon"].astype(str).str.strip(), errors="coerce").to_numpy(float)
    y = pd.to_numeric(table["lat"].astype(str).str.strip(), errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(x) | ~np.isfinite(y))
    if len(bad):
        raise SitingError(
            f"{Path(path).name}: row(s) {', '.join(str(int(r)) for r in source.row[bad][:5])} have no "
            "readable longitude/latitude: write plain numbers, e.g. 113.26, 23.13"
        )
    lon, lat = to_wgs84(x, y, crs=source.crs)
    out = gpd.GeoDataFrame(rows, geometry=shapely.points(lon, lat), crs=4326)
    return out.drop(columns="name") if out["name"].isna().all() else out


def _problem(path: Path, report) -> str:
    first = report.problems[0]
    return f"{Path(path).name}: {first['problem']} — {first['fix']}"


def read_candidate_text(content: str, *, fmt: str, crs: str = "wgs84") -> gpd.GeoDataFrame:
    """``read_candidates`` of a file's text (an upload in a JSON request): ``fmt`` csv or geojson."""
    if fmt not in ("csv", "geojson"):
        raise SitingError(f"format {fmt!r} unknown: upload a csv or geojson file")
    with tempfile.TemporaryDirectory(prefix="minqing-siting-") as tmp:
        path = Path(tmp) / f"candidates.{fmt}"
        path.write_text(content, encoding="utf-8")
        return read_candidates(path, crs=crs)


# --- shaping ------------------------------------------------------------------------------------


def summary(result: SitingResult) -> dict[str, Any]:
    """JSON-ready figures of a result (sites without geometry)."""
    users = result.users
    out = {
        "type_code": result.type_code,
        "type_name": result.type_name,
        "weight": result.weight,
        "users": {
            "measure": users.measure,
            "label": users.label,
            "band": round(users.band, 6),
            "per_unit": users.per_unit,
        },
        "capacity": {
            "per_site": result.capacity,
            "unit": result.capacity_unit,
            "users_per_site": result.capacity_users,
            "min_spacing_m": result.min_spacing_m,
        },
        "candidates": {
            "source": result.candidate_source,
            "count": result.candidates,
            "snapped": result.snapped,
        },
        "current": {
            "total": result.total_weight,
            "covered": result.base_weight,
            "share": _share(result.base_weight, result.total_weight),
        },
    }
    if result.maximal is not None:
        out["maximal_covering"] = {"k": result.k, **_plan_summary(result.maximal)}
    if result.covering is not None:
        out["set_covering"] = {
            "target": result.target,
            "feasible": result.covering.solution.feasible,
            "sites_needed": len(result.covering.solution.chosen),
            **_plan_summary(result.covering),
        }
    return out


def _plan_summary(plan: Plan) -> dict[str, Any]:
    sol = plan.solution
    sites = plan.sites.drop(columns="geometry")
    return {
        "gained": sol.value,
        "bound": sol.bound,
        "gap": round(sol.gap, 6),
        "method": sol.method,
        "size": sol.size,
        "share_after": round(plan.share_after, 6),
        **plan.after,
        "sites": json.loads(sites.to_json(orient="records", force_ascii=False)),
    }


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole and np.isfinite(whole) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def sites_geojson(plan: Plan) -> dict[str, Any]:
    """A plan's sites as a GeoJSON FeatureCollection of service areas (site point in properties)."""
    sites = plan.sites.copy()
    sites["geometry"] = shapely.set_precision(sites.geometry.to_numpy(), 1e-6)
    return json.loads(sites.to_json(drop_id=True, ensure_ascii=False, na="null"))


def nan_to_none(value: Any) -> Any:
    """Recursively replace NaN floats by None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nan_to_none(v) for v in value]
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    return value


# --- saving a result as a scenario ----------------------------------------------------------------


def scenario_changes(result: dict[str, Any], plan: str = "maximal_covering") -> list[dict[str, Any]]:
    """The ``add`` changes of a result's plan (a ``summary`` or a siting job's result): one new
    facility of the type per proposed site, named by the site and with its capacity."""
    if plan not in PLANS:
        raise SitingError(f"plan {plan!r} unknown: use one of {sorted(PLANS)}")
    found = result.get(plan)
    if not found:
        raise SitingError(
            f"this siting result has no {plan}: ask for it (k for maximal_covering, target for "
            "set_covering) or save the other plan"
        )
    sites = found["sites"]
    rows = [f["properties"] for f in sites["features"]] if isinstance(sites, dict) else list(sites)
    if not rows:
        raise SitingError(f"the {plan} of this result proposes no site: nothing to save")
    changes = []
    for r in rows:
        change = {
            "op": "add",
            "type_code": result["type_code"],
            "lon": round(float(r["lon"]), 7),
            "lat": round(float(r["lat"]), 7),
            "name": _site_name(result, r),
        }
        if r.get("capacity") is not None and np.isfinite(float(r["capacity"])):
            change["capacity"] = round(float(r["capacity"]), 2)
        changes.append(change)
    return changes


def _site_name(result: dict[str, Any], site_row: dict[str, Any]) -> str:
    """ "拟建日间照料中心（鹭田镇 西关社区 兴业路以南）" — the type and where the site lies."""
    where = site_row.get("place") or site_row.get("name") or f"{site_row['lon']:.5f}, {site_row['lat']:.5f}"
    return f"拟建{result['type_name']}（{where}）"[:200]


def save_scenario(
    s: Session,
    result: dict[str, Any],
    *,
    plan: str = "maximal_covering",
    name: str | None = None,
    description: str | None = None,
    evaluate: bool = False,
    actor: str | None = None,
) -> dict[str, Any]:
    """Save a siting result's plan as a what-if scenario (``pipeline.scenarios``); its row."""

    changes = scenario_changes(result, plan)
    label = "最大覆盖" if plan == "maximal_covering" else "达标最少设施"
    name = name or f"选址：新增{len(changes)}处{result['type_name']}（{label}）"
    row = scenarios.create(s, name=name[:120], description=description, changes=changes, actor=actor)
    if evaluate:
        # evaluate() defaults actor to "system"; passing None on as before keeps the audit trail as it is
        row = scenarios.evaluate(s, row["scenario_id"], actor=actor)  # type: ignore[arg-type]
    return row


# --- a siting request, as the API takes it and the task queue runs it -----------------------------


def request_candidates(s: Session, c: Any) -> str | pd.DataFrame:
    """The candidate sites a siting request names: ``c`` is its ``candidates`` (``kind`` and that kind's
    fields: ``points`` + ``crs``, ``content`` + ``format`` + ``crs``, ``parcels``, ``types``), checked
    against the district. Raises ``SitingError`` (or the unknown-type error) naming the problem."""

    for code in getattr(c, "types", None) or []:
        known_types(s, code)
    if c.kind in CANDIDATE_KINDS:
        return c.kind
    if c.kind == "points":
        lon, lat = zip(*c.points, strict=True)
        points = pd.DataFrame({"lon": lon, "lat": lat})
        if c.crs != "wgs84":
            points["lon"], points["lat"] = to_wgs84(points.lon.to_numpy(), points.lat.to_numpy(), crs=c.crs)
        check_inside_district(s, points, what="candidate point")
        return points
    if c.kind == "upload":
        frame = read_candidate_text(c.content, fmt=c.format, crs=c.crs)
        points = frame.geometry.representative_point()
        check_inside_district(s, pd.DataFrame({"lon": points.x, "lat": points.y}), what="uploaded candidate")
        return frame
    try:
        parcels = gpd.GeoDataFrame.from_features(c.parcels, crs=4326)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise SitingError(f"parcels are not a GeoJSON FeatureCollection of polygons ({e})") from None
    if parcels.empty or not parcels.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        raise SitingError("parcels must be a non-empty GeoJSON FeatureCollection of (Multi)Polygons")
    return parcels


def run_request(s: Session, params: dict[str, Any]) -> dict[str, Any]:
    """Run one siting request (``params``: a validated ``POST /siting`` body as JSON, every field
    present); the result JSON a siting job stores."""
    c = SimpleNamespace(**params["candidates"])
    result = site(
        s,
        type_code=params["type_code"],
        k=params["k"],
        target=params["target"],
        candidates=request_candidates(s, c),
        spacing_m=getattr(c, "spacing_m", None),
        weight=params["weight"],
        capacity=params["capacity"],
        min_spacing_m=params["min_spacing_m"],
        candidate_types=getattr(c, "types", None),
        one_per_community=params["one_per_community"],
        solver=params["solver"],
        max_exact=params["max_exact"],
        time_limit_s=params["time_limit_s"],
    )
    out = summary(result)
    for key, plan in (("maximal_covering", result.maximal), ("set_covering", result.covering)):
        if plan is not None:
            out[key]["sites"] = sites_geojson(plan)
    return nan_to_none(out)
