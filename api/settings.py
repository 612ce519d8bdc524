"""Service settings: one pydantic-settings object, environment prefix ``MINQING_``.

``MINQING_SECRET_KEY`` has no default: the service refuses to start without it (``make demo``
writes a random one into ``.env``). Everything else has a safe default for a local demo.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(RuntimeError):
    """The service cannot start with the current environment; the message says what to set."""


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MINQING_", env_file=".env", extra="ignore")

    secret_key: SecretStr = Field(min_length=32)
    """Signs the login tokens (JWT HS256). At least 32 characters (HS256 wants a 256-bit key); keep it private."""
    database_url: str | None = None
    """Overrides DATABASE_URL / the local .pgdata cluster (mostly for tests)."""
    token_minutes: int = Field(default=8 * 60, ge=1)
    """Lifetime of a login token (minutes)."""
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    """bcrypt cost factor for new password hashes (tests use 4)."""
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
        default_factory=lambda: {"walk": 30.0, "ebike": 30.0, "car": 30.0, "*": 30.0})
    """Longest isochrone budget (minutes) per travel profile for anonymous viewers (``*``: profiles
    not listed); logged-in users may ask up to 60. Longer → 422 naming the cap."""
    isochrone_workers: int = Field(default=2, ge=1)
    """Anonymous isochrones computed at once (one worker process each); logged-in users have their own."""
    isochrone_processes: bool = True
    """Compute anonymous isochrones in worker processes at a lower CPU priority (off: threads of the
    server process, which then share its interpreter lock with staff requests)."""
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
    """The account's wait after its ``login_free_failures``-th failed login; each further failure doubles it."""
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
            raise ValueError(f"{entry!r} is not an IP address or network (CIDR): write e.g. 127.0.0.1 or "
                             "10.0.0.0/8, separated by commas") from None
    return tuple(networks)


@lru_cache(maxsize=1)
def get_settings() -> ApiSettings:
    """The settings from the environment and ``.env``, or ``SettingsError`` naming what is missing."""
    try:
        return ApiSettings()
    except ValidationError as e:
        problems = "; ".join(f"MINQING_{'_'.join(map(str, err['loc'])).upper()}: {err['msg']}"
                             for err in e.errors())
        raise SettingsError(
            f"minqing-map cannot start: {problems}. Set MINQING_SECRET_KEY to a random string of at least "
            "32 characters in the environment or in .env, e.g. "
            "`echo MINQING_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(32))') >> .env` "
            "(`make demo` does this for you)."
        ) from None


def _data_file(name: str) -> Path:
    import data

    return Path(data.__file__).parent / name


class CoverageSettings(BaseSettings):
    """Coverage settings (environment prefix ``MINQING_``): no secret needed, so the CLI reads them too.

    Every value is recorded in the parameters of each coverage run; changing one makes the latest
    run stale and the next run recompute what it affects.
    """

    model_config = SettingsConfigDict(env_prefix="MINQING_", env_file=".env", extra="ignore")

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


class JobSettings(BaseSettings):
    """Background-job settings (environment prefix ``MINQING_``; no secret needed)."""

    model_config = SettingsConfigDict(env_prefix="MINQING_", env_file=".env", extra="ignore")

    job_stale_seconds: float = Field(default=120.0, ge=5, le=86_400)
    """A task-queue worker that has not written its heartbeat for this long has stopped: the jobs it was
    computing go back to the queue (``pipeline.queue.recover``). Workers beat every quarter of it."""


@lru_cache(maxsize=1)
def job_settings() -> JobSettings:
    """The job settings from the environment and ``.env`` (``SettingsError`` naming a bad value)."""
    try:
        return JobSettings()
    except ValidationError as e:
        problems = "; ".join(f"MINQING_{'_'.join(map(str, err['loc'])).upper()}: {err['msg']}" for err in e.errors())
        raise SettingsError(f"job settings are invalid: {problems}") from None


@lru_cache(maxsize=1)
def coverage_settings() -> CoverageSettings:
    """The coverage settings from the environment and ``.env`` (``SettingsError`` naming a bad value)."""
    try:
        return CoverageSettings()
    except ValidationError as e:
        problems = "; ".join(f"MINQING_{'_'.join(map(str, err['loc'])).upper()}: {err['msg']}" for err in e.errors())
        raise SettingsError(f"coverage settings are invalid: {problems}") from None
