"""SQLAlchemy 2 + GeoAlchemy2 models of every PostGIS layer (SRID 4326).

Columns follow docs/CONTRACTS.md so that ``layers.queries`` can hand frames straight to ``geo``.
Every table has ``created_at``/``updated_at``; every write is also recorded in ``audit_log``
(row by row with before/after, or one row per statement for bulk loads and coverage results:
migration 0006 and its ``minqing_audit_table`` function, which every new table must call).
``version`` columns give optimistic locking (ETag / If-Match in the API).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from geo.areas import LEVELS

SRID = 4326
AREA_LEVELS = LEVELS
FACILITY_STATUS = ("open", "planned", "closed")
PLACE_NAME_STATUS = ("standard", "irregular", "historical")
DIVISION_LEVELS = ("province", "city", "county", "town", "village")
JOB_STATUS = ("queued", "running", "done", "failed")
ROLES = ("grid_worker", "planner", "placename_officer", "admin", "dispatcher", "department")
EVENT_STATUS = (
    "reported",
    "accepted",
    "escalated",
    "assigned",
    "handling",
    "resolved",
    "reviewed",
    "archived",
)
EVENT_LEVELS = ("网格", "村社区", "镇街", "职能部门")
EVENT_SOURCES = ("public", "staff", "12345")
WORK_PHONE_PATTERN = (
    "^(0[1-9][0-9]{1,2}-?[0-9]{7,8}((-|转)[0-9]{1,6})?|1[0-9]{4}|9[56][0-9]{3,6}"
    "|[48]00-?[0-9]{3}-?[0-9]{4}|工作(电话|手机)[:：]? ?1[3-9][0-9]{9})$"
)
"""What ``areas.worker_phone`` (public) accepts: an office landline with its area code and an optional
extension, a service hotline (12xxx, 95xxx/96xxx, 400/800), or a mobile explicitly marked as the work
phone (工作手机/工作电话). A bare mobile number is refused: it may be personal. (README, migration 0012.)"""


def is_work_phone(value: str) -> bool:
    """``value`` is acceptable as a grid worker's public phone (``WORK_PHONE_PATTERN``)."""
    return re.match(WORK_PHONE_PATTERN, value) is not None


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONB}


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


def _in(col: str, values: tuple[str, ...]) -> str:
    return f"{col} IN ({', '.join(repr(v) for v in values)})"


class Area(Timestamped, Base):
    """One tree: district → town → {community, grid_large}; community → grid_middle → grid_small."""

    __tablename__ = "areas"
    __table_args__ = (
        CheckConstraint(_in("level", AREA_LEVELS), name="area_level_known"),
        CheckConstraint(f"worker_phone ~ '{WORK_PHONE_PATTERN}'", name="area_worker_phone_work"),
        Index("ix_areas_geom", "geom", postgresql_using="gist"),
    )

    area_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("areas.area_id"), index=True)
    level: Mapped[str] = mapped_column(String(16), index=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    urban: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    urban_rural_code: Mapped[str | None] = mapped_column(String(3))
    worker_name: Mapped[str | None] = mapped_column(String(60))
    """Grid worker's public work name/title (public: a work contact, not personal data)."""
    worker_phone: Mapped[str | None] = mapped_column(String(40))
    """Grid worker's public WORK phone."""
    households: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False))


class FacilityType(Timestamped, Base):
    __tablename__ = "facility_types"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(80))
    category: Mapped[str] = mapped_column(String(20))
    urban_tier: Mapped[str | None] = mapped_column(String(10))
    urban_profile: Mapped[str | None] = mapped_column(String(20))
    urban_max_time_min: Mapped[float | None] = mapped_column(Float)
    urban_max_distance_m: Mapped[float | None] = mapped_column(Float)
    rural_tier: Mapped[str | None] = mapped_column(String(10))
    rural_profile: Mapped[str | None] = mapped_column(String(20))
    rural_max_time_min: Mapped[float | None] = mapped_column(Float)
    rural_max_distance_m: Mapped[float | None] = mapped_column(Float)
    min_floor_area_m2: Mapped[float | None] = mapped_column(Float)
    required: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    source: Mapped[str | None] = mapped_column(Text)


class Facility(Timestamped, Base):
    __tablename__ = "facilities"
    __table_args__ = (
        CheckConstraint(_in("status", FACILITY_STATUS), name="facility_status_known"),
        Index("ix_facilities_geom", "geom", postgresql_using="gist"),
    )

    facility_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    type_code: Mapped[str] = mapped_column(String(40), ForeignKey("facility_types.code"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))
    floor_area_m2: Mapped[float | None] = mapped_column(Float)
    capacity: Mapped[float | None] = mapped_column(Float)
    opening_hours: Mapped[str | None] = mapped_column(String(120))
    fees: Mapped[str | None] = mapped_column(String(200))
    """收费标准 as published by the facility (free text, e.g. ``床位费 1800元/月起``); null when unknown."""
    phone: Mapped[str | None] = mapped_column(String(40))
    operator: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), server_default="open")
    source: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False))


class Residence(Timestamped, Base):
    """Aggregated 一标三实 points: the weights of coverage. Never public."""

    __tablename__ = "residences"
    __table_args__ = (
        Index("ix_residences_geom", "geom", postgresql_using="gist"),
        CheckConstraint(
            "elderly >= 0 AND children >= 0 AND elderly + children <= population",
            name="residence_people_consistent",
        ),
    )

    residence_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    address: Mapped[str | None] = mapped_column(String(300))
    area_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("areas.area_id"), index=True)
    households: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    population: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    elderly: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    children: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    estimated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    """Some count of the row is an estimate (households from a footprint, or people from 户数)."""
    households_estimated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    """The households are an estimate (OSM building footprint), not counted (一标三实)."""
    source: Mapped[str | None] = mapped_column(String(200))
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False))
    footprint: Mapped[Any | None] = mapped_column(Geometry("POLYGON", srid=SRID, spatial_index=False))


class PlaceName(Timestamped, Base):
    __tablename__ = "place_names"
    __table_args__ = (
        CheckConstraint(_in("status", PLACE_NAME_STATUS), name="place_name_status_known"),
        Index("ix_place_names_geom", "geom", postgresql_using="gist"),
    )

    name_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    category: Mapped[str] = mapped_column(String(40), index=True)
    """Category code from data/placenames/categories.csv (GB/T 18521-based)."""
    area_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("areas.area_id"), index=True)
    proper: Mapped[str | None] = mapped_column(String(120))
    generic: Mapped[str | None] = mapped_column(String(40))
    pinyin: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(12), server_default="standard")
    heritage: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    sign_present: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    approval: Mapped[str | None] = mapped_column(String(200))
    """Approval record: document number and date."""
    meaning: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    geom: Mapped[Any] = mapped_column(Geometry("GEOMETRY", srid=SRID, spatial_index=False))


class PlaceNameHistory(Timestamped, Base):
    __tablename__ = "place_name_history"

    history_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("place_names.name_id"), index=True)
    action: Mapped[str] = mapped_column(String(12))  # create, rename, retire, update
    old_name: Mapped[str | None] = mapped_column(String(120))
    new_name: Mapped[str | None] = mapped_column(String(120))
    approval: Mapped[str | None] = mapped_column(String(200))
    changed_by: Mapped[str | None] = mapped_column(String(60))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


REVIEW_DECISIONS = ("保留", "豁免", "整改")
"""An officer's decision on a flagged name: keep it (保留), exempt it from the rule (豁免), or have it
corrected (整改). 保留 and 豁免 stop the reviewed findings from being flagged; 整改 keeps them."""


class PlaceNameReview(Timestamped, Base):
    """The officer's decision on the findings of one name (one row per name; audited)."""

    __tablename__ = "place_name_reviews"
    __table_args__ = (
        CheckConstraint(_in("decision", REVIEW_DECISIONS), name="place_name_review_decision_known"),
    )

    name_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    """A place_names.name_id (no foreign key: see migration 0015)."""
    decision: Mapped[str] = mapped_column(String(4))
    codes: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    """The finding codes reviewed; a finding of another code stays flagged."""
    reviewed_name: Mapped[str] = mapped_column(String(120))
    """The name as reviewed: a rename makes the review lapse."""
    note: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(60))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


PLACE_NAME_RESULTS = ("duplicate", "dayangguai", "other", "missing_sign", "historical", "ok")
"""``geo.placenames.results.RESULT_ORDER``."""


class PlaceNameResult(Timestamped, Base):
    """The check result of one place name (``geo.placenames.results``), derived from the registry and its
    reviews and recomputed whenever their data versions moved on (``pipeline.placename_results``);
    the place-name map's clusters count them (``layers.tiles``)."""

    __tablename__ = "place_name_results"
    __table_args__ = (CheckConstraint(_in("result", PLACE_NAME_RESULTS), name="place_name_result_known"),)

    name_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    """A place_names.name_id (no foreign key: the registry's loads truncate and refill place_names)."""
    result: Mapped[str] = mapped_column(String(12))
    basis: Mapped[str] = mapped_column(String(200))
    """The data versions of place_names and place_name_reviews the result was computed on."""


class NetworkNode(Timestamped, Base):
    __tablename__ = "network_nodes"
    __table_args__ = (Index("ix_network_nodes_geom", "geom", postgresql_using="gist"),)

    node_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False))


class NetworkEdge(Timestamped, Base):
    __tablename__ = "network_edges"
    __table_args__ = (Index("ix_network_edges_geom", "geom", postgresql_using="gist"),)

    edge_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    u: Mapped[int] = mapped_column(BigInteger, ForeignKey("network_nodes.node_id"), index=True)
    v: Mapped[int] = mapped_column(BigInteger, ForeignKey("network_nodes.node_id"), index=True)
    length_m: Mapped[float] = mapped_column(Float)
    highway: Mapped[str] = mapped_column(String(30))
    oneway: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    access: Mapped[str | None] = mapped_column(String(20))
    foot: Mapped[str | None] = mapped_column(String(20))
    bicycle: Mapped[str | None] = mapped_column(String(20))
    bridge: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    name: Mapped[str | None] = mapped_column(String(120))
    geom: Mapped[Any] = mapped_column(Geometry("LINESTRING", srid=SRID, spatial_index=False))


class Water(Timestamped, Base):
    """Rivers, sea and lakes: drawn in the offline base map (public)."""

    __tablename__ = "water"
    __table_args__ = (Index("idx_water_geom", "geom", postgresql_using="gist"),)

    water_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # river, sea, lake
    name: Mapped[str | None] = mapped_column(String(120))
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False))


class Building(Timestamped, Base):
    """Building footprints (or built-up blocks) where the data has them: drawn by the base map close in
    (public: form and height only, never who lives there)."""

    __tablename__ = "buildings"
    __table_args__ = (Index("ix_buildings_geom", "geom", postgresql_using="gist"),)

    building_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str | None] = mapped_column(String(20))  # residential, commercial, public ...
    levels: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(200))
    geom: Mapped[Any] = mapped_column(Geometry("POLYGON", srid=SRID, spatial_index=False), nullable=True)


class Division(Timestamped, Base):
    """Official statistical division names and codes (NBS 统计用区划代码): a gazetteer, no geometry.

    ``code`` is the 12-digit statistics code padded right with zeros, as in ``areas.code``.
    Loaded by ``minqing import divisions`` (migration 0004).
    """

    __tablename__ = "divisions"
    __table_args__ = (CheckConstraint(_in("level", DIVISION_LEVELS), name="division_level_known"),)

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    level: Mapped[str] = mapped_column(String(10))
    parent_code: Mapped[str | None] = mapped_column(String(12), index=True)
    city_code: Mapped[str | None] = mapped_column(String(12))
    city_name: Mapped[str | None] = mapped_column(String(60))
    county_code: Mapped[str | None] = mapped_column(String(12))
    county_name: Mapped[str | None] = mapped_column(String(60))
    town_code: Mapped[str | None] = mapped_column(String(12))
    town_name: Mapped[str | None] = mapped_column(String(120))
    class_hint: Mapped[str | None] = mapped_column(String(40))
    urban_rural_code: Mapped[str | None] = mapped_column(String(3))
    source: Mapped[str | None] = mapped_column(String(200))


class DataVersion(Timestamped, Base):
    """A counter bumped by every write to a layer: coverage runs record what they were computed on."""

    __tablename__ = "data_versions"

    layer: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class CoverageRun(Timestamped, Base):
    __tablename__ = "coverage_runs"

    run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(12), server_default="running")  # queued, running, done, failed
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    data_version: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    scenario_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("scenarios.scenario_id"), index=True
    )
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger)
    """The task-queue job computing this run (procrastinate; a base run queued over the API)."""


class Job(Timestamped, Base):
    """A long computation run in the background (siting, sign sheets, file imports): request, status,
    progress, result or error, the file it works on and the file it made."""

    __tablename__ = "jobs"
    __table_args__ = (CheckConstraint(_in("status", JOB_STATUS), name="job_status_known"),)

    job_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), server_default="queued")
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(60))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger)
    """The task-queue job computing it (procrastinate)."""
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    """How far a running job is (``{"done", "total", "unit"}``), written as it goes."""
    output: Mapped[bytes | None] = mapped_column(LargeBinary)
    """A file the job made (the sign sheets' PDF), downloaded from the job."""
    upload: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The file a job works on (an import's upload), dropped when the job ends."""


class CoverageRunType(Timestamped, Base):
    """Which run computed the results a run holds of a facility type: the run itself, or for a type an
    incremental run reused, the run it came from. Result rows are stored once, under the run that
    computed them (``coverage_*_rows``, ``coverage_residence_packed``); the views ``coverage_area``,
    ``coverage_area_circle``, ``coverage_facility``, ``coverage_gaps`` and ``coverage_residence``
    give every run its rows through this mapping (migration 0033)."""

    __tablename__ = "coverage_run_types"

    run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("coverage_runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    type_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    source_run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("coverage_runs.run_id", deferrable=True, initially="DEFERRED"), index=True
    )
    """The run whose rows hold this type's results (checked at commit: a run others refer to cannot be
    deleted alone; all runs at once can, migration 0034)."""


class CoverageArea(Timestamped, Base):
    """Aggregated coverage of one facility type in one area (public after suppression). Rows of the
    run that computed them; read through the view ``coverage_area`` (``CoverageRunType``).

    ``run_id`` and ``area_id`` here, and in the other result tables written with each run (per area
    and circle, facilities, gaps, presence, composite, targets), are checked once per statement by
    triggers, not by foreign keys row by row; deleting a run or an area deletes its rows (0036)."""

    __tablename__ = "coverage_area_rows"
    __table_args__ = (PrimaryKeyConstraint("run_id", "type_code", "area_id"),)

    run_id: Mapped[int] = mapped_column(BigInteger)
    area_id: Mapped[int] = mapped_column(BigInteger)
    type_code: Mapped[str] = mapped_column(String(40))
    applicable: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    households: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    households_covered: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    population: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    population_covered: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    elderly: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    elderly_covered: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    children: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    children_covered: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    share: Mapped[float | None] = mapped_column(Float)
    """Share of residents covered (0..1)."""
    households_estimated: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    """Of ``households``: how many are estimates (residences.households_estimated)."""
    population_estimated: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    """Of ``population``: how many residents come from rows with estimated counts."""
    households_in_radius: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    population_in_radius: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    elderly_in_radius: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    children_in_radius: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    """Radius measure (服务半径覆盖率): homes within the type's service radius in a straight line."""
    radius_share: Mapped[float | None] = mapped_column(Float)
    """Share of residents within the service radius (0..1)."""


class CoverageAreaCircle(Timestamped, Base):
    """``coverage_area`` split by life circle: per area, type and circle (urban/rural), the residents
    of that circle and how many of them are covered (the planner map's 生活圈 choice). Stored with
    each run, so that a town holding both kinds of community shows how each kind fares."""

    __tablename__ = "coverage_area_circle_rows"
    __table_args__ = (CheckConstraint("circle IN ('urban', 'rural')", name="coverage_area_circle_known"),)

    run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    type_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    circle: Mapped[str] = mapped_column(String(10), primary_key=True)
    area_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    households: Mapped[int] = mapped_column(Integer)
    households_covered: Mapped[int] = mapped_column(Integer)
    population: Mapped[int] = mapped_column(Integer)
    population_covered: Mapped[int] = mapped_column(Integer)
    elderly: Mapped[int] = mapped_column(Integer)
    elderly_covered: Mapped[int] = mapped_column(Integer)
    children: Mapped[int] = mapped_column(Integer)
    children_covered: Mapped[int] = mapped_column(Integer)


class CoverageResidencePacked(Timestamped, Base):
    """Per residence and type: time to the nearest facility, one row per (run, type, circle) holding
    aligned arrays (one element per home of the circle, ascending ``residence_id``). Never public.

    Packed because a city's run has 10^6-10^7 (home, type) pairs: arrays write and copy (an
    incremental run reuses whole rows) at a fraction of the cost of one row per pair. The view
    ``coverage_residence`` unnests them into the per-home rows readers query (migration 0025).
    ``circle`` is '' for runs made before the circle was stored (revision 0010).
    """

    __tablename__ = "coverage_residence_packed"

    run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("coverage_runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    type_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    circle: Mapped[str] = mapped_column(String(5), primary_key=True)
    residence_id: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    time_s: Mapped[list[float]] = mapped_column(ARRAY(Float))
    """Seconds to the nearest facility; NaN when none lies within the search bound (NULL in the view)."""
    facility_id: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    """The nearest facility; -1 when none lies within the search bound (NULL in the view)."""
    covered: Mapped[list[bool]] = mapped_column(ARRAY(Boolean))
    unreachable: Mapped[list[bool]] = mapped_column(ARRAY(Boolean))
    """Farther than the run's snapping distance from every street of the type's profile (never covered)."""


class CoverageFacility(Timestamped, Base):
    __tablename__ = "coverage_facility_rows"

    run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    facility_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    type_code: Mapped[str] = mapped_column(String(40))
    catchment_population: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    catchment_households: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    covered_population: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    capacity: Mapped[float | None] = mapped_column(Float)
    load: Mapped[float | None] = mapped_column(Float)
    """Catchment of the type's capacity basis / (capacity × basis per unit), data/facility_types.csv
    (1.0 = full; None when the capacity is unknown or the type has no capacity basis)."""
    unreachable: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    """Farther than the run's snapping distance from every street of a profile of its type: serves nobody."""


class CoverageGap(Timestamped, Base):
    __tablename__ = "coverage_gaps_rows"
    __table_args__ = (
        Index("idx_coverage_gaps_geom", "geom", postgresql_using="gist"),
        Index("ix_coverage_gaps_rows_run_type", "run_id", "type_code"),
    )

    gap_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(BigInteger)
    type_code: Mapped[str] = mapped_column(String(40), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer)
    population: Mapped[int] = mapped_column(Integer)
    elderly: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    children: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    residences: Mapped[int] = mapped_column(Integer)
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False))


class CoverageTarget(Timestamped, Base):
    """A target of data/targets.csv judged in one area (district, town, community) of a run."""

    __tablename__ = "coverage_target"

    run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    target_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    area_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    type_code: Mapped[str] = mapped_column(String(40))
    measure: Mapped[str] = mapped_column(String(20))
    threshold: Mapped[float] = mapped_column(Float)
    value: Mapped[float | None] = mapped_column(Float)
    """Share (0..1) of communities reached or of residents covered; None without any in the circle."""
    pass_: Mapped[bool | None] = mapped_column("pass", Boolean)
    communities: Mapped[int | None] = mapped_column(Integer)
    communities_reached: Mapped[int | None] = mapped_column(Integer)


class CoveragePresence(Timestamped, Base):
    """Presence measure (设施覆盖社区比例): does a community have an open facility of the type?"""

    __tablename__ = "coverage_presence"

    run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    area_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    type_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    present: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str | None] = mapped_column(String(12))
    """inside (a facility inside the boundary), town or assigned (a service-area rule); None: absent."""
    facilities: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    """Open facilities of the type inside the community's boundary."""


class CoverageComposite(Timestamped, Base):
    """The life circle as a whole: residents reaching every required type of their circle."""

    __tablename__ = "coverage_composite"

    run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    area_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    circle: Mapped[str] = mapped_column(String(5), primary_key=True)
    tier: Mapped[str] = mapped_column(String(10), primary_key=True, server_default="all")
    """The bundle counted: one level of the circle (5min, 10min, 15min, village, township) or all."""
    required_types: Mapped[int] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    households_covered: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    population: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    population_covered: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    share: Mapped[float | None] = mapped_column(Float)


class Scenario(Timestamped, Base):
    """A named, saved set of what-if changes; evaluated without touching the base layers."""

    __tablename__ = "scenarios"

    scenario_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)
    changes: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    created_by: Mapped[str | None] = mapped_column(String(60))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class User(Timestamped, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="user_role_known"),
        CheckConstraint("role <> 'department' OR department IS NOT NULL", name="user_department_named"),
    )

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    password_hash: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    area_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("areas.area_id"), index=True)
    """A grid worker's own grid (limits what they see)."""
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    token_version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    """Tokens carrying an older version are refused (logout everywhere, password/role change)."""
    department: Mapped[str | None] = mapped_column(String(60))
    """A department user's 职能部门 (as named in data/event_categories.csv): the events they see."""


class RevokedToken(Timestamped, Base):
    """Tokens logged out before they expire (token id ``jti``); rows past ``expires_at`` are pruned."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.user_id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Event(Timestamped, Base):
    """A resident's report (民情事件), routed to a grid and handled through the flow of geo.events."""

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint(_in("status", EVENT_STATUS), name="event_status_known"),
        CheckConstraint(_in("level", EVENT_LEVELS), name="event_level_known"),
        CheckConstraint(_in("source", EVENT_SOURCES), name="event_source_known"),
        CheckConstraint("satisfaction BETWEEN 1 AND 5", name="event_satisfaction_range"),
        Index("ix_events_geom", "geom", postgresql_using="gist"),
        Index(
            "ux_events_source_external_ref",
            "source",
            "external_ref",
            unique=True,
            postgresql_where=text("external_ref IS NOT NULL"),
        ),
        Index(
            "ix_events_open_reported",
            "reported_at",
            postgresql_where=text("resolved_at IS NULL AND status <> 'merged'"),
            postgresql_include=["due_at", "grid_id", "community_id", "town_id"],
        ),
    )

    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    tracking_code: Mapped[str] = mapped_column(String(16), unique=True)
    """Given to the reporter to follow the status on the public tracking page."""
    category: Mapped[str] = mapped_column(String(30), index=True)
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), index=True)
    level: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(8))
    grid_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("areas.area_id"), index=True)
    community_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("areas.area_id"), index=True)
    town_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("areas.area_id"), index=True)
    worker_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.user_id"), index=True)
    department: Mapped[str | None] = mapped_column(String(60), index=True)
    address: Mapped[str | None] = mapped_column(String(300))
    reporter_phone: Mapped[str | None] = mapped_column(String(20))
    """Personal data: staff only, never in a public response."""
    reported_by: Mapped[str] = mapped_column(String(60))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    overdue: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    escalations: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    result_note: Mapped[str | None] = mapped_column(Text)
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    duplicate_of: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("events.event_id"), index=True)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False))
    external_ref: Mapped[str | None] = mapped_column(String(40))
    """The 12345 work-order number (工单编号) an imported event came from; unique per source."""


class EventKpiDay(Timestamped, Base):
    """The sums the KPIs are made of, per Beijing day of report and grid, community and town (0: none);
    kept by triggers on ``events`` (migration 0029), merged reports left out."""

    __tablename__ = "event_kpi_days"

    day: Mapped[datetime] = mapped_column(Date, primary_key=True)
    grid_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    community_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    town_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    events: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    resolved: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    on_time: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    closed: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rated: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    satisfied: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    resolve_seconds: Mapped[Any] = mapped_column(Numeric, server_default=text("0"))


class EventHistory(Timestamped, Base):
    """Every step of an event: who, when, from and to which status, with the note."""

    __tablename__ = "event_history"

    history_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("events.event_id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(12))
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    actor: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    department: Mapped[str | None] = mapped_column(String(60))


class EventPhoto(Timestamped, Base):
    """A photo of an event: re-encoded without metadata (no EXIF GPS), stored by the SHA-256 of its bytes."""

    __tablename__ = "event_photos"

    event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("events.event_id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(20))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(60))


class AuditLog(Base):
    """Every write: who, when, what, before/after."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_login", "object_id", "at", postgresql_where=text("layer = 'login'")),
    )

    audit_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    actor: Mapped[str] = mapped_column(String(60))
    action: Mapped[str] = mapped_column(String(12))  # insert, update, delete, import
    layer: Mapped[str] = mapped_column(String(40), index=True)
    object_id: Mapped[str | None] = mapped_column(String(40))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class ProvinceRun(Timestamped, Base):
    """One partitioned (per-county) coverage run on Dask (``province.run``); ``status`` running, done
    or failed; ``failed`` lists the counties that failed after their retries (none stored then)."""

    __tablename__ = "province_runs"

    run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(10), server_default="running")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    counties: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    failed: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))


class ProvinceResidence(Timestamped, Base):
    """Per-home result of a province run: LIST-partitioned by ``county_code`` (6-digit NBS code), one
    native partition per county (``layers.province.ensure_partition``), written in one transaction
    per county."""

    __tablename__ = "province_residence"
    __table_args__ = {"postgresql_partition_by": "LIST (county_code)"}

    county_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    type_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    circle: Mapped[str] = mapped_column(String(5), primary_key=True)
    residence_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    population: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    time_s: Mapped[float | None] = mapped_column(Float)
    facility_id: Mapped[int | None] = mapped_column(BigInteger)
    covered: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class ProvinceRollup(Timestamped, Base):
    """Roll-up of a finished province run to county, city (first 4 NBS digits) and province (2)."""

    __tablename__ = "province_rollup"

    run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("province_runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    level: Mapped[str] = mapped_column(String(8), primary_key=True)
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    type_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    circle: Mapped[str] = mapped_column(String(5), primary_key=True)
    homes: Mapped[int] = mapped_column(Integer)
    population: Mapped[int] = mapped_column(BigInteger)
    population_covered: Mapped[int] = mapped_column(BigInteger)
    share: Mapped[float | None] = mapped_column(Float)


class KeyHousehold(Timestamped, Base):
    """A key household (重点人群: 低保户, 特困供养, 独居/空巢老人 …) of a home: staff only, never public."""

    __tablename__ = "key_households"
    __table_args__ = (CheckConstraint("cardinality(groups) >= 1", name="key_household_has_group"),)

    household_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    residence_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("residences.residence_id", ondelete="CASCADE"), index=True
    )
    groups: Mapped[list[str]] = mapped_column(ARRAY(String(30)))
    head_name: Mapped[str] = mapped_column(String(40))
    """Personal data: the grid worker of the household's grid and admins only."""
    address: Mapped[str | None] = mapped_column(String(300))
    note: Mapped[str | None] = mapped_column(Text)
    grid_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("areas.area_id", ondelete="SET NULL"), index=True
    )
    community_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("areas.area_id", ondelete="SET NULL"), index=True
    )
    town_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("areas.area_id", ondelete="SET NULL"), index=True
    )
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))


class Visit(Timestamped, Base):
    """One visit (走访) of a key household: when, by whom, how far from the home it was logged."""

    __tablename__ = "visits"
    __table_args__ = (
        Index("ix_visits_household_at", "household_id", "visited_at"),
        Index("ux_visits_client_id", "client_id", unique=True),
    )

    visit_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    household_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("key_households.household_id", ondelete="CASCADE")
    )
    worker: Mapped[str] = mapped_column(String(60))
    visited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    distance_m: Mapped[float | None] = mapped_column(Float)
    notes: Mapped[str | None] = mapped_column(Text)
    needs: Mapped[str | None] = mapped_column(Text)
    event_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("events.event_id", ondelete="SET NULL"), index=True
    )
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=True)
    client_id: Mapped[Any] = mapped_column(UUID(as_uuid=True), nullable=True)
    """The id a phone gave a visit it recorded offline: sent again, the visit is stored once."""


class FacilityIsochrone(Timestamped, Base):
    """A facility's isochrone of one travel profile and budget, computed with a coverage run (issue 19.3):
    the public map's facility isochrones are read from here instead of computed per request.

    ``geom`` is the polygon of ``geo.isochrone.isochrones`` from the facility (``lon``, ``lat``: where it
    stood) with the run's open facilities as exact points; ``reached_id``/``reached_s`` the open
    facilities (but itself) reachable within ``minutes``, quickest first, and their seconds. Public data.
    Rows of the run that computed them; read through the view ``facility_isochrones``
    (``FacilityIsochroneSource``, migration 0035).
    """

    __tablename__ = "facility_isochrone_rows"
    __table_args__ = (Index("ix_facility_isochrone_rows_geom", "geom", postgresql_using="gist"),)

    run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("coverage_runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    facility_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    profile: Mapped[str] = mapped_column(String(40), primary_key=True)
    minutes: Mapped[float] = mapped_column(Float, primary_key=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    geom: Mapped[Any] = mapped_column(Geometry("GEOMETRY", srid=SRID, spatial_index=False), nullable=True)
    reached_id: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    reached_s: Mapped[list[float]] = mapped_column(ARRAY(Float))


class FacilityIsochroneSource(Timestamped, Base):
    """Which run computed the isochrones of a facility and profile that a run holds: the run itself, or
    for a facility no edit touched, the run it came from (migration 0035, like ``CoverageRunType``)."""

    __tablename__ = "facility_isochrone_sources"

    run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("coverage_runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    profile: Mapped[str] = mapped_column(String(40), primary_key=True)
    facility_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source_run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("coverage_runs.run_id", deferrable=True, initially="DEFERRED"), index=True
    )
