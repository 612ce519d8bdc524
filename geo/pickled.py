"""Geometry arrays in pickles: as shapely's ragged coordinate arrays, not one object at a time.

Pickling an object array of shapely geometries serialises each geometry on its own (WKB through
``__reduce__``): seconds for a city's street edges. ``to_ragged_array`` turns an array of one
geometry type into a few flat numpy arrays in a tenth of a second, and back in a third.
"""

from __future__ import annotations

import numpy as np
import shapely


def packed(geometries: np.ndarray) -> tuple:
    """A picklable form of an object array of geometries (``unpacked`` gives it back)."""
    kinds = np.unique(shapely.get_type_id(geometries)) if len(geometries) else np.empty(0)
    if len(kinds) == 1 and not shapely.has_z(geometries).any() and not shapely.is_missing(geometries).any():
        return ("ragged", shapely.to_ragged_array(geometries))
    return ("wkb", shapely.to_wkb(geometries))


def unpacked(state: tuple) -> np.ndarray:
    """The object array of geometries ``packed`` stored."""
    kind, value = state
    if kind == "ragged":
        return np.asarray(shapely.from_ragged_array(*value), dtype=object)
    return np.asarray(shapely.from_wkb(value), dtype=object)
