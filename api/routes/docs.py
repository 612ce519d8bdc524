"""The API docs pages: Swagger UI (``/docs``) and ReDoc (``/redoc``), served from our own ``/assets/``.

FastAPI's built-in pages load both from a CDN and start them with inline scripts; these load the npm
packages installed in ``maps/assets`` and start Swagger UI from ``maps/static/docs.js``, so the docs work
offline under the strict Content-Security-Policy (``api.security_headers``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.security_headers import CSP, content_security_policy
from maps import assets
from maps.page import render

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI on ``/openapi.json``: every operation, with 'Try it out' against this server."""
    return HTMLResponse(
        render(
            "docs.html",
            title=request.app.title,
            openapi_url=request.app.openapi_url,
            kind="swagger",
            css=assets.SWAGGER_CSS,
            scripts=[assets.SWAGGER_JS, assets.DOCS_JS],
        )
    )


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    """ReDoc on ``/openapi.json`` (its search index runs in a ``blob:`` web worker)."""
    html = render(
        "docs.html",
        title=request.app.title,
        openapi_url=request.app.openapi_url,
        kind="redoc",
        css=None,
        scripts=[assets.REDOC_JS],
    )
    return HTMLResponse(html, headers={CSP: content_security_policy(blob_workers=True)})
