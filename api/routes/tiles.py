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

A warm tile costs no database work: the data versions are kept per process until a change is heard
(``layers.versions``, LISTEN/NOTIFY), the account of a login token is kept for as long (a change to
``users`` or ``revoked_tokens`` is heard too), and the tile itself is in the response cache; only a
miss opens a transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from api import access, compressed, params
from api.deps import PrivacyDep, cookie_scheme, db_session, oauth2_scheme, role_of
from api.privacy import PrivacyFilter
from api.schemas.common import errors
from api.security import TokenResult, check_token
from layers import tiles, users
from layers.cache import Cache
from layers.db import database_url
from layers.users import Account
from layers.versions import Snapshot, Watch
from layers.versions import read as read_versions
from layers.versions import watch as version_watch
from pipeline import tiles as tile_pipeline
from settings import ApiSettings

MVT = "application/vnd.mapbox-vector-tile"
MAX_AGE_S = 60
VERSIONED_MAX_AGE_S = 86_400
RESERVED = {"v", "edit"}
"""Query parameters that are not filters: ``v``, the data version the page was built on; ``edit``, a
page's count of the edits it made since (new URLs, so that a browser asks for the new data)."""

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
async def get_tile(
    request: Request,
    layer: LayerName,
    z: Zoom,
    x: Col,
    y: Row,
    privacy: PrivacyDep,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Response:
    tl = tiles.tile_layer(layer)
    token = bearer or cookie
    watch = version_watch(request.app.state.database_url or database_url())  # as layers.db.session does
    known = watch.current()
    if known is not None:  # the common case: versions, login and tile known here, no database work
        snap, generation = known
        viewer = _viewer(request, token, generation, None)
        if viewer is not None:
            reply = _reply(request, tl, z, x, y, privacy, viewer, snap, None)
            if reply is not None:
                return reply
    async with db_session(request) as s:
        return await run_in_threadpool(_reply_with, request, tl, z, x, y, privacy, token, watch, s)


def _reply_with(
    request: Request,
    tl: tiles.TileLayer,
    z: int,
    x: int,
    y: int,
    privacy: PrivacyFilter,
    token: str | None,
    watch: Watch,
    s: Session,
) -> Response:
    generation = watch.generation()
    snap = watch.snapshot(s)
    viewer = _viewer(request, token, generation, s)
    assert viewer is not None  # read with s when not kept
    reply = _reply(request, tl, z, x, y, privacy, viewer, snap, s)
    assert reply is not None
    return reply


_LOGINS: Cache[tuple[Account | None, bool]] = Cache(512)
"""Accounts of login tokens by (database, generation of its data versions, user id, token id): a change
to ``users`` or ``revoked_tokens`` starts a new generation (``layers.versions``), so a logout, a
deactivation or a new role is seen by the next tile as by every other request."""


def _viewer(
    request: Request, token: str | None, generation: int | None, s: Session | None
) -> TokenResult | None:
    """The viewer of a login token: its account as kept for ``generation``, else read with ``s`` (and kept
    when ``generation`` is known). None when it is not kept and there is no session ``s`` to read it."""
    if not token:
        return TokenResult(None)
    url = request.app.state.database_url
    missing = False

    def lookup(user_id: int, jti: str) -> tuple[Account | None, bool]:
        nonlocal missing
        key = (url, generation, user_id, jti)
        found = None if generation is None else _LOGINS.peek(key)
        if found is not None:
            return found
        if s is None:
            missing = True
            return None, False
        found = users.for_token(s, user_id, jti)
        if generation is not None:
            _LOGINS.put(key, found)
        return found

    result = _check(request, token, lookup)
    return None if missing else result


def _check(request: Request, token: str, lookup) -> TokenResult:
    settings: ApiSettings = request.app.state.settings
    return check_token(None, token, secret=settings.secret_key.get_secret_value(), lookup=lookup)


def _reply(
    request: Request,
    tl: tiles.TileLayer,
    z: int,
    x: int,
    y: int,
    privacy: PrivacyFilter,
    viewer: TokenResult,
    snap: Snapshot,
    s: Session | None,
) -> Response | None:
    """The tile's response; None when it needs the database and ``s`` is None."""
    user = viewer.account  # a stale token reads as anonymous, as ``OptionalUser``
    role = role_of(user)
    access.read_scope(user, tl.collection or tl.id)  # 401/403 for staff layers; public layers: None
    params.check_tile(z, x, y)
    filters = params.parse_tile_filters(
        tl, {k: v for k, v in request.query_params.items() if k not in RESERVED}
    )
    full = tl.collection is None or privacy.unfiltered(role, tl.collection)
    audience = "full" if full else "public"
    version = data_version(tiles.version_token(snap, tl))
    etag = f'"{tl.id}-{audience}-{version}-{z}-{x}-{y}"'
    max_age = VERSIONED_MAX_AGE_S if request.query_params.get("v") == version else MAX_AGE_S
    headers = {
        "ETag": etag,
        "Vary": "Authorization, Cookie, Accept-Encoding",  # a kept tile is sent gzipped when taken
        "Cache-Control": f"{'private' if full else 'public'}, max-age={max_age}",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)

    filtered = None if full else tl.collection  # the collection whose privacy rules apply (None: none)
    keys = None if filtered is None else privacy.selected_keys(filtered)
    responses = request.app.state.engines.responses
    key = (snap.identity, "tile", tl.id, audience, version, tuple(sorted(filters.items())), z, x, y)
    packed = compressed.kept(request, responses, key, media_type=MVT, headers=headers)
    if packed is not None:
        return packed
    if s is None:
        body = responses.peek(key)
        if body is None:
            return None
    else:
        session = s

        def visible(props: dict) -> dict:
            return dict(props) if filtered is None else privacy.properties(filtered, props, role=role)

        def build() -> bytes:
            if full or keys is not None:  # the viewer's filter changes no value: one query
                return tile_pipeline.render(session, tl, z, x, y, filters=filters, keys=keys)
            return tile_pipeline.render(session, tl, z, x, y, filters=filters, visible=visible)

        body = responses.get(key, build)
    if not body:
        return Response(status_code=204, headers=headers)
    return compressed.response(request, responses, key, body, media_type=MVT, headers=headers)


WARMER = Account(0, "cache-warmer", "admin", None, True, "", 0)


def warm(
    app, s: Session, layer: str, z: int, x: int, y: int, query: dict[str, str], role: str | None
) -> None:
    """Build and keep tile ``z/x/y`` of ``layer`` as a viewer of ``role`` (None: anonymous) asking with
    ``query`` gets it, through ``_reply`` and its cache key (``api.warm``)."""
    tl = tiles.tile_layer(layer)
    if z < tl.min_zoom:
        return
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "path": f"/tiles/{layer}/{z}/{x}/{y}.mvt",
            "headers": [(b"accept-encoding", b"gzip")],  # both kept: the body and its compressed copy
            "query_string": urlencode(query).encode(),
            "app": app,
        }
    )
    viewer = TokenResult(None if role is None else replace(WARMER, role=role))
    snap = version_watch(app.state.database_url or database_url()).snapshot(s)
    _reply(request, tl, z, x, y, app.state.privacy, viewer, snap, s)


def versions(s: Session, names: tuple[str, ...]) -> dict[str, str]:
    """The current ``v`` of each tile layer in ``names``, for the map pages' tile URLs."""
    snap = read_versions(s)
    return {n: data_version(tiles.version_token(snap, tiles.tile_layer(n))) for n in names}
