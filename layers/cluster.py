"""A local PostgreSQL 15 + PostGIS 3 cluster kept inside the project (``.pgdata/``).

Loopback only, on a free port, password authentication. Started and stopped by
``minqing db up | down | status``. When running as root the server runs as the ``postgres`` user,
because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from layers.errors import DatabaseUnavailable

PG_BIN = Path("/usr/lib/postgresql/15/bin")
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")
DB_USER = "minqing"
DB_NAME = "minqing"


def project_root() -> Path:
    """The checkout that holds ``pyproject.toml`` (``MINQING_HOME`` overrides)."""
    env = os.environ.get("MINQING_HOME")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parents[1]
    if (here / "pyproject.toml").exists():
        return here
    return Path.cwd()


@dataclass(frozen=True)
class LocalCluster:
    root: Path

    @property
    def base(self) -> Path:
        return self.root / ".pgdata"

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def sockdir(self) -> Path:
        return self.base / "run"

    @property
    def conn_file(self) -> Path:
        return self.base / "conn.json"

    @property
    def logfile(self) -> Path:
        return self.base / "postgres.log"

    def conn(self) -> dict:
        return json.loads(self.conn_file.read_text())

    def url(self, dbname: str = DB_NAME) -> str:
        c = self.conn()
        return f"postgresql+psycopg://{DB_USER}:{c['password']}@127.0.0.1:{c['port']}/{dbname}"

    def initialised(self) -> bool:
        return (self.datadir / "PG_VERSION").exists() and self.conn_file.exists()

    def running(self) -> bool:
        if not self.initialised():
            return False
        r = self._pg("pg_ctl", "-D", str(self.datadir), "status", check=False, capture=True)
        return r.returncode == 0

    # -- commands ---------------------------------------------------------------------------
    def up(self) -> str:
        """Initialise (first time) and start the cluster; returns the database URL."""
        _check_binaries()
        if not self.initialised():
            self._init()
        if not self.running():
            port = self.conn()["port"]
            if not _port_free(port):
                port = _free_port()
                self._write_conn(port=port, password=self.conn()["password"])
            self._chown(self.base)
            self._pg(
                "pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60",
                "-o", f"-p {port} -k {self.sockdir} -c listen_addresses=127.0.0.1 {durability_options()}",
                "start",
            )
        self._ensure_database()
        return self.url()

    def down(self) -> None:
        if self.running():
            self._pg("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def status(self) -> str:
        if not self.initialised():
            return "not initialised (run: minqing db up)"
        state = "running" if self.running() else "stopped"
        return f"{state} — data in {self.datadir}, port {self.conn()['port']} (127.0.0.1 only)"

    # -- internals --------------------------------------------------------------------------
    def _init(self) -> None:
        if self.datadir.exists():
            shutil.rmtree(self.datadir)
        self.base.mkdir(parents=True, exist_ok=True)
        self.sockdir.mkdir(exist_ok=True)
        password = secrets.token_urlsafe(18)
        self._write_conn(port=_free_port(), password=password)
        pwfile = self.base / ".pw"
        pwfile.write_text(password + "\n")
        self._chown(self.base)
        try:
            self._pg(
                "initdb", "-D", str(self.datadir), "-U", DB_USER, "--pwfile", str(pwfile),
                "-A", "scram-sha-256", "-E", "UTF8", "--locale", "C.UTF-8",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with open(self.datadir / "postgresql.conf", "a") as f:
            # Tuned for a 2-core / 24 GB machine running the analysis next to the server. Not crash-safe
            # by default (a demo/test cluster whose data the demo loader recreates): see
            # durability_options, which the start command applies over these lines.
            f.write("\nshared_buffers = 512MB\nwork_mem = 64MB\nmaintenance_work_mem = 512MB\n"
                    "max_connections = 100\nfsync = off\nsynchronous_commit = off\n"
                    "full_page_writes = off\n")
        self._chown(self.base)

    def _write_conn(self, *, port: int, password: str) -> None:
        self.conn_file.write_text(json.dumps({"port": port, "password": password}))
        os.chmod(self.conn_file, 0o600)

    def _ensure_database(self) -> None:
        import psycopg

        c = self.conn()
        dsn = f"host=127.0.0.1 port={c['port']} user={DB_USER} password={c['password']} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as con:
            exists = con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone()
            if not exists:
                con.execute(f'CREATE DATABASE "{DB_NAME}"')

    def _pg(self, tool: str, *args: str, check: bool = True, capture: bool = False):
        cmd = [str(PG_BIN / tool), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if check and r.returncode != 0:
            log = self.logfile.read_text()[-2000:] if self.logfile.exists() else ""
            raise DatabaseUnavailable(
                f"{tool} failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}\n{log}"
            )
        return r

    def _chown(self, path: Path) -> None:
        if os.geteuid() != 0:
            return
        subprocess.run(["chown", "-R", "postgres:postgres", str(path)], check=True)
        # conn.json holds the password: owner only (root reads it anyway; the server never does)
        if self.conn_file.exists():
            os.chmod(self.conn_file, 0o600)


def durability_options() -> str:
    """Server options for crash safety: ``MINQING_PG_DURABLE`` true turns fsync, full-page writes and
    synchronous commit on (the local cluster's default is off: fast, but a power cut or OS crash can
    corrupt it); false states the fast default explicitly. Applied at every start."""
    from layers.settings import database_settings

    value = "on" if database_settings().pg_durable else "off"
    return " ".join(f"-c {name}={value}" for name in ("fsync", "full_page_writes", "synchronous_commit"))


def _check_binaries() -> None:
    missing = []
    if not (PG_BIN / "postgres").exists():
        missing.append("postgresql-15")
    if not POSTGIS_CONTROL.exists():
        missing.append("postgresql-15-postgis-3")
    if missing:
        raise DatabaseUnavailable(
            "PostgreSQL 15 with PostGIS 3 is not installed. Install it with: "
            f"sudo apt-get install -y {' '.join(missing)} — or set DATABASE_URL to an existing "
            "PostGIS server."
        )


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port(start: int = 54329) -> int:
    for port in range(start, start + 200):
        if _port_free(port):
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_cluster() -> LocalCluster:
    return LocalCluster(project_root())


def wait_for(url: str, *, seconds: float = 30) -> None:
    """Block until a server answers ``SELECT 1``."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    deadline = time.monotonic() + seconds
    while True:
        try:
            with psycopg.connect(dsn, connect_timeout=3) as con:
                con.execute("SELECT 1")
                return
        except psycopg.OperationalError as e:
            if time.monotonic() > deadline:
                raise DatabaseUnavailable(f"database at {url.split('@')[-1]} does not answer: {e}") from e
            time.sleep(0.5)
