"""Printable sign sheets (地名标志工作单) per 镇街: A4 portrait PDF pages for the sign contractor.

Each page lists up to ``ROWS_PER_PAGE`` signs of one town from the sign work list
(``layers.placenames.sign_plan``: 待设置 / 已设置 / 待更换 / 待拆除) with the sign text (汉字 + pinyin),
sign type and size class, location (town, longitude/latitude) and status, and a small map of the
town (streets, town outline, every sign of the town in grey, this page's signs numbered in red, scale
bar and north arrow). Drawn with the PDF machinery of ``pipeline.reports`` (matplotlib, 文泉驿正黑
embedded as a TrueType subset, rare characters as boxes); the demo district is labelled fictional.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from data import DEMO_LABEL
from geo.crs import to_metric
from layers import placenames, planning, queries
from pipeline import spreadsheets
from pipeline.errors import TooLarge
from pipeline.reports import (
    _font,
    _north_arrow,
    _outlines,
    _rare_glyphs_as_boxes,
    _roads,
    _scale_bar,
    _sized,
)

A4_PORTRAIT = (8.27, 11.69)
"""Inches."""
ROWS_PER_PAGE = 18
"""Signs per page: each row holds the sign text and, below it, the category and the registered name."""
NO_TOWN = "未定镇街"
"""Heading of the signs whose name lies in no town."""
COLUMNS = (
    ("序号", 0.04),
    ("标志汉字", 0.085),
    ("标志拼音", 0.27),
    ("标志类型", 0.56),
    ("规格", 0.70),
    ("位置（经度, 纬度）", 0.75),
    ("状态", 0.91),
)
"""Table columns: heading and left edge (figure fraction)."""
SYNC_PAGES = 10
"""At most this many pages are drawn inside a request (a few seconds); more go to the task queue."""
STATUS_COLOUR = {"待设置": "#1565c0", "已设置": "#2e7d32", "待更换": "#ef6c00", "待拆除": "#c00000"}


Progress = Callable[[int, int], None]
"""``progress(pages_done, pages_total)``: called once before the first page and after every page."""


def sign_sheets(
    s: Session, *, town: str | None = None, sign_status: str | None = None, progress: Progress | None = None
) -> bytes:
    """The sign work list as A4 sheets, one section per 镇街 (``town`` / ``sign_status`` filter).

    A town with no sign to list gets one page saying so, so an empty filter still prints. ``progress``
    hears of every page drawn (about half a second of CPU each: a whole district takes a minute).
    """
    # late: matplotlib loads only when sheets are drawn
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    font = _font()
    plan = placenames.sign_plan(s, town=town, sign_status=sign_status)
    towns = _towns(plan, town=town)
    total = sum(_pages(rows) for _name, rows in towns)
    if progress:
        progress(0, total)
    district = planning.district_name(s) or ""
    demo = planning.is_demo(s)
    base = _base_layers(s)
    out = io.BytesIO()
    meta = {"Title": f"{district}地名标志工作单", "Creator": "民情地图"}
    done = 0
    # TrueType subset, embedded; rare characters outside the font drawn as boxes
    with (
        matplotlib.rc_context({"pdf.fonttype": 42}),
        _rare_glyphs_as_boxes(),
        PdfPages(out, metadata=meta) as pdf,
    ):
        for name, rows in towns:
            pages = _pages(rows)
            view = _town_view(base, str(name), rows)
            for page in range(pages):
                chunk = rows.iloc[page * ROWS_PER_PAGE : (page + 1) * ROWS_PER_PAGE]
                fig = _sheet(
                    chunk,
                    rows,
                    view,
                    town=str(name),
                    district=district,
                    page=page + 1,
                    pages=pages,
                    first=page * ROWS_PER_PAGE + 1,
                    font=font,
                    demo=demo,
                    sign_status=sign_status,
                )
                pdf.savefig(fig, dpi=200)
                done += 1
                if progress:
                    progress(done, total)
    return out.getvalue()


def sign_sheets_now(s: Session, *, town: str | None = None, sign_status: str | None = None) -> bytes:
    """``sign_sheets`` drawn in the caller's request: only up to ``SYNC_PAGES`` pages (a few seconds);
    more raise ``TooLarge`` pointing to the background job (``pipeline.jobs.queue_sign_sheets``)."""
    pages = sheet_pages(s, town=town, sign_status=sign_status)
    if pages > SYNC_PAGES:
        query = "&".join(f"{k}={v}" for k, v in (("town", town), ("status", sign_status)) if v)
        raise TooLarge(
            f"these sign sheets are {pages} pages: more than {SYNC_PAGES} are drawn in the background",
            fix=f"POST /placenames/signs/jobs{'?' + query if query else ''}, follow its progress at the "
            "job's URL and download the PDF from it (or choose one 镇街 and a status)",
            details={"pages": pages, "sync_pages": SYNC_PAGES},
        )
    return sign_sheets(s, town=town, sign_status=sign_status)


def sheet_pages(s: Session, *, town: str | None = None, sign_status: str | None = None) -> int:
    """How many pages ``sign_sheets`` draws for this filter (without drawing them)."""
    plan = placenames.sign_plan(s, town=town, sign_status=sign_status)
    return sum(_pages(rows) for _name, rows in _towns(plan, town=town))


def _towns(plan: pd.DataFrame, *, town: str | None) -> list[tuple[str, pd.DataFrame]]:
    """The plan's rows per 镇街 (names in no town last, under ``NO_TOWN``); one empty section when none."""
    plan = plan.reset_index()
    plan["town"] = plan["town"].fillna(NO_TOWN)
    towns = sorted(plan.groupby("town", sort=False), key=lambda g: (g[0] == NO_TOWN, g[0]))
    return [(str(name), rows) for name, rows in towns] or [(town or "全区", plan)]


def _pages(rows: pd.DataFrame) -> int:
    return max(1, int(np.ceil(len(rows) / ROWS_PER_PAGE)))


def _base_layers(s: Session) -> dict[str, gpd.GeoDataFrame]:
    """Town outlines and streets in the district's metric (UTM) projection."""
    areas = queries.areas(s, levels=("district", "town"))
    district = to_metric(areas[areas.level == "district"])
    crs = district.crs
    edges = queries.edges(s)
    return {
        "district": district,
        "towns": areas[areas.level == "town"].to_crs(crs),
        "roads": edges[["highway", "geometry"]].to_crs(crs),
    }


def _points(rows: pd.DataFrame, crs) -> np.ndarray:
    pts = gpd.GeoSeries(gpd.points_from_xy(rows["lon"], rows["lat"]), crs=4326).to_crs(crs)
    return shapely.get_coordinates(pts.to_numpy())


def _sheet(
    chunk: pd.DataFrame,
    town_rows: pd.DataFrame,
    view: dict,
    *,
    town: str,
    district: str,
    page: int,
    pages: int,
    first: int,
    font,
    demo: bool,
    sign_status: str | None,
):
    # late: matplotlib loads only when sheets are drawn
    from matplotlib.backends.backend_pdf import FigureCanvasPdf
    from matplotlib.figure import Figure

    fig = Figure(figsize=A4_PORTRAIT)
    FigureCanvasPdf(fig)
    title = f"{district} {town} 地名标志工作单" + (f"（{sign_status}）" if sign_status else "")
    fig.text(0.04, 0.965, title, fontproperties=_sized(font, 15), va="center")
    counts = "，".join(f"{k} {v} 处" for k, v in town_rows["sign_status"].value_counts().items()) or "无"
    fig.text(
        0.04,
        0.94,
        f"本镇街共 {len(town_rows)} 处：{counts}。第 {page}/{pages} 页。标志文字依 GB 17733-2008，"
        "拼音依《中国地名汉语拼音字母拼写规则》。",
        fontproperties=_sized(font, 8),
        va="center",
        color="#333333",
    )
    if demo:
        fig.text(
            0.96, 0.965, DEMO_LABEL, fontproperties=_sized(font, 12), color="#c00000", ha="right", va="center"
        )
    ax = fig.add_axes((0.2, 0.60, 0.6, 0.32))
    _town_map(ax, view, chunk=chunk, first=first, font=font)
    _table(fig, chunk, first=first, font=font)
    fig.text(
        0.04,
        0.02,
        f"民情地图 · 地名标志工作单 · 生成于 {spreadsheets.now_beijing()}（北京时间）· 位置为 WGS84 经纬度",
        fontproperties=_sized(font, 7),
        color="#555555",
    )
    return fig


def _town_view(base: dict, town: str, rows: pd.DataFrame) -> dict:
    """What every page of one town's map shows: its extent (the town, else its signs), the streets
    in it, the town outlines, the town's own outline and all its signs (metres)."""
    crs = base["district"].crs
    towns = base["towns"]
    outline = towns[towns["name"] == town]
    everywhere = _points(rows, crs)
    if len(outline):
        minx, miny, maxx, maxy = outline.total_bounds
    elif len(everywhere):
        minx, miny = everywhere.min(axis=0)
        maxx, maxy = everywhere.max(axis=0)
    else:
        minx, miny, maxx, maxy = base["district"].total_bounds
    pad = 0.05 * max(maxx - minx, maxy - miny, 200.0)
    box = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    roads = base["roads"]
    return {
        "extent": (minx, miny, maxx, maxy, pad),
        "roads": roads[roads.intersects(box)],
        "towns": towns,
        "outline": outline,
        "signs": everywhere,
        "crs": crs,
    }


def _town_map(ax, view: dict, *, chunk: pd.DataFrame, first: int, font) -> None:
    """The town with streets, its outline, its signs (grey) and this page's signs numbered (red)."""
    minx, miny, maxx, maxy, pad = view["extent"]
    _roads(ax, view["roads"])
    for artist in ax.collections:  # many street segments: an image, the words stay text
        artist.set_rasterized(True)
    _outlines(ax, view["towns"].geometry, color="#9a9a9a", width=0.5)
    if len(view["outline"]):
        _outlines(ax, view["outline"].geometry, color="#333333", width=1.2)
    everywhere, here = view["signs"], _points(chunk, view["crs"])
    if len(everywhere):
        ax.scatter(everywhere[:, 0], everywhere[:, 1], s=4, color="#b0b0b0", zorder=5)
    if len(here):
        ax.scatter(here[:, 0], here[:, 1], s=14, color="#c00000", edgecolor="white", linewidth=0.4, zorder=6)
        for i, (x, y) in enumerate(here):
            ax.annotate(
                str(first + i),
                (x, y),
                xytext=(2, 2),
                textcoords="offset points",
                fontproperties=_sized(font, 6),
                color="#c00000",
                zorder=7,
            )
    ax.set_xlim(minx - pad, maxx + pad)
    ax.set_ylim(miny - pad, maxy + pad)
    ax.set_aspect("equal")
    ax.set_axis_off()
    _scale_bar(ax, minx, miny - pad / 2, maxx - minx, font)
    _north_arrow(ax, font)


def _fit(text: str, font, *, size: float, width: float, fig) -> float:
    """The font size (at most ``size``) at which ``text`` fits ``width`` (figure fraction) on one line."""
    units = spreadsheets.text_width(text) or 1.0
    # a text-width unit (half a CJK character) is about 0.55 of the size in points
    chars_width = units * 0.55 * size / 72 / fig.get_figwidth()
    return size if chars_width <= width else max(4.0, size * width / chars_width)


def _table(fig, chunk: pd.DataFrame, *, first: int, font) -> None:
    top, row_h = 0.575, 0.029
    for heading, x in COLUMNS:
        fig.text(x, top, heading, fontproperties=_sized(font, 8.5), color="#0b3d91", va="top")
    fig.add_artist(_rule(fig, top - 0.016))
    widths = [b[1] - a[1] - 0.006 for a, b in zip(COLUMNS, [*COLUMNS[1:], ("", 0.99)], strict=True)]
    y = top - 0.022
    for i, r in enumerate(chunk.itertuples()):
        cells = [
            str(first + i),
            r.sign_chinese,
            r.sign_pinyin or "",
            f"{r.sign_type}",
            r.size_class,
            f"{r.lon:.5f}, {r.lat:.5f}",
            r.sign_status,
        ]
        for j, (text, (_h, x)) in enumerate(zip(cells, COLUMNS, strict=True)):
            size = _fit(text, font, size=8.5 if j in (1, 2) else 7.5, width=widths[j], fig=fig)
            colour = STATUS_COLOUR.get(text, "#222222") if j == len(COLUMNS) - 1 else "#222222"
            fig.text(x, y, text, fontproperties=_sized(font, size), color=colour, va="top")
        fig.text(
            COLUMNS[1][1],
            y - 0.0125,
            f"{r.category_zh} · {r.name}",
            fontproperties=_sized(font, 6),
            color="#666666",
            va="top",
        )
        y -= row_h
        fig.add_artist(_rule(fig, y + 0.006, colour="#e0e0e0"))


def _rule(fig, y: float, *, colour: str = "#0b3d91"):
    # late: matplotlib loads only when sheets are drawn
    from matplotlib.lines import Line2D

    return Line2D([0.04, 0.96], [y, y], transform=fig.transFigure, color=colour, linewidth=0.5)
