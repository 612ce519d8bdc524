"""The local cluster (layers.cluster) started for real in a temporary project folder."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import psycopg
import pytest

from layers.cluster import DB_USER, PG_BIN, SERVER_HOME, LocalCluster

pytestmark = pytest.mark.skipif(
    not (PG_BIN / "postgres").exists(),
    reason="PostgreSQL 15 server binaries not installed (DATABASE_URL set-ups)",
)


ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (the server then runs as postgres)")
REPO = Path(__file__).resolve().parents[2]


def _run_as_nobody(script: str, *args: str, home: Path | None = None) -> subprocess.CompletedProcess:
    """Run a Python snippet as the ordinary user ``nobody``, with this checkout and its venv's packages.
    The venv's interpreter may sit in root's private home, so Debian's python3 of the same version
    runs it."""
    python = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not python.exists():
        pytest.skip(f"{python} (Debian's interpreter of the venv's version) is not installed")
    prefix = (
        f"import sys; sys.path[:0] = [{str(REPO)!r}, {sysconfig.get_paths()['purelib']!r}, "
        f"{sysconfig.get_paths()['platlib']!r}]\n"
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(home or "/nonexistent")}
    return subprocess.run(
        ["runuser", "-u", "nobody", "--", str(python), "-c", prefix + script, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(home or "/"),
        timeout=120,
    )


@pytest.fixture()
def cluster():
    # mkdtemp makes a 0700 folder: as root the server runs as postgres, which cannot enter it
    root = Path(tempfile.mkdtemp(prefix="minqing-cluster-"))
    c = LocalCluster(root)
    yield c
    c.down(remove=True)
    shutil.rmtree(root, ignore_errors=True)


def _show(c: LocalCluster, *names: str) -> list[str]:
    conn = c.conn()
    with psycopg.connect(
        host="127.0.0.1", port=conn["port"], user=DB_USER, password=conn["password"], dbname="postgres"
    ) as con:
        return [con.execute(f"SHOW {n}").fetchone()[0] for n in names]


def test_up_keeps_the_password_private_and_durability_follows_the_setting(cluster, monkeypatch):
    monkeypatch.setenv("MINQING_PG_DURABLE", "true")
    cluster.up()
    assert stat.S_IMODE(os.stat(cluster.conn_file).st_mode) == 0o600
    assert _show(cluster, "fsync", "full_page_writes", "synchronous_commit") == ["on", "on", "on"]
    assert _show(cluster, "listen_addresses") == ["127.0.0.1"]
    cluster.down()
    monkeypatch.setenv("MINQING_PG_DURABLE", "false")
    cluster.up()  # the setting applies at every start, no re-initialisation
    assert _show(cluster, "fsync", "full_page_writes", "synchronous_commit") == ["off", "off", "off"]
    assert stat.S_IMODE(os.stat(cluster.conn_file).st_mode) == 0o600


def _query(c: LocalCluster, sql: str):
    conn = c.conn()
    with psycopg.connect(
        host="127.0.0.1", port=conn["port"], user=DB_USER, password=conn["password"], dbname="minqing"
    ) as con:
        return con.execute(sql).fetchone()[0]


@ROOT_ONLY
def test_a_checkout_in_a_private_folder_gets_a_working_cluster_without_loosening_it(cluster):
    private = cluster.root.parent / f"{cluster.root.name}-home"
    private.mkdir(mode=0o700)  # like /root: postgres may not enter it nor anything below
    checkout = private / "minqing-map"
    checkout.mkdir()
    c = LocalCluster(checkout)
    try:
        assert subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(private)]).returncode != 0
        c.up()
        assert _query(c, "SELECT 40 + 2") == 42
        # the data lives in a per-checkout folder owned by postgres, recorded in the connection file
        assert c.server_dir.parent == SERVER_HOME and c.datadir.is_relative_to(c.server_dir)
        assert json.loads(c.conn_file.read_text())["server_dir"] == str(c.server_dir)
        assert str(c.datadir) in c.status() and c.status().startswith("running")
        # the user's folders keep their permissions
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        assert stat.S_IMODE(c.base.stat().st_mode) == 0o700
        assert stat.S_IMODE(c.conn_file.stat().st_mode) == 0o600
        server_dir = c.server_dir
        removed = c.down(remove=True)
        assert server_dir in removed and not server_dir.exists() and not c.base.exists()
    finally:
        c.down(remove=True)
        shutil.rmtree(private, ignore_errors=True)


@ROOT_ONLY
def test_the_server_folder_belongs_to_postgres_and_a_reclone_at_the_same_path_starts_afresh(cluster):
    import pwd

    cluster.up()
    owner = pwd.getpwnam("postgres").pw_uid
    assert cluster.server_dir.stat().st_uid == owner and cluster.datadir.stat().st_uid == owner
    first_password = cluster.conn()["password"]
    # the checkout is deleted while its server runs, then cloned again at the same path
    shutil.rmtree(cluster.base)
    cluster.up()
    assert cluster.conn()["password"] != first_password
    assert _query(cluster, "SELECT current_user") == DB_USER


def test_the_port_stays_the_same_after_down_and_up_with_connections_just_closed(cluster):
    cluster.up()
    port = cluster.conn()["port"]
    for _ in range(3):  # server-side closes leave TIME_WAIT sockets on the server's port
        assert _query(cluster, "SELECT 1") == 1
    cluster.down()
    cluster.up()
    assert cluster.conn()["port"] == port
    assert _query(cluster, "SELECT 1") == 1


def test_the_port_moves_only_when_another_program_took_it(cluster):
    cluster.up()
    port = cluster.conn()["port"]
    cluster.down()
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        cluster.up()
        assert cluster.conn()["port"] != port
    assert _query(cluster, "SELECT 1") == 1


@ROOT_ONLY
def test_an_ordinary_user_with_a_private_home_runs_the_server_as_themselves():
    """As a user who is not root (here: nobody), the server runs as that user with its data in the
    checkout's .pgdata/ inside a 0700 home."""
    home = Path(tempfile.mkdtemp(prefix="minqing-home-"))
    nobody = subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True).stdout.strip()
    os.chown(home, int(nobody), -1)
    script = (
        "from pathlib import Path; from layers.cluster import LocalCluster\n"
        "import psycopg; c = LocalCluster(Path(sys.argv[1]))\n"
        "c.up(); k = c.conn()\n"
        "con = psycopg.connect(host='127.0.0.1', port=k['port'], user='minqing', password=k['password'],"
        " dbname='minqing')\n"
        "print('answer', con.execute('SELECT 6 * 7').fetchone()[0], c.datadir)\n"
        "con.close(); c.down(remove=True)\n"
    )
    try:
        r = _run_as_nobody(script, str(home / "checkout"), home=home)
        assert r.returncode == 0, r.stderr[-2000:]
        assert f"answer 42 {home}/checkout/.pgdata/data" in r.stdout
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert not (home / "checkout" / ".pgdata").exists()  # removed by down(remove=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)


@ROOT_ONLY
def test_a_connection_file_of_another_user_says_whose_it_is_and_what_to_run():
    checkout = Path(tempfile.mkdtemp(prefix="minqing-other-"))
    checkout.chmod(0o755)
    c = LocalCluster(checkout)
    c.base.mkdir(mode=0o700)  # made by root; now someone else runs minqing in the same checkout
    c.conn_file.write_text('{"port": 1, "password": "x"}')
    script = (
        "from pathlib import Path; from layers.cluster import LocalCluster; "
        "LocalCluster(Path(sys.argv[1])).url()"
    )
    try:
        r = _run_as_nobody(script, str(checkout))
        assert r.returncode != 0
        assert "belongs to another user" in r.stderr and "db down --remove" in r.stderr
    finally:
        shutil.rmtree(checkout)


def test_without_the_server_packages_up_says_what_to_install(tmp_path, monkeypatch):
    import layers.cluster as cluster_module
    from layers.errors import DatabaseUnavailable

    monkeypatch.setattr(cluster_module, "PG_BIN", tmp_path / "no-postgresql")
    monkeypatch.setattr(cluster_module, "POSTGIS_CONTROL", tmp_path / "no-postgis.control")
    with pytest.raises(DatabaseUnavailable) as e:
        LocalCluster(tmp_path).up()
    assert "apt-get install -y postgresql-15 postgresql-15-postgis-3" in str(e.value)
    assert "DATABASE_URL" in str(e.value)
    assert not (tmp_path / ".pgdata").exists()
