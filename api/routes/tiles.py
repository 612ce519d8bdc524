"""Vector tiles: ``/tiles/{layer}/{z}/{x}/{y}.mvt`` (Mapbox Vector Tile, made in PostGIS).

Access and privacy are those of the layer's GeoJSON collection: anyone reads the public layers with
their public properties only (counts of small areas suppressed, others rounded: ``api.privacy``);
results of staff (gaps, province) need a planner or admin login; residences have no tiles at all.

Caching: the ETag names the layer, the viewer's audience (public or full), the data version of the
layer and its filters, and the tile; ``If-None-Match`` with it answers 304. ``Cache-Control`` lets a
browser (public tiles: any cache) keep a tile for ``MAX_AGE_S``; a request carrying the current data
version as ``v`` (the map pages do) may be kept for ``VERSIONED_MAX_AGE_S``, since a new version
changes the URL. A tile without features (outside the data, or below the layer's first zoom) is
204 No Content with the same headers.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from api import access, params
from api.deps import OptionalUser, PrivacyDep, SessionDep, role_of
from api.schemas.common import errors
from layers import tiles
from layers.cache import database_key
from pipeline import tiles as tile_pipeline

MVT = "application/vnd.mapbox-vector-tile"
MAX_AGE_S = 60
VERSIONED_MAX_AGE_S = 86_400
RESERVED = {"v"}
"""Query parameters that are not filters: ``v``, the data version the page was built on."""

router = APIRouter(prefix="/tiles", tags=["矢量瓦片 tiles"])

Zoom = Annotated[int, Path(ge=0, le=tiles.MAX_ZOOM, description="缩放级别 zoom")]
Col = Annotated[int, Path(ge=0, description="列号 tile column x")]
Row = Annotated[int, Path(ge=0, description="行号 tile row y (XYZ, north up)")]
LayerName = Annotated[str, Path(max_length=40, description=f"图层 one of {sorted(tiles.TILE_LAYERS)}")]


def data_version(token: str) -> str:
    """A short stand-in for a layer's data version token (for ETags and ``v``)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@router.get(
    "/{layer}/{z}/{x}/{y}.mvt",
    response_class=Response,
    summary="矢量瓦片 vector tile of a layer",
    description=(
        "Mapbox Vector Tile (MVT 2.1) of one layer, one MVT layer named as the layer: "
        f"{', '.join(f'`{k}`' for k in tiles.TILE_LAYERS)}. Properties are those the maps' popups show, "
        "filtered for the viewer exactly as the GeoJSON collection of the same name (anonymous: public "
        "properties, small counts suppressed, others rounded); `gaps` and `province` need a planner or "
        "admin. Filters as for the collection, e.g. `?level=grid_small`; "
        "`coverage` and `gaps` need `type_code`, `province` `type_code` and `circle`. "
        f"Geometries are simplified for the zoom; roads thin out below zoom {tiles.ROAD_ALL_ZOOM}; "
        f"the province layer shows cities below zoom {tiles.PROVINCE_COUNTY_ZOOM}."
    ),
    responses={
        200: {
            "content": {MVT: {"schema": {"type": "string", "format": "binary"}}},
            "description": "MVT tile",
            "headers": {
                "ETag": {
                    "description": "图层+数据版本+瓦片 layer, data version and tile",
                    "schema": {"type": "string"},
                }
            },
        },
        204: {"description": "空瓦片 no feature in this tile"},
        304: {"description": "未变化 not modified (If-None-Match)"},
        **errors(400, 401, 403, 404),
    },
)
def get_tile(
    request: Request,
    layer: LayerName,
    z: Zoom,
    x: Col,
    y: Row,
    s: SessionDep,
    user: OptionalUser,
    privacy: PrivacyDep,
) -> Response:
    tl = tiles.tile_layer(layer)
    role = role_of(user)
    access.read_scope(user, tl.collection or tl.id)  # 401/403 for staff layers; public layers: None
    params.check_tile(z, x, y)
    filters = params.parse_tile_filters(
        tl, {k: v for k, v in request.query_params.items() if k not in RESERVED}
    )
    full = tl.collection is None or privacy.unfiltered(role, tl.collection)
    audience = "full" if full else "public"
    version = data_version(tiles.version_token(s, tl))
    etag = f'"{tl.id}-{audience}-{version}-{z}-{x}-{y}"'
    max_age = VERSIONED_MAX_AGE_S if request.query_params.get("v") == version else MAX_AGE_S
    headers = {
        "ETag": etag,
        "Vary": "Authorization, Cookie",
        "Cache-Control": f"{'private' if full else 'public'}, max-age={max_age}",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)

    filtered = None if full else tl.collection  # the collection whose privacy rules apply (None: none)
    keys = None if filtered is None else privacy.selected_keys(filtered)

    def visible(props: dict) -> dict:
        return dict(props) if filtered is None else privacy.properties(filtered, props, role=role)

    def build() -> bytes:
        if full or keys is not None:  # the viewer's filter changes no value: one query
            return tile_pipeline.render(s, tl, z, x, y, filters=filters, keys=keys)
        return tile_pipeline.render(s, tl, z, x, y, filters=filters, visible=visible)

    body = request.app.state.engines.responses.get(
        database_key(s, "tile", tl.id, audience, version, tuple(sorted(filters.items())), z, x, y), build
    )
    if not body:
        return Response(status_code=204, headers=headers)
    return Response(body, media_type=MVT, headers=headers)


def versions(s, names: tuple[str, ...]) -> dict[str, str]:
    """The current ``v`` of each tile layer in ``names``, for the map pages' tile URLs."""
    return {n: data_version(tiles.version_token(s, tiles.tile_layer(n))) for n in names}
