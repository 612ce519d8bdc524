"""One vector tile: read its features, keep what the viewer may see, encode it (``layers.tiles``).

The viewer's filter (``visible``: raw properties → the properties this viewer may see, e.g. the API's
privacy filter for the layer's collection) runs on every feature between reading and encoding, so a
tile shows exactly what the GeoJSON of the same layer shows that viewer.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from sqlalchemy.orm import Session

from layers import tiles
from layers.tiles import TileLayer
from pipeline import placename_results


def render(
    s: Session,
    tl: TileLayer,
    z: int,
    x: int,
    y: int,
    *,
    filters: Mapping[str, Any],
    visible: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    keys: Collection[str] | None = None,
) -> bytes:
    """The MVT bytes of tile z/x/y of ``tl`` (empty when no feature lies in it).

    ``keys``: the viewer sees these properties unchanged (staff, or a layer without counts): the tile
    is made in one query. Else ``visible`` turns each feature's raw properties into what the viewer
    may see (suppressed and rounded counts), between reading and encoding. Clustered point layers
    (``TileLayer.cluster_below``) take ``keys`` only: their collections have no counts to suppress.
    """
    if tl.id == "place_name_clusters":  # clusters count the stored check results: up to date first
        placename_results.ensure(s)
    if visible is None:
        wanted = tl.properties if keys is None else tuple(p for p in tl.properties if p in keys)
        return tiles.tile(s, tl, z, x, y, filters=filters, properties=wanted)
    if tl.cluster_below:  # clusters count whole features: a filter that changes values has no place there
        raise ValueError(
            f"the clustered layer {tl.id} serves only collections whose viewers see whole values"
        )
    rows = tiles.tile_features(s, tl, z, x, y, filters=filters)
    shown = set(tl.properties) | {"suppressed"}
    kept = [(fid, geom, {k: v for k, v in visible(props).items() if k in shown}) for fid, geom, props in rows]
    return tiles.encode(s, tl.id, kept)
