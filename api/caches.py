"""Computed structures the API reuses across requests, keyed by the data version they were built on.

Routable networks (one per travel profile) and the place-name search index are rebuilt only after
their layers changed (``data_versions`` is bumped by every write, see migration 0002).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import pandas as pd
from sqlalchemy.orm import Session

import data
from geo.network import Network, build_network
from geo.placenames.search import NameIndex, build_index
from geo.profiles import Profile, get_profile, load_profiles
from layers import lookup, queries
from maps.cache import VersionCache

PROFILES_CSV = Path(data.__file__).parent / "profiles.csv"


class Engines:
    """Per-process caches; one instance lives in ``app.state.engines``."""

    def __init__(self, *, profiles_csv: Path = PROFILES_CSV):
        self.profiles_csv = profiles_csv
        self._networks: VersionCache[Network] = VersionCache(size=8)
        self._names: VersionCache[tuple[NameIndex, pd.DataFrame]] = VersionCache(size=2)

    @cached_property
    def profiles(self) -> dict[str, Profile]:
        return load_profiles(self.profiles_csv)

    def network(self, s: Session, profile: str) -> Network:
        """The routable network of ``profile`` (``UnknownProfileError`` for unknown names)."""
        chosen = get_profile(self.profiles, profile)
        versions = queries.data_versions(s)
        key = (profile, versions.get("network_nodes", 0), versions.get("network_edges", 0))
        return self._networks.get(key, lambda: build_network(queries.nodes(s), queries.edges(s), chosen))

    def name_index(self, s: Session) -> tuple[NameIndex, pd.DataFrame]:
        """The place-name search index and its rows (one per name, former names flagged)."""
        key = queries.data_versions(s).get("place_names", 0)

        def build() -> tuple[NameIndex, pd.DataFrame]:
            rows = lookup.place_name_rows(s)
            return build_index(rows), rows.drop_duplicates("id").set_index("id")

        return self._names.get(key, build)
