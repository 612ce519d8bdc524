"""The local cluster (layers.cluster) started for real in a temporary project folder."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import psycopg
import pytest

from layers.cluster import DB_USER, PG_BIN, LocalCluster

pytestmark = pytest.mark.skipif(not (PG_BIN / "postgres").exists(),
                                reason="PostgreSQL 15 server binaries not installed (DATABASE_URL set-ups)")


@pytest.fixture()
def cluster():
    root = Path(tempfile.mkdtemp(prefix="minqing-cluster-"))
    root.chmod(0o755)  # the server runs as postgres when the tests run as root
    c = LocalCluster(root)
    yield c
    c.down()
    shutil.rmtree(root)


def _show(c: LocalCluster, *names: str) -> list[str]:
    conn = c.conn()
    with psycopg.connect(host="127.0.0.1", port=conn["port"], user=DB_USER, password=conn["password"],
                         dbname="postgres") as con:
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
