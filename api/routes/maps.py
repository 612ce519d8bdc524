"""The web maps: public map, planner map, place-name map, login page and their static assets.

Pages are built by ``maps`` from data read through ``maps.sources`` and cached per data version
(``data_versions``): a page is rebuilt only after a layer changed. The signed-in user's name is
filled in per request. Browser pages that need a role redirect anonymous viewers to
``/login?next=<path>`` (303) and show a Chinese 403 page to a signed-in user with another role.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, NamedTuple
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api import compressed
from api.deps import OptionalUser, SessionDep, require_role
from api.routes.tiles import data_version
from api.routes.tiles import versions as tile_versions
from api.security import safe_next
from api.security_headers import CSP, content_security_policy
from geo.placenames.tables import default_tables
from layers import lookup, queries, store
from layers.cache import Cache
from layers.errors import NotFound
from layers.users import Account
from maps import assets, sources
from maps.basemap import TILE_HOSTS, offline_data
from maps.page import PageHtml, js_json, render, with_user
from maps.placenames import build_placenames_map, name_parts, prepare_names
from maps.planner import build_planner_map, first_view
from maps.public import build_public_map, facility_parts, facility_rows
from pipeline import placename_results
from pipeline.coverage import is_stale as coverage_is_stale
from pipeline.coverage import with_capacity_basis
from settings import coverage_settings, map_settings

router = APIRouter(tags=["地图 maps"], include_in_schema=False)

PLANNER_ROLES = ("planner", "admin")
PLACENAME_ROLES = ("placename_officer", "admin")
GRID_ROLES = ("grid_worker", "admin")
PlacenameMapUser = Annotated[Account, Depends(require_role(*PLACENAME_ROLES))]
COMMAND_ROLES = ("dispatcher", "department", "admin")
ROLE_ZH = {
    "planner": "规划人员",
    "placename_officer": "地名管理员",
    "admin": "管理员",
    "grid_worker": "网格员",
    "dispatcher": "联勤指挥中心",
    "department": "职能部门",
}
BASEMAP_LAYERS = ("areas", "network_edges", "water", "place_names", "buildings")
BASE_TILES = ("roads", "areas", "blocks", "buildings")
"""Tile layers of the offline base map (their data versions are among ``BASEMAP_LAYERS``)."""
NO_STORE = {"Cache-Control": "private, no-cache"}
GRID_FILTER = {"level": "grid_small"}
"""The public map's grids: the small grids (网格), each with its grid worker."""
OPEN_FILTER = {"status": "open"}
"""The public map's facilities: open ones."""


def _tianditu_key() -> str | None:
    key = map_settings().tianditu_key
    return key.get_secret_value() if key and key.get_secret_value() else None


_pages: Cache[PageHtml] = Cache(12)
_basemaps: Cache[tuple[dict, bytes, str]] = Cache(4)
BASEMAP_URL = "/basemap.json"
BASEMAP_INLINE = ("tiles", "road_class")
"""What of the base map a page carries: its tile URLs (the tiles start at once); labels, water and sea
come from ``BASEMAP_URL`` in a request of their own, which the browser may keep (``v``)."""


def _versions(s: Session) -> tuple:
    """The data version of every layer and the database they belong to: two databases (tests, a
    recreated one) may count their versions alike."""
    return (queries.database_identity(s), sources.version_key(s))


def _basemap_bundle(s: Session, versions: tuple) -> tuple[dict, bytes, str]:
    """The offline base map (roads, area outlines and blocks from the vector tiles, ``/tiles``, whose URLs
    carry their data version), its JSON body and its version ``v``."""
    database, layers = versions
    key = (database, tuple(v for v in layers if v[0] in BASEMAP_LAYERS))

    def build() -> tuple[dict, bytes, str]:
        data = offline_data(**sources.basemap_layers(s), tiles=tile_urls(s, BASE_TILES))
        return data, js_json(data).encode(), data_version(repr(key) + repr(data["tiles"]))

    return _basemaps.get(key, build)


def _basemap(s: Session, versions: tuple) -> dict:
    """What a page carries of the offline base map: the tile URLs and the URL of the rest (``v``: the data
    version, so the browser keeps it until the map data changes)."""
    data, _body, v = _basemap_bundle(s, versions)
    return {**{k: data[k] for k in BASEMAP_INLINE}, "url": f"{BASEMAP_URL}?v={v}"}


def tile_urls(s: Session, names: tuple[str, ...]) -> dict[str, str]:
    """Tile layer → its URL template with the current data version (``v``)."""
    return {name: f"/tiles/{name}/{{z}}/{{x}}/{{y}}.mvt?v={v}" for name, v in tile_versions(s, names).items()}


def _placename_categories() -> dict[str, str]:

    return {c: cat.name_zh for c, cat in default_tables().categories.items()}


FACILITY_PARTS_URL = "/map-data/facilities/{part}.json"
"""The public map's facility rows, in parts (``maps.public.facility_parts``)."""


def _public_bundle(s: Session) -> tuple[PageHtml, list[bytes], str]:
    """The public page, its facility rows' parts (JSON) and the version they belong to (``v``)."""
    versions = _versions(s)
    tk = _tianditu_key()
    run = store.latest_run(s)
    current = run if run and not coverage_is_stale(s, run) else None  # a stale run says nothing of today
    key = ("public", versions, current and current["run_id"], tk)
    v = data_version(repr(key))

    def build() -> tuple[PageHtml, list[bytes], str]:
        facilities = sources.public_facilities(s)
        loads = lookup.facility_loads(s, current["run_id"]) if current else None
        parts = [js_json(p).encode() for p in facility_parts(facility_rows(facilities, loads))]
        page = build_public_map(
            district=sources.district(s),
            facilities=facilities,
            facility_types=with_capacity_basis(
                sources.facility_types(s), coverage_settings().facility_types_csv
            ),
            grid_tiles=tile_urls(s, ("grids",))["grids"] + "&" + urlencode(GRID_FILTER),
            basemap=_basemap(s, versions),
            placename_categories=_placename_categories(),
            tianditu_key=tk,
            facility_parts=(f"{FACILITY_PARTS_URL}?v={v}", len(parts)),
            facility_tiles=tile_urls(s, ("facility_clusters",))["facility_clusters"]
            + "&"
            + urlencode(OPEN_FILTER),
        )
        return page, parts, v

    return _public_pages.get(key, build)


_public_pages: Cache[tuple[PageHtml, list[bytes], str]] = Cache(4)


def _planner_html(s: Session) -> PageHtml:
    versions = _versions(s)
    run = store.latest_run(s)
    stale = coverage_is_stale(s, run) if run else False
    tk = _tianditu_key()
    return _pages.get(
        ("planner", versions, run and run["run_id"], stale, tk),
        lambda: build_planner_map(
            district=sources.district(s),
            basemap=_basemap(s, versions),
            run=run,
            stale=stale,
            facility_types=with_capacity_basis(
                sources.facility_types(s), coverage_settings().facility_types_csv
            ),
            communities=sources.communities(s),
            gap_tiles=tile_urls(s, ("gaps",))["gaps"],
            tianditu_key=tk,
        ),
    )


NAME_PARTS_URL = "/map-data/placenames/{part}.json"
"""The place-name map's names, in parts (``maps.placenames.name_parts``)."""
VERSIONED_MAX_AGE_S = 86_400


def _placenames_bundle(s: Session) -> tuple[PageHtml, list[bytes], str]:
    """The place-name page, its names' parts (JSON) and the data version they belong to (``v``)."""
    versions = _versions(s)
    tk = _tianditu_key()
    v = data_version(repr(versions))

    def build() -> tuple[PageHtml, list[bytes], str]:
        taken = placename_results.basis(s)
        names, checks = prepare_names(
            sources.place_names(s), sources.place_name_findings(s), sources.place_name_towns(s)
        )
        placename_results.keep(s, taken, checks["result"].set_axis(names["name_id"].to_numpy()))
        parts = [js_json(p).encode() for p in name_parts(names, checks)]
        page = build_placenames_map(
            district=sources.district(s),
            names=names,
            checks=checks,
            basemap=_basemap(s, versions),
            names_url=f"{NAME_PARTS_URL}?v={v}",
            parts=len(parts),
            shape_tiles=tile_urls(s, ("place_name_shapes",))["place_name_shapes"],
            name_tiles=tile_urls(s, ("place_name_clusters",))["place_name_clusters"],
            only_part=parts[0].decode() if len(parts) == 1 else None,
            tianditu_key=tk,
        )
        return page, parts, v

    return _placename_pages.get(("placenames", versions, tk), build)


_placename_pages: Cache[tuple[PageHtml, list[bytes], str]] = Cache(4)


def warm_pages() -> tuple[Callable[[Session], object], ...]:
    """What ``api.warm`` builds of the map pages, as their requests would: each page with its data
    parts and the base map."""
    return (_public_bundle, _planner_html, _placenames_bundle)


class PageTiles(NamedTuple):
    """A vector tile layer a page's first view draws (``first_view_tiles``)."""

    layer: str
    filters: dict[str, str]
    """What the page's script adds to the layer's URL."""
    roles: tuple[str | None, ...]
    """Whose view of it ``api.warm`` builds (None: anonymous)."""
    size: int = 256
    """Tile size in the page (512: the clustered points, ``mq.pointTiles``: one zoom lower)."""


def first_view_tiles(s: Session) -> tuple[PageTiles, ...]:
    """The vector tile layers the pages' first views draw: the base map's roads and outlines, the public
    map's grids and facilities, the planner's gaps of its first type, the place-name map's names."""
    type_code, _level, _simplify = first_view(sources.facility_types(s))
    everyone: tuple[str | None, ...] = (None, "placename_officer", "admin")  # admin: as planners see them
    return (
        PageTiles("roads", {}, everyone),
        PageTiles("areas", {}, everyone),
        PageTiles("grids", GRID_FILTER, (None, "admin")),
        PageTiles("facility_clusters", OPEN_FILTER, (None, "admin"), 512),
        *((PageTiles("gaps", {"type_code": type_code}, ("admin",)),) if type_code else ()),
        PageTiles("place_name_clusters", {}, ("placename_officer", "admin"), 512),
    )


def _page(page: PageHtml, user: Account | None) -> HTMLResponse:
    """The cached page with the user's name filled in, and the CSP allowing its own inline scripts."""
    policy = content_security_policy(script_hashes=page.script_hashes, img_hosts=TILE_HOSTS)
    return HTMLResponse(with_user(page.html, user), headers={**NO_STORE, CSP: policy})


def _gate(user: Account | None, roles: tuple[str, ...], path: str, title: str) -> Account | Response:
    """``user`` when they may see the page; else the redirect to login or the 403 page."""
    if user is None:
        return RedirectResponse(f"/login?next={quote(path, safe='/')}", status_code=303)
    if user.role not in roles:
        html = render(
            "forbidden.html",
            username=user.username,
            page=title,
            next=path,
            roles="、".join(ROLE_ZH.get(r, r) for r in roles),
        )
        return HTMLResponse(html, status_code=403, headers=NO_STORE)
    return user


@router.get("/", response_class=HTMLResponse)
def public_map(s: SessionDep, user: OptionalUser) -> HTMLResponse:
    """公众地图: facilities, grids and their workers, 15-minute isochrones, place-name search."""
    return _page(_public_bundle(s)[0], user)


@router.get("/planner", response_class=HTMLResponse)
def planner_map(s: SessionDep, user: OptionalUser) -> Response:
    """规划分析: coverage by grid tier, gaps, catchments, scenarios, compliance, reports."""
    allowed = _gate(user, PLANNER_ROLES, "/planner", "规划分析地图")
    return allowed if isinstance(allowed, Response) else _page(_planner_html(s), allowed)


@router.get("/placenames", response_class=HTMLResponse)
def placenames_map(s: SessionDep, user: OptionalUser) -> Response:
    """地名管理: names coloured by check result, heritage names, sign text, history."""
    allowed = _gate(user, PLACENAME_ROLES, "/placenames", "地名管理地图")
    return allowed if isinstance(allowed, Response) else _page(_placenames_bundle(s)[0], allowed)


@router.get("/map-data/facilities/{part}.json")
def facility_part(
    request: Request,
    s: SessionDep,
    part: Annotated[int, Path(ge=0, le=10_000)],
    v: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """One part of the public map's open facilities (rows of ``maps.public.FACILITY_COLUMNS``: public fields
    only, as the page showed them); 404 past the last part. Asked for with the current version ``v`` (the
    page's own) any cache may keep it for a day."""
    _page_html, parts, version = _public_bundle(s)
    if part >= len(parts):
        raise NotFound(f"the public map has {len(parts)} parts of facilities: ask for 0 to {len(parts) - 1}")
    cache = f"public, max-age={VERSIONED_MAX_AGE_S}" if v == version else "public, no-cache"
    return _json(request, ("facility_part", version, part), parts[part], {"Cache-Control": cache})


@router.get("/map-data/placenames/{part}.json")
def placename_part(
    request: Request,
    s: SessionDep,
    user: PlacenameMapUser,
    part: Annotated[int, Path(ge=0, le=10_000)],
    v: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """One part of the place-name map's names (rows of ``maps.placenames.NAME_COLUMNS``, with the finding
    kinds): the same roles as the page; 404 past the last part. A request naming the current data
    version ``v`` (the page's own) may be kept by the browser."""
    _page_html, parts, version = _placenames_bundle(s)
    if part >= len(parts):
        raise NotFound(f"the place-name map has {len(parts)} parts of names: ask for 0 to {len(parts) - 1}")
    cache = f"private, max-age={VERSIONED_MAX_AGE_S}" if v == version else "private, no-cache"
    return _json(request, ("placename_part", version, part), parts[part], {"Cache-Control": cache})


def _json(request: Request, key: tuple, body: bytes, headers: dict[str, str]) -> Response:
    """A JSON body of a kept page bundle, sent gzipped from its kept copy when the client takes it."""
    cache = request.app.state.engines.responses
    return compressed.response(request, cache, key, body, media_type="application/json", headers=headers)


def _events_page(s: Session, user: Account, page: str) -> HTMLResponse:
    """The grid worker's page or the command centre: a template and maps/static/events.js (no inline
    script); the events, counts and live changes come from the events API, by the viewer's role."""
    district = sources.district(s)
    html = render(
        "events_page.html",
        page=page,
        district=district["name"],
        demo=district["demo"],
        search=False,
        subtitle={"grid": "网格员工作台", "command": "联勤指挥中心"}[page],
        bounds=js_json(district["bounds"]),
        role=user.role,
        area_id=user.area_id or "",
        department=user.department or "",
    )
    return HTMLResponse(with_user(html, user), headers=NO_STORE)


@router.get("/grid", response_class=HTMLResponse)
def grid_page(s: SessionDep, user: OptionalUser) -> Response:
    """网格员工作台 (phone-first): my grid, my open events by deadline, accept / handle / escalate."""
    allowed = _gate(user, GRID_ROLES, "/grid", "网格员工作台")
    return allowed if isinstance(allowed, Response) else _events_page(s, allowed, "grid")


@router.get("/command", response_class=HTMLResponse)
def command_page(s: SessionDep, user: OptionalUser) -> Response:
    """联勤指挥中心 (1920×1080 and desktops): live map, counts, KPIs, 分拨; departments their events."""
    allowed = _gate(user, COMMAND_ROLES, "/command", "联勤指挥中心")
    return allowed if isinstance(allowed, Response) else _events_page(s, allowed, "command")


@router.get(BASEMAP_URL)
def basemap_json(
    request: Request, s: SessionDep, v: Annotated[str | None, Query(max_length=40)] = None
) -> Response:
    """The offline base map's data (tile URLs, road and area labels, water, sea: public layers only) for
    every map page. Asked for with the current data version ``v`` (the pages do) a browser or proxy may
    keep it for a day; else it is revalidated (ETag, 304)."""
    _data, body, version = _basemap_bundle(s, _versions(s))
    etag = f'"basemap-{version}"'
    cache = f"public, max-age={VERSIONED_MAX_AGE_S}" if v == version else "public, no-cache"
    headers = {"ETag": etag, "Cache-Control": cache}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return _json(request, ("basemap", version), body, headers)


@router.get("/login", response_class=HTMLResponse)
def login_page(
    next: Annotated[str, Query(max_length=2000)] = "/",  # noqa: A002 — the contract's name
    error: Annotated[int, Query(ge=0, le=1)] = 0,
) -> HTMLResponse:
    """Chinese login form; it POSTs to /auth/login (which sets the cookie and redirects to ``next``)."""
    target = safe_next(next)
    need = {
        "/planner": "规划分析地图",
        "/placenames": "地名管理地图",
        "/grid": "网格员工作台",
        "/command": "联勤指挥中心",
    }.get(target.split("?")[0])
    return HTMLResponse(render("login.html", next=target, error=bool(error), need=need), headers=NO_STORE)


@router.get("/assets/{path:path}")
def asset(path: str) -> Response:
    """Whitelisted files from maps/assets/node_modules (npm packages) and maps/static (ours)."""
    file = assets.resolve(path)
    if file is None:
        return Response(
            "未找到该文件 asset not found", status_code=404, media_type="text/plain; charset=utf-8"
        )
    cache = {"Cache-Control": "public, max-age=3600"}
    changed = assets.rewritten(path)
    if changed is not None:
        return Response(changed, media_type=assets.media_type(file), headers=cache)
    return FileResponse(file, media_type=assets.media_type(file), headers=cache)
