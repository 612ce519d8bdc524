"""Computed structures the API reuses across requests, in the one cache (``layers.cache``), keyed by
the database and the data version they were built on.

Routable networks (one per travel profile), the place-name search index and finished GeoJSON
responses and tiles are rebuilt only after their layers changed (``data_versions`` is bumped by
every write, see migration 0002), so an edit shows at once and an unchanged layer costs one small
query.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy.orm import Session

import data
from geo.network import Network, build_network
from geo.placenames.search import NameIndex
from geo.profiles import Profile, get_profile, load_profiles
from layers import lookup, placenames, queries
from layers.cache import Cache, byte_cache, versioned_key
from settings import coverage_settings

PROFILES_CSV = Path(data.__file__).parent / "profiles.csv"


class Engines:
    """Per-process caches; one instance lives in ``app.state.engines``.

    The travel profiles are re-read when their table changes (``MINQING_PROFILES_CSV``, default
    data/profiles.csv), so an edited speed shows in the next isochrone without a restart.
    """

    def __init__(self, *, profiles_csv: Path | None = None):
        self.profiles_csv = profiles_csv or coverage_settings().profiles_csv
        self._networks: Cache[Network] = Cache(8)
        self._names: Cache[tuple[NameIndex, pd.DataFrame]] = Cache(2)
        self._profiles: Cache[dict[str, Profile]] = Cache(1)
        self._facilities: Cache[pd.DataFrame] = Cache(2)
        self.responses = byte_cache(128 * 1024 * 1024, max_item_bytes=8 * 1024 * 1024)
        """Finished GeoJSON pages and tiles by URL, audience and data version."""
        self.isochrones = byte_cache(32 * 1024 * 1024, max_item_bytes=8 * 1024 * 1024)
        """Isochrone bodies by (origin, profile, budgets, data versions, profile table):
        see api.routes.isochrones.
        """

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
        key = versioned_key(s, ("network_nodes", "network_edges"), profile, stamp)
        return self._networks.get(key, lambda: build_network(queries.nodes(s), queries.edges(s), chosen))

    def facility_points(self, s: Session) -> pd.DataFrame:
        """The open facilities an isochrone lists (``layers.lookup.facility_points``), read once per version:
        the same frame every time, so worker processes keep its snaps (``geo.isochrone``)."""
        return self._facilities.get(
            versioned_key(s, ("facilities", "facility_types")), lambda: lookup.facility_points(s)
        )

    def name_index(self, s: Session) -> tuple[NameIndex, pd.DataFrame]:
        """The place-name search index and its rows (one per name, former names flagged)."""
        return self._names.get(versioned_key(s, ("place_names",)), lambda: placenames.name_index(s))
