"""The process-wide cache of prepared networks never serves one database's network to another."""

from __future__ import annotations

from layers.db import session
from pipeline.coverage import read_inputs


def test_equal_version_counters_in_two_databases_give_different_prepared_keys(fresh_db):
    a, b = fresh_db("cache_a"), fresh_db("cache_b")
    with session(a, actor="pytest") as s:
        ia = read_inputs(s)
    with session(b, actor="pytest") as s:
        ib = read_inputs(s)
    assert ia.base_key() == ib.base_key()  # both fresh: the per-database counters are equal
    assert ia.prepared_key() != ib.prepared_key()
    assert ia.database[2] != ib.database[2]  # told apart by the database's oid
