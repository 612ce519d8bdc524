"""Editable reference tables (data/*.csv) into PostGIS."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.errors import ValidationFailed

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
FACILITY_TYPE_COLUMNS = [
    "code", "name_zh", "category", "urban_tier", "urban_profile", "urban_max_time_min",
    "urban_max_distance_m", "rural_tier", "rural_profile", "rural_max_time_min", "min_floor_area_m2",
    "required", "source",
]


def read_facility_types(path: Path | None = None) -> pd.DataFrame:
    """Read and check data/facility_types.csv (or a user's edited copy)."""
    path = path or DATA_DIR / "facility_types.csv"
    frame = pd.read_csv(path, dtype={"code": str})
    missing = [c for c in FACILITY_TYPE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValidationFailed(f"{path}: missing columns {missing}; the header must be: "
                               f"{','.join(FACILITY_TYPE_COLUMNS)}")
    dup = frame["code"][frame["code"].duplicated()].tolist()
    if dup:
        raise ValidationFailed(f"{path}: facility type codes repeated: {dup}; each code must be unique")
    frame["required"] = frame["required"].fillna(0).astype(int).astype(bool)
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
