"""How far around a county its partition must reach for exact per-home results.

A partition is one county's homes plus every street edge and facility within a buffer of the
county's polygon. The buffer is chosen so that each home's result (travel time to the nearest
facility of each type, which facility, covered or not) equals the unpartitioned
``geo.coverage.run_coverage`` exactly.

Why it is exact
---------------
Let ``T`` be the longest search bound of any service tier (seconds; the half-hour circles), ``v``
the fastest speed of any travel profile used by a tier (every road class of the profile and its
point-to-street access speed, m/s), and ``s`` the snapping distance (``MINQING_SNAP_MAX_M``).
``R = v·T`` bounds the length of every path found within the time bound: every metre of it is
travelled at a speed of at most ``v``, and the access legs only add time.

* A home ``h`` in the county snaps to the nearest usable street within ``s``. Every candidate
  street lies within ``s`` of ``h``, so inside the partition (buffer ≥ ``s``): the home snaps to
  the same point ``p_h``.
* A facility ``f`` reached within ``T`` is joined to the street at ``p_f``, the end of a path from
  ``p_h`` of length at most ``R``; every point of that path lies within ``R`` of ``p_h`` (a straight
  line is never longer than the path) and so within ``s + R`` of the county: the whole optimal
  path lies in the partition. ``f`` itself lies within ``s`` of ``p_f``, so within ``R + 2s``
  (``facility_m``); every street ``f`` could snap to lies within ``s`` of ``f``, so the partition's
  edges reach ``R + 3s`` (``network_m``) and each kept facility snaps exactly as in the full run.
* The partition's network is a subgraph of the full one and every kept facility and home snaps
  identically, so no partition time is shorter than the full time, and the optimal path with its
  time is present: the times are equal. Every facility tied with the nearest (within
  ``geo.reach.TIE_TOLERANCE_S``) is at most as far, so present too, and the tie rule picks the
  same one. Homes with no facility within ``T`` stay without one.
* The straight-line radius measure (``in_radius``) needs facilities within the tier radius: the
  facility buffer is at least the largest ``radius_m``. ``distance_m`` beyond the buffer is not
  exact (a nearer-in-a-straight-line facility farther than the buffer may be missing): the
  province run does not store it.

Distances: the SQL side keeps everything inside the county's bounding box grown by the buffer
(a superset of the polygon's buffer); ``geo`` measures in the UTM zone of the data's median;
``MARGIN_SHARE`` and ``MARGIN_M`` (1 % and 50 m) cover the scale difference between a UTM zone
and the spheroid (< 0.1 % within a zone, < 1 % one zone away). Gated compounds
whose private roads are cut by the buffer's edge lie farther than ``s`` beyond any path and any
snapping candidate, provided a compound spans less than the margin (demo compounds: < 500 m).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.coverage import service_tiers
from geo.profiles import Profile, get_profile

MARGIN_SHARE = 0.01
MARGIN_M = 50.0


@dataclass(frozen=True)
class Buffers:
    """Buffer widths around a county (metres).

    Attributes
    ----------
    reach_m : ``v·T``, the longest path any tier's search may find.
    snap_m : the snapping distance ``s``.
    facility_m : facilities farther than this from the county cannot matter (``R + 2s``, at least
        the largest service radius), margin included.
    network_m : street edges farther than this cannot matter (``facility_m + s``).
    """

    reach_m: float
    snap_m: float
    facility_m: float
    network_m: float


def fastest_mps(profile: Profile) -> float:
    """Fastest speed of ``profile`` on any road class or access leg (m/s)."""
    return max(max(float(v) for v in profile.speeds_kmh.values()), float(profile.access_speed_kmh)) / 3.6


def buffers(
    facility_types: pd.DataFrame,
    profiles: dict[str, Profile],
    snap_max_m: float,
    types: list[str] | None = None,
) -> Buffers:
    """Buffer widths for ``facility_types`` (all tiers, or those of ``types``).

    Parameters
    ----------
    facility_types : the facility-type table (``geo.coverage.TYPE_COLUMNS``).
    profiles : ``geo.profiles.load_profiles`` result.
    snap_max_m : snapping distance of homes and facilities to streets (metres).
    types : restrict to these type codes.
    """
    tiers = service_tiers(facility_types)
    if types is not None:
        tiers = tiers[tiers.type_code.isin(types)]
    if tiers.empty:
        reach = 0.0
    else:
        speed = tiers.profile.map(lambda name: fastest_mps(get_profile(profiles, name))).to_numpy(float)
        reach = float(np.max(speed * tiers.max_time_s.to_numpy(float)))
    radius = float(np.nanmax(tiers.radius_m.to_numpy(float), initial=0.0)) if len(tiers) else 0.0
    s = float(snap_max_m)
    facility = max(reach + 2 * s, radius) * (1 + MARGIN_SHARE) + MARGIN_M
    return Buffers(reach_m=reach, snap_m=s, facility_m=facility, network_m=facility + s * (1 + MARGIN_SHARE))


def county_code(code: str) -> str:
    """6-digit county code of an NBS area code (12 or more digits, or 6)."""
    text = str(code)
    if len(text) < 6 or not text[:6].isdigit():
        raise ValueError(f"area code {code!r} is not an NBS code: its first 6 digits must be the county code")
    return text[:6]


def city_code(code: str) -> str:
    """4-digit city (prefecture) code: the first 4 digits of the county code."""
    return county_code(code)[:4]


def province_code(code: str) -> str:
    """2-digit province code."""
    return county_code(code)[:2]
