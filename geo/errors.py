"""Errors raised by the pure computation core.

Every message names the bad value and how to fix it. ``status`` is the HTTP status the API maps
the error to (one table in ``api/errors.py``).
"""

from __future__ import annotations


class GeoError(Exception):
    """Base class of every error raised by ``geo``."""

    status = 400


class MissingColumnsError(GeoError):
    """An input frame lacks columns required by docs/CONTRACTS.md."""

    status = 422

    def __init__(self, frame: str, missing: list[str]):
        super().__init__(f"{frame} frame lacks column(s) {sorted(missing)}: add them (see docs/CONTRACTS.md)")
        self.missing = sorted(missing)


class ProfileError(GeoError):
    """The travel-profile table (data/profiles.csv) is inconsistent."""

    status = 422


class UnknownProfileError(GeoError):
    """A profile name is not in the loaded profile table."""

    def __init__(self, name: str, known: list[str]):
        super().__init__(
            f"unknown travel profile {name!r}: use one of {sorted(known)} or add rows for it to "
            "data/profiles.csv"
        )


class NetworkError(GeoError):
    """Nodes/edges frames violate the street-network contract."""

    status = 422


class AreaTreeError(GeoError):
    """The areas table is not a tree or a residence points at an unknown area."""

    status = 422


class UnknownFacilityTypeError(GeoError):
    """A facility type code is not in the facility-types table."""

    def __init__(self, codes: list[str]):
        super().__init__(
            f"unknown facility type code(s) {sorted(codes)}: add them to data/facility_types.csv "
            "or fix the facilities' type_code"
        )


class UnreachablePointError(GeoError):
    """A point (isochrone origin) lies too far from every usable street of a profile."""

    status = 422

    def __init__(self, lon: float, lat: float, profile: str, max_distance_m: float):
        super().__init__(
            f"point ({lon:.6f}, {lat:.6f}) is farther than {max_distance_m:g} m from every street usable "
            f"by profile {profile!r}: move the point onto the street network or raise max_distance_m"
        )
