"""The shared spreadsheet writer: formula injection neutralised in XLSX and CSV, Chinese widths,
Beijing time.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pandas as pd
import pytest
from openpyxl import load_workbook

from pipeline import spreadsheets as sheets

ATTACKS = ['=HYPERLINK("http://evil.example","点我")', "+1+1", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1"]
HARMLESS = ["澄湾区", "a=b", "1-2", "", "人民路 -", " =1"]


def _values(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize("value", ATTACKS)
def test_xlsx_keeps_a_formula_looking_text_as_text(value):
    frame = pd.DataFrame({"名称": [value], "人口": [-5]})
    book = load_workbook(io.BytesIO(sheets.workbook_bytes({"表": frame})))
    cell = book["表"]["A2"]
    # XML reads a carriage return back as a line feed
    assert cell.data_type == "s" and cell.value == value.replace("\r", "\n") and cell.quotePrefix
    number = book["表"]["B2"]
    assert number.data_type == "n" and number.value == -5  # numbers are not text: left alone


def test_xlsx_turns_any_formula_left_in_a_workbook_into_text():
    wb = sheets.new_workbook()
    ws = wb.create_sheet("手写")
    ws["A1"] = "=1+1"  # written around put(): openpyxl makes it a formula
    assert ws["A1"].data_type == "f"
    book = load_workbook(io.BytesIO(sheets.xlsx_bytes(wb)))
    assert book["手写"]["A1"].data_type == "s" and book["手写"]["A1"].value == "=1+1"


def test_harmless_text_is_unchanged():
    frame = pd.DataFrame({"x": HARMLESS})
    book = load_workbook(io.BytesIO(sheets.workbook_bytes({"表": frame})))
    assert [c.value or "" for (c,) in book["表"].iter_rows(min_row=2)] == HARMLESS
    assert not any(c.quotePrefix for (c,) in book["表"].iter_rows(min_row=2))
    assert [row[0] for row in _values(sheets.csv_bytes(frame))[1:]] == HARMLESS


def test_csv_prefixes_a_quote_to_formula_looking_text():
    frame = pd.DataFrame({"名称": ATTACKS, "人口": range(len(ATTACKS))})
    rows = _values(sheets.csv_bytes(frame))
    assert rows[0] == ["名称", "人口"]
    assert [r[0] for r in rows[1:]] == ["'" + v for v in ATTACKS]
    assert [r[1] for r in rows[1:]] == [str(i) for i in range(len(ATTACKS))]
    assert sheets.csv_bytes(frame).startswith("\ufeff".encode())  # BOM: Excel and WPS read UTF-8


def test_widths_fit_chinese_text():
    frame = pd.DataFrame(
        {"区域名称": ["澄湾区鹭田镇西关社区居民委员会"], "code": ["ABCDEFGHIJKLMNO"], "x": [1]}
    )
    ws = load_workbook(io.BytesIO(sheets.workbook_bytes({"表": frame})))["表"]
    chinese, latin = ws.column_dimensions["A"].width, ws.column_dimensions["B"].width
    assert chinese >= 2 * len("澄湾区鹭田镇西关社区居民委员会")  # 15 CJK characters need about 30 units
    assert len("ABCDEFGHIJKLMNO") <= latin < chinese
    assert ws.column_dimensions["C"].width == sheets.MIN_WIDTH
    long = pd.DataFrame({"说明": ["很长" * 200]})
    assert (
        load_workbook(io.BytesIO(sheets.workbook_bytes({"表": long})))["表"].column_dimensions["A"].width
        == sheets.MAX_WIDTH
    )


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2026, 12, 6, 16, 30, 59, 999999, tzinfo=UTC), "2026-12-07 00:30"),
        (
            datetime(2026, 12, 6, 16, 30, 59),
            "2026-12-07 00:30",
        ),  # naive: UTC, as PostgreSQL's now() is stored
        ("2026-06-30T23:59:00+00:00", "2026-07-01 07:59"),
        (pd.Timestamp("2026-01-01 08:00", tz="Asia/Tokyo"), "2026-01-01 07:00"),
        (None, ""),
    ],
)
def test_beijing_time_to_the_minute(when, expected):
    assert sheets.beijing_minute(when) == expected


def test_cells_are_plain_values():
    frame = pd.DataFrame(
        {
            "是否达标": [True, False],
            "列表": [["甲", "乙"], []],
            "缺": [None, float("nan")],
            "时间": [pd.Timestamp("2026-12-06 16:05:07", tz="UTC"), pd.NaT],
        }
    )
    ws = load_workbook(io.BytesIO(sheets.workbook_bytes({"表": frame})))["表"]
    assert [[c.value for c in row] for row in ws.iter_rows(min_row=2)] == [
        ["是", "甲、乙", None, "2026-12-07 00:05"],
        ["否", None, None, None],
    ]


def test_sheet_titles_are_valid_and_unique():
    wb = sheets.new_workbook()
    titles = [
        sheets.table_sheet(wb, "社区/村居:覆盖[率]?" * 3, pd.DataFrame({"a": [1]})).title for _ in range(3)
    ]
    assert len(set(titles)) == 3 and all(len(t) <= 31 and not set(t) & set("[]:*?/\\") for t in titles)


def test_notes_go_above_a_frozen_header():
    ws = load_workbook(io.BytesIO(sheets.xlsx_bytes(_with_notes())))["表"]
    assert [ws["A1"].value, ws["A2"].value, ws["A3"].value] == ["说明一", "=说明二", "区域"]
    assert ws["A2"].data_type == "s" and ws.freeze_panes == "A4"
    assert ws["B4"].number_format == "0.0%" and ws["B4"].value == 0.5


def _with_notes():
    wb = sheets.new_workbook()
    sheets.table_sheet(
        wb,
        "表",
        pd.DataFrame({"区域": ["甲"], "覆盖率": [0.5]}),
        percent=("覆盖率",),
        notes=["说明一", "=说明二"],
    )
    return wb
