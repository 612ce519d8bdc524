"""What-if scenarios: facility changes applied to the facilities frame in memory, and their effect.

A scenario is a list of changes (JSON objects), applied in order to a copy of the facilities frame
(docs/CONTRACTS.md); the base layers are never touched:

* ``{"op": "add", "type_code", "lon", "lat", "name"?, "capacity"?, "floor_area_m2"?}`` — a proposed
  facility (status open) with id ``PROPOSED_ID_BASE + change index``;
* ``{"op": "close", "facility_id"}`` / ``{"op": "open", "facility_id"}`` — status closed / open;
* ``{"op": "move", "facility_id", "lon", "lat"}``;
* ``{"op": "change", "facility_id", "type_code"?, "capacity"?}`` — change type and/or capacity.

Coordinates are degrees (EPSG:4326). ``compare`` turns two coverage results (before, after) into
per-area (every level) before/after figures and the residents newly covered or lost, counted by
area and type — never by residence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from geo.coverage import MEASURES, CoverageResult, Prepared, rollup, rollup_keys
from geo.errors import GeoError
from geo.snapping import with_lonlat

PROPOSED_ID_BASE = 9_000_000_000_000_000
"""Ids of facilities a scenario adds: this base + the change's index (never a stored id)."""
OPS = {
    "add": ("type_code", "lon", "lat"),
    "close": ("facility_id",),
    "open": ("facility_id",),
    "move": ("facility_id", "lon", "lat"),
    "change": ("facility_id",),
}
"""Operation → required fields."""


class ScenarioError(GeoError):
    """A scenario change cannot be applied (unknown operation, facility, type or bad value)."""

    status = 422


def normalise(changes: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Changes with typed values (ids int, coordinates/capacities float), unset fields dropped.

    Raises ``ScenarioError`` for unknown operations, missing fields and values of the wrong type.
    """
    out = []
    for index, change in enumerate(changes):
        change = {k: v for k, v in dict(change).items() if v is not None and v != ""}
        op = change.get("op")
        if op not in OPS:
            raise ScenarioError(f"change {index}: unknown op {op!r}: use one of {sorted(OPS)}")
        missing = [f for f in OPS[op] if f not in change]
        if missing:
            raise ScenarioError(f"change {index} ({op}) lacks {missing}: add them")
        if "facility_id" in change:
            change["facility_id"] = _id(change["facility_id"], index)
        if "lon" in change or "lat" in change:
            change["lon"], change["lat"] = _lonlat(change, index)
        for field in ("capacity", "floor_area_m2"):
            if field in change:
                change[field] = _number(change, field, index)
        for field in ("type_code", "name"):
            if field in change:
                change[field] = str(change[field])
        out.append(change)
    return out


def apply_changes(
    facilities: pd.DataFrame, changes: Iterable[Mapping[str, Any]], *, type_codes: Iterable[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply ``changes`` in order to a copy of ``facilities``.

    Parameters
    ----------
    facilities : facilities frame (``facility_id``, ``type_code``, ``name``, ``lon``, ``lat``,
        ``status``, ``capacity``, ``floor_area_m2``), every status.
    changes : change objects (module docstring).
    type_codes : the known facility type codes.

    Returns
    -------
    ``(facilities_after, log)``: the changed frame (proposed facilities appended, ``proposed``
    column True for them) and one log row per change: ``index``, ``op``, ``facility_id``,
    ``type_before``, ``type_after``.
    """
    fac = with_lonlat(facilities).copy()
    fac["proposed"] = False
    codes = set(map(str, type_codes))
    log = []
    for index, change in enumerate(normalise(changes)):
        fac, row = _apply_one(fac, change, index, codes)
        log.append(row)
    columns = ["index", "op", "facility_id", "type_before", "type_after"]
    return fac.reset_index(drop=True), pd.DataFrame(log, columns=columns)


def _apply_one(fac: pd.DataFrame, change: dict, index: int, codes: set[str]) -> tuple[pd.DataFrame, dict]:
    op = change["op"]
    if op == "add":
        return _add(fac, change, index, codes)
    row = _row_of(fac, change["facility_id"], index)
    before = str(fac.at[row, "type_code"])
    if op in ("close", "open"):
        fac.at[row, "status"] = "closed" if op == "close" else "open"
    elif op == "move":
        fac.at[row, "lon"], fac.at[row, "lat"] = _lonlat(change, index)
    else:
        _change(fac, row, change, index, codes)
    return fac, _log(index, op, fac.at[row, "facility_id"], before, fac.at[row, "type_code"])


def _add(fac: pd.DataFrame, change: dict, index: int, codes: set[str]) -> tuple[pd.DataFrame, dict]:
    code = _type(change["type_code"], index, codes)
    lon, lat = _lonlat(change, index)
    fid = PROPOSED_ID_BASE + index
    row = {
        "facility_id": fid,
        "type_code": code,
        "name": str(change.get("name") or f"拟建设施{index + 1}"),
        "lon": lon,
        "lat": lat,
        "status": "open",
        "capacity": _number(change, "capacity", index),
        "floor_area_m2": _number(change, "floor_area_m2", index),
        "proposed": True,
    }
    added = (
        pd.DataFrame([row]).astype({"facility_id": fac.facility_id.dtype})
        if len(fac)
        else pd.DataFrame([row])
    )
    return pd.concat([fac, added], ignore_index=True), _log(index, "add", fid, None, code)


def _change(fac: pd.DataFrame, row: int, change: dict, index: int, codes: set[str]) -> None:
    if change.get("type_code") is None and change.get("capacity") is None:
        raise ScenarioError(f"change {index} (change) sets nothing: give type_code and/or capacity")
    if change.get("type_code") is not None:
        fac.at[row, "type_code"] = _type(change["type_code"], index, codes)
    if change.get("capacity") is not None:
        fac.at[row, "capacity"] = _number(change, "capacity", index)


def _id(value: Any, index: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ScenarioError(f"change {index}: facility_id {value!r} is not an integer id") from None
    if isinstance(value, float) and value != number:
        raise ScenarioError(f"change {index}: facility_id {value!r} is not an integer id")
    return number


def _row_of(fac: pd.DataFrame, fid: int, index: int) -> int:
    rows = np.flatnonzero(fac.facility_id.to_numpy() == fid)
    if len(rows) == 0:
        raise ScenarioError(f"change {index}: facility {fid} does not exist: use the id of a stored facility")
    return int(rows[0])


def _type(code: Any, index: int, codes: set[str]) -> str:
    if str(code) not in codes:
        raise ScenarioError(
            f"change {index}: unknown facility type {code!r}: use a code of data/facility_types.csv"
        )
    return str(code)


def _lonlat(change: dict, index: int) -> tuple[float, float]:
    try:
        lon, lat = float(change["lon"]), float(change["lat"])
    except (KeyError, TypeError, ValueError):
        raise ScenarioError(
            f"change {index}: lon/lat {change.get('lon')!r}, {change.get('lat')!r} are not numbers: "
            "give both in degrees"
        ) from None
    if not (np.isfinite(lon) and np.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise ScenarioError(
            f"change {index}: ({lon}, {lat}) is not a WGS84 lon/lat: give degrees, longitude first"
        )
    return lon, lat


def _number(change: dict, field: str, index: int) -> float:
    value = change.get(field)
    if value is None:
        return np.nan
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ScenarioError(f"change {index}: {field} {value!r} is not a number") from None
    if not np.isfinite(number) or number < 0:
        raise ScenarioError(f"change {index}: {field} {value!r} must be a number >= 0")
    return number


def _log(index: int, op: str, fid: Any, before: Any, after: Any) -> dict:
    return {
        "index": index,
        "op": op,
        "facility_id": int(fid),
        "type_before": before,
        "type_after": str(after),
    }


# --- effect --------------------------------------------------------------------------------------


def compare(prepared: Prepared, before: CoverageResult, after: CoverageResult) -> pd.DataFrame:
    """Per (area at every level, type): coverage before and after, and residents gained or lost.

    Columns: ``area_id``, ``level``, ``type_code``; per measure m (population, households,
    elderly, children): ``m`` (applicable total), ``m_covered_before``, ``m_covered_after``,
    ``m_gained`` (newly covered), ``m_lost`` (no longer covered); ``share_before``,
    ``share_after`` (population, 0..1) and ``share_delta``. Only types present in both results.
    """
    keys = ["area_id", "type_code"]
    cols = ["level", "points", *MEASURES, *(f"{m}_covered" for m in MEASURES)]
    out = before.per_area[keys + cols].merge(
        after.per_area[keys + [f"{m}_covered" for m in MEASURES]], on=keys, suffixes=("_before", "_after")
    )
    flips = _flips(prepared, before.per_residence, after.per_residence)
    out = out.merge(flips, on=keys, how="left")
    for m in MEASURES:
        out[[f"{m}_gained", f"{m}_lost"]] = out[[f"{m}_gained", f"{m}_lost"]].fillna(0).astype(np.int64)
    pop = out.population.where(out.population > 0)
    out["share_before"] = out.population_covered_before / pop
    out["share_after"] = out.population_covered_after / pop
    out["share_delta"] = out.share_after - out.share_before
    return out.drop(columns="points").sort_values(keys, ignore_index=True)


def _flips(prepared: Prepared, before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Gained/lost counts per (area, type), rolled up the area tree from the residences."""
    both = before[["residence_id", "type_code", "covered"]].merge(
        after[["residence_id", "type_code", "covered"]],
        on=["residence_id", "type_code"],
        suffixes=("_0", "_1"),
    )
    gained = both.covered_1.to_numpy(bool) & ~both.covered_0.to_numpy(bool)
    lost = both.covered_0.to_numpy(bool) & ~both.covered_1.to_numpy(bool)
    row = np.searchsorted(prepared.residences.residence_id.to_numpy(), both.residence_id.to_numpy())
    codes = sorted(set(both.type_code))
    type_index = both.type_code.map({c: i for i, c in enumerate(codes)}).to_numpy(np.int64)
    n_areas = len(prepared.areas)
    frame = pd.DataFrame(
        {
            "area_id": np.tile(prepared.areas.area_id.to_numpy(), len(codes)),
            "type_code": np.repeat(np.asarray(codes, dtype=object), n_areas),
        }
    )
    keys = rollup_keys(prepared, type_index, row, len(codes))
    for m in MEASURES:
        weight = prepared.residences[m].to_numpy(float)[row]
        frame[f"{m}_gained"] = rollup(prepared, keys, weight * gained).astype(np.int64)
        frame[f"{m}_lost"] = rollup(prepared, keys, weight * lost).astype(np.int64)
    return frame


def summary(delta: pd.DataFrame) -> pd.DataFrame:
    """The top-level (district) rows of ``compare``: one per type."""
    return delta[delta.level == "district"].reset_index(drop=True)
