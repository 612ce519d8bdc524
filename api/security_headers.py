"""Security headers on every response: Content-Security-Policy, nosniff, no framing, Referrer-Policy.

Scripts run only from our own ``/assets/`` (``script-src 'self'``); a page with inline scripts (the
folium maps) sends its own policy listing the sha256 of each script it rendered
(``content_security_policy(script_hashes=...)``, see ``maps.page.PageHtml``). The middleware adds the
default policy to any response that has none, so JSON, errors, assets and the docs pages carry it too.
"""

from __future__ import annotations

from collections.abc import Iterable

CSP = "Content-Security-Policy"
STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # the older browsers' frame-ancestors 'none'
    # Other sites learn our origin only (the OSM tile servers want a Referer), never a path or query.
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def content_security_policy(
    *, script_hashes: Iterable[str] = (), img_hosts: Iterable[str] = (), blob_workers: bool = False
) -> str:
    """The policy: our own scripts, plus exactly the inline scripts whose hashes are given.

    Parameters
    ----------
    script_hashes : ``sha256-…`` sources of the inline scripts a page may run (``maps.page.script_hash``).
    img_hosts : further origins images may come from (the optional online base-map tiles).
    blob_workers : allow web workers built from ``blob:`` URLs (ReDoc's search index).

    Styles may be inline (Leaflet, marker icons and the docs renderers set ``style`` attributes);
    nothing else may be: no inline event handlers, no ``javascript:`` URLs, no ``eval``.
    """
    scripts = " ".join(["'self'", *(f"'{h}'" for h in script_hashes)])
    images = " ".join(["'self'", "data:", *img_hosts])
    workers = "'self' blob:" if blob_workers else "'self'"
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {images}",
            "font-src 'self' data:",
            "connect-src 'self'",
            f"worker-src {workers}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


DEFAULT_POLICY = content_security_policy()


class SecurityHeaders:
    """Plain ASGI middleware: adds ``STATIC_HEADERS`` and, unless the route set its own, the default CSP."""

    def __init__(self, app) -> None:
        self.app = app
        self._static = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in STATIC_HEADERS.items()]
        self._csp = (CSP.lower().encode("latin-1"), DEFAULT_POLICY.encode("latin-1"))

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [h for h in self._static if h[0] not in present]
                if self._csp[0] not in present:
                    headers.append(self._csp)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
