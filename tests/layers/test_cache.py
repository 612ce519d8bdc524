"""The one cache (``layers.cache``): built once under concurrency, least recently used first out,
bounded in bytes, and keyed by database identity and data version on a real PostGIS."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from layers.cache import Cache, byte_cache, versioned_key
from layers.db import session


def test_a_missing_value_is_built_once_however_many_threads_want_it():
    cache: Cache[int] = Cache(4)
    builds = []
    gate = threading.Event()

    def build() -> int:
        builds.append(1)
        gate.wait(5)
        return 42

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(cache.get, "k", build) for _ in range(8)]
        time.sleep(0.2)
        gate.set()
        assert [f.result() for f in futures] == [42] * 8
    assert len(builds) == 1


def test_the_least_recently_used_value_goes_first():
    cache: Cache[str] = Cache(2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.peek("a") == "A"  # a is now the most recently used
    cache.put("c", "C")
    assert (cache.peek("a"), cache.peek("b"), cache.peek("c")) == ("A", None, "C")


def test_byte_caches_are_bounded_by_size_and_keep_no_oversized_body():
    cache = byte_cache(10, max_item_bytes=6)
    cache.put("a", b"12345")
    cache.put("b", b"12345")
    cache.put("c", b"123")  # 13 bytes > 10: the oldest goes
    assert cache.peek("a") is None and cache.peek("b") == b"12345" and cache.peek("c") == b"123"
    assert cache.get("big", lambda: b"1234567") == b"1234567"  # returned, not kept
    assert cache.peek("big") is None and len(cache) == 2


def test_keys_follow_writes_and_tell_databases_apart(fresh_db):
    a, b = fresh_db("cachekey_a"), fresh_db("cachekey_b")
    with session(a) as s:
        before = versioned_key(s, ("water",), "x")
    with session(b) as s:
        other = versioned_key(s, ("water",), "x")
    assert before[1:] == other[1:] and before != other  # equal counters, another database
    with session(a, actor="pytest") as s:
        s.execute(
            text(
                "INSERT INTO water (water_id, kind, name, geom) VALUES (1, 'lake', '湖', "
                "ST_GeomFromText('MULTIPOLYGON(((113 22,113.01 22,113.01 22.01,113 22)))', 4326))"
            )
        )
    with session(a) as s:
        after = versioned_key(s, ("water",), "x")
    assert after != before and after[0] == before[0]
