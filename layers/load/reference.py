"""Editable reference tables (data/*.csv) into PostGIS."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.errors import ValidationFailed

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
FACILITY_TYPE_COLUMNS = [
    "code",
    "name_zh",
    "category",
    "urban_tier",
    "urban_profile",
    "urban_max_time_min",
    "urban_max_distance_m",
    "rural_tier",
    "rural_profile",
    "rural_max_time_min",
    "min_floor_area_m2",
    "required",
    "source",
    "rural_max_distance_m",
]


def read_facility_types(path: Path | None = None) -> pd.DataFrame:
    """Read and check data/facility_types.csv (or a user's edited copy)."""
    path = path or DATA_DIR / "facility_types.csv"
    frame = pd.read_csv(path, dtype={"code": str})
    missing = [c for c in FACILITY_TYPE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValidationFailed(
            f"{path}: missing columns {missing}; the header must be: {','.join(FACILITY_TYPE_COLUMNS)}"
        )
    dup = frame["code"][frame["code"].duplicated()].tolist()
    if dup:
        raise ValidationFailed(f"{path}: facility type codes repeated: {dup}; each code must be unique")
    # 0/1 (empty = 0) become booleans; anything else is kept as written for check_facility_types
    number = pd.to_numeric(frame["required"], errors="coerce")
    frame["required"] = [
        bool(n) if n in (0, 1) else (False if pd.isna(r) else r)
        for r, n in zip(frame["required"], number, strict=True)
    ]
    frame = frame.astype(object).where(frame.notna(), None)
    return frame[FACILITY_TYPE_COLUMNS]


def upsert_facility_types(s: Session, frame: pd.DataFrame) -> int:
    """Insert or update every row of ``frame`` (types not in the file are kept)."""
    cols = FACILITY_TYPE_COLUMNS
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c != "code")
    stmt = text(
        f"INSERT INTO facility_types ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)}) "
        f"ON CONFLICT (code) DO UPDATE SET {sets}"
    )
    rows = frame.to_dict("records")
    if rows:
        s.execute(stmt, rows)
    return len(rows)


# --- checking and loading the facility-type table as a whole (``minqing data facility-types load``)

CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")
NUMERIC = (
    "urban_max_time_min",
    "urban_max_distance_m",
    "rural_max_time_min",
    "rural_max_distance_m",
    "min_floor_area_m2",
)
TEXT_LIMITS = {"name_zh": 80, "category": 20, "urban_profile": 20, "rural_profile": 20}


def check_facility_types(
    frame: pd.DataFrame, *, profiles: set[str], tiers: dict[str, tuple[str, ...]]
) -> list[dict]:
    """Row-level problems of a facility-type table (``read_facility_types`` output).

    ``profiles``: travel profile names (data/profiles.csv); ``tiers``: allowed tiers per circle,
    ``{"urban": (...), "rural": (...)}`` (``geo.standards.TIERS``). Each problem is
    ``{"line", "code", "problem", "fix"}`` with ``line`` the CSV line (the header is line 1).
    """
    out: list[dict] = []
    for i, row in enumerate(frame.to_dict("records")):
        for problem, fix in _row_problems(row, profiles, tiers):
            out.append({"line": i + 2, "code": row.get("code"), "problem": problem, "fix": fix})
    return out


def _row_problems(row: dict, profiles: set[str], tiers: dict[str, tuple[str, ...]]):
    code = row.get("code")
    if not isinstance(code, str) or not CODE.fullmatch(code):
        yield (
            f"code {code!r} is not a type code",
            "use lower-case letters, digits and _ (at most 40), e.g. elderly_daycare",
        )
    for col, limit in TEXT_LIMITS.items():
        value = row.get(col)
        if value is not None and len(str(value)) > limit:
            yield f"{col} is longer than {limit} characters", f"shorten {col}"
    for col in ("name_zh", "category"):
        if not row.get(col):
            yield f"{col} is empty", f"give the type a {col}"
    for col in NUMERIC:
        value = _number(row.get(col))
        if value is not None and (math.isnan(value) or value <= 0):
            yield (
                f"{col}={row.get(col)!r} is not a positive number",
                f"give {col} as a number > 0 or leave it empty",
            )
    if row.get("required") not in (True, False):
        yield f"required={row.get('required')!r} is not 0 or 1", "write 1 (required by the standard) or 0"
    if not row.get("urban_tier") and not row.get("rural_tier"):
        yield (
            "neither urban_tier nor rural_tier is set",
            "give the life-circle tier of urban and/or rural communities",
        )
    for circle, time_col in (("urban", "urban_max_time_min"), ("rural", "rural_max_time_min")):
        tier, profile = row.get(f"{circle}_tier"), row.get(f"{circle}_profile")
        if not tier:
            continue
        if tier not in tiers[circle]:
            yield f"{circle}_tier {tier!r} is unknown", f"use one of {list(tiers[circle])}"
        if profile not in profiles:
            yield (
                f"{circle}_profile {profile!r} is not a travel profile",
                f"use one of {sorted(profiles)} (data/profiles.csv)",
            )
        if _number(row.get(time_col)) is None:
            yield (
                f"{time_col} is empty although {circle}_tier is set",
                f"give the longest trip in minutes in {time_col}",
            )


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


@dataclass
class ReferenceLoad:
    """What loading a reference table did (or, for a dry run, would do)."""

    added: list[str] = field(default_factory=list)
    changed: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)
    """code → {column: (old, new)}"""
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def load_facility_types(s: Session, frame: pd.DataFrame, *, dry_run: bool = False) -> ReferenceLoad:
    """Make the facility_types table equal ``frame`` in the session's transaction; no other table changes.

    Rows are added, updated where a value differs, and deleted when absent from ``frame``, except
    that a type still used by facilities is never deleted: ``ValidationFailed`` names the types and
    the fix, and nothing is written. Row writes are audited (before/after) by the table's triggers.
    ``dry_run`` works out the same report and writes nothing. Check ``frame`` first
    (``check_facility_types``).
    """
    cols = FACILITY_TYPE_COLUMNS
    current = {
        r["code"]: r for r in s.execute(text(f"SELECT {', '.join(cols)} FROM facility_types")).mappings()
    }
    wanted = {r["code"]: r for r in frame[cols].to_dict("records")}
    report = ReferenceLoad(removed=sorted(set(current) - set(wanted)))
    for code, row in wanted.items():
        if code not in current:
            report.added.append(code)
            continue
        diff = {c: (current[code][c], row[c]) for c in cols if not _same(current[code][c], row[c])}
        if diff:
            report.changed[code] = diff
        else:
            report.unchanged.append(code)
    _refuse_removing_used(s, report.removed)
    if not dry_run:
        if report.removed:
            s.execute(text("DELETE FROM facility_types WHERE code = ANY(:c)"), {"c": report.removed})
        write = [c for c in wanted if c in report.changed or c in report.added]
        upsert_facility_types(s, frame[frame["code"].isin(write)])
    return report


def _same(old: Any, new: Any) -> bool:
    if old is None or new is None:
        return old is None and new is None
    if isinstance(old, float) or isinstance(new, float):
        try:
            return float(old) == float(new)
        except (TypeError, ValueError):
            return False
    return bool(old == new)


def _refuse_removing_used(s: Session, removed: list[str]) -> None:
    if not removed:
        return
    used = s.execute(
        text(
            "SELECT type_code, count(*) FROM facilities WHERE type_code = ANY(:c) "
            "GROUP BY type_code ORDER BY type_code"
        ),
        {"c": removed},
    ).all()
    if used:
        listed = ", ".join(f"{code} ({n} facilities)" for code, n in used)
        raise ValidationFailed(
            f"the file leaves out facility types still used by facilities: {listed}; nothing was changed. "
            "Keep those rows in the file, or first move the facilities to another type or delete them "
            "(minqing import facilities --replace, or the /collections/facilities API)",
            problems=[{"code": code, "facilities": n} for code, n in used],
        )


def ensure_facility_types(s: Session, codes: Iterable[str]) -> None:
    """Insert the shipped definition of facility types that are used but not yet stored.

    Stored types are left as they are (a planner may have edited their thresholds).
    """
    stored = set(s.execute(text("SELECT code FROM facility_types")).scalars())
    missing = [c for c in codes if c not in stored]
    if not missing:
        return
    types = read_facility_types()
    rows = types[types["code"].isin(missing)].to_dict("records")
    cols = list(types.columns)
    s.execute(
        text(f"INSERT INTO facility_types ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"),
        rows,
    )
