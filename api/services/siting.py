"""Siting new facilities of one type: read the layers, build candidates, solve with ``geo.siting``.

Shared by ``minqing plan site`` and ``POST /siting``. Existing open facilities stay fixed; the
residents they cover do not count. Candidates: ``"gaps"`` (street nodes in the type's current gap
areas, thinned to ``spacing_m``), user points, or public-land parcels (polygons).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from api.services import coverage as runs
from geo import siting
from geo.coverage import Prepared, service_tiers
from geo.siting import SitingError
from layers import planning

MAX_CANDIDATES = 5000
SITE_COLUMNS = ["rank", "candidate_id", "name", "source", "lon", "lat", "population_gained", "households_gained",
                "elderly_gained", "children_gained", "circle", "max_time_min", "area_kind"]


@dataclass
class Plan:
    """One solved problem: the solution and its sites (GeoDataFrame, service areas EPSG:4326)."""

    solution: siting.Solution
    sites: gpd.GeoDataFrame
    share_after: float


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
    candidates: str | pd.DataFrame = "gaps",
    spacing_m: float = 150.0,
    weight: str = "population",
    solver: str = "auto",
    max_exact: int = siting.DEFAULT_MAX_EXACT,
    time_limit_s: float = siting.DEFAULT_TIME_LIMIT_S,
    progress: Callable[[str], None] | None = None,
) -> SitingResult:
    """Propose up to ``k`` sites (MCLP) and/or the fewest sites reaching ``target`` (share 0..1 of
    the type's applicable residents, existing coverage included; LSCP) for ``type_code``.

    ``candidates``: ``"gaps"``, or a frame of points (``lon``/``lat`` or point geometry) or of
    parcel polygons (GeoDataFrame). ``progress(label)`` is called after each step (CLI bars).
    """
    step = progress or (lambda label: None)
    if k is None and target is None:
        raise SitingError("give k (number of new sites) and/or target (coverage share 0..1 to reach)")
    inputs = runs.read_inputs(s)
    prepared = runs.prepared_for(inputs)
    base = runs.compute(inputs, types=[_known_type(inputs, type_code)], with_gaps=isinstance(candidates, str))
    step("现状覆盖 current coverage")
    cand, source = _candidates(prepared, inputs, type_code, candidates, base.gaps, spacing_m)
    step("候选点 candidates")
    matrix = siting.coverage_matrix(prepared, inputs.facility_types, type_code, cand, existing=base.per_residence,
                                    weight=weight)
    step("覆盖矩阵 coverage matrix")
    names = dict(zip(inputs.facility_types.code, inputs.facility_types.name_zh, strict=True))
    out = SitingResult(type_code, names[type_code], weight, source, len(cand), int(matrix.candidates.snapped.sum()),
                       matrix.total_weight, matrix.base_weight, target=target, k=k)
    options = {"solver": solver, "max_exact": max_exact, "time_limit_s": time_limit_s}
    if k is not None:
        out.maximal = _plan(prepared, matrix, siting.maximal_covering(matrix, int(k), **options))
        step("最大覆盖 maximal covering")
    if target is not None:
        out.covering = _plan(prepared, matrix, siting.set_covering(matrix, float(target), **options))
        step("集合覆盖 set covering")
    return out


def check_inside_district(s: Session, points: pd.DataFrame, *, what: str) -> None:
    """Raise ``SitingError`` (422) naming the points (``lon``/``lat``, WGS84) outside the district."""
    outside = planning.outside_district(s, points["lon"].tolist(), points["lat"].tolist())
    if outside:
        shown = "; ".join(f"#{i + 1} ({points.lon.iat[i]:.6f}, {points.lat.iat[i]:.6f})" for i in outside[:5])
        more = f" and {len(outside) - 5} more" if len(outside) > 5 else ""
        raise SitingError(f"{len(outside)} {what}(s) lie outside the district: {shown}{more}; give WGS84 "
                          "longitude, latitude (lon first) of places inside the district")


def _known_type(inputs: runs.Inputs, type_code: str) -> str:
    tiered = sorted(set(service_tiers(inputs.facility_types).type_code))
    if type_code not in tiered:
        raise SitingError(f"facility type {type_code!r} has no service circle to site for: use one of {tiered}")
    return type_code


def _candidates(prepared: Prepared, inputs: runs.Inputs, type_code: str, candidates: str | pd.DataFrame,
                gaps: gpd.GeoDataFrame, spacing_m: float) -> tuple[pd.DataFrame, str]:
    """The candidate frame and its source label."""
    network = prepared.network(_main_profile(inputs, type_code))
    if isinstance(candidates, str):
        if candidates != "gaps":
            raise SitingError(f"candidates {candidates!r} unknown: use 'gaps', points or parcels")
        frame, source = siting.gap_candidates(network, gaps[gaps.type_code == type_code], spacing_m=spacing_m), "gaps"
    elif _polygonal(candidates):
        frame, source = siting.parcel_candidates(candidates, network=network,
                                                 max_distance_m=prepared.max_distance_m), "parcels"
    else:
        frame, source = siting.point_candidates(candidates), "points"
    if len(frame) > MAX_CANDIDATES:
        raise SitingError(f"{len(frame)} candidates are more than {MAX_CANDIDATES}: raise spacing_m or send fewer")
    if len(frame) == 0:
        raise SitingError(f"no candidate sites ({source}): send points or parcels, or lower spacing_m")
    return frame, source


def _main_profile(inputs: runs.Inputs, type_code: str) -> str:
    """The profile of the type's urban tier (else rural): its streets give the gap candidates."""
    tiers = service_tiers(inputs.facility_types)
    return str(tiers[tiers.type_code == type_code].sort_values("circle", ascending=False).profile.iloc[0])


def _polygonal(frame: pd.DataFrame) -> bool:
    if not isinstance(frame, gpd.GeoDataFrame) or len(frame) == 0:
        return False
    return bool(shapely.get_dimensions(frame.geometry.to_numpy()).max() == 2)


def _plan(prepared: Prepared, matrix: siting.CoverageMatrix, solution: siting.Solution) -> Plan:
    sites = siting.service_areas(prepared, matrix, siting.proposals(matrix, solution))
    sites["max_time_min"] = sites.max_time_s.astype(float) / 60.0
    share = (matrix.base_weight + solution.value) / matrix.total_weight if matrix.total_weight else float("nan")
    return Plan(solution, sites[[*SITE_COLUMNS, "geometry"]], float(share))


def read_candidates(path: Path) -> gpd.GeoDataFrame:
    """Candidate points or parcel polygons from a GeoJSON/GeoPackage/shapefile (any CRS)."""
    frame = gpd.read_file(path)
    if frame.crs is None:
        frame = frame.set_crs(4326)
    frame = frame.explode(index_parts=False).reset_index(drop=True).to_crs(4326)
    if len(frame) and shapely.get_dimensions(frame.geometry.to_numpy()).max() == 1:
        raise SitingError(f"{path} holds lines: give candidate points or parcel polygons")
    return frame


# --- shaping ------------------------------------------------------------------------------------


def summary(result: SitingResult) -> dict[str, Any]:
    """JSON-ready figures of a result (sites without geometry)."""
    out = {
        "type_code": result.type_code, "type_name": result.type_name, "weight": result.weight,
        "candidates": {"source": result.candidate_source, "count": result.candidates, "snapped": result.snapped},
        "current": {"total": result.total_weight, "covered": result.base_weight,
                    "share": _share(result.base_weight, result.total_weight)},
    }
    if result.maximal is not None:
        out["maximal_covering"] = {"k": result.k, **_plan_summary(result.maximal)}
    if result.covering is not None:
        out["set_covering"] = {"target": result.target, "feasible": result.covering.solution.feasible,
                               "sites_needed": len(result.covering.solution.chosen), **_plan_summary(result.covering)}
    return out


def _plan_summary(plan: Plan) -> dict[str, Any]:
    sol = plan.solution
    sites = plan.sites.drop(columns="geometry")
    return {"gained": sol.value, "bound": sol.bound, "gap": round(sol.gap, 6), "method": sol.method,
            "size": sol.size, "share_after": round(plan.share_after, 6),
            "sites": json.loads(sites.to_json(orient="records", force_ascii=False))}


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole else None


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
