"""Travel profiles: speed and access rules per OSM highway class (data/profiles.csv).

A profile says, for one way of travelling (walk, walk_elderly, ebike, car), how fast each highway
class is travelled, whether it may be used at all, and whether one-way streets bind. The access
rules applied to an edge (``edge_rules``):

* the travel mode's own OSM tag (``foot`` for walking, ``bicycle`` for e-bikes; cars have none)
  overrides the general ``access`` tag, as in OSM;
* effective access ``'no'`` makes an edge unusable; ``'yes'``/``'designated'``/``'permissive'`` in
  the mode's own tag makes it usable even on a class the profile excludes;
* effective access ``'private'`` marks the edge as part of a gated compound (see
  ``geo.network`` for how compounds are routed);
* one-way is respected only by profiles with ``respect_oneway`` (vehicles).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from geo.errors import MissingColumnsError, ProfileError, UnknownProfileError

DEFAULT_CLASS = "*"
MODE_TAG = {"foot": "foot", "bicycle": "bicycle", "motor": None}
OPEN_VALUES = ("yes", "designated", "permissive")
CLOSED_VALUES = ("no",)
PRIVATE_VALUES = ("private",)
_COLUMNS = [
    "profile",
    "label_zh",
    "highway",
    "speed_kmh",
    "usable",
    "respect_oneway",
    "mode",
    "access_profile",
]


@dataclass(frozen=True)
class Profile:
    """One travel profile.

    Attributes
    ----------
    name : profile key, e.g. ``'walk'``.
    label : display label (Chinese).
    mode : ``'foot'``, ``'bicycle'`` or ``'motor'``; selects the OSM tag that overrides ``access``.
    speeds_kmh : speed (km/h) per highway class; ``'*'`` is the default for unlisted classes.
    usable : whether each highway class may be used; ``'*'`` is the default.
    respect_oneway : whether one-way streets bind (vehicles).
    access_speed_kmh : speed (km/h) of the leg from a point (home, facility) to its street, i.e.
        walking: the profile's own default speed for foot profiles, else its ``access_profile``'s.
    """

    name: str
    label: str
    mode: str
    speeds_kmh: Mapping[str, float]
    usable: Mapping[str, bool]
    respect_oneway: bool
    access_speed_kmh: float

    @property
    def access_speed_mps(self) -> float:
        """Speed of the point-to-street leg in metres per second."""
        return self.access_speed_kmh / 3.6

    def class_rules(self, highway: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Speed (m/s) and usability per edge from its highway class alone."""
        # per distinct class, then spread by the classes' codes (a city has ~400k edges, ~20 classes)
        codes, classes = pd.factorize(highway.fillna(DEFAULT_CLASS).astype(str))
        hw = pd.Series(classes, dtype=object)
        speed = hw.map(self.speeds_kmh).fillna(self.speeds_kmh[DEFAULT_CLASS]).to_numpy(float) / 3.6
        usable = hw.map(self.usable).fillna(self.usable[DEFAULT_CLASS]).to_numpy(bool)
        return speed[codes], usable[codes]


@dataclass(frozen=True)
class EdgeRules:
    """Per-edge outcome of a profile's rules (arrays aligned with the edges frame)."""

    usable: np.ndarray  # bool
    speed_mps: np.ndarray  # float, metres per second
    oneway: np.ndarray  # bool, binding one-way in the u→v direction
    private: np.ndarray  # bool, part of a gated compound for this mode


def load_profiles(path: str | Path) -> dict[str, Profile]:
    """Read the editable profile table (data/profiles.csv) into ``{name: Profile}``.

    Raises ``ProfileError`` when a profile lacks its ``'*'`` default row, gives a usable class a
    non-positive speed, mixes modes, or names an unknown access profile.
    """
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = sorted(set(_COLUMNS) - set(table.columns))
    if missing:
        raise MissingColumnsError(f"profiles table {path}", missing)
    partial = {name: _partial_profile(name, rows) for name, rows in table.groupby("profile", sort=True)}
    return {name: _with_access_speed(name, fields, partial) for name, fields in partial.items()}


def _partial_profile(name: str, rows: pd.DataFrame) -> dict:
    default = rows[rows.highway == DEFAULT_CLASS]
    if len(default) != 1:
        raise ProfileError(
            f"profile {name!r} needs exactly one '*' default row in profiles.csv, has {len(default)}"
        )
    modes = set(rows["mode"])
    if len(modes) != 1 or next(iter(modes)) not in MODE_TAG:
        raise ProfileError(f"profile {name!r} has mode(s) {sorted(modes)}: use one of {sorted(MODE_TAG)}")
    speeds = dict(zip(rows.highway, rows.speed_kmh.astype(float), strict=True))
    usable = dict(zip(rows.highway, rows.usable.astype(int).astype(bool), strict=True))
    bad = [hw for hw, ok in usable.items() if ok and not speeds[hw] > 0]
    if bad:
        raise ProfileError(
            f"profile {name!r} marks classes {bad} usable with speed <= 0: give a speed in km/h"
        )
    return {
        "name": name,
        "label": default.label_zh.iloc[0],
        "mode": next(iter(modes)),
        "speeds_kmh": speeds,
        "usable": usable,
        "respect_oneway": bool(int(default.respect_oneway.iloc[0])),
        "access_profile": default.access_profile.iloc[0] or name,
    }


def _with_access_speed(name: str, fields: dict, partial: dict[str, dict]) -> Profile:
    access = fields.pop("access_profile")
    if access not in partial:
        raise UnknownProfileError(access, list(partial))
    if partial[access]["mode"] != "foot":
        raise ProfileError(f"profile {name!r} has access_profile {access!r}, which is not a foot profile")
    return Profile(**fields, access_speed_kmh=partial[access]["speeds_kmh"][DEFAULT_CLASS])


def get_profile(profiles: Mapping[str, Profile], name: str) -> Profile:
    """``profiles[name]`` with an error that lists the known profiles."""
    if name not in profiles:
        raise UnknownProfileError(name, list(profiles))
    return profiles[name]


def edge_rules(profile: Profile, edges: pd.DataFrame) -> EdgeRules:
    """Apply ``profile``'s speed and access rules to every edge of ``edges`` (CONTRACTS.md)."""
    speed, class_usable = profile.class_rules(edges["highway"])
    access = _effective_access(profile, edges)
    own = _tag(edges, MODE_TAG[profile.mode])
    usable = (class_usable | own.isin(OPEN_VALUES).to_numpy()) & ~access.isin(CLOSED_VALUES).to_numpy()
    oneway = edges["oneway"].fillna(False).to_numpy(bool) & profile.respect_oneway
    private = access.isin(PRIVATE_VALUES).to_numpy() & usable
    return EdgeRules(usable=usable, speed_mps=speed, oneway=oneway, private=private)


def _tag(edges: pd.DataFrame, column: str | None) -> pd.Series:
    if column is None or column not in edges:
        return pd.Series("", index=edges.index, dtype=object)
    # clean the few distinct values, not every row
    codes, uniques = pd.factorize(edges[column], use_na_sentinel=True)
    clean = np.array([str(u).strip().lower() for u in uniques] + [""], dtype=object)
    return pd.Series(clean[codes], index=edges.index, dtype=object)


def _effective_access(profile: Profile, edges: pd.DataFrame) -> pd.Series:
    own = _tag(edges, MODE_TAG[profile.mode])
    general = _tag(edges, "access")
    return own.where(own != "", general)
