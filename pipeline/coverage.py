"""Coverage runs: read the layers, compute with ``geo.coverage``, store the results.

One function serves the CLI (``minqing coverage run``), the API (``POST /coverage/runs``) and the
planner tools (scenarios). A run records in its parameters everything its results depend on
besides the layers: the travel profiles as read (speeds, access rules), a hash of the facility-type
thresholds, the capacity basis and targets tables, the snapping distance and the gap linkage
distance (``RunConfig``; ``config`` holds their hashes, compared by ``is_stale``).

Incremental runs: every run stores a fingerprint of each facility type it HOLDS (its open
facilities, its tiers, the profiles those tiers use and its capacity basis). The next run on the same
base layers, snapping and gap distances holds the results of the types whose fingerprint is
unchanged by reference (``coverage_run_types``: no row is copied) and computes the rest — types
the previous run did not hold (a run limited with ``types``) are computed, never assumed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

import data
from geo import measures
from geo.coverage import (
    CAPACITY_COLUMNS,
    CoverageResult,
    Prepared,
    capacity_basis,
    prepare,
    run_coverage,
    search_count,
    service_tiers,
    unsnapped,
)
from geo.errors import UnknownFacilityTypeError
from geo.network import Network, build_network
from geo.profiles import Profile, get_profile, load_profiles
from geo.targets import check_targets, targets_by_area
from geo.targets import overall as targets_overall
from layers import queries, store
from layers.cache import Cache
from pipeline import isochrones, prepared_files
from settings import coverage_settings

DATA_DIR = Path(data.__file__).parent
PROFILES_CSV = DATA_DIR / "profiles.csv"
TARGETS_CSV = DATA_DIR / "targets.csv"
FACILITY_TYPES_CSV = DATA_DIR / "facility_types.csv"
SERVICE_AREAS_CSV = DATA_DIR / "service_areas.csv"
MEASURES_CSV = DATA_DIR / "measures.csv"
BASE_LAYERS = ("areas", "residences", "network_nodes", "network_edges", "facility_types")

JUDGED_LEVELS = ("district", "town", "community")
"""The levels a run's summary and targets are judged at (``geo.targets.targets_by_area``)."""

Progress = Callable[[str, int], None]
"""``progress(label, total)``: one step done out of ``total``."""


@dataclass(frozen=True)
class RunConfig:
    """What coverage depends on besides the layers (``settings.CoverageSettings``).

    ``snap_max_m``: farthest a home or facility may lie from a usable street (metres);
    ``gap_link_m``: single-linkage distance of gap areas (metres); the four editable tables;
    ``store_isochrones``: store the public map's facility isochrones with the run.
    """

    profiles_csv: Path = PROFILES_CSV
    targets_csv: Path = TARGETS_CSV
    facility_types_csv: Path = FACILITY_TYPES_CSV
    service_areas_csv: Path = SERVICE_AREAS_CSV
    snap_max_m: float = 500.0
    gap_link_m: float = 250.0
    store_isochrones: bool = True

    @classmethod
    def from_settings(cls, **overrides: Any) -> RunConfig:
        """The configured values (``MINQING_*``), with non-None ``overrides``."""
        st = coverage_settings()
        values = {f.name: getattr(st, f.name) for f in dataclasses.fields(cls)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class Inputs:
    """Everything a coverage computation reads, as frames of docs/CONTRACTS.md.

    The street network (``nodes``, ``edges``) is read on first use: a run whose prepared networks
    are kept (in memory or on disk) never needs it.
    """

    facilities: pd.DataFrame
    residences: pd.DataFrame
    areas: pd.DataFrame
    facility_types: pd.DataFrame
    profiles: dict[str, Profile]
    streets: Callable[[], tuple[pd.DataFrame, pd.DataFrame]]
    versions: dict[str, int] = field(default_factory=dict)
    config: RunConfig = field(default_factory=RunConfig)
    database: tuple = ()  # which database the layers came from (version counters are per database)
    stamp: str = ""  # when each base layer last changed ("": unknown, never kept on disk)

    @property
    def nodes(self) -> pd.DataFrame:
        return self.streets()[0]

    @property
    def edges(self) -> pd.DataFrame:
        return self.streets()[1]

    def base_key(self) -> tuple:
        return tuple(self.versions.get(k, 0) for k in BASE_LAYERS)

    def prepared_key(self) -> tuple:
        """What the prepared networks and snaps depend on."""
        return (
            self.database,
            self.base_key(),
            _digest(json.dumps(profile_digests(self.profiles), sort_keys=True)),
            self.config.snap_max_m,
            self.config.gap_link_m,
        )


BASE_FRAMES = ("areas", "residences")
_BASE: Cache[dict[str, pd.DataFrame]] = Cache(1)
"""The latest homes and areas read (one version at a time)."""
_STREETS: Cache[tuple[pd.DataFrame, pd.DataFrame]] = Cache(1)
"""The latest street network read (nodes, edges; one version at a time)."""


def read_inputs(
    s: Session, *, statuses: tuple[str, ...] = ("open", "planned", "closed"), config: RunConfig | None = None
) -> Inputs:
    """The layers a run reads. The street network, homes and areas are read once per version of those
    layers in this process (their version counters change with every write) and reused after; the
    street network only when something uses it (``Inputs.streets``), in this session."""
    config = config or RunConfig.from_settings()
    versions, database = queries.data_versions(s), queries.database_identity(s)
    base = _base_frames(s, (database, *(versions.get(k, 0) for k in BASE_FRAMES)))
    streets_key = (database, versions.get("network_nodes", 0), versions.get("network_edges", 0))
    return Inputs(
        **base,
        streets=lambda: _STREETS.get(streets_key, lambda: (queries.nodes(s), queries.edges(s))),
        facilities=queries.facilities(s, statuses=statuses),
        facility_types=with_capacity_basis(queries.facility_types(s), config.facility_types_csv),
        profiles=load_profiles(config.profiles_csv),
        versions=versions,
        config=config,
        database=database,
        stamp=queries.data_stamp(s, BASE_LAYERS),
    )


def _base_frames(s: Session, key: tuple) -> dict[str, pd.DataFrame]:
    return dict(
        _BASE.get(
            key,
            lambda: {
                "residences": queries.residences(s),
                "areas": _areas(s),
            },
        )
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


_PREPARED: Cache[Prepared] = Cache(1)
"""The latest prepared networks (a city's take hundreds of MB: one at a time)."""


def clear_cache() -> None:
    """Forget the layers read and the prepared networks of this process
    (the next run reads and prepares again).
    """
    _PREPARED.clear()
    _BASE.clear()
    _STREETS.clear()
    _NETWORKS.clear()
    _PER_HOME.clear()
    _AREA_COUNTS.clear()
    _COMMUNITIES.clear()


def prepared_for(inputs: Inputs) -> Prepared:
    """Networks and residence snaps, cached in this process per database and version of the base
    layers, of the travel profiles and of the snapping and gap distances; a new process reads them
    from ``MINQING_PREPARED_DIR`` while those are unchanged (``pipeline.prepared_files``)."""
    return _PREPARED.get(inputs.prepared_key(), lambda: _kept_or_prepared(inputs))


def _kept_or_prepared(inputs: Inputs) -> Prepared:
    folder = coverage_settings().prepared_dir
    name = (
        prepared_files.name_of((inputs.prepared_key(), inputs.stamp))
        if folder and inputs.database and inputs.stamp
        else None
    )
    kept = prepared_files.read(folder, name) if folder and name else None
    if kept is not None:
        return kept
    prepared = prepare(
        inputs.nodes,
        inputs.edges,
        inputs.residences,
        inputs.areas,
        inputs.profiles,
        facility_types=inputs.facility_types,
        max_distance_m=inputs.config.snap_max_m,
        gap_link_m=inputs.config.gap_link_m,
    )
    if folder and name:
        prepared_files.write(folder, name, prepared)
    return prepared


# --- what a run depends on ----------------------------------------------------------------------


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def profile_table(profiles: dict[str, Profile]) -> dict[str, dict[str, Any]]:
    """The profiles as read (JSON-ready): speeds km/h and usability per road class, one-way, access speed."""
    return {
        name: json.loads(json.dumps(dataclasses.asdict(p), default=str))
        for name, p in sorted(profiles.items())
    }


def profile_digests(profiles: dict[str, Profile]) -> dict[str, str]:
    """A short hash of each travel profile as read (any speed or access rule changes it)."""
    return {name: _digest(json.dumps(p, sort_keys=True)) for name, p in profile_table(profiles).items()}


def thresholds_digest(facility_types: pd.DataFrame) -> str:
    """A hash of the service tiers (type, circle, profile, seconds) of the facility-type table."""
    return _digest(service_tiers(facility_types).to_csv(index=False))


def config_key(inputs: Inputs) -> dict[str, Any]:
    """Hashes of what results depend on besides the layers (stored as ``params['config']``)."""
    return _config_key(inputs.config, profile_digests(inputs.profiles), capacity_basis(inputs.facility_types))


def _config_key(config: RunConfig, profiles: dict[str, str], basis: pd.DataFrame) -> dict[str, Any]:
    targets = config.targets_csv.read_bytes() if config.targets_csv.exists() else b""
    rules = config.service_areas_csv.read_bytes() if config.service_areas_csv.exists() else b""
    return {
        "profiles": _digest(json.dumps(profiles, sort_keys=True)),
        "targets": hashlib.sha1(targets).hexdigest()[:16],
        "service_areas": hashlib.sha1(rules).hexdigest()[:16],
        "capacity_basis": _digest(basis.sort_index().to_csv()),
        "snap_max_m": float(config.snap_max_m),
        "gap_link_m": float(config.gap_link_m),
    }


def current_config_key(s: Session, config: RunConfig | None = None) -> dict[str, Any]:
    """``config_key`` of the current tables and settings (cached per file version)."""
    config = config or RunConfig.from_settings()
    stamp = tuple(
        (p.stat().st_mtime_ns, p.stat().st_size) if p.exists() else None
        for p in (
            config.profiles_csv,
            config.targets_csv,
            config.facility_types_csv,
            config.service_areas_csv,
        )
    )
    return dict(_cached_config_key(config, stamp))


@lru_cache(maxsize=8)
def _cached_config_key(config: RunConfig, stamp: tuple) -> tuple:
    types = pd.read_csv(config.facility_types_csv, dtype={"code": str})
    key = _config_key(config, profile_digests(load_profiles(config.profiles_csv)), capacity_basis(types))
    return tuple(key.items())


def is_stale(s: Session, run_row: dict[str, Any], *, config: RunConfig | None = None) -> bool:
    """True when the layers changed since the run, or the profiles, targets, capacity basis or the
    snapping/gap distances differ from the run's."""
    return store.is_stale(s, run_row, config=current_config_key(s, config))


def missing_types(s: Session, run_row: dict[str, Any]) -> list[str]:
    """Facility types with a service tier that the run does not hold (a run limited to some types)."""
    held = set((run_row.get("params") or {}).get("fingerprints", {}))
    return sorted(set(service_tiers(queries.facility_types(s)).type_code) - held)


def fingerprints(
    inputs: Inputs, types: list[str], *, statuses: tuple[str, ...] = ("open",)
) -> dict[str, str]:
    """A hash per type of all its results depend on besides the base layers: its counted facilities
    (id, position, capacity), its tiers, the profiles they use and its capacity basis."""
    tiers = service_tiers(inputs.facility_types)
    digests = profile_digests(inputs.profiles)
    basis = capacity_basis(inputs.facility_types)
    fac = inputs.facilities[inputs.facilities.status.isin(statuses)].sort_values("facility_id")
    # one 64-bit hash per facility row (id, exact position, capacity), hashed per type below
    row_hash = pd.util.hash_pandas_object(
        fac[["facility_id", "lon", "lat", "capacity"]], index=False
    ).to_numpy()
    type_codes = fac.type_code.astype(str).to_numpy()
    out = {}
    for code in types:
        tier = tiers[tiers.type_code == code][["circle", "profile", "max_time_s"]]
        parts = [
            row_hash[type_codes == code].tobytes().hex(),
            repr(tier.to_numpy().tolist()),
            *(digests.get(p, "?") for p in sorted(set(tier.profile))),
            repr(basis.loc[code].tolist()),
        ]
        out[code] = _digest("|".join(parts))
    return out


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
        out[f"{m}_estimated"] = pa.get(f"{m}_estimated", 0)
    for m in ("households", "population", "elderly", "children"):  # the radius measure
        out[f"{m}_in_radius"] = pa[f"{m}_in_radius"]
    out["radius_share"] = pa["radius_share"]
    return out


def area_circle_rows(result: CoverageResult) -> pd.DataFrame:
    """``coverage_area_circle`` rows from ``result.per_area_circle``."""
    pc = result.per_area_circle
    return pc[
        [
            "type_code",
            "circle",
            "area_id",
            *(c for m in ("households", "population", "elderly", "children") for c in (m, f"{m}_covered")),
        ]
    ]


def residence_rows(result: CoverageResult) -> pd.DataFrame:
    pr = result.per_residence
    return pd.DataFrame(
        {
            "residence_id": pr.residence_id,
            "type_code": pr.type_code,
            "time_s": pr.time_s.where(np.isfinite(pr.time_s)),
            "facility_id": pr.facility_id,
            "covered": pr.covered.astype(bool),
            "unreachable": ~pr.snapped.astype(bool),
            "circle": pr.circle.astype(str),
        }
    )


def facility_rows(result: CoverageResult) -> pd.DataFrame:
    pf = result.per_facility
    return pd.DataFrame(
        {
            "facility_id": pf.facility_id,
            "type_code": pf.type_code,
            "catchment_population": pf.catchment_population,
            "catchment_households": pf.catchment_households,
            "covered_population": pf.catchment_population,
            "capacity": pf.capacity,
            "load": pf.load,
            "unreachable": ~pf.snapped.astype(bool),
        }
    )


def gap_rows(result: CoverageResult) -> pd.DataFrame:
    g = result.gaps.rename(columns={"gap_rank": "rank", "points": "residences"})
    return g[
        ["type_code", "rank", "households", "population", "elderly", "children", "residences", "geometry"]
    ]


# --- targets -------------------------------------------------------------------------------


def read_targets(path: Path | None = None) -> pd.DataFrame:
    """The targets table (``MINQING_TARGETS_CSV``, default data/targets.csv), checked."""
    return check_targets(pd.read_csv(path or coverage_settings().targets_csv, dtype={"code": str}))


def read_service_areas(path: Path | None = None) -> pd.DataFrame:
    """The presence measure's service-area rules (``MINQING_SERVICE_AREAS_CSV``)."""
    path = path or coverage_settings().service_areas_csv
    if not Path(path).exists():
        return pd.DataFrame(columns=measures.RULE_COLUMNS)
    return pd.read_csv(path, dtype={"community_code": str, "served_by_code": str})


@lru_cache(maxsize=1)
def measure_table() -> dict[str, dict[str, str]]:
    """The measures as officials name them (data/measures.csv): code → name_zh, name_rural_zh,
    unit_zh, definition_zh (one line of Chinese for tooltips, the CLI, the API and reports)."""
    table = pd.read_csv(MEASURES_CSV, dtype=str).fillna("")
    return {
        r["code"]: {k: r[k] for k in ("name_zh", "name_rural_zh", "unit_zh", "definition_zh")}
        for r in table.to_dict("records")
    }


def measure_name(code: str, circle: str = "urban") -> str:
    """The Chinese name of a measure for a circle (both: the urban name)."""
    m = measure_table()[code]
    return m["name_rural_zh"] if circle == "rural" else m["name_zh"]


_COMMUNITIES: Cache[pd.DataFrame] = Cache(1)
"""The communities with their polygons, per database and version of the areas layer."""


def presence_rows(s: Session, inputs: Inputs) -> pd.DataFrame:
    """The presence measure of every community and applicable type, from the open facilities."""
    comm = _COMMUNITIES.get(
        (inputs.database, inputs.versions.get("areas", 0)), lambda: queries.areas(s, levels=("community",))
    )
    fac = inputs.facilities[inputs.facilities.status == "open"]
    return measures.presence(
        comm, fac, inputs.facility_types, read_service_areas(inputs.config.service_areas_csv)
    )


def composite_rows(
    s: Session, run_id: int, inputs: Inputs, *, fresh: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The composite measure of a stored run: residents reaching every required type of their circle.

    ``fresh``: the per-home rows (``residence_rows``) of the types the run computed, taken from memory;
    the other types' rows are read from the store."""
    bundles = measures.required_bundles(inputs.facility_types)
    codes = sorted({c for v in bundles.values() for c in v})
    per_residence = _joined(_per_home(s, run_id, inputs, codes, fresh))
    return measures.composite(prepared_for(inputs), per_residence, bundles)


_PER_HOME: Cache[pd.DataFrame] = Cache(
    512 * 2**20, sizeof=lambda frame: int(frame.memory_usage(index=False).sum())
)
"""Per-home rows of one type as stored by the run that computed them (``residence_id``, ``type_code``,
``circle``, ``covered``), keyed by database, that run and the type: stored rows never change, so the
next incremental run in this process takes the types it reuses from here instead of the database."""


def _per_home(
    s: Session, run_id: int, inputs: Inputs, codes: list[str], fresh: pd.DataFrame | None
) -> list[pd.DataFrame]:
    """The per-home rows of ``codes`` the run holds: computed now (``fresh``), kept from the run that
    computed them, or read from the store (and kept)."""
    cols = ["residence_id", "type_code", "circle", "covered"]
    parts: list[pd.DataFrame] = []
    if fresh is not None and len(fresh):
        mine = fresh[fresh.type_code.astype(str).isin(codes)][cols].astype({"type_code": str, "circle": str})
        for code, part in mine.groupby("type_code", sort=True):
            _PER_HOME.put((inputs.database, run_id, str(code)), part.reset_index(drop=True))
            parts.append(part)
    done = {str(p.type_code.iloc[0]) for p in parts}
    sources = store.type_sources(s, run_id, types=[c for c in codes if c not in done])
    parts += _kept_by_source(
        _PER_HOME, inputs.database, sources, lambda types: store.residence_coverage(s, run_id, types=types)
    )
    return parts or [store.residence_coverage(s, run_id, types=[])]


def _kept_by_source(
    cache: Cache[pd.DataFrame],
    database: tuple,
    sources: dict[str, int],
    read: Callable[[list[str]], pd.DataFrame],
) -> list[pd.DataFrame]:
    """The stored rows of each type of ``sources`` (type → the run that computed its rows): kept in
    ``cache`` under (database, that run, type), the others read together by ``read(types)`` (a frame
    with ``type_code``) and kept. Stored rows never change, so what is kept never goes stale."""
    parts, missing = [], []
    for code, source in sorted(sources.items()):
        kept = cache.peek((database, source, code))
        if kept is None:
            missing.append(code)
        else:
            parts.append(kept)
    if missing:
        read_rows = read(missing)
        by_type = {str(code): part for code, part in read_rows.groupby("type_code", sort=True)}
        for code in missing:
            part = by_type.get(code, read_rows.iloc[:0]).reset_index(drop=True)
            cache.put((database, sources[code], code), part)
            parts.append(part)
    return parts


def _joined(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """``parts`` as one frame, the empty ones left out (pandas warns on them); ``parts`` is never empty."""
    filled = [p for p in parts if len(p)] or parts[:1]
    return pd.concat(filled, ignore_index=True) if len(filled) > 1 else filled[0]


def evaluate_targets(
    per_area: pd.DataFrame,
    areas: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    presence: pd.DataFrame | None = None,
    composite: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Pass/fail of each target row over all communities (the district's verdict; ``geo.targets``),
    with the measure's Chinese name and definition."""
    judged = targets_overall(per_area, areas, targets, presence=presence, composite=composite).set_index(
        "code"
    )
    rows = []
    for t in targets.to_dict("records"):
        value = judged.value.get(t["code"], np.nan)
        value = None if pd.isna(value) else float(value)
        rows.append(
            {
                **t,
                "value": value,
                "pass": value is not None and value >= float(t["threshold"]) - 1e-12,
                "communities": _int(judged.communities.get(t["code"])),
                "communities_reached": _int(judged.communities_reached.get(t["code"])),
                "measure_zh": measure_name(t["measure"], t["circle"]),
                "definition_zh": measure_table()[t["measure"]]["definition_zh"],
            }
        )
    return pd.DataFrame(rows)


def _int(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def target_rows(
    per_area: pd.DataFrame,
    areas: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    presence: pd.DataFrame | None = None,
    composite: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``coverage_target`` rows: each target judged in the district, every town and (resident
    measures) every community of its circle."""
    judged = targets_by_area(per_area, areas, targets, presence=presence, composite=composite)
    out = judged.rename(columns={"code": "target_code"})
    out["pass"] = out["pass"].astype("boolean")
    for col in ("communities", "communities_reached"):
        out[col] = out[col].astype("Int64")
    return out[
        [
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
    ]


def target_table(
    s: Session, run_id: int, *, level: str | None = None, code: str | None = None
) -> list[dict[str, Any]]:
    """The stored per-area verdicts of a run as JSON-ready records (with the target's label)."""
    rows = store.target_results(s, run_id, level=level, code=code)
    table = read_targets().set_index("code")
    labels, circles = table.label_zh.to_dict(), table.circle.to_dict()
    return [
        {
            "target_code": r.target_code,
            "label_zh": labels.get(r.target_code),
            "type_code": r.type_code,
            "measure": r.measure,
            "measure_zh": measure_name(r.measure, circles.get(r.target_code, "urban")),
            "definition_zh": measure_table()[r.measure]["definition_zh"],
            "threshold": float(r.threshold),
            "area_id": int(r.area_id),
            "name": r["name"],
            "level": r.level,
            "area_code": r.code,
            "value": None if pd.isna(r.value) else float(r.value),
            "pass": None if pd.isna(r["pass"]) else bool(r["pass"]),
            "communities": None if pd.isna(r.communities) else int(r.communities),
            "communities_reached": None if pd.isna(r.communities_reached) else int(r.communities_reached),
        }
        for _, r in rows.iterrows()
    ]


def town_verdicts(s: Session, run_id: int) -> dict[str, list[dict[str, Any]]]:
    """Per target code: the stored verdict of every town (``area_id``, ``name``, ``value``, ``pass``)."""
    rows = store.target_results(s, run_id, level="town")
    return {
        code: [
            {
                "area_id": int(r.area_id),
                "name": r["name"],
                "value": None if pd.isna(r.value) else float(r.value),
                "pass": None if pd.isna(r["pass"]) else bool(r["pass"]),
            }
            for _, r in part.iterrows()
        ]
        for code, part in rows.groupby("target_code", sort=True)
    }


def summarise(
    pa: pd.DataFrame,
    inputs: Inputs,
    *,
    seconds: float,
    recomputed: list[str],
    gaps: int,
    presence: pd.DataFrame,
    composite: pd.DataFrame,
) -> dict[str, Any]:
    """A run's headline figures: district share per type, targets pass/fail."""
    district = inputs.areas[inputs.areas.level == "district"].area_id
    top = pa[pa.area_id.isin(district)]
    by_type = {
        r.type_code: {
            "population": int(r.population),
            "population_covered": int(r.population_covered),
            "share": None if pd.isna(r.population_share) else round(float(r.population_share), 4),
            "radius_share": None if pd.isna(r.radius_share) else round(float(r.radius_share), 4),
            "elderly_share": None if pd.isna(r.elderly_share) else round(float(r.elderly_share), 4),
        }
        for r in top.itertuples()
    }
    targets = evaluate_targets(
        pa, inputs.areas, read_targets(inputs.config.targets_csv), presence=presence, composite=composite
    )
    return {
        "composite": composite_summary(pa, inputs, composite),
        "seconds": round(seconds, 3),
        "recomputed_types": recomputed,
        "types": by_type,
        "residences": int(len(inputs.residences)),
        "facilities": int((inputs.facilities.status == "open").sum()),
        "gaps": gaps,
        "targets": [
            {
                "code": r["code"],
                "label_zh": r["label_zh"],
                "measure": r["measure"],
                "measure_zh": r["measure_zh"],
                "definition_zh": r["definition_zh"],
                "value": None if pd.isna(r["value"]) else float(r["value"]),
                "threshold": r["threshold"],
                "pass": bool(r["pass"]),
            }
            for r in targets.to_dict("records")
        ],
    }


def composite_summary(pa: pd.DataFrame, inputs: Inputs, composite: pd.DataFrame) -> dict[str, Any]:
    """Per circle: the residents of the district who reach every required type of the circle's
    headline level (the 15-minute / half-hour life circle), and those types ranked by the residents
    who do not reach them (最常缺的是…)."""
    names = dict(zip(inputs.facility_types.code, inputs.facility_types.name_zh, strict=True))
    bundles = measures.required_bundles(inputs.facility_types)
    comm = inputs.areas[inputs.areas.level == "community"]
    out = {}
    for circle in ("urban", "rural"):
        tier = measures.HEADLINE_TIERS[circle]
        rows = composite[
            (composite.circle == circle) & (composite.tier == tier) & composite.area_id.isin(comm.area_id)
        ]
        if rows.empty:
            continue
        people, covered = int(rows.population.sum()), int(rows.population_covered.sum())
        mine = comm[comm.urban.astype(bool) == (circle == "urban")].area_id
        codes = bundles.get((circle, tier), [])
        ranked = measures.limiting_types(pa, mine, codes)
        out[circle] = {
            "measure_zh": measure_name("composite", circle),
            "tier": tier,
            "required_types": len(codes),
            "population": people,
            "population_covered": covered,
            "share": round(covered / people, 4) if people else None,
            "limiting": [
                {
                    "type_code": r.type_code,
                    "name_zh": names.get(r.type_code, r.type_code),
                    "population_missing": int(r.population_missing),
                }
                for r in ranked.itertuples()
                if r.population_missing > 0
            ][:5],
        }
    return out


def unreachable_summary(s: Session, run_id: int, inputs: Inputs, types: list[str]) -> dict[str, Any]:
    """Homes and facilities of a stored run farther than the snapping distance from every usable street:
    distinct homes (for at least one of ``types``) and their residents, facility ids, counts per type.
    Homes come from the prepared snaps (the same for every run on these base layers and distances),
    facilities from the run's stored rows."""
    homes = unsnapped(prepared_for(inputs), inputs.facility_types, types)
    facilities = store.unreachable_facilities(s, run_id)
    fac_of = {r.type_code: [int(f) for f in r.facility_ids] for r in facilities.itertuples()}
    per_type = homes.groupby("type_code").agg(
        residences=("residence_id", "size"), population=("population", "sum")
    )
    distinct = homes.drop_duplicates("residence_id")
    by_type = {}
    for code in sorted(set(per_type.index) | set(fac_of)):
        counts = per_type.loc[code] if code in per_type.index else {"residences": 0, "population": 0}
        by_type[code] = {
            "residences": int(counts["residences"]),
            "population": int(counts["population"]),
            "facilities": fac_of.get(code, []),
        }
    return {
        "snap_max_m": float(inputs.config.snap_max_m),
        "residences": int(len(distinct)),
        "population": int(distinct.population.sum()),
        "facilities": sorted({f for ids in fac_of.values() for f in ids}),
        "by_type": by_type,
    }


# --- runs --------------------------------------------------------------------------------------


def compute(
    inputs: Inputs,
    *,
    types: list[str] | None = None,
    statuses: tuple[str, ...] = ("open",),
    with_gaps: bool = True,
    progress: Progress | None = None,
) -> CoverageResult:
    """Coverage of ``types`` (default all) on the cached prepared networks."""
    return run_coverage(
        None,
        None,
        inputs.facilities,
        None,
        None,
        inputs.facility_types,
        inputs.profiles,
        types=types,
        prepared=prepared_for(inputs),
        statuses=statuses,
        with_gaps=with_gaps,
        progress=progress,
    )


def _previous(s: Session, inputs: Inputs) -> dict[str, Any] | None:
    """The latest run if its rows may be reused: same base layers, snapping and gap distances."""
    last = store.latest_run(s)
    if not last:
        return None
    then = last["data_version"] or {}
    if any(then.get(k, 0) != inputs.versions.get(k, 0) for k in BASE_LAYERS):
        return None
    config = (last["params"] or {}).get("config") or {}
    now = config_key(inputs)
    if any(config.get(k) != now[k] for k in ("snap_max_m", "gap_link_m")):
        return None
    return last


def _wanted(inputs: Inputs, types: list[str] | None) -> list[str]:
    tiered = sorted(set(service_tiers(inputs.facility_types).type_code))
    if not types:
        return tiered
    unknown = sorted(set(types) - set(inputs.facility_types.code.astype(str)))
    if unknown:
        raise UnknownFacilityTypeError(unknown)
    return sorted(set(types) & set(tiered))


def run_params(
    inputs: Inputs, prints: dict[str, str], *, actor: str, previous: dict[str, Any] | None, reused: list[str]
) -> dict[str, Any]:
    """The parameters stored with a run: types held and their fingerprints, the profiles as read,
    the threshold table's hash, the distances, and ``config`` (hashes compared by ``is_stale``)."""
    return {
        "types": sorted(prints),
        "fingerprints": prints,
        "actor": actor,
        "incremental_from": previous["run_id"] if previous else None,
        "reused_types": reused,
        "snap_max_m": float(inputs.config.snap_max_m),
        "gap_link_m": float(inputs.config.gap_link_m),
        "thresholds": thresholds_digest(inputs.facility_types),
        "profiles": profile_table(inputs.profiles),
        "config": config_key(inputs),
        "tables": _table_names(inputs.config),
    }


def _table_names(config: RunConfig) -> dict[str, str]:
    """Which editable tables a run used: the shipped one (内置) or an edited copy, by file name only —
    never the server's path (run parameters reach planners)."""
    shipped = {
        "profiles": PROFILES_CSV,
        "targets": TARGETS_CSV,
        "facility_types": FACILITY_TYPES_CSV,
        "service_areas": SERVICE_AREAS_CSV,
    }
    used = {
        "profiles": config.profiles_csv,
        "targets": config.targets_csv,
        "facility_types": config.facility_types_csv,
        "service_areas": config.service_areas_csv,
    }
    return {
        k: f"{p.name}（内置）" if Path(p).resolve() == shipped[k].resolve() else f"{p.name}（本地修改）"
        for k, p in used.items()
    }


def run_and_store(
    s: Session,
    *,
    types: list[str] | None = None,
    incremental: bool = True,
    actor: str = "system",
    config: RunConfig | None = None,
    progress: Progress | None = None,
    run_id: int | None = None,
    isochrones: bool = True,
) -> dict[str, Any]:
    """Compute and store a run in the session's transaction; returns the run row with its summary.

    ``isochrones`` False leaves the public map's facility isochrones (``RunConfig.store_isochrones``)
    to ``store_run_isochrones`` after this transaction committed: the job and the CLI do so, so that
    planners see the run's results without waiting for them (after one facility moved at scale 10,
    1.2 s against 34 s).

    ``types`` limits the run to those facility types (it then holds only them). With
    ``incremental``, the types whose fingerprint equals the one the latest run (on the same base
    layers and distances) holds are copied from it; every other type is computed. ``progress`` is
    called per step (reading, each facility type × profile search, aggregation, gaps, storing).
    ``run_id``: a run already queued (``POST /coverage/runs``) to compute into, instead of a new one.
    """
    started = store.clock(s)
    t0 = time.perf_counter()
    phases: dict[str, float] = {}
    inputs = read_inputs(s, config=config)
    phases["read"] = time.perf_counter() - t0
    wanted = _wanted(inputs, types)
    prints = fingerprints(inputs, wanted)
    previous = _previous(s, inputs) if incremental else None
    held = (previous["params"] or {}).get("fingerprints", {}) if previous else {}
    reused = [t for t in wanted if held.get(t) == prints[t]]
    todo = [t for t in wanted if t not in set(reused)]
    total = 2 + (search_count(inputs.facility_types, todo) + 2 if todo else 0)
    step = (lambda label: progress(label, total)) if progress is not None else (lambda label: None)
    step("read")
    run_id = store.start_run(
        s,
        params=run_params(inputs, prints, actor=actor, previous=previous, reused=reused),
        started_at=started,
        run_id=run_id,
    )
    mark = time.perf_counter()
    if todo:
        prepared_for(inputs)
    phases["prepare"] = time.perf_counter() - mark
    mark = time.perf_counter()
    result = compute(inputs, types=todo, progress=lambda label, _: step(label)) if todo else None
    phases["compute"] = time.perf_counter() - mark
    mark = time.perf_counter()
    if reused and previous is not None:  # types are reused only from a previous run
        store.copy_results(s, previous["run_id"], run_id, types=reused)
    fresh = residence_rows(result) if result is not None else None
    if result is not None:
        store.add_results(
            s,
            run_id,
            types=todo,
            per_area=area_rows(result),
            per_area_circle=area_circle_rows(result),
            per_residence=fresh,
            per_facility=facility_rows(result),
            gaps=gap_rows(result),
        )
    per_area = _stored_per_area(s, run_id, inputs.database)
    presence = presence_rows(s, inputs)
    composite = composite_rows(s, run_id, inputs, fresh=fresh)
    store.add_measures(s, run_id, presence=presence, composite=composite)
    targets = read_targets(inputs.config.targets_csv)
    store.add_targets(
        s, run_id, target_rows(per_area, inputs.areas, targets, presence=presence, composite=composite)
    )
    summary = summarise(
        per_area,
        inputs,
        seconds=time.perf_counter() - t0,
        recomputed=todo,
        gaps=store.gap_count(s, run_id),
        presence=presence,
        composite=composite,
    )
    towns = town_verdicts(s, run_id)
    for t in summary["targets"]:
        t["towns"] = towns.get(t["code"], [])
    summary.update(
        held_types=wanted,
        reused_types=reused,
        missing_types=sorted(set(service_tiers(inputs.facility_types).type_code) - set(wanted)),
        unreachable=unreachable_summary(s, run_id, inputs, wanted),
    )
    phases["store"] = time.perf_counter() - mark
    mark = time.perf_counter()
    wanted_isochrones = isochrones and inputs.config.store_isochrones
    summary["isochrones"] = store_isochrones(s, run_id, inputs) if wanted_isochrones else None
    phases["isochrones"] = time.perf_counter() - mark
    summary["phases_s"] = {k: round(v, 3) for k, v in phases.items()}
    store.finish_run(s, run_id, summary={**summary, "seconds": round(time.perf_counter() - t0, 3)})
    step("stored")
    row = store.run(s, run_id)
    if row is None:
        raise RuntimeError(f"coverage run {run_id} was just stored but cannot be read back")
    return row


def store_run_isochrones(
    s: Session, run_id: int, *, config: RunConfig | None = None
) -> dict[str, Any] | None:
    """Store the public map's facility isochrones of finished run ``run_id`` (made with
    ``isochrones=False``) and add them to its summary; None when they are off, already stored, or the
    data the run saw changed since (the next run stores them; meanwhile the isochrone route computes)."""
    config = config or RunConfig.from_settings()
    if not config.store_isochrones or not store.lock_run(s, run_id):
        return None
    run = store.run(s, run_id)
    if run is None or run["status"] != "done" or (run["summary"] or {}).get("isochrones"):
        return None
    inputs = read_inputs(s, config=config)
    then = run["data_version"] or {}
    if any(inputs.versions.get(k, 0) != then.get(k, 0) for k in isochrones.RUN_LAYERS):
        return None
    mark = time.perf_counter()
    held = store_isochrones(s, run_id, inputs)
    store.update_summary(
        s, run_id, isochrones=held, phase=("isochrones", round(time.perf_counter() - mark, 3))
    )
    return held


_NETWORKS: Cache[Network] = Cache(len(isochrones.PUBLIC_PROFILES))
"""The public isochrones' networks, built as the API builds its own (so stored and computed ones agree)."""


def isochrone_network(inputs: Inputs, profile: str) -> Network:
    """The routable network of ``profile`` on the run's street network: the run's prepared one when it
    has it (the same network: ``geo.network.build_network`` of the same layers), else built and cached."""
    prepared = _PREPARED.peek(inputs.prepared_key())
    if prepared is not None and profile in prepared.networks:
        return prepared.networks[profile]
    key = (
        inputs.database,
        inputs.versions.get("network_nodes", 0),
        inputs.versions.get("network_edges", 0),
        profile,
        profile_digests(inputs.profiles)[profile],
    )
    return _NETWORKS.get(
        key, lambda: build_network(inputs.nodes, inputs.edges, get_profile(inputs.profiles, profile))
    )


def store_isochrones(s: Session, run_id: int, inputs: Inputs) -> dict[str, Any]:
    """Store the public map's isochrones of every open facility with the run (``pipeline.isochrones``),
    copying those of the latest finished run holding them that no edit since can have changed."""
    open_now = inputs.facilities[inputs.facilities.status == "open"][["facility_id", "lon", "lat"]]
    return isochrones.store_for_run(
        s,
        run_id,
        network=lambda profile: isochrone_network(inputs, profile),
        facilities=open_now,
        digests=profile_digests(inputs.profiles),
        snap_max_m=inputs.config.snap_max_m,
        versions=inputs.versions,
    )


_AREA_COUNTS: Cache[pd.DataFrame] = Cache(512)
"""Per-area counts of one type in the judged levels as stored by the run that computed them, keyed by
database, that run and the type (stored rows never change): an incremental run reads only its own."""


def _stored_per_area(s: Session, run_id: int, database: tuple) -> pd.DataFrame:
    """Stored per-area rows of the district, towns and communities (all the summary and the targets
    judge) with the share columns ``summarise`` reads. The types a run reused come from this process's
    memory when an earlier run here stored or read them."""
    parts = _kept_by_source(
        _AREA_COUNTS,
        database,
        store.type_sources(s, run_id),
        lambda types: store.area_counts(s, run_id, levels=JUDGED_LEVELS, types=types),
    )
    pa = _joined(parts or [store.area_counts(s, run_id, levels=JUDGED_LEVELS, types=[])])
    pa = pa.sort_values(["area_id", "type_code"], kind="stable", ignore_index=True)
    pa = pa.rename(columns={"share": "population_share"})
    with np.errstate(invalid="ignore", divide="ignore"):
        pa["elderly_share"] = pa.elderly_covered / pa.elderly.where(pa.elderly > 0)
    return pa
