"""Write coverage runs and their results to PostGIS; read them back.

A run records its parameters and the data version it was computed on (``data_versions``), so a
planner can tell whether results are stale. Results are written with COPY in the same transaction
as the run's status change: a failed run leaves no partial results. Each result row is stored once,
under the run that computed it (``coverage_*_rows``, ``coverage_residence_packed``); a run holds the
results of a facility type it reused from an earlier run by reference (``coverage_run_types``), and
readers see every run's rows through the views ``coverage_area``, ``coverage_area_circle``,
``coverage_facility``, ``coverage_gaps`` and ``coverage_residence`` (migration 0033).
"""

from __future__ import annotations

import json
import struct
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.measures import HEADLINE_TIERS
from layers import labels
from layers.db import driver_connection
from layers.load.bulk import copy_frame
from layers.queries import data_versions, read_copy, read_frame, to_geoframe

AREA_RESULT_COLS = [
    "run_id",
    "area_id",
    "type_code",
    "applicable",
    "households",
    "households_covered",
    "population",
    "population_covered",
    "elderly",
    "elderly_covered",
    "children",
    "children_covered",
    "share",
    "households_estimated",
    "population_estimated",
    "households_in_radius",
    "population_in_radius",
    "elderly_in_radius",
    "children_in_radius",
    "radius_share",
]
AREA_CIRCLE_COLS = [
    "run_id",
    "type_code",
    "circle",
    "area_id",
    "households",
    "households_covered",
    "population",
    "population_covered",
    "elderly",
    "elderly_covered",
    "children",
    "children_covered",
]
"""Columns of ``coverage_area_circle``: ``coverage_area``'s counts split by life circle."""
RESIDENCE_RESULT_COLS = [
    "run_id",
    "residence_id",
    "type_code",
    "time_s",
    "facility_id",
    "covered",
    "unreachable",
    "circle",
]
"""Columns of the per-home rows (the view ``coverage_residence``)."""
PACKED_COLS = [
    "run_id",
    "type_code",
    "circle",
    "residence_id",
    "time_s",
    "facility_id",
    "covered",
    "unreachable",
]
"""Columns of ``coverage_residence_packed``: one row per (run, type, circle), arrays per home."""
FACILITY_RESULT_COLS = [
    "run_id",
    "facility_id",
    "type_code",
    "catchment_population",
    "catchment_households",
    "covered_population",
    "capacity",
    "load",
    "unreachable",
]
GAP_COLS = ["run_id", "type_code", "rank", "households", "population", "elderly", "children", "residences"]
TARGET_COLS = [
    "run_id",
    "target_code",
    "area_id",
    "type_code",
    "measure",
    "threshold",
    "value",
    "pass",
    "communities",
    "communities_reached",
]


def clock(s: Session) -> datetime:
    """The database's wall clock now (``clock_timestamp()``, not the transaction's start)."""
    return s.execute(text("SELECT clock_timestamp()")).scalar_one()


def start_run(
    s: Session,
    *,
    params: dict[str, Any],
    scenario_id: int | None = None,
    started_at: datetime | None = None,
    run_id: int | None = None,
) -> int:
    """Create a run row (status 'running') and return its id.

    ``started_at`` is when the work began (``clock`` read before the inputs); default: now.
    ``run_id``: fill that queued run (a background job, ``layers.jobs``) instead of a new row.
    """
    if run_id is not None:
        return s.execute(
            text(
                "UPDATE coverage_runs SET status = 'running', params = CAST(:p AS jsonb), "
                "data_version = CAST(:v AS jsonb), started_at = COALESCE(CAST(:st AS timestamptz), "
                "clock_timestamp()) WHERE run_id = :r AND scenario_id IS NULL RETURNING run_id"
            ),
            {
                "p": json.dumps(params, ensure_ascii=False),
                "v": json.dumps(data_versions(s)),
                "st": started_at,
                "r": run_id,
            },
        ).scalar_one()
    return s.execute(
        text(
            "INSERT INTO coverage_runs (status, params, data_version, scenario_id, started_at) "
            "VALUES ('running', CAST(:p AS jsonb), CAST(:v AS jsonb), :sc, "
            "COALESCE(CAST(:st AS timestamptz), clock_timestamp())) RETURNING run_id"
        ),
        {
            "p": json.dumps(params, ensure_ascii=False),
            "v": json.dumps(data_versions(s)),
            "sc": scenario_id,
            "st": started_at,
        },
    ).scalar_one()


def _with_run(frame: pd.DataFrame, run_id: int) -> pd.DataFrame:
    out = frame.copy()
    out.insert(0, "run_id", run_id)
    return out


def add_results(
    s: Session,
    run_id: int,
    *,
    types: list[str],
    per_area: pd.DataFrame,
    per_area_circle: pd.DataFrame,
    per_residence: pd.DataFrame,
    per_facility: pd.DataFrame,
    gaps: pd.DataFrame,
) -> None:
    """Write the result rows of the facility types ``types``, computed by ``run_id`` (COPY, same
    transaction), and record that the run holds them (``coverage_run_types``)."""
    _hold(s, run_id, types)
    copy_frame(s, "coverage_area_rows", _with_run(per_area, run_id), columns=AREA_RESULT_COLS)
    copy_frame(s, "coverage_area_circle_rows", _with_run(per_area_circle, run_id), columns=AREA_CIRCLE_COLS)
    add_packed(s, run_id, per_residence)
    copy_frame(s, "coverage_facility_rows", _with_run(per_facility, run_id), columns=FACILITY_RESULT_COLS)
    if len(gaps):
        copy_frame(
            s,
            "coverage_gaps_rows",
            _with_run(gaps, run_id),
            columns=GAP_COLS,
            geometry={"geometry": "geom"},
            multi=True,
        )


def _hold(s: Session, run_id: int, types: list[str]) -> None:
    """Record that ``run_id`` holds the results of ``types`` in rows of its own."""
    s.execute(
        text(
            "INSERT INTO coverage_run_types (run_id, type_code, source_run_id) "
            "SELECT :r, t, :r FROM unnest(CAST(:types AS text[])) AS t"
        ),
        {"r": run_id, "types": sorted(set(types))},
    )


def add_packed(s: Session, run_id: int, per_residence: pd.DataFrame) -> int:
    """Write per-home rows (``RESIDENCE_RESULT_COLS`` but run_id) of ``run_id`` as
    ``coverage_residence_packed`` rows, one per (type_code, circle) with the homes by ``residence_id``, in
    COPY's binary format (arrays written straight from memory: nothing is formatted as text). Returns the rows
    written."""
    pr = per_residence
    # integer codes in the strings' sorted order: sorting and grouping by them is sorting by the text
    type_code, type_names = pd.factorize(pr.type_code.astype(str), sort=True)
    circle, circle_names = pd.factorize(pr.circle.astype(str), sort=True)
    order = np.lexsort((pr.residence_id.to_numpy(), circle, type_code))
    time_s = pr.time_s.to_numpy(float, na_value=np.nan)[order]
    facility = pd.array(pr.facility_id, dtype="Int64")[order]
    columns = [
        (pr.residence_id.to_numpy(np.int64)[order], _INT8),
        (np.where(np.isnan(time_s), np.nan, time_s), _FLOAT8),  # none within the bound: NaN
        (facility.fillna(NO_FACILITY).to_numpy(np.int64), _INT8),
        (pr.covered.to_numpy(bool)[order], _BOOL),
        (pr.unreachable.to_numpy(bool)[order], _BOOL),
    ]
    key = type_code[order].astype(np.int64) * max(len(circle_names), 1) + circle[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.empty(0, np.int64)
    ends = np.r_[starts[1:], len(key)] if len(key) else starts
    raw = driver_connection(s)
    with (
        raw.cursor() as cur,
        cur.copy(
            f"COPY coverage_residence_packed ({', '.join(PACKED_COLS)}) FROM STDIN (FORMAT BINARY)"
        ) as cp,
    ):
        cp.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0))
        for lo, hi in zip(starts, ends, strict=True):  # a group's rows are contiguous after the sort
            first = order[lo]
            fields = [
                struct.pack("!q", run_id),
                str(type_names[type_code[first]]).encode(),
                str(circle_names[circle[first]]).encode(),
                *(_binary_array(values[lo:hi], kind) for values, kind in columns),
            ]
            cp.write(struct.pack("!h", len(fields)) + b"".join(struct.pack("!i", len(f)) + f for f in fields))
        cp.write(struct.pack("!h", -1))
    return len(starts)


NO_FACILITY = -1
"""``facility_id`` element of a home with no facility within the bound (NULL in the view)."""
_INT8, _FLOAT8, _BOOL = (20, ">i8"), (701, ">f8"), (16, "u1")  # element type oid, binary layout


def _binary_array(values: np.ndarray, kind: tuple[int, str]) -> bytes:
    """A one-dimensional array without NULL elements in PostgreSQL's binary format."""
    oid, layout = kind
    item = np.empty(len(values), dtype=[("size", ">i4"), ("value", layout)])
    item["size"] = np.dtype(layout).itemsize
    item["value"] = values
    return struct.pack("!iiiii", 1, 0, oid, len(values), 1) + item.tobytes()


def copy_results(s: Session, source_run: int, target_run: int, *, types: list[str]) -> None:
    """Let ``target_run`` hold the results ``source_run`` holds of the facility types ``types``: by
    reference (``coverage_run_types``), the rows themselves stay where they were written."""
    s.execute(
        text(
            "INSERT INTO coverage_run_types (run_id, type_code, source_run_id) "
            "SELECT :dst, type_code, source_run_id FROM coverage_run_types "
            "WHERE run_id = :src AND type_code = ANY(:types)"
        ),
        {"src": source_run, "dst": target_run, "types": list(types)},
    )


def add_targets(s: Session, run_id: int, targets: pd.DataFrame) -> None:
    """Write the per-area target verdicts of ``run_id`` (``TARGET_COLS`` but run_id; COPY)."""
    if len(targets):
        copy_frame(s, "coverage_target", _with_run(targets, run_id), columns=TARGET_COLS)


def target_results(
    s: Session, run_id: int, *, level: str | None = None, code: str | None = None
) -> pd.DataFrame:
    """Per-area target verdicts of a run with the area's name, level, code and parent."""
    return read_frame(
        s,
        "SELECT t.target_code, t.type_code, t.measure, t.threshold, t.area_id, a.name, a.level, a.code, "
        "a.parent_id, t.value, t.pass, t.communities, t.communities_reached FROM coverage_target t "
        "JOIN areas a USING (area_id) WHERE t.run_id = :r AND (CAST(:lvl AS text) IS NULL OR a.level = :lvl) "
        "AND (CAST(:c AS text) IS NULL OR t.target_code = :c) ORDER BY t.target_code, a.level, a.code",
        {"r": run_id, "lvl": level, "c": code},
    )


def finish_run(s: Session, run_id: int, *, summary: dict[str, Any]) -> None:
    s.execute(
        text(
            "UPDATE coverage_runs SET status = 'done', finished_at = clock_timestamp(), "
            "summary = CAST(:s AS jsonb) WHERE run_id = :r"
        ),
        {"s": json.dumps(summary, ensure_ascii=False, default=float), "r": run_id},
    )


def lock_run(s: Session, run_id: int) -> bool:
    """Lock run ``run_id``'s row until the transaction ends (one writer of its late parts at a time);
    False when there is no such run."""
    found = s.execute(text("SELECT 1 FROM coverage_runs WHERE run_id = :r FOR UPDATE"), {"r": run_id}).first()
    return found is not None


def update_summary(s: Session, run_id: int, *, isochrones: dict[str, Any], phase: tuple[str, float]) -> None:
    """Add the facility isochrones stored after the run finished to its summary, with their phase time."""
    s.execute(
        text(
            "UPDATE coverage_runs SET summary = jsonb_set(summary || jsonb_build_object('isochrones', "
            "CAST(:i AS jsonb)), ARRAY['phases_s', :p], to_jsonb(CAST(:t AS float8)), true) "
            "WHERE run_id = :r"
        ),
        {
            "i": json.dumps(isochrones, ensure_ascii=False, default=float),
            "p": phase[0],
            "t": phase[1],
            "r": run_id,
        },
    )


PRESENCE_COLS = ["run_id", "area_id", "type_code", "present", "source", "facilities"]
COMPOSITE_COLS = [
    "run_id",
    "area_id",
    "circle",
    "tier",
    "required_types",
    "households",
    "households_covered",
    "population",
    "population_covered",
    "share",
]


def add_measures(s: Session, run_id: int, *, presence: pd.DataFrame, composite: pd.DataFrame) -> None:
    """Write the presence rows (per community and type) and the composite rows (per area and circle)
    of ``run_id`` (COPY; computed for every type at each run, never copied from an earlier run)."""
    if len(presence):
        copy_frame(s, "coverage_presence", _with_run(presence, run_id), columns=PRESENCE_COLS)
    if len(composite):
        copy_frame(s, "coverage_composite", _with_run(composite, run_id), columns=COMPOSITE_COLS)


def presence_results(s: Session, run_id: int, *, type_code: str | None = None) -> pd.DataFrame:
    """Presence rows of a run with the community's name, code, town and class."""
    return read_frame(
        s,
        "SELECT p.area_id, p.type_code, p.present, p.source, p.facilities, a.name, a.code, a.parent_id, "
        "a.urban FROM coverage_presence p JOIN areas a USING (area_id) WHERE p.run_id = :r "
        "AND (CAST(:t AS text) IS NULL OR p.type_code = :t) ORDER BY p.type_code, p.area_id",
        {"r": run_id, "t": type_code},
    )


def composite_results(
    s: Session, run_id: int, *, level: str | None = None, tier: str | None = None
) -> pd.DataFrame:
    """Composite rows of a run with the area's name, level, code and parent: one row per area and
    circle — the circle's headline tier (``geo.measures.HEADLINE_TIERS``), or ``tier`` ('all', '5min' …)."""
    return read_frame(
        s,
        "SELECT c.area_id, c.circle, c.tier, c.required_types, c.households, c.households_covered, "
        "c.population, c.population_covered, c.share, a.name, a.level, a.code, a.parent_id "
        "FROM coverage_composite c JOIN areas a USING (area_id) WHERE c.run_id = :r "
        "AND (CAST(:lvl AS text) IS NULL OR a.level = :lvl) AND "
        "(c.tier = CAST(:t AS text) OR (CAST(:t AS text) IS NULL AND ((c.circle = 'urban' AND c.tier = :u) "
        "OR (c.circle = 'rural' AND c.tier = :ru)))) ORDER BY c.circle, c.area_id",
        {"r": run_id, "lvl": level, "t": tier, "u": HEADLINE_TIERS["urban"], "ru": HEADLINE_TIERS["rural"]},
    )


def type_sources(s: Session, run_id: int, *, types: list[str] | None = None) -> dict[str, int]:
    """Per type of ``types`` (default all) the run holds: the run whose rows it uses (itself, or the
    run it reused them from)."""
    rows = s.execute(
        text(
            "SELECT type_code, source_run_id FROM coverage_run_types "
            "WHERE run_id = :r AND (CAST(:t AS text[]) IS NULL OR type_code = ANY(:t))"
        ),
        {"r": run_id, "t": None if types is None else list(types)},
    ).all()
    return {str(code): int(source) for code, source in rows}


def residence_coverage(s: Session, run_id: int, *, types: list[str]) -> pd.DataFrame:
    """Per home and type of ``types``: ``residence_id``, ``type_code``, ``circle``, ``covered`` (the packed
    arrays read as text and split, much faster than one row per home)."""
    rows = s.execute(
        text(
            "SELECT p.type_code, nullif(p.circle, ''), array_to_string(p.residence_id, ','), "
            "array_to_string(p.covered, ',') FROM coverage_run_types t JOIN coverage_residence_packed p "
            "ON p.run_id = t.source_run_id AND p.type_code = t.type_code "
            "WHERE t.run_id = :r AND t.type_code = ANY(:t) ORDER BY p.type_code, p.circle"
        ),
        {"r": run_id, "t": list(types)},
    ).all()
    parts = [
        pd.DataFrame(
            {
                "residence_id": np.fromstring(ids, dtype=np.int64, sep=","),
                "type_code": code,
                "circle": circle,
                "covered": np.frombuffer(covered.encode("ascii"), dtype=np.uint8)[::2] == ord("t"),
            }
        )
        for code, circle, ids, covered in rows
        if ids
    ]
    if not parts:
        return pd.DataFrame(
            {"residence_id": np.empty(0, np.int64), "type_code": [], "circle": [], "covered": []}
        )
    return pd.concat(parts, ignore_index=True)


def gap_count(s: Session, run_id: int) -> int:
    return s.execute(text("SELECT count(*) FROM coverage_gaps WHERE run_id = :r"), {"r": run_id}).scalar_one()


def fail_run(s: Session, run_id: int, error: str) -> None:
    s.execute(
        text(
            "UPDATE coverage_runs SET status = 'failed', finished_at = clock_timestamp(), error = :e "
            "WHERE run_id = :r"
        ),
        {"e": error[:2000], "r": run_id},
    )


def latest_run(s: Session, *, scenario_id: int | None = None) -> dict[str, Any] | None:
    """The newest finished run (base data when ``scenario_id`` is None)."""
    cond = "scenario_id IS NULL" if scenario_id is None else "scenario_id = :sc"
    row = (
        s.execute(
            text(
                f"SELECT run_id, status, params, data_version, summary, started_at, finished_at "
                f"FROM coverage_runs WHERE status = 'done' AND {cond} ORDER BY run_id DESC LIMIT 1"
            ),
            {"sc": scenario_id},
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def runs_with_isochrones(s: Session, *, limit: int = 10) -> list[dict[str, Any]]:
    """The newest ``limit`` finished base runs that stored facility isochrones, newest first: ``run_id``,
    ``data_version`` and ``summary`` (only its ``isochrones`` member: what the rows depend on)."""
    rows = s.execute(
        text(
            "SELECT run_id, data_version, jsonb_build_object('isochrones', summary->'isochrones') AS summary "
            "FROM coverage_runs WHERE status = 'done' AND scenario_id IS NULL "
            "AND jsonb_typeof(summary->'isochrones') = 'object' ORDER BY run_id DESC LIMIT :n"
        ),
        {"n": limit},
    ).mappings()
    return [dict(r) for r in rows]


def run(s: Session, run_id: int) -> dict[str, Any] | None:
    row = (
        s.execute(
            text(
                "SELECT run_id, status, params, data_version, scenario_id, summary, error, started_at, "
                "finished_at FROM coverage_runs WHERE run_id = :r"
            ),
            {"r": run_id},
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def is_stale(s: Session, run_row: dict[str, Any], *, config: dict[str, Any] | None = None) -> bool:
    """True when any layer changed since the run was computed, or (given the current ``config``)
    when the run's ``params['config']`` differs from it (profiles, targets, distances)."""
    now = data_versions(s)
    then = run_row.get("data_version") or {}
    layers = ("areas", "facilities", "facility_types", "residences", "network_edges", "network_nodes")
    if any(now.get(k, 0) != then.get(k, 0) for k in layers):
        return True
    return config is not None and (run_row.get("params") or {}).get("config") != config


def area_results(
    s: Session,
    run_id: int,
    *,
    level: str | None = None,
    type_code: str | None = None,
    with_geometry: bool = False,
) -> pd.DataFrame:
    """Per-area aggregates of a run, joined with the area's name, level and class."""
    geom = ", ST_AsBinary(a.geom) AS wkb" if with_geometry else ""
    frame = read_frame(
        s,
        "SELECT c.*, a.name, a.level, a.code, a.urban, a.parent_id" + geom + " FROM coverage_area c "
        "JOIN areas a USING (area_id) WHERE c.run_id = :r "
        "AND (CAST(:lvl AS text) IS NULL OR a.level = :lvl) AND "
        "(CAST(:t AS text) IS NULL OR c.type_code = :t) ORDER BY c.area_id, c.type_code",
        {"r": run_id, "lvl": level, "t": type_code},
    )
    return to_geoframe(frame) if with_geometry else frame


def area_counts(
    s: Session, run_id: int, *, levels: tuple[str, ...] | None = None, types: list[str] | None = None
) -> pd.DataFrame:
    """The per-area counts of a run (``AREA_RESULT_COLS`` but run_id and applicable) of the areas of
    ``levels`` (default all) and facility ``types`` (default all), without the area's names: what a
    run's summary and targets are judged on, read with COPY (10^5 rows in a city)."""
    cols = [c for c in AREA_RESULT_COLS if c not in ("run_id", "applicable")]
    where, params = "", list[Any]([run_id])
    if levels is not None:
        where += " AND area_id IN (SELECT area_id FROM areas WHERE level = ANY(%s))"
        params.append(list(levels))
    if types is not None:
        where += " AND type_code = ANY(%s)"
        params.append(list(types))
    return read_copy(
        s,
        f"SELECT {', '.join(cols)} FROM coverage_area WHERE run_id = %s{where} ORDER BY area_id, type_code",
        tuple(params),
        dtype={"type_code": str},
    )


def residence_results(s: Session, run_id: int, *, type_code: str | None = None) -> pd.DataFrame:
    return read_frame(
        s,
        "SELECT residence_id, type_code, time_s, facility_id, covered, unreachable FROM coverage_residence "
        "WHERE run_id = :r AND (CAST(:t AS text) IS NULL OR type_code = :t) ORDER BY residence_id, type_code",
        {"r": run_id, "t": type_code},
    )


def unreachable_facilities(s: Session, run_id: int) -> pd.DataFrame:
    """Per facility type of a run: ``facility_ids`` farther than the snapping distance from every street
    of a profile of the type (types with none are absent)."""
    return read_frame(
        s,
        "SELECT type_code, array_agg(facility_id ORDER BY facility_id) AS facility_ids "
        "FROM coverage_facility WHERE run_id = :r AND unreachable GROUP BY type_code ORDER BY type_code",
        {"r": run_id},
    )


def facility_results(s: Session, run_id: int, *, type_code: str | None = None) -> pd.DataFrame:
    return to_geoframe(
        read_frame(
            s,
            "SELECT c.*, f.name, ST_AsBinary(f.geom) AS wkb FROM coverage_facility c JOIN facilities f "
            "USING (facility_id) WHERE c.run_id = :r AND (CAST(:t AS text) IS NULL OR c.type_code = :t) "
            "ORDER BY c.facility_id",
            {"r": run_id, "t": type_code},
        )
    )


def gap_results(
    s: Session, run_id: int, *, type_code: str | None = None, labelled: bool = True
) -> pd.DataFrame:
    """Gap polygons of a run ranked per type; ``labelled``: with ``town``, ``community``, ``road`` and
    ``place`` ("鹭田镇 西关社区 兴业路以南", ``layers.labels``) computed now from the current areas,
    streets and road names — the same lookup as ``GET /reverse``, so a renamed road shows at once."""
    gaps = to_geoframe(
        read_frame(
            s,
            "SELECT gap_id, type_code, rank, households, population, elderly, children, residences, "
            "ST_AsBinary(geom) AS wkb FROM coverage_gaps WHERE run_id = :r "
            "AND (CAST(:t AS text) IS NULL OR type_code = :t) ORDER BY type_code, rank",
            {"r": run_id, "t": type_code},
        )
    )
    if labelled:
        names = labels.polygon_labels(s, gaps.geometry.to_numpy())
        at = gaps.columns.get_loc("rank") + 1
        for i, column in enumerate(("town", "community", "road", "place")):
            gaps.insert(at + i, column, (names["label" if column == "place" else column]).to_numpy(object))
    return gaps


def catchment_homes(s: Session, run_id: int, type_code: str) -> pd.DataFrame:
    """Per covered residence of ``type_code`` in run ``run_id``: ``facility_id``, ``lon``, ``lat``
    (degrees, EPSG:4326) and ``population``, ``households``, ``elderly``, ``children``."""
    return read_frame(
        s,
        "SELECT c.facility_id, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat, h.population, h.households, "
        "h.elderly, h.children FROM coverage_residence c JOIN residences h USING (residence_id) "
        "WHERE c.run_id = :r AND c.type_code = :t AND c.covered AND c.facility_id IS NOT NULL "
        "ORDER BY c.facility_id, c.residence_id",
        {"r": run_id, "t": type_code},
    )
