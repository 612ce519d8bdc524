"""What-if scenarios: save a list of facility changes, evaluate it without touching the base layers.

Evaluation applies the changes to the facilities frame read from the layers (``geo.scenario``),
reuses the cached prepared networks and recomputes only the facility types the changes affect
(``geo.coverage.affected_types``), before and after. The result — coverage before/after per
area of every level and the residents newly covered or lost, by area and type (never by
residence) — is stored on the scenario (``scenarios.result``), and the after-state rows as a
coverage run with the scenario's id (so the planner map can show the scenario's areas and gaps).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from geo.coverage import CoverageResult, affected_types, service_tiers
from geo.scenario import ScenarioError, apply_changes, compare, normalise, summary
from layers import audit, planning, queries, store
from layers import scenarios as table
from pipeline import coverage as runs

AREA_COLUMNS = [
    "area_id",
    "code",
    "name",
    "level",
    "type_code",
    "population",
    "population_covered_before",
    "population_covered_after",
    "share_before",
    "share_after",
    "share_delta",
    "population_gained",
    "population_lost",
    "households",
    "households_covered_before",
    "households_covered_after",
    "households_gained",
    "households_lost",
    "elderly",
    "elderly_covered_before",
    "elderly_covered_after",
    "elderly_gained",
    "elderly_lost",
    "children",
    "children_covered_before",
    "children_covered_after",
    "children_gained",
    "children_lost",
]


@dataclass
class Evaluation:
    """A scenario's effect: changed facilities, the change log, affected types, both results."""

    facilities: pd.DataFrame
    log: pd.DataFrame
    types: list[str]
    before: CoverageResult | None
    after: CoverageResult | None
    delta: pd.DataFrame


def check_changes(s: Session, changes: list[dict[str, Any]]) -> pd.DataFrame:
    """Apply ``changes`` to the stored facilities in memory (raises ``ScenarioError``); the log."""
    fac = queries.facilities(s, statuses=("open", "planned", "closed"))
    return apply_changes(fac, changes, type_codes=queries.facility_types(s).code)[1]


def create(
    s: Session,
    *,
    name: str,
    changes: list[dict[str, Any]],
    description: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Validate and save a scenario (changes stored with typed values); returns its row."""
    changes = normalise(changes)
    check_changes(s, changes)
    _check_inside_district(s, changes)
    return table.create(s, name=name, changes=changes, description=description, created_by=actor)


def _check_inside_district(s: Session, changes: list[dict[str, Any]]) -> None:
    """Facilities added or moved must land inside the district (``ScenarioError``, 422, naming them)."""
    placed = [(i, c) for i, c in enumerate(changes, start=1) if c.get("op") in ("add", "move")]
    if not placed:
        return
    outside = planning.outside_district(s, [c["lon"] for _, c in placed], [c["lat"] for _, c in placed])
    if outside:
        named = "; ".join(
            f"change {placed[k][0]} ({placed[k][1]['op']} at {placed[k][1]['lon']}, {placed[k][1]['lat']})"
            for k in outside
        )
        raise ScenarioError(
            f"outside the district: {named}; give WGS84 longitude, latitude (lon first) of a place "
            "inside the district"
        )


def evaluate_changes(inputs: runs.Inputs, changes: list[dict[str, Any]]) -> Evaluation:
    """Before/after coverage of the types ``changes`` affect (pure computation on ``inputs``)."""
    after_fac, log = apply_changes(inputs.facilities, changes, type_codes=inputs.facility_types.code)
    tiered = set(service_tiers(inputs.facility_types).type_code)
    types = [t for t in affected_types(inputs.facilities, after_fac) if t in tiered]
    if not types:
        return Evaluation(after_fac, log, [], None, None, pd.DataFrame(columns=AREA_COLUMNS))
    before = runs.compute(inputs, types=types, with_gaps=False)  # its gaps are neither compared nor stored
    after = runs.compute(dataclasses.replace(inputs, facilities=after_fac), types=types)
    delta = compare(runs.prepared_for(inputs), before, after)
    names = inputs.areas[["area_id", "code", "name"]]
    return Evaluation(after_fac, log, types, before, after, delta.merge(names, on="area_id", how="left"))


def evaluate(s: Session, scenario_id: int, *, actor: str = "system") -> dict[str, Any]:
    """Evaluate a saved scenario, store its result and a scenario coverage run; the scenario row."""
    t0 = time.perf_counter()
    scenario = table.get(s, scenario_id)
    inputs = runs.read_inputs(s)
    ev = evaluate_changes(inputs, scenario["changes"])
    run_id = _store_run(s, scenario_id, ev, actor=actor, seconds=time.perf_counter() - t0)
    result = _result(ev, inputs, run_id=run_id, seconds=time.perf_counter() - t0)
    table.set_result(s, scenario_id, result)
    # the result itself is derived data (not audited row by row): record who evaluated what
    audit.record(
        s,
        actor=actor,
        action="evaluate",
        layer="scenarios",
        object_id=scenario_id,
        after={"run_id": run_id, "types": ev.types, "seconds": result["seconds"]},
    )
    return table.get(s, scenario_id)


def _store_run(s: Session, scenario_id: int, ev: Evaluation, *, actor: str, seconds: float) -> int:
    run_id = store.start_run(
        s, params={"scenario_id": scenario_id, "types": ev.types, "actor": actor}, scenario_id=scenario_id
    )
    if ev.after is not None:
        store.add_results(
            s,
            run_id,
            types=ev.types,
            per_area=runs.area_rows(ev.after),
            per_area_circle=runs.area_circle_rows(ev.after),
            per_residence=runs.residence_rows(ev.after),
            per_facility=runs.facility_rows(ev.after),
            gaps=runs.gap_rows(ev.after),
        )
    store.finish_run(
        s,
        run_id,
        summary={
            "seconds": round(seconds, 3),
            "scenario_id": scenario_id,
            "recomputed_types": ev.types,
            "gaps": store.gap_count(s, run_id),
        },
    )
    return run_id


def _result(ev: Evaluation, inputs: runs.Inputs, *, run_id: int, seconds: float) -> dict[str, Any]:
    """The JSON stored in ``scenarios.result``: summary per type, areas as columns + rows."""
    names = dict(zip(inputs.facility_types.code, inputs.facility_types.name_zh, strict=True))
    top = summary(ev.delta) if len(ev.delta) else ev.delta
    return {
        "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "run_id": run_id,
        "data_version": inputs.versions,
        "types": ev.types,
        "changes": change_places(_records(ev.log), inputs.facilities, ev.facilities),
        "summary": [{**r, "type_name": names.get(r["type_code"])} for r in _records(top[AREA_COLUMNS])],
        "areas": {"columns": AREA_COLUMNS, "rows": _rows(ev.delta[AREA_COLUMNS])},
        "facility_load": facility_load(ev),
    }


LOAD_COLUMNS = [
    "facility_id",
    "name",
    "type_code",
    "capacity_before",
    "capacity_after",
    "catchment_population_before",
    "catchment_population_after",
    "load_before",
    "load_after",
]


def facility_load(ev: Evaluation) -> list[dict[str, Any]]:
    """Catchment and load (catchment of the capacity basis / capacity × per-unit basis; 1.0 = full)
    before and after, of every facility the changes touch — so that a capacity-only scenario, whose
    coverage does not move, still shows its effect."""
    if ev.before is None or ev.after is None or ev.log.empty:
        return []
    cols = ["facility_id", "type_code", "catchment_population", "capacity", "load"]
    both = ev.before.per_facility[cols].merge(
        ev.after.per_facility[cols], on="facility_id", how="outer", suffixes=("_before", "_after")
    )
    both = both[both.facility_id.isin(ev.log.facility_id.dropna())]
    names = ev.facilities.set_index("facility_id").name
    both["name"] = both.facility_id.map(names)
    both["type_code"] = both.type_code_after.fillna(both.type_code_before)
    return _records(both[LOAD_COLUMNS].sort_values("facility_id"))


def change_places(
    log: list[dict[str, Any]], before: pd.DataFrame, after: pd.DataFrame
) -> list[dict[str, Any]]:
    """The change log with what a map needs to mark each change: the facility's ``name``, ``lon``/``lat``
    after the change (degrees), ``from_lon``/``from_lat`` before a move and the capacity before/after."""
    old = before.set_index("facility_id")
    new = after.set_index("facility_id")
    out = []
    for change in log:
        fid = change["facility_id"]
        row = dict(change)
        if fid in new.index:
            now = new.loc[fid]
            row.update(
                name=now["name"],
                lon=_degrees(now["lon"]),
                lat=_degrees(now["lat"]),
                capacity_after=_plain(now["capacity"]) if pd.notna(now["capacity"]) else None,
            )
        if fid in old.index:
            was = old.loc[fid]
            row["capacity_before"] = _plain(was["capacity"]) if pd.notna(was["capacity"]) else None
            if change["op"] == "move":
                row.update(from_lon=_degrees(was["lon"]), from_lat=_degrees(was["lat"]))
        out.append(row)
    return out


def _degrees(value: Any) -> float:
    return round(float(value), 6)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [dict(zip(frame.columns, row, strict=True)) for row in _rows(frame)]


def _rows(frame: pd.DataFrame) -> list[list[Any]]:
    """Rows of plain Python values (NaN → None, shares rounded to 4 decimals), built column by column."""
    return [list(row) for row in zip(*(_plain_column(frame[c]) for c in frame.columns), strict=True)]


def _plain_column(col: pd.Series) -> list[Any]:
    """``_plain`` of every value of ``col`` (missing: None); numbers converted by numpy, not one by one."""
    ok = col.notna().to_numpy()
    if pd.api.types.is_float_dtype(col.dtype):
        return [
            round(v, 4) if keep else None for v, keep in zip(col.to_numpy(float).tolist(), ok, strict=True)
        ]
    if pd.api.types.is_integer_dtype(col.dtype) and ok.all():
        return col.to_numpy(np.int64).tolist()
    return [_plain(v) if keep else None for v, keep in zip(col.to_numpy(object).tolist(), ok, strict=True)]


def _plain(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        return round(float(value), 4)
    if isinstance(value, np.integer):
        return int(value)
    return value


def area_records(
    result: dict[str, Any] | None, *, level: str | None = None, type_code: str | None = None
) -> list[dict[str, Any]]:
    """The stored per-area rows of a result as dicts, optionally filtered by level and type."""
    if not result:
        return []
    cols = result["areas"]["columns"]
    rows = (dict(zip(cols, r, strict=True)) for r in result["areas"]["rows"])
    return [
        r
        for r in rows
        if (level is None or r["level"] == level) and (type_code is None or r["type_code"] == type_code)
    ]
