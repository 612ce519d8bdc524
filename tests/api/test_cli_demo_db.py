"""``minqing demo load --if-empty``, ``minqing db status`` and ``minqing db topology`` (own database)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from api.cli import app
from layers.db import session

SMALL = ("--scale", "0.2", "--seed", "7")


@pytest.fixture(scope="module")
def small_db(fresh_db):
    return fresh_db("cli_demo")


@pytest.fixture
def cli(monkeypatch):
    from layers.db import engine

    engine.cache_clear()

    def invoke(*args: str, url: str | None = None):
        if url is None:
            monkeypatch.delenv("DATABASE_URL", raising=False)
        else:
            monkeypatch.setenv("DATABASE_URL", url)
        engine.cache_clear()
        return CliRunner().invoke(app, list(args), terminal_width=200)

    yield invoke
    engine.cache_clear()


def _snapshot(url) -> tuple:
    with session(url) as s:
        counts = tuple(
            s.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("areas", "network_nodes", "residences", "facilities", "place_names", "audit_log")
        )
        versions = tuple(s.execute(text("SELECT layer, version FROM data_versions ORDER BY layer")).all())
    return counts, versions


def test_demo_load_if_empty_loads_once_then_skips(cli, small_db):
    r = cli("demo", "load", *SMALL, "--if-empty", url=small_db)
    assert r.exit_code == 0, r.output
    assert "已载入 loaded" in r.output and "fictional demo data" in r.output
    loaded = _snapshot(small_db)
    assert all(n > 0 for n in loaded[0])
    r = cli("demo", "load", *SMALL, "--if-empty", url=small_db)
    assert r.exit_code == 0 and "layers already loaded" in r.output
    assert _snapshot(small_db) == loaded  # not one row written, not even an audit row


def test_db_status_names_the_server_not_the_password(cli, small_db):
    r = cli("db", "status", url=small_db)
    url = make_url(small_db)
    assert r.exit_code == 0, r.output
    assert f"{url.host}:{url.port}/{url.database}" in r.output
    assert "up to date" in r.output and url.password not in r.output


def test_db_status_says_when_the_server_does_not_answer(cli):
    r = cli("db", "status", url="postgresql://minqing:secret-pw@127.0.0.1:1/nothing")
    assert r.exit_code == 1 and "does not answer" in r.output and "secret-pw" not in r.output


def test_db_status_of_an_uninitialised_local_cluster(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MINQING_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no .env with a DATABASE_URL
    r = cli("db", "status")
    assert r.exit_code == 1 and "not initialised (run: minqing db up)" in r.output


def test_db_topology_passes_on_the_demo_and_finds_a_seeded_overlap(cli, small_db):
    if not _snapshot(small_db)[0][0]:
        assert cli("demo", "load", *SMALL, url=small_db).exit_code == 0
    r = cli("db", "topology", url=small_db)
    assert r.exit_code == 0 and "topology OK" in r.output, r.output
    with session(small_db) as s:  # a copy of a small grid under the same parent overlaps it completely
        grid = s.execute(text("SELECT min(area_id) FROM areas WHERE level = 'grid_small'")).scalar_one()
        s.execute(
            text(
                "INSERT INTO areas (area_id, parent_id, level, code, name, geom) "
                "SELECT 999999999, parent_id, level, 'SEEDED-OVERLAP', '重叠网格', geom FROM areas "
                "WHERE area_id = :g"
            ),
            {"g": grid},
        )
    try:
        r = cli("db", "topology", url=small_db)
        assert r.exit_code == 1, r.output
        lines = [ln for ln in r.output.splitlines() if "999999999" in ln]
        assert lines and all("overlap" in ln for ln in lines) and any(str(grid) in ln for ln in lines)
    finally:
        with session(small_db) as s:
            s.execute(text("DELETE FROM areas WHERE area_id = 999999999"))
