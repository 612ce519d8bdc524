"""The HTML page around a map: Chinese header, side panel, our scripts, and the hook to run them.

Every map page is a folium ``Map`` inside a ``Page`` figure (``lang="zh-CN"``, a title) with the
header and panel rendered from ``maps/templates`` and one ``AttachScript`` that hands the map, its
folium layers and the embedded data to our JavaScript (``maps/static``) once every layer exists.

``finish`` renders a page into ``PageHtml``: the HTML and the sha256 of each inline script folium
wrote, which the route sends in the page's Content-Security-Policy (``script-src 'self'`` plus those
hashes: an injected script cannot run). User text reaches a page only as autoescaped template text or
as JSON data (``js_json``), never as markup or code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import folium
import jinja2
from branca.element import Element, Figure, MacroElement
from folium.map import LayerControl
from folium.template import Template
from markupsafe import Markup, escape

from data import DEMO_LABEL
from maps import assets

TEMPLATES = Path(__file__).resolve().parent / "templates"
USER_SLOT = "<!--mq-user-->"
"""Replaced per request by the signed-in user's name and a logout link (pages are cached)."""


@lru_cache(maxsize=1)
def templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True
    )


def render(name: str, **context: Any) -> str:
    """Render ``maps/templates/<name>`` (HTML-escaped)."""
    return templates().get_template(name).render(demo_label=DEMO_LABEL, **context)


def js_json(data: Any) -> str:
    """Compact UTF-8 JSON that is safe inside a <script> element (no ``</script>``, no ``<!--``)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
"""An inline script (no attributes) in the header that folium's templates render (the map's switches)."""


def script_hash(source: str) -> str:
    """The CSP source (``'sha256-…'`` without quotes) that allows exactly this inline script text."""
    return "sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii")


@dataclass(frozen=True)
class PageHtml:
    """A built page and the hashes of the inline scripts it runs (its Content-Security-Policy allows
    those and nothing else inline)."""

    html: str
    script_hashes: tuple[str, ...]


class Page(Figure):
    """A figure that renders a full Chinese HTML page (``lang="zh-CN"``) from ``templates/page.html``.

    The page is assembled by an autoescaping template: the title and body class are text; the header
    (library tags), the body (our autoescaped panel templates) and the script (folium's generated
    JavaScript, whose data goes through ``js_json``/``tojson``) are inserted as they are. Rendering
    records the sha256 of every inline script it wrote (``script_hashes``): the trusted header and the
    map script, never anything found in the body.
    """

    def __init__(self, title: str, *, body_class: str = "") -> None:
        super().__init__(title=title)
        self._name = "Page"
        self.body_class = body_class
        self.script_hashes: tuple[str, ...] = ()

    def render(self, **kwargs: Any) -> str:
        for child in self._children.values():
            child.render(**kwargs)
        header = self.header.render(**kwargs)
        script = "\n" + self.script.render(**kwargs) + "\n"
        self.script_hashes = tuple(script_hash(s) for s in [*INLINE_SCRIPT.findall(header), script])
        return (
            templates()
            .get_template("page.html")
            .render(
                title=self.title,
                body_class=self.body_class,
                header=Markup(header),
                body=Markup(self.html.render(**kwargs)),
                script=Markup(script),
            )
        )


def page_of(m: folium.Map) -> Page:
    """The ``Page`` holding ``m`` (``new_map`` puts every map on one)."""
    root = m.get_root()
    if not isinstance(root, Page):
        raise TypeError(f"the map is on a {type(root).__name__}, not a Page: build it with new_map")
    return root


def finish(m: folium.Map) -> PageHtml:
    """Render the page holding ``m``: its HTML and the hashes its CSP must allow."""
    page = page_of(m)
    html = page.render()
    return PageHtml(html, page.script_hashes)


class ResponsiveLayerControl(LayerControl):
    """folium's layer control, expanded on wide screens and collapsed to a button on phones."""

    _template = Template(
        """
        {% macro script(this,kwargs) %}
            var {{ this.get_name() }} = L.control.layers(
                {
                {%- for key, val in this.base_layers.items() %}
                    {{ key|tojson }} : {{val}},
                {%- endfor %}
                },
                {
                {%- for key, val in this.overlays.items() %}
                    {{ key|tojson }} : {{val}},
                {%- endfor %}
                },
                Object.assign({{ this.options|tojavascript }},
                              {collapsed: window.matchMedia("(max-width: 760px)").matches})
            ).addTo({{this._parent.get_name()}});
        {% endmacro %}
        """
    )


class AttachScript(MacroElement):
    """Calls ``call(map, layers, data)`` once every layer exists (add it to the map last)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            {{ this.call }}({{ this._parent.get_name() }}, {
            {%- for key, layer in this.layers.items() %}
                {{ key|tojson }}: {{ layer.get_name() }},
            {%- endfor %}
            }, {{ this.json }});
        {% endmacro %}
        """
    )

    def __init__(self, call: str, *, layers: dict[str, Any], data: dict[str, Any]) -> None:
        super().__init__()
        self._name = "AttachScript"
        self.call = call
        self.layers = layers
        self.json = js_json(data)


class DistrictView(MacroElement):
    """Sets the map's first view on the district (``minqing.fitDistrict``, as the page chrome does) before any
    layer is added: tiles and paths are made once, for the view the page shows. Add it right after
    ``page_map``."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            minqing.fitDistrict({{ this._parent.get_name() }}, {{ this.json }});
        {% endmacro %}
        """
    )

    def __init__(self, bounds: Any) -> None:
        super().__init__()
        self._name = "DistrictView"
        self.json = js_json(bounds)


def page_map(
    *, title: str, page: str, center: tuple[float, float], zoom: int, extra_js: tuple[str, ...] = ()
) -> folium.Map:
    """A tile-less folium map in a Chinese ``Page``, loading our common and page scripts.

    Parameters
    ----------
    title : the browser tab title.
    page : ``public``, ``planner`` or ``placenames``: selects ``maps/static/<page>.js`` and the body
        class used by ``minqing.css``.
    center : (lat, lon) degrees (EPSG:4326).
    zoom : initial Web-Mercator zoom level.
    extra_js : further ``/assets/...`` scripts (plugins) loaded before the page script.
    """
    m = assets.offline_map(center, zoom_start=zoom, zoom_control="bottomright")
    m.options.update(minZoom=9, maxZoom=19)  # folium hands min/max_zoom to tiles only; clustering needs them
    m.control_scale = False  # drawn by minqing.js at the bottom right, clear of the panel
    Page(title, body_class=f"mq-page mq-{page}").add_child(m)
    m.default_js = [
        *m.default_js,
        *[(Path(u).stem, u) for u in extra_js],
        (page, f"{assets.PREFIX}static/{page}.js"),
    ]
    return m


def add_html(m: folium.Map, html: str) -> None:
    """Add page HTML (header, panel) before the map's own element in the body."""
    page_of(m).html.add_child(Element(html), index=0)


_STAFF_LINK = re.compile(r"<!--mq-staff:([a-z_,]+)-->(.*?)<!--/mq-staff-->", re.S)


def _staff_links(html: str, role: str | None) -> str:
    """Keep a staff page's link (``<!--mq-staff:roles-->…<!--/mq-staff-->``) only for its roles."""
    return _STAFF_LINK.sub(lambda m: m.group(2) if role in m.group(1).split(",") else "", html)


def with_user(html: str, user: Any | None) -> str:
    """Fill the user slot of a cached page: the signed-in user's name and a logout link; links to staff
    pages only for the roles that may open them (none for anonymous visitors)."""
    html = _staff_links(html, getattr(user, "role", None))
    if user is None:
        return html.replace(USER_SLOT, '<a class="mq-nav-login" href="/login">登录</a>')
    name = escape(getattr(user, "username", "") or "")
    return html.replace(
        USER_SLOT, f'<span class="mq-user">{name}</span><a class="mq-nav-login" href="/auth/logout">退出</a>'
    )
