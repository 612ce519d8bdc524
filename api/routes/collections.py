"""OGC API - Features style layers: /collections, items, single items, and writes with ETags.

Reads are generic over every collection; writes are declared per writable collection so that the
OpenAPI document shows each layer's own properties. Features leave as GeoJSON text assembled
around PostGIS' ``ST_AsGeoJSON`` output (geometries are never parsed on the way out).
"""
# No ``from __future__ import annotations``: the route factory builds typed bodies at run time.

import functools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from fastapi import APIRouter, Body, Header, Path, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from api import access, params
from api.deps import BboxDep, CurrentUser, OptionalUser, Paging, PagingDep, PrivacyDep, SessionDep, role_of
from api.errors import ApiError, PreconditionRequired
from api.schemas.collections import (
    FEATURE_EXAMPLES,
    WRITE_MODELS,
    AnyFeature,
    CollectionInfo,
    CollectionList,
    Feature,
    FeatureCollection,
    FeatureIn,
    FeaturePatch,
    named_feature,
)
from api.schemas.common import GEOJSON, GeoJSONResponse, errors
from layers import features
from layers.cache import database_key
from layers.features import LAYERS, FeatureRow, Layer
from layers.users import Account

RESERVED_PARAMS = {"bbox", "limit", "offset", "f"}
if TYPE_CHECKING:  # the ids are the layers', known at run time: mypy checks them as the strings they are
    CollectionId: TypeAlias = str
else:
    CollectionId = Literal[tuple(LAYERS)]
Fid = Annotated[str, Path(description="要素编号 feature id", examples=["1"], max_length=80)]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", max_length=80, description='读取时的 ETag, e.g. "3" (required: 428 without it)'),
]

router = APIRouter(prefix="/collections", tags=["图层 collections"])


# -- documents -------------------------------------------------------------------------------------


def _links_for(request: Request, cid: str) -> list[dict]:
    base = str(request.base_url).rstrip("/")
    return [
        {"href": f"{base}/collections/{cid}", "rel": "self", "type": "application/json", "title": cid},
        {"href": f"{base}/collections/{cid}/items", "rel": "items", "type": GEOJSON, "title": "features"},
    ]


def _info(request: Request, lay: Layer, user: Account | None, extent) -> dict:
    return {
        "id": lay.id,
        "title": lay.title,
        "description": lay.description,
        "itemType": "feature",
        "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
        "extent": {"spatial": {"bbox": [list(extent)], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}}
        if extent and lay.geometry
        else None,
        "writable": access.writable(user, lay.id),
        "links": _links_for(request, lay.id),
    }


@router.get(
    "",
    response_model=CollectionList,
    summary="图层列表 list the layers",
    description="当前用户可读的全部图层 (匿名用户不含住户点). Every layer the viewer may read.",
    responses=errors(),
)
def list_collections(request: Request, s: SessionDep, user: OptionalUser) -> dict:
    extent = features.district_extent(s)
    infos = [_info(request, lay, user, extent) for lay in LAYERS.values() if access.readable(user, lay.id)]
    return {
        "collections": infos,
        "links": [{"href": str(request.url), "rel": "self", "type": "application/json"}],
    }


@router.get(
    "/{collection_id}",
    response_model=CollectionInfo,
    summary="图层说明 describe one layer",
    responses=errors(401, 403, 404),
)
def get_collection(request: Request, collection_id: CollectionId, s: SessionDep, user: OptionalUser) -> dict:
    lay = features.layer(collection_id)
    access.read_scope(user, lay.id)
    return _info(request, lay, user, features.district_extent(s))


# -- reading features ------------------------------------------------------------------------------


def _feature_text(row: FeatureRow, props: dict[str, Any]) -> str:
    # Geometry is GeoJSON text from PostGIS: splice it in, never parse it.
    return (
        f'{{"type":"Feature","id":{json.dumps(row.id)},"geometry":{row.geometry or "null"},'
        f'"properties":{json.dumps(props, ensure_ascii=False, default=str)}}}'
    )


def _page_links(request: Request, *, limit: int, offset: int, returned: int, matched: int) -> list[dict]:
    links = [{"href": str(request.url), "rel": "self", "type": GEOJSON}]
    if offset + returned < matched:
        nxt = request.url.include_query_params(offset=offset + limit, limit=limit)
        links.append({"href": str(nxt), "rel": "next", "type": GEOJSON})
    if offset > 0:
        prev = request.url.include_query_params(offset=max(0, offset - limit), limit=limit)
        links.append({"href": str(prev), "rel": "prev", "type": GEOJSON})
    return links


def _property_filters(request: Request, lay: Layer) -> dict[str, Any]:
    raw = {k: v for k, v in request.query_params.items() if k not in RESERVED_PARAMS}
    return params.parse_filters(lay, raw)


PAGE_MAX = {
    "facilities": 1000,
    "facility_types": 1000,
    "grids": 500,
    "areas": 200,
    "place_names": 2000,
    "roads": 5000,
    "water": 100,
    "buildings": 5000,
    "coverage": 500,
    "residences": 5000,
}
"""Most features one page of each collection holds (a larger ``limit`` is lowered to it, as OGC API -
Features requires; ``next`` links page on). Chosen so a page stays near 3 MB or less on the demo
(coverage and areas carry polygons: 3.5-12.5 kB per feature; roads and homes 0.2 kB)."""
DEFAULT_PAGE_MAX = 1000
STREAM_CHUNK = 200
"""Features per chunk of a streamed (not cached) page."""


def page_max(collection_id: str) -> int:
    return PAGE_MAX.get(collection_id, DEFAULT_PAGE_MAX)


def _caps_table() -> str:
    return ", ".join(f"`{cid}` {page_max(cid)}" for cid in LAYERS)


@router.get(
    "/{collection_id}/items",
    response_class=GeoJSONResponse,
    summary="图层要素 features of a layer",
    description=(
        "GeoJSON FeatureCollection, ordered by id. `bbox=minLon,minLat,maxLon,maxLat` (WGS84); `limit` "
        "(default 100) and `offset` page through it (`next`/`prev` links); any other "
        "parameter filters a property, e.g. `?type_code=kindergarten&status=open`. Anonymous viewers get "
        "public properties only: counts of areas with fewer than 5 households suppressed, other counts "
        "rounded to the nearest 5.\n\n"
        "每页上限 Most features per page, by collection (a larger `limit` is lowered to it; "
        f"follow the `next` link for the rest): {_caps_table()}."
    ),
    responses={
        200: {
            "model": FeatureCollection,
            "description": "GeoJSON FeatureCollection",
            "headers": {
                "ETag": {
                    "description": "随数据版本变化 changes with the layer's data",
                    "schema": {"type": "string"},
                }
            },
        },
        304: {"description": "未变化 not modified (If-None-Match)"},
        **errors(401, 403, 404),
    },
)
def get_items(
    request: Request,
    collection_id: CollectionId,
    s: SessionDep,
    user: OptionalUser,
    privacy: PrivacyDep,
    paging: PagingDep,
    bbox: BboxDep,
) -> Response:
    lay = features.layer(collection_id)
    scope = access.read_scope(user, lay.id)
    role = role_of(user)
    filters = _property_filters(request, lay)
    paging = Paging(min(paging.limit, page_max(lay.id)), paging.offset)
    audience = "full" if privacy.unfiltered(role, lay.id) else "public"
    token = features.version_token(s, lay) if scope is None else None
    etag = f'W/"{lay.id}-{audience}-{token}"' if token else None
    headers = {"ETag": etag, "Vary": "Authorization, Cookie"} if etag else {}
    if etag and request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    page = functools.partial(
        _items_page, request, s, lay, privacy, role, bbox=bbox, filters=filters, paging=paging, scope=scope
    )
    if not token:  # not cacheable: sent in chunks as it is written, never as one large string
        return StreamingResponse(page(), media_type=GEOJSON, headers=headers)
    cache = request.app.state.engines.responses
    body = cache.get(
        database_key(s, str(request.url), audience, token, paging.limit), lambda: b"".join(page())
    )
    return Response(body, media_type=GEOJSON, headers=headers)


def _items_page(
    request: Request, s, lay: Layer, privacy, role, *, bbox, filters, paging, scope
) -> Iterator[bytes]:
    """The page as chunks of GeoJSON text: features are encoded lazily, ``STREAM_CHUNK`` at a time."""
    page = features.items(
        s, lay, bbox=bbox, filters=filters, limit=paging.limit, offset=paging.offset, within_area=scope
    )
    links = _page_links(
        request,
        limit=paging.limit,
        offset=paging.offset,
        returned=len(page.features),
        matched=page.number_matched,
    )
    meta = json.dumps(
        {
            "numberMatched": page.number_matched,
            "numberReturned": len(page.features),
            "timeStamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "links": links,
        }
    )
    rows = page.features

    def chunks():
        yield b'{"type":"FeatureCollection","features":['
        for start in range(0, len(rows), STREAM_CHUNK):
            part = ",".join(
                _feature_text(r, privacy.properties(lay.id, r.properties, role=role))
                for r in rows[start : start + STREAM_CHUNK]
            )
            yield (("," if start else "") + part).encode()
        yield f"],{meta[1:]}".encode()

    return chunks()


def _etag(row: FeatureRow) -> dict[str, str]:
    return {"ETag": f'"{row.version}"'} if row.version is not None else {}


def _single(request: Request, lay: Layer, row: FeatureRow, props: dict, *, status: int = 200) -> Response:
    link = f"{str(request.base_url).rstrip('/')}/collections/{lay.id}/items/{row.id}"
    text = _feature_text(row, props)[:-1] + (
        f',"links":[{{"href":{json.dumps(link)},"rel":"self","type":"{GEOJSON}"}},'
        f'{{"href":{json.dumps(link.rsplit("/items/", 1)[0])},'
        '"rel":"collection","type":"application/json"}]}'
    )
    headers = _etag(row)
    if status == 201:
        headers["Location"] = link
    return Response(text.encode(), media_type=GEOJSON, status_code=status, headers=headers)


@router.get(
    "/{collection_id}/items/{fid}",
    response_class=GeoJSONResponse,
    summary="单个要素 one feature",
    description="GeoJSON Feature; "
    "the `ETag` header is the row version to send back in `If-Match` when editing.",
    responses={
        200: {
            "model": AnyFeature,
            "description": "GeoJSON Feature",
            "content": {GEOJSON: {"example": FEATURE_EXAMPLES["facilities"]}},
            "headers": {"ETag": {"description": "行版本 row version", "schema": {"type": "string"}}},
        },
        **errors(401, 403, 404),
    },
)
def get_item(
    request: Request,
    collection_id: CollectionId,
    fid: Fid,
    s: SessionDep,
    user: OptionalUser,
    privacy: PrivacyDep,
) -> Response:
    lay = features.layer(collection_id)
    scope = access.read_scope(user, lay.id)
    row = features.item(s, lay, params.parse_key(lay, fid), within_area=scope)
    return _single(request, lay, row, privacy.properties(lay.id, row.properties, role=role_of(user)))


# -- writing features ------------------------------------------------------------------------------


def _expected_version(if_match: str | None, lay: Layer, fid: str) -> str:
    if not if_match:
        raise PreconditionRequired(
            f"changing {lay.id}/{fid} needs an If-Match header",
            fix=f"GET /collections/{lay.id}/items/{fid}, then send its ETag header value as If-Match",
        )
    value = if_match.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    if not value or value == "*" or "," in value:
        raise ApiError(
            f"If-Match {if_match!r} is not one ETag",
            fix=f'send exactly the ETag of GET /collections/{lay.id}/items/{fid}, e.g. "3"',
        )
    return value


def _register_writes(cid: str) -> None:
    lay = LAYERS[cid]
    geometry, create_model, update_model, public_model = WRITE_MODELS[cid]
    roles = access.WRITE[cid]
    who = " / ".join(roles) + (
        " (grid_worker: attributes in own grid)" if cid in access.GRID_WORKER_ATTRIBUTES else ""
    )
    tags: list[str | Enum] = [f"{lay.title.split()[0]} {cid}"]
    if TYPE_CHECKING:  # the bodies are built at run time; mypy checks them as their generic bases
        CreateBody: TypeAlias = FeatureIn[BaseModel, BaseModel]
        UpdateBody: TypeAlias = FeaturePatch[BaseModel, BaseModel]
    else:
        CreateBody = named_feature(FeatureIn, geometry, create_model)
        UpdateBody = named_feature(FeaturePatch, geometry, update_model)
    out = {
        "model": named_feature(Feature, public_model),
        "description": "GeoJSON Feature (ETag header: new version)",
        "content": {GEOJSON: {"example": FEATURE_EXAMPLES[cid]}},
    }

    def create(
        request: Request,
        s: SessionDep,
        user: CurrentUser,
        privacy: PrivacyDep,
        body: Annotated[CreateBody, Body()],
    ) -> Response:
        access.write_scope(user, cid, action="create", moves_geometry=True)
        row = features.create(
            s, lay, properties=body.properties.model_dump(), geometry=body.geometry.model_dump()
        )
        return _single(request, lay, row, privacy.properties(cid, row.properties, role=user.role), status=201)

    def replace(
        request: Request,
        fid: Fid,
        s: SessionDep,
        user: CurrentUser,
        privacy: PrivacyDep,
        body: Annotated[CreateBody, Body()],
        if_match: IfMatch = None,
    ) -> Response:
        scope = access.write_scope(user, cid, action="update", moves_geometry=True)
        expected = _expected_version(if_match, lay, fid)
        row = features.update(
            s,
            lay,
            params.parse_key(lay, fid),
            expected_version=expected,
            properties=body.properties.model_dump(),
            geometry=body.geometry.model_dump(),
            within_area=scope,
        )
        return _single(request, lay, row, privacy.properties(cid, row.properties, role=user.role))

    def patch(
        request: Request,
        fid: Fid,
        s: SessionDep,
        user: CurrentUser,
        privacy: PrivacyDep,
        body: Annotated[UpdateBody, Body()],
        if_match: IfMatch = None,
    ) -> Response:
        scope = access.write_scope(user, cid, action="update", moves_geometry=body.geometry is not None)
        expected = _expected_version(if_match, lay, fid)
        props = body.properties.model_dump(exclude_unset=True) if body.properties else {}
        geom = body.geometry.model_dump() if body.geometry else None
        row = features.update(
            s,
            lay,
            params.parse_key(lay, fid),
            expected_version=expected,
            properties=props,
            geometry=geom,
            within_area=scope,
        )
        return _single(request, lay, row, privacy.properties(cid, row.properties, role=user.role))

    def delete(fid: Fid, s: SessionDep, user: CurrentUser, if_match: IfMatch = None) -> Response:
        access.write_scope(user, cid, action="delete", moves_geometry=True)
        expected = _expected_version(if_match, lay, fid)
        features.delete(s, lay, params.parse_key(lay, fid), expected_version=expected)
        return Response(status_code=204)

    name = lay.title.split()[0]
    path = f"/{cid}/items"
    router.add_api_route(
        path,
        create,
        methods=["POST"],
        status_code=201,
        operation_id=f"create_{cid}",
        response_class=GeoJSONResponse,
        tags=tags,
        summary=f"新建{name} create a feature in {cid}",
        description=f"Roles: {roles}. Validates geometry "
        "(type, validity, inside the district, swapped lon/lat) and properties; audited.",
        responses={201: out, **errors(401, 403, 409, 422)},
    )
    router.add_api_route(
        path + "/{fid}",
        replace,
        methods=["PUT"],
        operation_id=f"replace_{cid}",
        response_class=GeoJSONResponse,
        tags=tags,
        summary=f"替换{name} replace a feature of {cid}",
        description=f"Roles: {who}. Needs `If-Match` with the ETag you read: 428 without it, 412 when "
        "someone changed the feature since (nothing is written then).",
        responses={200: out, **errors(401, 403, 404, 409, 412, 422, 428)},
    )
    router.add_api_route(
        path + "/{fid}",
        patch,
        methods=["PATCH"],
        operation_id=f"update_{cid}",
        response_class=GeoJSONResponse,
        tags=tags,
        summary=f"修改{name} change some properties of a {cid} feature",
        description=f"Roles: {who}. Only the given properties (and geometry, if given) change. `If-Match` "
        "required (428 / 412 as for PUT).",
        responses={200: out, **errors(401, 403, 404, 409, 412, 422, 428)},
    )
    router.add_api_route(
        path + "/{fid}",
        delete,
        methods=["DELETE"],
        status_code=204,
        operation_id=f"delete_{cid}",
        tags=tags,
        response_class=Response,
        summary=f"删除{name} delete a feature of {cid}",
        description=f"Roles: {roles}. `If-Match` required (428 / 412 as for PUT).",
        responses={204: {"description": "已删除 deleted"}, **errors(401, 403, 404, 409, 412, 428)},
    )


for _cid in WRITE_MODELS:
    _register_writes(_cid)
