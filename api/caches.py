"""Computed structures the API reuses across requests, keyed by the data version they were built on.

Routable networks (one per travel profile), the place-name search index and finished GeoJSON
responses are rebuilt only after their layers changed (``data_versions`` is bumped by every write,
see migration 0002), so an edit shows at once and an unchanged layer costs one small query.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

import pandas as pd
from sqlalchemy.orm import Session

import data
from api.settings import coverage_settings
from geo.network import Network, build_network
from geo.placenames.search import NameIndex
from geo.profiles import Profile, get_profile, load_profiles
from layers import placenames, queries

PROFILES_CSV = Path(data.__file__).parent / "profiles.csv"


T = TypeVar("T")


class BuiltOnce(Generic[T]):
    """The ``size`` most recently used values; concurrent requests for a missing key build it ONCE.

    (Without that, 50 clients arriving together would each build the same network.)
    """

    def __init__(self, size: int):
        self._size = size
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            key_lock = self._building.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            try:
                value = build()
            finally:
                with self._lock:
                    self._building.pop(key, None)
            with self._lock:
                self._items[key] = value
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
        return value


class ResponseCache:
    """Least-recently-used response bodies, bounded by their total size in bytes.

    ``get_or_build`` builds a missing body once however many requests want it at the same time.
    """

    def __init__(self, *, max_bytes: int = 64 * 1024 * 1024, max_item_bytes: int = 8 * 1024 * 1024):
        self.max_bytes, self.max_item_bytes = max_bytes, max_item_bytes
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}

    def get_or_build(self, key: Hashable, build: Callable[[], bytes]) -> bytes:
        body = self.get(key)
        if body is not None:
            return body
        with self._lock:
            key_lock = self._building.setdefault(key, threading.Lock())
        with key_lock:
            body = self.get(key)
            if body is None:
                try:
                    body = build()
                finally:
                    with self._lock:
                        self._building.pop(key, None)
                self.put(key, body)
        return body

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, key: Hashable, body: bytes) -> None:
        if len(body) > self.max_item_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self._size += len(body) - (len(old) if old is not None else 0)
            self._items[key] = body
            while self._size > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)


class Engines:
    """Per-process caches; one instance lives in ``app.state.engines``.

    The travel profiles are re-read when their table changes (``MINQING_PROFILES_CSV``, default
    data/profiles.csv), so an edited speed shows in the next isochrone without a restart.
    """

    def __init__(self, *, profiles_csv: Path | None = None):
        self.profiles_csv = profiles_csv or coverage_settings().profiles_csv
        self._networks: BuiltOnce[Network] = BuiltOnce(size=8)
        self._names: BuiltOnce[tuple[NameIndex, pd.DataFrame]] = BuiltOnce(size=2)
        self._profiles: BuiltOnce[dict[str, Profile]] = BuiltOnce(size=1)
        self.responses = ResponseCache()
        self.isochrones = ResponseCache(max_bytes=32 * 1024 * 1024)
        """Isochrone bodies by (origin, profile, budgets, data versions, profile table): see api.routes.isochrones."""

    @property
    def profiles(self) -> dict[str, Profile]:
        return self._profiles.get(self.profiles_stamp(), lambda: load_profiles(self.profiles_csv))

    def profiles_stamp(self) -> tuple:
        """Changes when the travel-profile table is edited (path, modification time, size)."""
        stat = self.profiles_csv.stat()
        return (str(self.profiles_csv), stat.st_mtime_ns, stat.st_size)

    def network(self, s: Session, profile: str) -> Network:
        """The routable network of ``profile`` (``UnknownProfileError`` for unknown names)."""
        stamp = self.profiles_stamp()
        chosen = get_profile(self.profiles, profile)
        versions = queries.data_versions(s)
        key = (profile, stamp, versions.get("network_nodes", 0), versions.get("network_edges", 0))
        return self._networks.get(key, lambda: build_network(queries.nodes(s), queries.edges(s), chosen))

    def name_index(self, s: Session) -> tuple[NameIndex, pd.DataFrame]:
        """The place-name search index and its rows (one per name, former names flagged)."""
        key = queries.data_versions(s).get("place_names", 0)
        return self._names.get(key, lambda: placenames.name_index(s))
