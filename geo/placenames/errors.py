"""Errors of the place-name toolkit; each message names the bad value and the fix."""

from __future__ import annotations

from geo.errors import GeoError


class PlaceNameTableError(GeoError):
    """An editable table in data/placenames/ is malformed."""

    status = 422

    def __init__(self, path: object, problem: str, fix: str):
        super().__init__(f"place-name table {path}: {problem}; {fix}")


class UnknownCategoryError(GeoError):
    """A feature category is not in data/placenames/categories.csv."""

    status = 422

    def __init__(self, values: list[str], known: list[str]):
        super().__init__(
            f"unknown place-name category {sorted(values)}: use one of {sorted(known)} "
            "or add a row to data/placenames/categories.csv"
        )


class NameColumnError(GeoError):
    """A frame of names lacks a column the place-name function needs."""

    status = 422

    def __init__(self, missing: list[str], present: list[str]):
        super().__init__(
            f"names frame lacks column(s) {sorted(missing)} (it has {list(present)}): "
            "rename your columns or pass the column names as keyword options"
        )


class IndexNotUniqueError(GeoError):
    """Findings point at rows by index label, so the labels must be unique."""

    status = 422

    def __init__(self, repeated: list[object]):
        super().__init__(
            f"names frame index repeats label(s) {repeated[:5]}: call frame.reset_index(drop=True) "
            "or set a unique id as index"
        )
