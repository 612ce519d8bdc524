"""Request limits: body size (413), a per-IP allowance for anonymous clients (429, shared by every
server process: ``SharedLimit``), anonymous
uploads (401 before the body is read), and which client address to believe (proxy headers).

All are plain ASGI middlewares so they run before any body is parsed.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time

import jwt
from limits import RateLimitItemPerSecond
from limits.storage import Storage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from api.errors import PayloadTooLarge, RateLimited, Unauthorized, error_response
from api.security import COOKIE, check_token
from layers.db import session
from layers.errors import LayersError
from layers.ratelimits import PostgresStorage
from settings import IPNetwork

log = logging.getLogger("minqing.limits")

EXEMPT_PATHS = ("/healthz", "/favicon.ico")
EXEMPT_PREFIXES = ("/assets/",)
"""Not rate-limited: health checks and the maps' static files (Leaflet, CSS, icons), which a browser
fetches a dozen at a time on every page load and which read no data."""
TILE_PREFIX = "/tiles/"
TILE_COST = 0.1
"""A vector tile takes a tenth of a token: a map view fetches tens of tiles at once (each layer, every
tile in sight), and each is cached per data version."""


class BodySizeLimit:
    """Refuse bodies above ``max_bytes``: at once from Content-Length, else while streaming."""

    def __init__(self, app, *, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, size: int | None = None) -> PayloadTooLarge:
        mb = self.max_bytes / 1024 / 1024
        got = f" ({size / 1024 / 1024:.1f} MB)" if size else ""
        return PayloadTooLarge(
            f"the request body{got} is larger than the limit of {mb:g} MB",
            fix="split the file into smaller parts, or ask the administrator to raise MINQING_MAX_UPLOAD_MB",
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await error_response(self._too_large(declared))(scope, receive, send)
            return
        seen = 0
        answered = False

        async def counting_receive():
            # Past the limit: answer 413 ourselves and tell the app the client left, because
            # frameworks turn errors raised while reading a body into a generic 400.
            nonlocal seen, answered
            message = await receive()
            if message["type"] == "http.request" and not answered:
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    answered = True
                    await error_response(self._too_large())(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not answered:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


SCALE = 10
"""Requests are counted in tenths (``limits`` counts whole hits): a tile weighs 1, a request 10."""


class SharedLimit:
    """A per-client allowance (the ``limits`` library, moving window): ``burst`` requests in any
    ``burst / rate`` seconds, so ``rate`` per second on average. Counted in the database
    (``layers.ratelimits``), so every server process shares one count per client and a restart
    forgets nothing. ``name`` keeps the counts of different limits apart. Without a reachable database
    nothing is counted and every request passes (the routes that need the database answer 503)."""

    def __init__(
        self, name: str, *, rate: float, burst: int, url: str | None = None, storage: Storage | None = None
    ):
        self.name = name
        self.item = RateLimitItemPerSecond(max(1, burst) * SCALE, max(1, round(burst / rate)))
        self.limiter = MovingWindowRateLimiter(storage or PostgresStorage(url=url))

    def take(self, key: str, cost: float = 1.0) -> float:
        """Count a request of ``key`` weighing ``cost`` (one request: 1, in tenths); 0 when allowed, else
        the seconds until it would be."""
        weight = max(1, round(cost * SCALE))
        try:
            if self.limiter.hit(self.item, self.name, key, cost=weight):
                return 0.0
        except (SQLAlchemyError, LayersError) as e:  # no database: the request fails or succeeds on its own
            log.warning("rate limit %s not counted, its database is unavailable: %r", self.name, e)
            return 0.0
        stats = self.limiter.get_window_stats(self.item, self.name, key)
        return max(1.0, stats.reset_time - time.time())


class AnonymousRateLimit:
    """Rate-limit requests that carry no valid login token, per client IP."""

    def __init__(self, app, *, rate: float, burst: int, secret: str):
        self.app = app
        self.secret = secret
        self.rate, self.burst = rate, burst
        self._limits: dict[str | None, SharedLimit] = {}

    def limit(self, scope) -> SharedLimit:
        """The shared limit on the app's database (``app.state.database_url``, read per request: tests
        attach a database after building the app)."""
        url = getattr(scope["app"].state, "database_url", None) if "app" in scope else None
        if url not in self._limits:
            self._limits[url] = SharedLimit("anonymous", rate=self.rate, burst=self.burst, url=url)
        return self._limits[url]

    async def __call__(self, scope, receive, send):
        if self.rate <= 0 or scope["type"] != "http" or _exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if not self._authenticated(request):
            client = request.client.host if request.client else "unknown"
            cost = TILE_COST if scope["path"].startswith(TILE_PREFIX) else 1.0
            # a database round trip
            wait = await run_in_threadpool(self.limit(scope).take, client_key(client), cost)
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                exc = RateLimited(
                    f"too many requests from {client} without logging in",
                    fix=f"wait {seconds} s and retry, slow down, or log in (logged-in users are not limited)",
                    headers={"Retry-After": str(seconds)},
                )
                await error_response(exc, request)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _authenticated(self, request: Request) -> bool:
        return signed_in(request, self.secret)


def login_token(request: Request) -> str | None:
    """The bearer token, else the login cookie, of a request (None without either)."""
    auth = request.headers.get("authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else request.cookies.get(COOKIE)


def signed_in(request: Request, secret: str) -> bool:
    """The request carries a login token (bearer or cookie) signed by us and not expired.

    Only the signature and expiry: whether the account is active and the token not revoked is
    checked by the routes (a database read).
    """
    token = login_token(request)
    if not token:
        return False
    try:
        jwt.decode(token, secret, algorithms=["HS256"])
    except jwt.PyJWTError:
        return False
    return True


class AnonymousUploadGuard:
    """Refuse file uploads (multipart bodies) without a valid login before reading their body.

    Every route taking a multipart body needs a login (imports); without this guard the framework
    would parse the whole upload into a temporary file before the route could answer 401. The token
    is checked in full (signature, expiry, account active, not revoked: one small query). The login
    forms (``/auth/``) are exempt: they are how one logs in.
    """

    def __init__(self, app, *, secret: str):
        self.app = app
        self.secret = secret

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not scope["path"].startswith("/auth/"):
            request = Request(scope)
            multipart = request.headers.get("content-type", "").lower().startswith("multipart/")
            if multipart:
                problem = await run_in_threadpool(self._problem, request)
                if problem is not None:
                    await error_response(problem, request)(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _problem(self, request: Request) -> Unauthorized | None:

        fix = "log in (POST /auth/token) and send the upload with `Authorization: Bearer <access_token>`"
        token = login_token(request)
        if not token:
            return Unauthorized("uploading a file needs a login: nothing was read", fix=fix)
        with session(request.app.state.database_url, actor="anonymous") as s:
            result = check_token(s, token, secret=self.secret)
        if result.account is None:
            reason = result.problem or Unauthorized("the login is not valid")
            return Unauthorized(f"uploading a file needs a valid login ({reason}): nothing was read", fix=fix)
        return None


class ProxyHeaders:
    """Take the client address from X-Forwarded-For only when the request comes from a trusted proxy.

    ``trusted`` are the reverse proxies' networks (setting ``MINQING_TRUSTED_PROXIES``, default
    none: the header is ignored and the peer is the client). From a trusted peer the client is the
    right-most address of X-Forwarded-For that is not itself a trusted proxy (the left part of the
    header is written by the client and proves nothing). Everything that limits per client (rate
    limits, the login throttle) and the audit log then see that address. ``minqing serve`` turns off
    uvicorn's own proxy handling, which believes any loopback peer.
    """

    def __init__(self, app, *, trusted: tuple[IPNetwork, ...]):
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and self.trusted and scope.get("client"):
            client = forwarded_client(scope["client"][0], _forwarded_for(scope), self.trusted)
            if client != scope["client"][0]:
                scope = {**scope, "client": (client, 0)}
        await self.app(scope, receive, send)


def _forwarded_for(scope) -> list[str]:
    hops: list[str] = []
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-for":
            hops += [h.strip() for h in value.decode("latin-1").split(",")]
    return hops


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def client_key(host: str) -> str:
    """What per-client limits count by: an IPv4 address, or the /64 network of an IPv6 address (one
    subscriber's network: rotating the low 64 bits must not make a new client)."""
    ip = _ip(host)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return host if ip is None or not isinstance(ip, ipaddress.IPv6Address) else str(ip.ipv4_mapped)


def forwarded_client(peer: str, hops: list[str], trusted: tuple[IPNetwork, ...]) -> str:
    """The client address of a request from ``peer`` carrying X-Forwarded-For ``hops`` (left to right)."""

    def is_trusted(address: str) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in net for net in trusted)

    client = peer
    for hop in reversed(hops):
        if not is_trusted(client) or _ip(hop) is None:
            break
        client = hop
    return client
