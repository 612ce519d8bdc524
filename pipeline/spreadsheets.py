"""Every spreadsheet the service hands out (XLSX and CSV) is written here, safely and readably.

- Formula injection (CWE-1236): text that begins with ``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return is read as a formula by Excel and WPS. In XLSX such text is stored as text with
  Excel's quote prefix (the cell shows the text as it is and never evaluates); in CSV it gets a
  leading single quote, the OWASP advice. ``xlsx_bytes`` turns any formula cell left in a workbook
  into text as well, so a sheet built cell by cell is safe too.
- Column widths fit Chinese text: a CJK character counts as two Latin ones.
- Times are Beijing time (UTC+8, no daylight saving) to the minute: ``2026-12-07 08:50``.

Workbooks are built in memory and returned as bytes: the API streams them, the CLI writes them.
"""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""A text cell starting with one of these would be evaluated by a spreadsheet program."""
BEIJING = timezone(timedelta(hours=8), "北京时间")
TIME_FORMAT = "%Y-%m-%d %H:%M"
MIN_WIDTH, MAX_WIDTH = 8.0, 60.0
"""Column widths in Excel's units (about one Latin digit each)."""
SHEET_FORBIDDEN = "[]:*?/\\"


# --- values -----------------------------------------------------------------------------------------


def risky(value: Any) -> bool:
    """Whether ``value`` is text a spreadsheet program would read as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


def beijing_minute(when: datetime | pd.Timestamp | str | None) -> str:
    """``when`` in Beijing time to the minute (``2026-12-07 08:50``);
    a naive time counts as UTC; None → ''.
    """
    if when is None or (isinstance(when, float) and math.isnan(when)) or when is pd.NaT:
        return ""
    stamp = pd.Timestamp(when)
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp
    return stamp.tz_convert(BEIJING).strftime(TIME_FORMAT)


def now_beijing() -> str:
    """The current Beijing time to the minute."""
    return beijing_minute(datetime.now(UTC))


def plain(value: Any) -> Any:
    """A cell value: numpy scalars as Python, booleans as 是/否, lists joined with 、, times in
    Beijing time to the minute, missing values as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list | tuple):
        return "、".join(map(str, value))
    if isinstance(value, datetime | pd.Timestamp):
        return beijing_minute(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def text_width(value: Any) -> float:
    """Display width of ``value`` in Excel's column units: CJK (wide) characters count two."""
    text = "" if value is None else str(value)
    return sum(2.0 if unicodedata.east_asian_width(ch) in "WF" else 1.0 for ch in text)


# --- XLSX -------------------------------------------------------------------------------------------


def new_workbook() -> Workbook:
    """An empty workbook (its default sheet removed): add sheets with ``table_sheet``/``text_sheet``."""
    wb = Workbook()
    wb.remove(wb.active)
    return wb


def put(ws: Worksheet, row: int, column: int, value: Any) -> Cell:
    """Write one cell safely: ``plain(value)``, text that could be a formula kept as text."""
    cell = ws.cell(row=row, column=column)
    value = plain(value)
    cell.value = value
    if risky(value):
        _as_text(cell)
    return cell


def sheet_title(wb: Workbook, name: str) -> str:
    """A valid sheet title not yet in ``wb`` (≤ 31 characters, none of ``[]:*?/\\``)."""
    clean = "".join("_" if ch in SHEET_FORBIDDEN else ch for ch in str(name))[:31] or "表"
    title, n = clean, 2
    while title in wb.sheetnames:
        title = f"{clean[:28]}_{n}"
        n += 1
    return title


def table_sheet(
    wb: Workbook,
    title: str,
    frame: pd.DataFrame,
    *,
    headers: Mapping[str, str] | None = None,
    percent: Iterable[str] = (),
    notes: Iterable[str] = (),
) -> Worksheet:
    """A sheet holding ``frame``: optional note lines above, a bold frozen header row, widths fitted.

    Parameters
    ----------
    title
        Sheet title (made valid and unique with ``sheet_title``).
    headers
        Column name → header text; other columns keep their names.
    percent
        Columns (by header text after renaming) shown as percentages (0.0%).
    notes
        Lines written above the table (e.g. what each measure means), one per row.
    """
    ws = wb.create_sheet(sheet_title(wb, title))
    row = 0
    for row, line in enumerate(notes, start=1):
        put(ws, row, 1, line)
    header_row = row + 1
    shown = frame.rename(columns=dict(headers or {}))
    for j, name in enumerate(shown.columns, start=1):
        put(ws, header_row, j, name).font = Font(bold=True)
    for i, values in enumerate(shown.itertuples(index=False, name=None), start=header_row + 1):
        for j, value in enumerate(values, start=1):
            put(ws, i, j, value)
    wanted = set(percent)
    for j, name in enumerate(shown.columns, start=1):
        if name in wanted:
            for (cell,) in ws.iter_rows(min_row=header_row + 1, min_col=j, max_col=j):
                cell.number_format = "0.0%"
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1).coordinate
    fit_columns(ws, skip_rows=header_row - 1)
    return ws


def text_sheet(
    wb: Workbook, title: str, lines: Iterable[str | tuple[str, bool]], *, width: float = 110
) -> Worksheet:
    """A sheet of sentences, one per row in column A (wrapped); ``(text, True)`` is a bold heading."""
    ws = wb.create_sheet(sheet_title(wb, title))
    for n, line in enumerate(lines, start=1):
        text, bold = line if isinstance(line, tuple) else (line, False)
        cell = put(ws, n, 1, text)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if bold:
            cell.font = Font(bold=True, size=13 if n == 1 else 11)
    ws.column_dimensions["A"].width = width
    return ws


def fit_columns(ws: Worksheet, *, skip_rows: int = 0, rows: int = 500) -> None:
    """Set each column's width to its longest value (header included) among the first ``rows`` rows
    after ``skip_rows`` (note lines), CJK counted double, within MIN_WIDTH..MAX_WIDTH."""
    widest: dict[str, float] = {}
    for line in ws.iter_rows(min_row=skip_rows + 1, max_row=min(ws.max_row, skip_rows + rows)):
        for cell in line:
            if cell.value is None:
                continue
            shown = (
                f"{cell.value:.1%}"
                if cell.number_format == "0.0%" and isinstance(cell.value, float)
                else cell.value
            )
            widest[cell.column_letter] = max(widest.get(cell.column_letter, 0.0), text_width(shown))
    for letter, width in widest.items():
        ws.column_dimensions[letter].width = min(MAX_WIDTH, max(MIN_WIDTH, width * 1.1 + 2))


def xlsx_bytes(wb: Workbook) -> bytes:
    """The workbook as XLSX bytes; any formula cell left in it is turned into text first."""
    for ws in wb.worksheets:
        for line in ws.iter_rows():
            for cell in line:
                if cell.data_type == "f" or risky(cell.value):
                    _as_text(cell)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def workbook_bytes(sheets: Mapping[str, pd.DataFrame], *, headers: Mapping[str, str] | None = None) -> bytes:
    """An XLSX workbook with one ``table_sheet`` per frame (sheet title → frame)."""
    wb = new_workbook()
    for title, frame in sheets.items():
        table_sheet(wb, title, frame, headers=headers)
    return xlsx_bytes(wb)


def _as_text(cell: Cell) -> None:
    """Keep the cell's text as text (Excel's quote prefix: shown as written, never evaluated)."""
    cell.data_type = "s"
    cell.quotePrefix = True


# --- CSV --------------------------------------------------------------------------------------------


def csv_cell(value: Any) -> Any:
    """A CSV value: text that could be a formula gets a leading single quote (OWASP)."""
    return "'" + value if risky(value) else value


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as CSV (UTF-8 with BOM, so Excel and WPS read the Chinese; CRLF lines), text cells
    neutralised, no index."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(csv_cell)
    out.columns = [csv_cell(str(c)) for c in out.columns]
    # CRLF (RFC 4180): a field holding a lone CR is then quoted too (with LF lines it was not)
    return out.to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")
