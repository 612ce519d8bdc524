"""``minqing users``: create, list, set-role, deactivate, demo accounts (own database)."""

from __future__ import annotations

import stat

import pytest
from api_fixture import fresh_database
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

runner = CliRunner()


@pytest.fixture(scope="module")
def cli_db(db_url):
    url = fresh_database(db_url, make_url(db_url).database + "_cli")
    from layers.db import session

    with session(url, actor="fixture") as s:
        s.execute(
            text(
                "INSERT INTO areas (area_id, level, code, name, geom) "
                "VALUES (7, 'grid_small', 'G7', '七号网格', "
                "ST_Multi(ST_MakeEnvelope(113.2, 22.5, 113.21, 22.51, 4326)))"
            )
        )
    return url


@pytest.fixture
def cli(cli_db, monkeypatch):
    from api.cli.users import app
    from layers.db import engine

    monkeypatch.setenv("DATABASE_URL", cli_db)
    monkeypatch.setenv("MINQING_BCRYPT_ROUNDS", "4")
    # layers.db.engine caches the engine of ``session()`` (url None) under the key None: forget it
    # before and after, so neither this test nor the next one talks to the wrong database
    engine.cache_clear()

    def invoke(*args: str, stdin: str | None = None):
        return runner.invoke(app, list(args), input=stdin)

    yield invoke
    engine.cache_clear()


def _account(url: str, username: str):
    from layers import users
    from layers.db import session

    with session(url) as s:
        return users.by_username(s, username)


def test_create_list_set_role_deactivate(cli, cli_db):
    from api.security import verify_password

    r = cli("create", "li.planner", "--role", "planner", "--password-stdin", stdin="a-long-password\n")
    assert r.exit_code == 0, r.output
    account = _account(cli_db, "li.planner")
    assert account.role == "planner" and verify_password("a-long-password", account.password_hash)

    listed = cli("list")
    assert listed.exit_code == 0 and "li.planner" in listed.output and "$2b$" not in listed.output

    r = cli("set-role", "li.planner", "grid_worker", "--area-id", "7")
    assert r.exit_code == 0, r.output
    assert _account(cli_db, "li.planner").area_id == 7

    assert cli("deactivate", "li.planner").exit_code == 0
    assert _account(cli_db, "li.planner").active is False


def test_errors_are_one_line_without_traceback(cli):
    r = cli("create", "x.user", "--role", "emperor", "--password", "a-long-password")
    assert r.exit_code == 2 and "unknown role" in r.output and "Traceback" not in r.output
    short = cli("create", "y.user", "--role", "planner", "--password", "short")
    assert short.exit_code == 2 and "at least 8" in short.output
    assert cli("deactivate", "nobody.here").exit_code == 2
    cli("create", "dup.user", "--role", "planner", "--password", "a-long-password")
    dup = cli("create", "dup.user", "--role", "planner", "--password", "a-long-password")
    assert dup.exit_code == 2 and "taken" in dup.output


def test_demo_accounts(cli, cli_db, tmp_path):
    from api.security import verify_password

    target = tmp_path / "demo-users.txt"
    r = cli("demo", "--file", str(target))
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    rows = {
        line.split("\t")[0]: line.split("\t")
        for line in target.read_text().splitlines()
        if not line.startswith("#")
    }
    assert set(rows) == {"planner", "officer", "gridworker", "admin", "dispatcher", "department"}
    for username, role, password in rows.values():
        account = _account(cli_db, username)
        assert account.role == role and verify_password(password, account.password_hash)
        assert password in r.output  # printed once
    assert _account(cli_db, "gridworker").area_id == 7
    assert _account(cli_db, "department").department == "民政局"

    again = cli("demo", "--file", str(target))
    assert "password unchanged" in again.output and rows["admin"][2] not in again.output

    reset = cli("demo", "--file", str(target), "--reset")
    new_admin = {
        line.split("\t")[0]: line.split("\t")[2]
        for line in target.read_text().splitlines()
        if not line.startswith("#")
    }["admin"]
    assert reset.exit_code == 0 and new_admin != rows["admin"][2]
    assert verify_password(new_admin, _account(cli_db, "admin").password_hash)
