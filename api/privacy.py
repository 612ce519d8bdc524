"""The one privacy filter every public response goes through.

Rules (domain.md §6, PIPL): the public sees facilities, grid boundaries with the grid worker's work
contact, place names, roads, water and aggregate statistics only. Properties are WHITELISTED per
collection (a new column stays private until someone adds it here); aggregate counts of fewer than
``min_households`` households become ``null`` with ``suppressed: true``, and the others are rounded
to the nearest ``round_to`` (5) so that a suppressed count cannot be worked out exactly as a parent's
total minus its other children (the difference of rounded counts is off by up to a few times
``round_to``). Derived values (``share``) are recomputed from the rounded counts and rounded to two
decimals (null when suppressed): an exact share times a rounded count would give the exact count
back. Residences, personal
fields and accounts never appear. Planners and admins see unfiltered data; a grid worker sees the
residences of their own grid (the route restricts the rows) and public data elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PRIVILEGED_ROLES = frozenset({"planner", "admin"})

AREA_PUBLIC = (
    "area_id",
    "parent_id",
    "level",
    "code",
    "name",
    "urban",
    "urban_rural_code",
    "worker_name",
    "worker_phone",
    "households",
    "community",
    "community_id",
    "town",
)
"""``community`` and ``town``: the names of a grid's community and town, ``community_id`` its community's
area_id (for 本月已办结 of GET /public/resolved-counts); its vector tiles carry them."""

PUBLIC_PROPERTIES: dict[str, tuple[str, ...]] = {
    "facilities": (
        "facility_id",
        "type_code",
        "type_name",
        "category",
        "name",
        "address",
        "floor_area_m2",
        "capacity",
        "opening_hours",
        "fees",
        "phone",
        "operator",
        "status",
    ),
    "facility_types": (
        "code",
        "name_zh",
        "category",
        "urban_tier",
        "urban_profile",
        "urban_max_time_min",
        "urban_max_distance_m",
        "rural_tier",
        "rural_profile",
        "rural_max_time_min",
        "min_floor_area_m2",
        "required",
        "source",
    ),
    "grids": AREA_PUBLIC,
    "areas": AREA_PUBLIC,
    "place_names": (
        "name_id",
        "name",
        "category",
        "area_id",
        "proper",
        "generic",
        "pinyin",
        "status",
        "heritage",
        "sign_present",
        "approval",
        "meaning",
    ),
    "roads": ("edge_id", "highway", "name", "oneway", "bridge", "length_m"),
    "water": ("water_id", "kind", "name"),
    "buildings": ("building_id", "kind", "levels"),
    "coverage": (
        "run_id",
        "area_id",
        "code",
        "name",
        "level",
        "type_code",
        "applicable",
        "households",
        "households_covered",
        "population",
        "population_covered",
        "share",
        "estimated",
        "estimated_share",
    ),
}
"""collection → the properties anyone may see. Collections not listed (residences) are never public."""

AGGREGATE_COUNTS: dict[str, tuple[str, ...]] = {
    "grids": ("households",),
    "areas": ("households",),
    "coverage": (
        "households",
        "households_covered",
        "population",
        "population_covered",
        "share",
        "estimated_share",
    ),
}
"""Counts that describe people in an area: suppressed when the area holds too few households."""

DERIVED: dict[str, tuple[str, str]] = {
    "share": ("population_covered", "population"),
    "estimated_share": ("population_estimated", "population"),
}
"""Public ratios → (numerator, denominator): recomputed from the rounded counts, never the exact ones (a
numerator that is not public itself, such as ``population_estimated``, is rounded the same way first)."""

SHARE_DECIMALS = 2

PERSONAL_KEYS = frozenset(
    {
        "residence_id",
        "residences",
        "elderly",
        "children",
        "elderly_covered",
        "children_covered",
        "estimated",
        "footprint",
        "user_id",
        "username",
        "password",
        "password_hash",
        "actor",
        "before",
        "after",
        "changed_by",
    }
)
"""Keys that never appear in a public payload at any depth (besides the whitelist above).

``estimated`` is personal on a residence (it tells how a household was counted) and stays out of
every non-feature payload; the coverage collection's ``estimated`` is whitelisted above: an
area-level flag that some of its counts come from estimates, true or false for every area, so it
says nothing about any household (``estimated_share`` is suppressed with the other counts)."""


class PrivacyFilter:
    """Decides what a viewer with ``role`` (None: anonymous) may see."""

    def __init__(self, *, min_households: int = 5, round_to: int = 5):
        self.min_households = min_households
        self.round_to = round_to

    @staticmethod
    def unfiltered(role: str | None, collection: str) -> bool:
        if role in PRIVILEGED_ROLES:
            return True
        return role == "grid_worker" and collection == "residences"

    @staticmethod
    def is_public(collection: str) -> bool:
        return collection in PUBLIC_PROPERTIES

    @staticmethod
    def selected_keys(collection: str) -> frozenset[str] | None:
        """For a viewer ``properties`` filters: the keys it keeps when it changes no value (the collection
        has no counts to suppress or round, so it only selects keys); None when it may change values."""
        if AGGREGATE_COUNTS.get(collection):
            return None
        return frozenset(PUBLIC_PROPERTIES.get(collection, ()))

    def properties(self, collection: str, props: Mapping[str, Any], *, role: str | None) -> dict[str, Any]:
        """The properties of one feature of ``collection`` that ``role`` may see."""
        if self.unfiltered(role, collection):
            return dict(props)
        allowed = PUBLIC_PROPERTIES.get(collection)
        if allowed is None:  # the route must have refused already; never leak on a mistake
            raise PermissionError(f"{collection} is not public")
        out = {k: props[k] for k in allowed if k in props}
        return self.suppress(out, AGGREGATE_COUNTS.get(collection, ()), source=props)

    def suppress(
        self, props: dict[str, Any], counts: tuple[str, ...], *, source: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Null the ``counts`` (and mark ``suppressed``) when households are below the threshold or
        unknown (an area whose household count nobody entered cannot be shown to be safe); else
        round the integer counts to the nearest ``round_to`` (half up) and derive the ratios
        (``DERIVED``) from the rounded counts (a numerator missing from ``props`` is taken from
        ``source``, the unfiltered properties, and rounded the same way)."""
        if not counts:
            return props
        households = props.get("households")
        small = households is None or households < self.min_households
        for key in counts:
            value = props.get(key)
            if small and key in props:
                props[key] = None
            elif isinstance(value, int) and not isinstance(value, bool):
                props[key] = self._rounded(value)
        for key, (numerator, denominator) in DERIVED.items():
            if key in props:
                top = props[numerator] if numerator in props else self._rounded((source or {}).get(numerator))
                props[key] = None if small else _ratio(top, props.get(denominator))
        props["suppressed"] = small
        return props

    def small_count(self, count: int, *, households: int | None) -> dict[str, Any]:
        """A public count of things that happened to people in an area (events handled ...):
        ``{"count": rounded, "suppressed": false}``, or ``{"count": None, "suppressed": true}`` when
        the count is below ``min_households`` or the area holds too few households (or an unknown number)."""
        if households is None or households < self.min_households or count < self.min_households:
            return {"count": None, "suppressed": True}
        return {"count": self._rounded(count), "suppressed": False}

    def _rounded(self, value: Any) -> Any:
        """An integer count to the nearest ``round_to`` (half up); anything else unchanged."""
        if not isinstance(value, int) or isinstance(value, bool) or self.round_to <= 1:
            return value
        return (value + self.round_to // 2) // self.round_to * self.round_to

    def payload(self, obj: Any, *, role: str | None) -> Any:
        """Drop personal keys at any depth of a non-feature payload (search results, lookups)."""
        if role in PRIVILEGED_ROLES:
            return obj
        if isinstance(obj, Mapping):
            return {k: self.payload(v, role=role) for k, v in obj.items() if k not in PERSONAL_KEYS}
        if isinstance(obj, list):
            return [self.payload(v, role=role) for v in obj]
        return obj


def _ratio(numerator: Any, denominator: Any) -> float | None:
    """``numerator / denominator`` to ``SHARE_DECIMALS`` decimals (None when either is unknown or 0)."""
    if not isinstance(numerator, int | float) or not isinstance(denominator, int | float) or not denominator:
        return None
    return round(numerator / denominator, SHARE_DECIMALS)
