"""Request limits: body size (413) and a per-IP token bucket for anonymous clients (429).

Both are plain ASGI middlewares so they run before any body is parsed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt
from starlette.requests import Request

from api.errors import PayloadTooLarge, RateLimited, error_response
from api.security import COOKIE

EXEMPT_PATHS = ("/healthz", "/favicon.ico")
EXEMPT_PREFIXES = ("/assets/",)
"""Not rate-limited: health checks and the maps' static files (Leaflet, CSS, icons), which a browser
fetches a dozen at a time on every page load and which read no data."""


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
            fix="split the file into smaller parts, or ask the administrator to raise MINQING_MAX_UPLOAD_MB")

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


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class TokenBuckets:
    """In-memory token buckets keyed by client (one process; good enough for one server)."""

    def __init__(self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 50_000):
        self.rate, self.burst, self.clock, self.max_keys = rate, burst, clock, max_keys
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float:
        """Take one token; returns 0 when allowed, else the seconds until a token is back."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._prune(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def _prune(self, now: float) -> None:
        if len(self._buckets) < self.max_keys:
            return
        full_after = self.burst / self.rate
        self._buckets = {k: b for k, b in self._buckets.items() if now - b.stamp < full_after}


class AnonymousRateLimit:
    """Rate-limit requests that carry no valid login token, per client IP."""

    def __init__(self, app, *, rate: float, burst: int, secret: str):
        self.app = app
        self.secret = secret
        self.buckets = TokenBuckets(rate=rate, burst=burst) if rate > 0 else None

    async def __call__(self, scope, receive, send):
        if self.buckets is None or scope["type"] != "http" or _exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if not self._authenticated(request):
            client = request.client.host if request.client else "unknown"
            wait = self.buckets.take(client)
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                exc = RateLimited(
                    f"too many requests from {client} without logging in",
                    fix=f"wait {seconds} s and retry, slow down, or log in (logged-in users are not limited)",
                    headers={"Retry-After": str(seconds)})
                await error_response(exc, request)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _authenticated(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else request.cookies.get(COOKIE)
        if not token:
            return False
        try:
            jwt.decode(token, self.secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            return False
        return True
