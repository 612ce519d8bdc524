"""Coverage runs: read the layers, compute with ``geo.coverage``, store the results.

One function serves the CLI (``minqing coverage run``), the API (``POST /coverage/runs``) and the
planner tools (scenarios). A run after an edit of a few facilities recomputes only the facility
types those edits touch: every run stores a fingerprint of the facilities of each type, and the
rows of unchanged types are copied from the previous run inside the database.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

import data
from geo.coverage import CAPACITY_COLUMNS, CoverageResult, Prepared, prepare, run_coverage, service_tiers
from geo.profiles import Profile, load_profiles
from layers import queries, store

DATA_DIR = Path(data.__file__).parent
PROFILES_CSV = DATA_DIR / "profiles.csv"
TARGETS_CSV = DATA_DIR / "targets.csv"
FACILITY_TYPES_CSV = DATA_DIR / "facility_types.csv"
BASE_LAYERS = ("areas", "residences", "network_nodes", "network_edges", "facility_types")


@dataclass
class Inputs:
    """Everything a coverage computation reads, as frames of docs/CONTRACTS.md."""

    nodes: pd.DataFrame
    edges: pd.DataFrame
    facilities: pd.DataFrame
    residences: pd.DataFrame
    areas: pd.DataFrame
    facility_types: pd.DataFrame
    profiles: dict[str, Profile]
    versions: dict[str, int] = field(default_factory=dict)

    def base_key(self) -> tuple:
        return tuple(self.versions.get(k, 0) for k in BASE_LAYERS)


def read_inputs(s: Session, *, statuses: tuple[str, ...] = ("open", "planned", "closed")) -> Inputs:
    return Inputs(
        nodes=queries.nodes(s), edges=queries.edges(s), facilities=queries.facilities(s, statuses=statuses),
        residences=queries.residences(s), areas=_areas(s),
        facility_types=with_capacity_basis(queries.facility_types(s)), profiles=load_profiles(PROFILES_CSV),
        versions=queries.data_versions(s),
    )


def _areas(s: Session) -> pd.DataFrame:
    """The area tree; large grids with their polygons (they collect the residences inside them)."""
    areas = queries.areas(s, with_geometry=False)
    large = queries.areas(s, levels=("grid_large",))
    return areas.assign(geometry=areas.area_id.map(dict(zip(large.area_id, large.geometry, strict=True))))


def with_capacity_basis(facility_types: pd.DataFrame, path: Path = FACILITY_TYPES_CSV) -> pd.DataFrame:
    """The stored facility types with what a unit of capacity serves, from the editable table
    (``capacity_unit``, ``capacity_basis``, ``basis_per_unit`` of data/facility_types.csv)."""
    cols = ["capacity_unit", *CAPACITY_COLUMNS]
    table = pd.read_csv(path, dtype={"code": str})
    table = table[["code", *[c for c in cols if c in table.columns]]]
    out = facility_types.drop(columns=[c for c in cols if c in facility_types.columns])
    return out.merge(table, on="code", how="left")


_PREPARED: dict[tuple, Prepared] = {}


def prepared_for(inputs: Inputs) -> Prepared:
    """Networks and residence snaps, cached in this process per version of the base layers."""
    key = inputs.base_key()
    if key not in _PREPARED:
        _PREPARED.clear()
        _PREPARED[key] = prepare(inputs.nodes, inputs.edges, inputs.residences, inputs.areas, inputs.profiles,
                                 facility_types=inputs.facility_types)
    return _PREPARED[key]


def fingerprints(facilities: pd.DataFrame, *, statuses: tuple[str, ...] = ("open",)) -> dict[str, str]:
    """A hash of each type's counted facilities (id, position, status, capacity)."""
    fac = facilities[facilities.status.isin(statuses)].sort_values("facility_id")
    out = {}
    for code, group in fac.groupby("type_code", sort=True):
        rows = group[["facility_id", "lon", "lat", "capacity"]].to_csv(index=False, float_format="%.9f")
        out[str(code)] = hashlib.sha1(rows.encode()).hexdigest()[:16]
    return out


def changed_types(old: dict[str, str], new: dict[str, str]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


# --- result shaping ------------------------------------------------------------------------


def area_rows(result: CoverageResult) -> pd.DataFrame:
    """``coverage_area`` rows from ``result.per_area``."""
    pa = result.per_area
    out = pd.DataFrame({"area_id": pa.area_id, "type_code": pa.type_code, "applicable": True})
    for m in ("households", "population", "elderly", "children"):
        out[m] = pa[m]
        out[f"{m}_covered"] = pa[f"{m}_covered"]
    out["share"] = pa["population_share"]
    for m in ("households", "population"):  # results built from estimates say so (issue #8.1)
        out[f"{m}_estimated"] = pa[f"{m}_estimated"] if f"{m}_estimated" in pa else 0
    return out


def residence_rows(result: CoverageResult) -> pd.DataFrame:
    pr = result.per_residence
    return pd.DataFrame({
        "residence_id": pr.residence_id, "type_code": pr.type_code,
        "time_s": pr.time_s.where(np.isfinite(pr.time_s)), "facility_id": pr.facility_id,
        "covered": pr.covered.astype(bool),
    })


def facility_rows(result: CoverageResult) -> pd.DataFrame:
    pf = result.per_facility
    return pd.DataFrame({
        "facility_id": pf.facility_id, "type_code": pf.type_code,
        "catchment_population": pf.catchment_population, "catchment_households": pf.catchment_households,
        "covered_population": pf.catchment_population, "capacity": pf.capacity, "load": pf.load,
    })


def gap_rows(result: CoverageResult) -> pd.DataFrame:
    g = result.gaps.rename(columns={"gap_rank": "rank", "points": "residences"})
    return g[["type_code", "rank", "households", "population", "elderly", "children", "residences", "geometry"]]


# --- targets -------------------------------------------------------------------------------


def read_targets(path: Path = TARGETS_CSV) -> pd.DataFrame:
    return pd.read_csv(path)


def evaluate_targets(per_area: pd.DataFrame, areas: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """Pass/fail of each target row at district level.

    ``community_share``: the share of communities (of the target's circle) where at least
    ``community_min_share`` of residents are covered. ``population_share``: the share of residents
    of that circle covered (for ``type_code`` '*': every type with a tier in that circle, the
    worst type decides).
    """
    comm = areas[areas.level == "community"][["area_id", "urban"]]
    rows = []
    for t in targets.to_dict("records"):
        circles = {"urban": [True], "rural": [False], "both": [True, False]}[t["circle"]]
        in_circle = comm[comm.urban.isin(circles)].area_id
        types = sorted(per_area.type_code.unique()) if t["type_code"] == "*" else [t["type_code"]]
        values = []
        for code in types:
            pa = per_area[(per_area.type_code == code) & per_area.area_id.isin(in_circle)]
            if pa.empty:
                continue
            if t["measure"] == "community_share":
                reached = (pa.population_covered >= float(t["community_min_share"]) * pa.population).sum()
                values.append(reached / len(in_circle))
            else:
                values.append(pa.population_covered.sum() / max(pa.population.sum(), 1))
        value = min(values) if values else None
        rows.append({**t, "value": value, "pass": value is not None and value >= float(t["threshold"])})
    return pd.DataFrame(rows)


def summarise(pa: pd.DataFrame, inputs: Inputs, *, seconds: float, recomputed: list[str],
              gaps: int) -> dict[str, Any]:
    """A run's headline figures: district share per type, targets pass/fail."""
    district = inputs.areas[inputs.areas.level == "district"].area_id
    top = pa[pa.area_id.isin(district)]
    by_type = {
        r.type_code: {"population": int(r.population), "population_covered": int(r.population_covered),
                      "share": None if pd.isna(r.population_share) else round(float(r.population_share), 4),
                      "elderly_share": None if pd.isna(r.elderly_share) else round(float(r.elderly_share), 4)}
        for r in top.itertuples()
    }
    targets = evaluate_targets(pa, inputs.areas, read_targets())
    return {
        "seconds": round(seconds, 3), "recomputed_types": recomputed, "types": by_type,
        "residences": int(len(inputs.residences)), "facilities": int((inputs.facilities.status == "open").sum()),
        "gaps": gaps,
        "targets": [{"code": r["code"], "label_zh": r["label_zh"], "value": None if pd.isna(r["value"]) else float(r["value"]), "threshold": r["threshold"],
                     "pass": bool(r["pass"])} for r in targets.to_dict("records")],
    }


# --- runs --------------------------------------------------------------------------------------


def compute(inputs: Inputs, *, types: list[str] | None = None, statuses: tuple[str, ...] = ("open",),
            with_gaps: bool = True) -> CoverageResult:
    """Coverage of ``types`` (default all) on the cached prepared networks."""
    return run_coverage(None, None, inputs.facilities, None, None, inputs.facility_types, inputs.profiles,
                        types=types, prepared=prepared_for(inputs), statuses=statuses, with_gaps=with_gaps)


def _previous(s: Session, inputs: Inputs) -> dict[str, Any] | None:
    last = store.latest_run(s)
    if not last:
        return None
    then = last["data_version"] or {}
    if any(then.get(k, 0) != inputs.versions.get(k, 0) for k in BASE_LAYERS):
        return None
    return last


def run_and_store(s: Session, *, types: list[str] | None = None, incremental: bool = True,
                  actor: str = "system") -> dict[str, Any]:
    """Compute and store a run in the session's transaction; returns the run row with its summary.

    With ``incremental`` and a previous run on the same base layers, only types whose facilities
    changed are computed; the others' rows are copied from that run.
    """
    t0 = time.perf_counter()
    inputs = read_inputs(s)
    prints = fingerprints(inputs.facilities)
    all_types = sorted(set(service_tiers(inputs.facility_types).type_code))
    wanted = sorted(types) if types else all_types
    previous = _previous(s, inputs) if incremental and types is None else None
    if previous is not None:
        compute_types = changed_types(previous["params"].get("fingerprints", {}), prints)
    else:
        compute_types = wanted
    run_id = store.start_run(s, params={"types": wanted, "fingerprints": prints, "actor": actor,
                                        "incremental_from": previous["run_id"] if previous else None})
    result = compute(inputs, types=compute_types) if compute_types else None
    if previous is not None:
        store.copy_results(s, previous["run_id"], run_id, exclude_types=compute_types)
    if result is not None:
        store.add_results(s, run_id, per_area=area_rows(result), per_residence=residence_rows(result),
                          per_facility=facility_rows(result), gaps=gap_rows(result))
    summary = summarise(_stored_per_area(s, run_id), inputs, seconds=time.perf_counter() - t0,
                        recomputed=compute_types, gaps=store.gap_count(s, run_id))
    store.finish_run(s, run_id, summary=summary)
    return store.run(s, run_id)


def _stored_per_area(s: Session, run_id: int) -> pd.DataFrame:
    """Stored per-area rows with the share columns ``summarise`` reads."""
    pa = store.area_results(s, run_id).rename(columns={"share": "population_share"})
    with np.errstate(invalid="ignore", divide="ignore"):
        pa["elderly_share"] = pa.elderly_covered / pa.elderly.where(pa.elderly > 0)
    return pa
