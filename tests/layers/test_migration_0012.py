"""Migration 0012 on a database holding rows that break its rules: it stops, naming them, and changes
nothing; once they are corrected it normalises the usernames and adds the rules."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from layers import migrate
from layers.errors import ValidationFailed

AREA = (
    "INSERT INTO areas (area_id, level, code, name, worker_phone, geom) "
    "VALUES (:i, 'grid_small', :c, :n, :p, ST_Multi(ST_MakeEnvelope(113.2, 22.5, 113.21, 22.51, 4326)))"
)
HOME = (
    "INSERT INTO residences (residence_id, households, population, elderly, children, geom) "
    "VALUES (:i, 1, :p, :e, :c, ST_Point(113.2, 22.5, 4326))"
)
USER = "INSERT INTO users (username, password_hash, role) VALUES (:u, 'x', 'planner')"


def _run(engine, sql: str, rows: list[dict]) -> None:
    with engine.begin() as con:
        for row in rows:
            con.execute(text(sql), row)


@pytest.fixture
def before_0012(fresh_db):
    url = fresh_db("mig0012")
    migrate.downgrade(url, "0011")
    engine = create_engine(url)
    yield url, engine
    engine.dispose()


def _fails_naming(url: str, *names: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        migrate.upgrade(url)
    for name in names:
        assert name in str(caught.value)
    assert migrate.current(url) == "0011"


def test_rows_breaking_the_rules_stop_the_upgrade_until_corrected(before_0012):
    url, engine = before_0012
    _run(engine, HOME, [{"i": 41, "p": 5, "e": 3, "c": 3}, {"i": 42, "p": 5, "e": 3, "c": 2}])
    _run(
        engine,
        AREA,
        [
            {"i": 51, "c": "A51", "n": "五一", "p": "13912345678"},
            {"i": 52, "c": "A52", "n": "五二", "p": "0755-12345678"},
        ],
    )
    _run(engine, USER, [{"u": "Wang.Li"}, {"u": "wang.li "}, {"u": "ＺＨＡＯ"}])

    _fails_naming(url, "residence_id", "41")
    _run(engine, "UPDATE residences SET children = 2 WHERE residence_id = :i", [{"i": 41}])
    _fails_naming(url, "area_id", "51")
    _run(
        engine,
        "UPDATE areas SET worker_phone = :p WHERE area_id = :i",
        [{"i": 51, "p": "工作手机 13912345678"}],
    )
    _fails_naming(url, "Wang.Li", "wang.li ")
    _run(engine, "DELETE FROM users WHERE username = :u", [{"u": "wang.li "}])

    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head()
    with engine.connect() as con:
        names = con.execute(text("SELECT username, token_version FROM users ORDER BY username")).all()
        assert [tuple(r) for r in names] == [("wang.li", 1), ("zhao", 1)]
        for sql, row in (
            (HOME, {"i": 43, "p": 1, "e": 1, "c": 1}),
            (AREA, {"i": 53, "c": "A53", "n": "五三", "p": "13912345678"}),
        ):
            with pytest.raises(Exception, match="residence_people_consistent|area_worker_phone_work"):
                con.execute(text(sql), row)
            con.rollback()
