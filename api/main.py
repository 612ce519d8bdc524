"""The FastAPI application: assembly only (settings, lifespan, middleware, error handlers, routers).

``uvicorn api.main:app`` (``minqing serve``) needs ``MINQING_SECRET_KEY``; tests build their own
app with ``create_app(settings, database_url=...)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware

from api import compressed, errors
from api.caches import Engines
from api.limits import AnonymousRateLimit, AnonymousUploadGuard, BodySizeLimit, ProxyHeaders
from api.pools import IsochronePools
from api.privacy import PrivacyFilter
from api.routes import (
    audit,
    auth,
    collections,
    docs,
    events,
    health,
    imports,
    isochrones,
    maps,
    placenames,
    planning,
    public,
    tiles,
    users,
    visits,
)
from api.security_headers import SecurityHeaders
from api.warm import Warmer
from layers.db import engine
from layers.errors import LayersError
from layers.nametables import configured_tables
from pipeline.jobs import reap_at_startup
from settings import ApiSettings, api_settings

DESCRIPTION = """
民情地图 minqing-map: 社区生活圈 (15分钟 / 半小时) 覆盖、网格与地名服务.

* **图层 collections** — OGC API - Features style layers as GeoJSON (`/collections`).
* **登录 auth** — OAuth2 password flow (`POST /auth/token`) or the browser cookie.
* Roles: public (no login), grid_worker, planner, placename_officer, admin.
* Every error is `{"error": {"code", "message", "fix", "details"}}`.
* Coordinates are WGS84 (EPSG:4326), longitude first.
"""

TAGS = [
    {"name": "图层 collections", "description": "读取图层 read the layers (OGC API - Features)"},
    {"name": "公共服务设施 facilities", "description": "编辑公共服务设施 edit facilities"},
    {"name": "住户点 residences", "description": "编辑住户点 (非公开) edit residences (never public)"},
    {"name": "网格 grids", "description": "编辑网格 edit grids"},
    {"name": "行政区划 areas", "description": "编辑行政区划 edit districts, towns, communities"},
    {"name": "等时圈 isochrones", "description": "沿街道的可达范围 reachable areas along the streets"},
    {
        "name": "民情事件 events",
        "description": "民情事件: 上报、受理、分拨、处置、办结、回访 residents' reports through the grids",
    },
    {
        "name": "走访 visits",
        "description": "重点人群户与走访 (仅网格员与管理员) key households and visits, staff only",
    },
    {
        "name": "公众地图 public map",
        "description": "离我最近的服务设施与统一搜索 nearest services and one search box",
    },
    {
        "name": "地名 place_names",
        "description": "地名编辑、检索与逆地理编码 place names: edit, search, reverse",
    },
    {"name": "导入 imports", "description": "导入文件 file imports"},
    {"name": "登录 auth", "description": "登录与退出 log in and out"},
    {"name": "用户 users", "description": "账号与角色 accounts and roles"},
    {"name": "审计 audit", "description": "审计日志 who changed what"},
    {"name": "状态 health", "description": "服务状态 health"},
    {"name": "矢量瓦片 tiles", "description": "地图矢量瓦片 (MVT) vector tiles of the layers for the maps"},
]


def _dispose(url: str | None) -> None:
    """Close the pooled connections on shutdown (nothing to do if no database was configured)."""

    with suppress(LayersError):
        engine(url).dispose()


def create_app(settings: ApiSettings | None = None, *, database_url: str | None = None) -> FastAPI:
    """Build the service; ``settings`` default to the environment (fails clearly without a secret)."""
    settings = settings or api_settings()
    configured_tables()  # MINQING_PLACENAME_TABLES: edited place-name tables in use; a bad one fails at start

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # jobs left "running" by a server process that died are marked failed (issue 14.10)
        await asyncio.to_thread(reap_at_startup, app.state.database_url)
        warmer = Warmer(app, app.state.database_url) if settings.warm_caches else None
        app.state.warmer = warmer
        if warmer is not None:
            warmer.start()  # builds in the background; requests are served meanwhile
        yield
        if warmer is not None:
            warmer.stop()
        app.state.isochrone_pools.close()  # worker processes must not keep the server from exiting
        _dispose(app.state.database_url)

    # /docs and /redoc are our own pages (api.routes.docs): FastAPI's load their scripts from a CDN.
    app = FastAPI(
        title="民情地图 minqing-map API",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database_url = database_url or settings.database_url
    app.state.privacy = PrivacyFilter(
        min_households=settings.privacy_min_households, round_to=settings.privacy_round_to
    )
    app.state.engines = Engines()
    app.state.warmer = None
    app.state.isochrone_pools = IsochronePools(settings)  # workers start on first use

    errors.install(app)
    app.add_middleware(AnonymousUploadGuard, secret=settings.secret_key.get_secret_value())
    app.add_middleware(
        AnonymousRateLimit,
        rate=settings.rate_limit_per_second,
        burst=settings.rate_limit_burst,
        secret=settings.secret_key.get_secret_value(),
    )
    app.add_middleware(ProxyHeaders, trusted=settings.trusted_proxy_networks)  # before anything per client
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    # map pages and GeoJSON shrink 3-10x; kept bodies are sent from kept gzipped copies (api.compressed),
    # with the same threshold and level
    app.add_middleware(GZipMiddleware, minimum_size=compressed.MIN_BYTES, compresslevel=compressed.LEVEL)
    app.add_middleware(errors.CatchAll)
    app.add_middleware(SecurityHeaders)  # added last: the outermost, so even a 500 carries the CSP

    # every router is imported plainly at the top: a module that fails to import stops the service at
    # start instead of leaving its routes silently missing
    for router in [
        health.router,
        collections.router,
        isochrones.router,
        public.router,
        placenames.router,
        auth.router,
        users.router,
        audit.router,
        imports.router,
        maps.router,
        docs.router,
        events.router,
        tiles.router,
        visits.router,
    ]:
        app.include_router(router)
    planning.register(app)  # planner tools: runs, scenarios, siting, reports
    return app


def __getattr__(name: str):
    # ``api.main:app`` is built on first access, so importing this module never needs the secret.
    if name == "app":
        app = create_app()
        globals()["app"] = app
        return app
    raise AttributeError(name)
