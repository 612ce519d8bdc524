"""Kept responses sent compressed: a cached body is gzipped once and the copy kept beside it, instead of
the GZip middleware (``api.main``) compressing it again for every request in the event loop. Responses
carrying ``Content-Encoding`` pass that middleware untouched."""

from __future__ import annotations

import gzip
from collections.abc import Hashable

from fastapi import Request, Response

from layers.cache import Cache

MIN_BYTES = 2048
"""Smaller bodies are sent as they are (as the middleware does)."""
LEVEL = 5
"""As the middleware's level (``api.main``)."""


def accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def gzip_key(key: tuple) -> tuple[Hashable, ...]:
    """The cache key of ``key``'s compressed copy."""
    return (*key, "gzip")


def packed(cache: Cache[bytes], key: tuple, body: bytes) -> bytes:
    """``body`` gzipped, kept in ``cache`` under ``gzip_key(key)``."""
    return cache.get(gzip_key(key), lambda: gzip.compress(body, LEVEL, mtime=0))


def response(
    request: Request,
    cache: Cache[bytes],
    key: tuple,
    body: bytes,
    *,
    media_type: str,
    headers: dict[str, str],
) -> Response:
    """``body`` (kept in ``cache`` under ``key``) as the response: its kept gzipped copy when the client
    takes gzip and the body is not tiny."""
    vary = headers.get("Vary")
    if not vary:
        headers = {**headers, "Vary": "Accept-Encoding"}
    elif "accept-encoding" not in vary.lower():
        headers = {**headers, "Vary": f"{vary}, Accept-Encoding"}
    if accepts_gzip(request) and len(body) >= MIN_BYTES:
        return Response(
            packed(cache, key, body), media_type=media_type, headers={**headers, "Content-Encoding": "gzip"}
        )
    return Response(body, media_type=media_type, headers=headers)
