"""A local PostgreSQL 15 + PostGIS 3 cluster for this checkout.

Loopback only, on a port chosen once and kept, password authentication. Started and stopped by
``minqing db up | down | status``. The connection file (port, password, where the data lives)
stays in the checkout's ``.pgdata/``, readable by its owner only.

Where the server's files live depends on who runs it. PostgreSQL refuses to run as root, so as root
the server runs as the ``postgres`` user, and that user often cannot enter the checkout (``/root``
and ``mktemp -d`` folders are mode 0700). Its data then lives in a per-checkout folder under
``/var/lib/postgresql/minqing/`` (owned by ``postgres``), recorded in the connection file; the
checkout's own folders keep their permissions. As an ordinary user the server runs as that user, and
its data stays in ``.pgdata/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from layers.errors import DatabaseUnavailable
from settings import database_settings

PG_BIN = Path("/usr/lib/postgresql/15/bin")
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")
SERVER_HOME = Path("/var/lib/postgresql/minqing")  # as root: per-checkout folders owned by postgres
SERVER_USER = "postgres"
DB_USER = "minqing"
DB_NAME = "minqing"


def project_root() -> Path:
    """The checkout that holds ``pyproject.toml`` (``MINQING_HOME`` overrides)."""
    home = database_settings().home
    if home:
        return home.resolve()
    here = Path(__file__).resolve().parents[1]
    if (here / "pyproject.toml").exists():
        return here
    return Path.cwd()


@dataclass(frozen=True)
class LocalCluster:
    root: Path

    @property
    def base(self) -> Path:
        """The checkout's own folder: the connection file and the demo accounts."""
        return self.root / ".pgdata"

    @property
    def conn_file(self) -> Path:
        return self.base / "conn.json"

    @property
    def server_dir(self) -> Path:
        """Where the server's files live: recorded in the connection file when the cluster was made
        (clusters made before that record kept them in ``.pgdata/``)."""
        if self.conn_file.exists():
            recorded = self.conn().get("server_dir")
            if recorded:
                return Path(recorded)
            return self.base
        return self.planned_server_dir()

    def planned_server_dir(self) -> Path:
        """Where a new cluster's files go: under SERVER_HOME when the server runs as ``postgres``
        (we are root), one folder per checkout named by its path; else inside ``.pgdata/``."""
        if os.geteuid() != 0:
            return self.base
        path = str(self.root.resolve())
        digest = hashlib.sha256(path.encode()).hexdigest()[:12]
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.root.resolve().name)[:40] or "checkout"
        return SERVER_HOME / f"{name}-{digest}"

    @property
    def datadir(self) -> Path:
        return self.server_dir / "data"

    @property
    def sockdir(self) -> Path:
        return self.server_dir / "run"

    @property
    def logfile(self) -> Path:
        return self.server_dir / "postgres.log"

    def conn(self) -> dict:
        try:
            return json.loads(self.conn_file.read_text())
        except PermissionError:
            raise DatabaseUnavailable(
                f"the local database's connection file {self.conn_file} belongs to another user (the one "
                "who first ran `make demo` here, often root): run the command as that user, or have them "
                "remove that database with `minqing db down --remove` (or `make clean`)"
            ) from None

    def url(self, dbname: str = DB_NAME) -> str:
        c = self.conn()
        return f"postgresql+psycopg://{DB_USER}:{c['password']}@127.0.0.1:{c['port']}/{dbname}"

    def initialised(self) -> bool:
        return self.conn_file.exists() and (self.datadir / "PG_VERSION").exists()

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
            if not _port_free(port):  # taken by another program since: the only reason to move
                port = _free_port()
                self._write_conn(port=port, password=self.conn()["password"])
            self._chown(self.server_dir)
            self._pg(
                "pg_ctl",
                "-D",
                str(self.datadir),
                "-l",
                str(self.logfile),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {port} -k {self.sockdir} -c listen_addresses=127.0.0.1 {durability_options()}",
                "start",
            )
        self._ensure_database()
        return self.url()

    def down(self, *, remove: bool = False) -> list[Path]:
        """Stop the server; with ``remove`` also delete its data wherever it lives and the
        connection file. Returns the folders removed."""
        if self.running():
            self._pg("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")
        if not remove:
            return []
        removed = []
        server_dir = self.server_dir if self.conn_file.exists() else self.planned_server_dir()
        if server_dir != self.base and _is_ours(server_dir) and server_dir.exists():
            shutil.rmtree(server_dir)
            removed.append(server_dir)
        if self.base.exists():
            shutil.rmtree(self.base)
            removed.append(self.base)
        return removed

    def status(self) -> str:
        if not self.initialised():
            return "not initialised (run: minqing db up)"
        state = "running" if self.running() else "stopped"
        return f"{state} — data in {self.datadir}, port {self.conn()['port']} (127.0.0.1 only)"

    # -- internals --------------------------------------------------------------------------
    def _init(self) -> None:
        server_dir = self.planned_server_dir()
        self._prepare_server_dir(server_dir)
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o700)  # the connection file and the demo passwords: owner only
        password = secrets.token_urlsafe(18)
        self._write_conn(port=_free_port(), password=password, server_dir=server_dir)
        (server_dir / "run").mkdir(exist_ok=True)
        pwfile = server_dir / ".pw"
        pwfile.write_text(password + "\n")
        os.chmod(pwfile, 0o600)
        self._chown(server_dir)
        try:
            self._pg(
                "initdb",
                "-D",
                str(server_dir / "data"),
                "-U",
                DB_USER,
                "--pwfile",
                str(pwfile),
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--locale",
                "C.UTF-8",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with open(self.datadir / "postgresql.conf", "a") as f:
            # Tuned for a 2-core / 24 GB machine running the analysis next to the server. Not crash-safe
            # by default (a demo/test cluster whose data the demo loader recreates): see
            # durability_options, which the start command applies over these lines.
            f.write(
                "\nshared_buffers = 512MB\nwork_mem = 64MB\nmaintenance_work_mem = 512MB\n"
                "max_connections = 100\nfsync = off\nsynchronous_commit = off\n"
                "full_page_writes = off\n"
            )
        self._chown(server_dir)

    def _prepare_server_dir(self, server_dir: Path) -> None:
        """An empty folder for a new cluster. A left-over one (a checkout deleted and cloned again at
        the same path, its connection file gone) is stopped and cleared: nothing can connect to it."""
        data = server_dir / "data"
        if (data / "postmaster.pid").exists():
            self._pg("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop", check=False)
        if server_dir != self.base and server_dir.exists():
            shutil.rmtree(server_dir)
        elif data.exists():
            shutil.rmtree(data)
        if server_dir == self.base:
            server_dir.mkdir(parents=True, exist_ok=True)
            return
        if not SERVER_HOME.parent.is_dir():
            raise DatabaseUnavailable(
                f"{SERVER_HOME.parent} (the postgres user's home) does not exist: install the server "
                "with `apt-get install -y postgresql-15 postgresql-15-postgis-3`, or set DATABASE_URL "
                "to an existing PostGIS server"
            )
        SERVER_HOME.mkdir(mode=0o700, exist_ok=True)
        server_dir.mkdir(mode=0o700)
        owner = pwd.getpwnam(SERVER_USER)
        for folder in (SERVER_HOME, server_dir):
            os.chown(folder, owner.pw_uid, owner.pw_gid)

    def _write_conn(self, *, port: int, password: str, server_dir: Path | None = None) -> None:
        conn = {
            "port": port,
            "password": password,
            "server_dir": str(server_dir if server_dir is not None else self.server_dir),
        }
        fd = os.open(self.conn_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(conn, f)
        os.chmod(self.conn_file, 0o600)

    def _ensure_database(self) -> None:

        c = self.conn()
        dsn = f"host=127.0.0.1 port={c['port']} user={DB_USER} password={c['password']} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as con:
            exists = con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone()
            if not exists:
                con.execute(f'CREATE DATABASE "{DB_NAME}"')

    def _pg(self, tool: str, *args: str, check: bool = True, capture: bool = False):
        cmd = [str(PG_BIN / tool), *args]
        cwd = None
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
            cwd = "/"  # the server's user may not be able to enter ours (initdb and pg_ctl chdir back)
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
        if check and r.returncode != 0:
            log = self.logfile.read_text()[-2000:] if self.logfile.exists() else ""
            raise DatabaseUnavailable(
                f"{tool} failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}\n{log}"
            )
        return r

    def _chown(self, path: Path) -> None:
        """As root, hand the server's folder to the server's user (never the checkout's folders,
        except a cluster made before server folders existed, which lives in ``.pgdata/``)."""
        if os.geteuid() != 0:
            return
        subprocess.run(["chown", "-R", f"{SERVER_USER}:{SERVER_USER}", str(path)], check=True)
        if self.conn_file.exists():  # the password: owner only (the server never reads it)
            os.chmod(self.conn_file, 0o600)


def durability_options() -> str:
    """Server options for crash safety: ``MINQING_PG_DURABLE`` true turns fsync, full-page writes and
    synchronous commit on (the local cluster's default is off: fast, but a power cut or OS crash can
    corrupt it); false states the fast default explicitly. Applied at every start."""
    value = "on" if database_settings().pg_durable else "off"
    return " ".join(f"-c {name}={value}" for name in ("fsync", "full_page_writes", "synchronous_commit"))


def _is_ours(path: Path) -> bool:
    """Only a per-checkout folder under SERVER_HOME is ever deleted outside the checkout."""
    try:
        return path.resolve().parent == SERVER_HOME.resolve()
    except OSError:
        return False


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
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise DatabaseUnavailable(
                f"running as root, the server must run as the '{SERVER_USER}' user, which does not exist: "
                "reinstall it with `apt-get install --reinstall -y postgresql-common postgresql-15`, "
                "or run `make demo` as an ordinary user, or set DATABASE_URL to an existing PostGIS server"
            ) from None


def _port_free(port: int) -> bool:
    """Whether the server could listen on ``port``. SO_REUSEADDR as PostgreSQL sets it: the closed
    connections a stopped server leaves in TIME_WAIT do not make its own port look taken."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
