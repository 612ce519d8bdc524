"""``minqing serve``: the API and maps."""

from __future__ import annotations

from typing import Any

import typer

UVICORN_OPTIONS: dict[str, Any] = {"proxy_headers": False}
"""uvicorn's own X-Forwarded-For handling believes any loopback peer by default; the service decides
itself whom to believe (MINQING_TRUSTED_PROXIES, ``api.limits.ProxyHeaders``)."""


def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on (loopback by default)"),
    port: int = typer.Option(8000, help="port"),
    workers: int = typer.Option(
        1,
        min=1,
        max=64,
        help="server processes (uvicorn workers; e.g. one per CPU "
        "core): rate limits, login throttles and jobs are shared through the database",
    ),
) -> None:
    """Serve the maps and the API."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    import uvicorn

    typer.echo(f"民情地图 minqing-map on http://{host}:{port}  (API docs: /docs, layers: /collections)")
    # a worker gets a minute to import the app and answer the supervisor's ping (uvicorn's default of
    # 5 s kills every worker of a loaded machine while it is still importing, and starts it again)
    uvicorn.run(
        "api.main:app",
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        timeout_worker_healthcheck=60,
        **UVICORN_OPTIONS,
    )
