"""The one cache of what the service builds from the database (cachetools' LRU): routable networks,
prepared coverage inputs, search indexes, map pages, finished responses and tiles.

A key always holds the identity of the database (``database_identity``: two databases may count
their data versions alike) and the data versions the value was built on (``data_versions``, bumped
by every write: migration 0002), so an edit shows at once and an unchanged layer costs one small
query. Each cache is per process: a server with several workers builds a value once in each, and
all of them see the same versions, so none serves a stale one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

from cachetools import LRUCache
from sqlalchemy.orm import Session

from layers.queries import data_versions, database_identity

T = TypeVar("T")


def versioned_key(s: Session, layers: Iterable[str] | None = None, *parts: Hashable) -> tuple:
    """A cache key: the database's identity, the data version of each of ``layers`` (every layer when
    None), then ``parts``."""
    versions = data_versions(s)
    chosen = (
        sorted(versions.items()) if layers is None else [(name, versions.get(name, 0)) for name in layers]
    )
    return (database_identity(s), tuple(chosen), *parts)


def database_key(s: Session, *parts: Hashable) -> tuple:
    """A cache key for values whose ``parts`` already name the data versions they were built on."""
    return (database_identity(s), *parts)


class Cache(Generic[T]):
    """The ``maxsize`` most recently used values (or bytes, with ``sizeof``); a missing key is built ONCE
    however many threads want it at the same time (50 clients arriving together must not each build
    the same network). Values larger than ``max_item`` are returned but not kept."""

    def __init__(
        self, maxsize: int, *, sizeof: Callable[[T], int] | None = None, max_item: int | None = None
    ):
        self._lru: LRUCache[Hashable, T] = LRUCache(maxsize, getsizeof=sizeof)
        self._sizeof = sizeof
        self._max_item = min(max_item or maxsize, maxsize)
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        """The value of ``key``, built by ``build()`` when missing."""
        found = self.peek(key)
        if found is not None:
            return found
        with self._lock:
            key_lock = self._building.setdefault(key, threading.Lock())
        with key_lock:
            found = self.peek(key)
            if found is not None:
                return found
            try:
                value = build()
            finally:
                with self._lock:
                    self._building.pop(key, None)
            self.put(key, value)
        return value

    def peek(self, key: Hashable) -> T | None:
        """The value of ``key`` (marked recently used), or None."""
        with self._lock:
            return self._lru.get(key)

    def put(self, key: Hashable, value: T) -> None:
        if self._sizeof is not None and self._sizeof(value) > self._max_item:
            return
        with self._lock:
            self._lru[key] = value

    def clear(self) -> None:
        with self._lock:
            self._lru.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._lru)


def byte_cache(max_bytes: int, *, max_item_bytes: int | None = None) -> Cache[bytes]:
    """A cache of response bodies bounded by their total size."""
    return Cache(max_bytes, sizeof=len, max_item=max_item_bytes)
