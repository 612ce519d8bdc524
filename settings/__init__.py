"""Every setting of minqing-map, one class per concern, read from the environment and ``.env``.

=================  ==========================  =============================================
class              environment prefix          concern
=================  ==========================  =============================================
DatabaseSettings   ``DATABASE_URL``, MINQING_  which PostgreSQL, the local cluster
ImportSettings     ``MINQING_``                file imports
ApiSettings        ``MINQING_``                the web service (secret, limits, privacy)
CoverageSettings   ``MINQING_``                coverage runs (snapping, tables of rules)
JobSettings        ``MINQING_``                background jobs
MapSettings        ``MINQING_``                map pages (optional online base maps)
PlaceNameSettings  ``MINQING_``                place-name tables
EventSettings      ``MINQING_EVENTS_``         民情事件 (categories, limits, photos)
VisitSettings      ``MINQING_VISITS_``         走访 of key households (plan, location check)
DataSettings       ``MINQING_``                reference data outside the checkout
=================  ==========================  =============================================

Each class has one accessor (``api_settings()``, ``coverage_settings()`` ...) that reads it once
per process and turns a bad value into ``SettingsError`` naming the variable and the fix.
``scripts/env_table.py`` prints the README's table of every variable from these classes.
``MINQING_SECRET_KEY`` has no default: the service refuses to start without it (``make demo``
writes a random one into ``.env``). Everything else has a safe default for a local demo.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[1]
"""The checkout (or installed tree) that holds ``data/``."""
DATA = ROOT / "data"


class SettingsError(RuntimeError):
    """The service cannot start with the current environment; the message says what to set."""


class AccountSettings(BaseSettings):
    """Accounts and passwords: read by the service and by ``minqing users`` (which needs no secret)."""

    model_config = SettingsConfigDict(
        env_prefix="MINQING_", env_file=".env", extra="ignore", use_attribute_docstrings=True
    )

    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    """bcrypt cost factor for new password hashes (tests use 4)."""


class ApiSettings(AccountSettings):
    """The web service: login, limits, privacy, isochrone workers (prefix ``MINQING_``)."""

    model_config = SettingsConfigDict(
        env_prefix="MINQING_", env_file=".env", extra="ignore", use_attribute_docstrings=True
    )

    secret_key: SecretStr = Field(min_length=32)
    """Signs the login tokens (JWT HS256). At least 32 characters
    (HS256 wants a 256-bit key); keep it private.
    """
    database_url: str | None = None
    """Overrides DATABASE_URL / the local .pgdata cluster (mostly for tests)."""
    token_minutes: int = Field(default=8 * 60, ge=1)
    """Lifetime of a login token (minutes)."""
    cookie_secure: bool = False
    """Send the login cookie only over HTTPS (turn on behind TLS)."""
    max_upload_mb: float = Field(default=50.0, gt=0)
    """Largest accepted request body (megabytes); larger requests get 413."""
    rate_limit_per_second: float = Field(default=20.0, ge=0)
    """Anonymous requests per second refilled per client IP (0 turns the limit off). The map's static
    assets (``/assets/``) are not counted, so a page load costs only its few data requests."""
    rate_limit_burst: int = Field(default=60, ge=1)
    """Anonymous requests a client IP may make at once before the limit applies."""
    db_concurrency: int = Field(default=20, ge=1)
    """Requests using the database at once per process; keep it below the pool size (30)."""
    db_wait_seconds: float = Field(default=30.0, gt=0)
    """How long a request may wait for a database slot before 503 busy."""
    db_staff_reserved: int = Field(default=5, ge=0)
    """Of the ``db_concurrency`` slots, this many are left to logged-in users: anonymous requests
    never hold more than the rest, so a public flood cannot keep staff from the database."""
    isochrone_public_minutes: dict[str, float] = Field(
        default_factory=lambda: {"walk": 30.0, "ebike": 30.0, "car": 30.0, "*": 30.0}
    )
    """Longest isochrone budget (minutes) per travel profile for anonymous viewers (``*``: profiles
    not listed); logged-in users may ask up to 60. Longer → 422 naming the cap."""
    isochrone_workers: int = Field(default=2, ge=1)
    """Anonymous isochrones computed at once (one worker process each); logged-in users have their own."""
    isochrone_processes: bool = True
    """Compute anonymous isochrones in worker processes at a lower CPU priority (off: threads of the
    server process, which then share its interpreter lock with staff requests)."""
    warm_caches: bool = True
    """Build the map pages and the planner's first view of the latest run in the background, at start
    and after every change (``api.warm``), so the first visitor after a start, an edit or a run does
    not wait for them; off: built by the first request that needs them."""
    isochrone_queue: int = Field(default=8, ge=0)
    """Anonymous isochrones that may wait for a worker; beyond it 503 with Retry-After."""
    isochrone_per_client: int = Field(default=2, ge=1)
    """Anonymous isochrones one client IP may have running or waiting; beyond it 429 with Retry-After."""
    isochrone_staff_workers: int = Field(default=2, ge=1)
    """Isochrones of logged-in users computed at once (their own threads: never behind the public)."""
    login_attempts_per_minute: float = Field(default=10.0, gt=0)
    """Login attempts (POST /auth/token, /auth/login) refilled per minute per client IP."""
    login_burst: int = Field(default=20, ge=1)
    """Login attempts a client IP may make at once (slows password guessing; 429 beyond)."""
    login_free_failures: int = Field(default=5, ge=1)
    """Failed logins in a row an account is allowed before its back-off starts (counted per username,
    whatever the address, since its last successful login within 24 h)."""
    login_backoff_seconds: float = Field(default=30.0, gt=0)
    """The account's wait after its ``login_free_failures``-th failed login;
    each further failure doubles it.
    """
    login_backoff_max_seconds: float = Field(default=900.0, gt=0)
    """The longest wait of the per-account back-off (seconds)."""
    trusted_proxies: str = ""
    """Comma-separated addresses or networks (CIDR) of the reverse proxies in front of the service, e.g.
    ``127.0.0.1`` or ``10.0.0.0/8``. Only requests coming from them may name the client in
    X-Forwarded-For; by default (none) the peer address is the client and the header is ignored."""
    privacy_min_households: int = Field(default=5, ge=1)
    """Public aggregates of fewer households than this are suppressed (null + suppressed: true)."""
    privacy_round_to: int = Field(default=5, ge=1)
    """Other public counts are rounded to the nearest multiple of this (1: exact), so that a suppressed
    count cannot be recovered as a parent's total minus its other children."""

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        parse_networks(value)
        return value

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.trusted_proxies)


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> tuple[IPNetwork, ...]:
    """``"127.0.0.1, 10.0.0.0/8"`` → networks; ``ValueError`` naming an entry that is neither."""
    networks = []
    for entry in filter(None, (e.strip() for e in value.split(","))):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"{entry!r} is not an IP address or network (CIDR): write e.g. 127.0.0.1 or "
                "10.0.0.0/8, separated by commas"
            ) from None
    return tuple(networks)


def _data_file(name: str) -> Path:
    return DATA / name


class CoverageSettings(BaseSettings):
    """Coverage settings (environment prefix ``MINQING_``): no secret needed, so the CLI reads them too.

    Every value but ``prepared_dir`` is recorded in the parameters of each coverage run; changing one
    makes the latest run stale and the next run recompute what it affects.
    """

    model_config = SettingsConfigDict(
        env_prefix="MINQING_", env_file=".env", extra="ignore", use_attribute_docstrings=True
    )

    snap_max_m: float = Field(default=500.0, gt=0, le=5000)
    """A home, facility or map point farther than this from every usable street is unreachable (metres)."""
    gap_link_m: float = Field(default=250.0, gt=0, le=5000)
    """Uncovered homes closer than this join one gap area (single linkage, metres)."""
    profiles_csv: Path = Field(default_factory=lambda: _data_file("profiles.csv"))
    """Travel profiles: speed and access rules per road class (an edited copy of data/profiles.csv)."""
    targets_csv: Path = Field(default_factory=lambda: _data_file("targets.csv"))
    """Coverage targets reported with each run (an edited copy of data/targets.csv)."""
    facility_types_csv: Path = Field(default_factory=lambda: _data_file("facility_types.csv"))
    """Where the capacity basis of each facility type is read (``capacity_basis``, ``basis_per_unit``)."""
    service_areas_csv: Path = Field(default_factory=lambda: _data_file("service_areas.csv"))
    """Service-area rules of the presence measure (an edited copy of data/service_areas.csv)."""
    store_isochrones: bool = True
    """Store the public map's isochrones of every open facility with each coverage run (the facility
    route then reads them instead of computing); off: computed per request."""
    prepared_dir: Path | None = ROOT / ".cache" / "prepared"
    """Where the prepared street networks are kept between processes (per database and data version;
    the newest 4 files); empty: prepared again in every new process. Not recorded with runs."""

    @field_validator("prepared_dir", mode="before")
    @classmethod
    def _no_dir(cls, value: object) -> object:
        return None if value is None or str(value).strip() == "" else value


class JobSettings(BaseSettings):
    """Background-job settings (environment prefix ``MINQING_``; no secret needed)."""

    model_config = SettingsConfigDict(
        env_prefix="MINQING_", env_file=".env", extra="ignore", use_attribute_docstrings=True
    )

    job_stale_seconds: float = Field(default=120.0, ge=5, le=86_400)
    """A task-queue worker that has not written its heartbeat for this long has stopped: the jobs it was
    computing go back to the queue (``pipeline.queue.recover``). Workers beat every quarter of it."""


class DatabaseSettings(BaseSettings):
    """Which PostgreSQL 15 + PostGIS 3 server: ``DATABASE_URL``, else the local cluster under ``.pgdata/``."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", use_attribute_docstrings=True)

    database_url: str | None = None
    """SQLAlchemy URL of an existing server, e.g. ``postgresql+psycopg://user:pw@host:5432/minqing``;
    unset: the local cluster started by ``minqing db up``."""
    pg_durable: bool = Field(False, validation_alias="MINQING_PG_DURABLE")
    """Local cluster only: run with fsync, full-page writes and synchronous commit on (crash-safe,
    slower loads). Off by default: the local cluster is a demo/test cluster."""
    home: Path | None = Field(None, validation_alias="MINQING_HOME")
    """The checkout whose local cluster (``.pgdata/``) to use; unset: the one this code is in."""


class ImportSettings(BaseSettings):
    """File imports."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", use_attribute_docstrings=True)

    import_max_rows: int = Field(200_000, ge=1, validation_alias="MINQING_IMPORT_MAX_ROWS")
    """The most data rows one imported file may hold (larger files are refused before they are
    read whole): bounds the memory and time of an import and of its dry run."""


class MapSettings(BaseSettings):
    """Map pages."""

    model_config = SettingsConfigDict(
        env_prefix="MINQING_", env_file=".env", extra="ignore", use_attribute_docstrings=True
    )

    tianditu_key: SecretStr | None = None
    """天地图 developer key ``tk``: when set, 天地图 vector/imagery are offered as optional base maps."""


class PlaceNameSettings(BaseSettings):
    """Place-name tables."""

    model_config = SettingsConfigDict(
        env_prefix="MINQING_", env_file=".env", extra="ignore", use_attribute_docstrings=True
    )

    placename_tables: str | None = None
    """A folder of edited place-name tables (polyphones.csv, fixed_spellings.csv ... named like the
    shipped ones) read over data/placenames/: its rows replace shipped rows with the same key and add
    the others. Unset or empty: the shipped tables alone."""


class EventSettings(BaseSettings):
    """The 民情事件 loop (environment prefix ``MINQING_EVENTS_``)."""

    model_config = SettingsConfigDict(
        env_prefix="MINQING_EVENTS_", env_file=".env", extra="ignore", use_attribute_docstrings=True
    )

    categories_path: Path = DATA / "event_categories.csv"
    """The 事项清单 (categories, first level, department, time limit)."""
    holidays_path: Path = DATA / "holidays.csv"
    """Holidays and 调休 working weekends."""
    duplicate_distance_m: float = Field(default=100.0, gt=0)
    """A new report this close (metres) to an open one of the same category is offered for merging."""
    duplicate_hours: float = Field(default=72.0, gt=0)
    """... if that one was reported at most this many hours before."""
    public_per_ip_per_hour: float = Field(default=5.0, gt=0)
    """Public reports one client IP may send per hour (burst of as many at once)."""
    public_per_phone_per_day: int = Field(default=3, ge=1)
    """Public reports one phone number may send per 24 hours."""
    public_photos: int = Field(default=3, ge=0, le=9)
    """Photos a resident may add to their report (with its tracking code)."""
    public_photo_minutes: float = Field(default=30.0, gt=0)
    """... within this many minutes of reporting."""
    photo_dir: Path = ROOT / ".photos"
    """Where event photos are stored (by content hash); never served as static files."""
    photo_max_mb: float = Field(default=8.0, gt=0)
    """Largest photo accepted (megabytes)."""
    photos_per_event: int = Field(default=9, ge=1)
    """Most photos one event may have."""


class VisitSettings(BaseSettings):
    """Settings of 走访 (environment prefix ``MINQING_VISITS_``)."""

    model_config = SettingsConfigDict(
        env_prefix="MINQING_VISITS_", env_file=".env", extra="ignore", use_attribute_docstrings=True
    )

    plan_path: Path = DATA / "visit_plan.csv"
    """The visit plan: key groups and how often each is visited."""
    max_distance_m: float = Field(default=300.0, gt=0)
    """A visit is refused when the browser's location is farther than this from the household (metres)."""


DIVISIONS_NAME = "guangdong_admin_divisions_nbs2023"


class DataSettings(BaseSettings):
    """Reference data kept outside the checkout."""

    model_config = SettingsConfigDict(
        env_prefix="MINQING_", env_file=".env", extra="ignore", use_attribute_docstrings=True
    )

    divisions_dir: Path = ROOT.parent / "shared" / "data" / DIVISIONS_NAME
    """The real Guangdong division names (NBS 2023: towns and villages/communities CSVs), used by the
    province demo and the place-name checks of real names."""


class CliSettings(BaseSettings):
    """The command line."""

    model_config = SettingsConfigDict(
        env_prefix="MINQING_", env_file=".env", extra="ignore", use_attribute_docstrings=True
    )

    debug: bool = False
    """Print the full traceback of an internal error instead of one line."""


S = TypeVar("S", bound=BaseSettings)


def read(cls: type[S]) -> S:
    """``cls()`` from the environment and ``.env``, or ``SettingsError`` naming each bad variable."""
    try:
        return cls()
    except ValidationError as e:
        problems = "; ".join(f"{env_name(cls, err['loc'])}: {err['msg']}" for err in e.errors())
        if cls is ApiSettings and any(err["loc"][:1] == ("secret_key",) for err in e.errors()):
            raise SettingsError(
                f"minqing-map cannot start: {problems}. Set MINQING_SECRET_KEY to a random string of at "
                "least 32 characters in the environment or in .env, e.g. "
                "`echo MINQING_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(32))') "
                ">> .env` (`make demo` does this for you)."
            ) from None
        raise SettingsError(f"{cls.__name__} settings are invalid: {problems}") from None


def env_name(cls: type[BaseSettings], loc: tuple) -> str:
    """The environment variable of a field (its alias, else prefix + name, upper case)."""
    name = str(loc[0]) if loc else "?"
    field = cls.model_fields.get(name)
    if field is not None and isinstance(field.validation_alias, str):
        return field.validation_alias
    return (str(cls.model_config.get("env_prefix") or "") + name).upper()


@lru_cache(maxsize=1)
def api_settings() -> ApiSettings:
    return read(ApiSettings)


@lru_cache(maxsize=1)
def coverage_settings() -> CoverageSettings:
    return read(CoverageSettings)


@lru_cache(maxsize=1)
def job_settings() -> JobSettings:
    return read(JobSettings)


@lru_cache(maxsize=1)
def map_settings() -> MapSettings:
    return read(MapSettings)


def database_settings() -> DatabaseSettings:
    """Read afresh each time: tests and ``minqing db`` change ``DATABASE_URL`` within one process."""
    return read(DatabaseSettings)


def import_settings() -> ImportSettings:
    return read(ImportSettings)


def placename_settings() -> PlaceNameSettings:
    return read(PlaceNameSettings)


def event_settings() -> EventSettings:
    return read(EventSettings)


def visit_settings() -> VisitSettings:
    return read(VisitSettings)


def data_settings() -> DataSettings:
    return read(DataSettings)


def account_settings() -> AccountSettings:
    return read(AccountSettings)


def cli_settings() -> CliSettings:
    return read(CliSettings)


def divisions_dir() -> Path:
    """The folder of the real Guangdong division names (``MINQING_DIVISIONS_DIR``)."""
    return data_settings().divisions_dir


ALL = (
    DatabaseSettings,
    ImportSettings,
    AccountSettings,
    ApiSettings,
    CoverageSettings,
    JobSettings,
    MapSettings,
    PlaceNameSettings,
    EventSettings,
    VisitSettings,
    DataSettings,
    CliSettings,
)
"""Every settings class, in the order of the README's table."""


def environment_table() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) of every setting, in the order of ``ALL``: the README's table."""
    rows = []
    for cls in ALL:
        inherited = {n for base in cls.__mro__[1:] for n in getattr(base, "model_fields", {})}
        for name, field in cls.model_fields.items():
            if name in inherited:
                continue
            var = env_name(cls, (name,))
            if field.is_required():
                default = "(required)"
            else:
                value = field.get_default(call_default_factory=True)
                if isinstance(value, Path):
                    value = value.relative_to(ROOT.parent) if value.is_relative_to(ROOT.parent) else value
                    value = (
                        f"../{value}"
                        if not str(value).startswith(ROOT.name)
                        else str(value)[len(ROOT.name) + 1 :]
                    )
                default = (
                    "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
                )
            meaning = " ".join((field.description or "").split())
            rows.append((var, default, meaning))
    return rows


TABLE_START, TABLE_END = (
    "<!-- environment table: scripts/env_table.py -->",
    "<!-- end of environment table -->",
)


def environment_markdown() -> str:
    """The README's table of every environment variable (between ``TABLE_START`` and ``TABLE_END``)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for var, default, meaning in environment_table():
        shown = ("`" + default + "`") if default not in ("none", "(required)", "") else default or "(empty)"
        lines.append(f"| `{var}` | {shown} | {meaning.replace('|', '/')} |")
    return "\n".join([TABLE_START, *lines, TABLE_END])
