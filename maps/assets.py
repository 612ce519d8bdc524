"""The JavaScript/CSS the maps load, served by our own app under ``/assets/`` (no CDN, ever).

Third-party libraries (Leaflet and its plugins; Swagger UI and ReDoc for the API docs) come from the
npm packages in ``maps/assets/node_modules`` (installed by ``npm ci`` from
``maps/assets/package-lock.json``); our own small scripts and styles live in ``maps/static``. Only the files
listed here are served: ``resolve`` maps a URL path to a file and refuses everything else, so the asset route
cannot be used to read arbitrary files.

folium's elements reference CDNs by default; ``offline_map`` and the plugin subclasses below replace
every ``default_js``/``default_css`` with these local URLs.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import folium

from maps.errors import AssetsMissing

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "assets" / "node_modules"
STATIC = HERE / "static"
PREFIX = "/assets/"

# URL path under /assets/ → file under node_modules (npm package files we serve).
_NPM_FILES: dict[str, str] = {
    "leaflet/leaflet.js": "leaflet/dist/leaflet.js",
    "leaflet/leaflet.js.map": "leaflet/dist/leaflet.js.map",
    "leaflet/leaflet.css": "leaflet/dist/leaflet.css",
    "leaflet/images/layers.png": "leaflet/dist/images/layers.png",
    "leaflet/images/layers-2x.png": "leaflet/dist/images/layers-2x.png",
    "leaflet/images/marker-icon.png": "leaflet/dist/images/marker-icon.png",
    "leaflet/images/marker-icon-2x.png": "leaflet/dist/images/marker-icon-2x.png",
    "leaflet/images/marker-shadow.png": "leaflet/dist/images/marker-shadow.png",
    "markercluster/leaflet.markercluster.js": "leaflet.markercluster/dist/leaflet.markercluster.js",
    "markercluster/leaflet.markercluster.js.map": "leaflet.markercluster/dist/leaflet.markercluster.js.map",
    "markercluster/MarkerCluster.css": "leaflet.markercluster/dist/MarkerCluster.css",
    "markercluster/MarkerCluster.Default.css": "leaflet.markercluster/dist/MarkerCluster.Default.css",
    "heat/leaflet-heat.js": "leaflet.heat/dist/leaflet-heat-global.js",
    # Vector tiles (/tiles/...: Mapbox Vector Tiles) drawn on canvas; the bundle holds pbf and vector-tile.
    "vectorgrid/Leaflet.VectorGrid.bundled.js": "leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.js",
    "vectorgrid/Leaflet.VectorGrid.bundled.js.map": (
        "leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.js.map"
    ),
    # The API docs (/docs, /redoc).
    "swagger-ui/swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui/swagger-ui-bundle.js.map": "swagger-ui-dist/swagger-ui-bundle.js.map",
    "swagger-ui/swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
    "swagger-ui/swagger-ui.css.map": "swagger-ui-dist/swagger-ui.css.map",
    "redoc/redoc.standalone.js": "redoc/bundles/redoc.standalone.js",
    "redoc/redoc.standalone.js.map": "redoc/bundles/redoc.standalone.js.map",
}
# Served with these byte replacements: ReDoc's menu shows a logo image from its CDN (no option turns it
# off); an empty image instead keeps the docs free of outside requests. The files on disk stay as npm
# installed them.
_REWRITES: dict[str, list[tuple[bytes, bytes]]] = {
    "redoc/redoc.standalone.js": [
        (
            b"https://cdn.redoc.ly/redoc/logo-mini.svg",
            b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E",
        )
    ],
}
# Our own files in maps/static (served as they are).
_STATIC_SUFFIXES = {".js", ".css", ".svg", ".png"}

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".map": "application/json; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

LEAFLET_JS = PREFIX + "leaflet/leaflet.js"
LEAFLET_CSS = PREFIX + "leaflet/leaflet.css"
VECTORGRID_JS = PREFIX + "vectorgrid/Leaflet.VectorGrid.bundled.js"
SWAGGER_JS = PREFIX + "swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = PREFIX + "swagger-ui/swagger-ui.css"
REDOC_JS = PREFIX + "redoc/redoc.standalone.js"
DOCS_JS = PREFIX + "static/docs.js"
OUR_JS = PREFIX + "static/minqing.js"
OUR_CSS = PREFIX + "static/minqing.css"


def resolve(path: str) -> Path | None:
    """The file served at ``/assets/<path>``, or None when ``path`` is not whitelisted or missing."""
    if path.startswith("static/"):
        name = path.removeprefix("static/")
        # Flat directory, our own files only: no separators, no dot-files.
        if "/" in name or "\\" in name or name.startswith(".") or Path(name).suffix not in _STATIC_SUFFIXES:
            return None
        file = STATIC / name
    elif path in _NPM_FILES:
        file = NODE_MODULES / _NPM_FILES[path]
    else:
        return None
    return file if file.is_file() else None


@lru_cache(maxsize=4)
def rewritten(path: str) -> bytes | None:
    """The bytes served at ``/assets/<path>`` when the file is served changed (``_REWRITES``), else None."""
    if path not in _REWRITES or (file := resolve(path)) is None:
        return None
    data = file.read_bytes()
    for old, new in _REWRITES[path]:
        data = data.replace(old, new)
    return data


def media_type(path: Path) -> str:
    return MEDIA_TYPES.get(path.suffix, "application/octet-stream")


def check_installed() -> None:
    """Raise ``AssetsMissing`` when the npm packages have not been installed."""
    missing = [
        rel for rel in _NPM_FILES.values() if not rel.endswith(".map") and not (NODE_MODULES / rel).is_file()
    ]
    if missing:
        raise AssetsMissing(missing[0])


def all_urls() -> list[str]:
    """Every whitelisted ``/assets/...`` URL (npm files and our static files)."""
    own = sorted(p.name for p in STATIC.iterdir() if p.suffix in _STATIC_SUFFIXES)
    return [PREFIX + k for k in _NPM_FILES] + [PREFIX + "static/" + n for n in own]


def offline_map(location: tuple[float, float], *, zoom_start: int, **kwargs: Any) -> folium.Map:
    """A ``folium.Map`` without tiles whose scripts and styles all come from ``/assets/``.

    Parameters
    ----------
    location : (lat, lon) of the initial centre, degrees (EPSG:4326).
    zoom_start : initial Web-Mercator zoom level.
    kwargs : passed to ``folium.Map`` (e.g. ``min_zoom``).
    """
    m = folium.Map(location=list(location), zoom_start=zoom_start, tiles=None, prefer_canvas=True, **kwargs)
    # Instance attributes: folium's class-level lists are shared and must stay untouched.
    m.default_js = [("leaflet", LEAFLET_JS), ("vectorgrid", VECTORGRID_JS), ("minqing", OUR_JS)]
    m.default_css = [("leaflet_css", LEAFLET_CSS), ("minqing_css", OUR_CSS)]
    return m
