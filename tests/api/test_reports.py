"""The XLSX report and the one-page PDF 摘要 of a run on the demo district, read back as an official
would get them: openpyxl for the workbook, poppler (pdfinfo, pdffonts, pdftotext, pdftoppm) for the PDF.

Figures are checked against the stored results summed here (area, composite and gap rows), and the
recommended sites against a siting job stored as the siting route stores it.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import text

from layers import jobs, queries, store
from layers.db import session
from pipeline import compliance as compliance_service
from pipeline import coverage as coverage_service
from pipeline import reports, scenarios, siting, summary

POPPLER = all(shutil.which(t) for t in ("pdftoppm", "pdftotext", "pdffonts", "pdfinfo"))
needs_poppler = pytest.mark.skipif(not POPPLER, reason="poppler-utils missing: scripts/system-deps.sh test")
STAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}（北京时间）")
LEVEL_SHEETS = ["区县", "镇街", "村居"]


@pytest.fixture(scope="module")
def run(demo_db):
    with session(demo_db) as s:
        return coverage_service.run_and_store(s, incremental=False)


@pytest.fixture(scope="module")
def sited(demo_db, run):
    """A finished siting job after the run, stored as ``POST /siting`` stores its result."""
    with session(demo_db, actor="pytest") as s:
        result = siting.site(s, type_code="elderly_daycare", k=2)
        out = siting.summary(result)
        out["maximal_covering"]["sites"] = siting.sites_geojson(result.maximal)
        job_id = jobs.create_job(
            s, kind="siting", params={"type_code": "elderly_daycare", "k": 2}, actor="pytest"
        )
        jobs.claim_job(s, job_id)
        jobs.finish_job(s, job_id, siting.nan_to_none(out))
    return result


@pytest.fixture(scope="module")
def scenario_id(demo_db, run):
    with session(demo_db, actor="pytest") as s:
        lon, lat = s.execute(
            text(
                "SELECT ST_X(geom), ST_Y(geom) FROM facilities WHERE status = 'open' "
                "ORDER BY facility_id LIMIT 1"
            )
        ).one()
        row = scenarios.create(
            s,
            name="报告测试情景",
            actor="pytest",
            changes=[
                {
                    "op": "add",
                    "type_code": "elderly_daycare",
                    "lon": lon + 0.003,
                    "lat": lat,
                    "name": "测试日照",
                }
            ],
        )
        scenarios.evaluate(s, row["scenario_id"], actor="pytest")
    return row["scenario_id"]


@pytest.fixture(scope="module")
def book(demo_db, run, sited, scenario_id):
    with session(demo_db) as s:
        return load_workbook(io.BytesIO(reports.workbook(s, run["run_id"], scenario_id=scenario_id)))


@pytest.fixture(scope="module")
def truth(demo_db, run):
    with session(demo_db) as s:
        return {
            "areas": store.area_results(s, run["run_id"], with_geometry=False),
            "composite": store.composite_results(s, run["run_id"]),
            "gaps": store.gap_results(s, run["run_id"], labelled=False),
            "types": queries.facility_types(s),
            "run": store.run(s, run["run_id"]),
            "compliance": compliance_service.compliance(s, run_id=run["run_id"]),
            "all_areas": queries.areas(s, with_geometry=False),
        }


def _summary_lines(book) -> list[str]:
    return [c.value for (c,) in book["摘要"].iter_rows(max_col=1) if c.value]


def _table(ws) -> pd.DataFrame:
    """A table sheet as a frame: the header is the first bold row (note lines above it)."""
    rows = list(ws.iter_rows())
    at = next(i for i, r in enumerate(rows) if r[0].font is not None and r[0].font.b)
    header = [c.value for c in rows[at]]
    return pd.DataFrame([[c.value for c in r] for r in rows[at + 1 :]], columns=header)


# --- the workbook ------------------------------------------------------------------------------------


def test_sheets_in_reading_order(book):
    assert book.sheetnames[0] == "摘要"
    assert book.sheetnames[1:4] == LEVEL_SHEETS
    assert {"达标目标", "覆盖缺口", "缺口地图", "情景对比"} <= set(book.sheetnames)
    assert len(book.sheetnames) <= 10  # was one sheet per facility type (36)


def test_no_codes_notes_or_paths_in_any_cell(book, truth):
    codes = set(truth["types"].code) | {
        "presence",
        "radius",
        "network",
        "composite",
        "urban",
        "rural",
        "both",
    }
    texts = [
        c.value for ws in book.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)
    ]
    assert texts
    assert not codes & set(texts)
    assert not [t for t in texts if "check" in t.lower() or "editable" in t or "planning target" in t]
    assert not [t for t in texts if re.search(r"/(work|usr|home|tmp|root)/|\.csv\b|[A-Za-z]:\\\\", t)]
    assert not [t for t in texts if "fictional" in t or "english" in t.lower()]
    assert not [
        c.coordinate for ws in book.worksheets for row in ws.iter_rows() for c in row if c.data_type == "f"
    ]


def test_widths_fit_the_chinese_headers_and_the_map_is_a_picture(book):
    from pipeline.spreadsheets import text_width

    for title in [*LEVEL_SHEETS, "达标目标", "覆盖缺口"]:
        ws = book[title]
        header = next(r for r in ws.iter_rows() if r[0].font is not None and r[0].font.b)
        for cell in header:
            assert ws.column_dimensions[cell.column_letter].width >= text_width(cell.value), (
                title,
                cell.value,
            )
    pictures = book["缺口地图"]._images
    assert len(pictures) == 1
    image = Image.open(io.BytesIO(pictures[0]._data()))
    assert image.width > 600 and np.asarray(image.convert("L")).std() > 20


def test_summary_states_time_targets_worst_communities_and_sites(book, truth, sited):
    lines = _summary_lines(book)
    joined = "\n".join(lines)
    finished = (truth["run"]["finished_at"] + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
    assert f"完成于 {finished}（北京时间）" in joined
    assert STAMP.search(lines[-1]) and "生成" in lines[-1]
    assert "演示数据(虚构)" in joined
    for t in truth["compliance"].targets.to_dict("records"):
        line = next(x for x in lines if x.startswith(t["label_zh"] + "："))
        assert t["measure_zh"] in line
        if t["value"] is not None and not pd.isna(t["value"]):
            assert f"{t['value']:.1%}" in line
            assert line.endswith(("，达标（目标 " + f"{t['threshold']:.0%}）。",)) == bool(t["pass"])
    # the communities with most required types short of standard come first
    types = truth["compliance"].types
    short = types[types.status != "达标"].groupby("area_id").size()
    worst = [x for x in lines if re.match(r"[1-5]\. ", x)]
    assert len(worst) == min(5, len(short))
    first = int(re.search(r"中 (\d+) 类未达标", worst[0]).group(1))
    assert first == short.max()
    assert all(re.search("未设置|步行可达不足|可达不足|容量不足", x) for x in worst)
    # the siting job after the run: its sites by place name
    places = [p for p in sited.maximal.sites.place if p]
    site_line = next(x for x in lines if x.startswith("老年人日间照料中心：建议新增"))
    assert places and all(p in site_line for p in places)


def test_level_tables_rank_areas_and_show_the_measures(book, truth):
    from pipeline.coverage import measure_name

    table = _table(book["村居"])
    areas = truth["areas"]
    community = areas[areas.level == "community"]
    assert len(table) == len(community)
    network = [c for c in table.columns if c.startswith(measure_name("network"))][0]
    assert measure_name("radius") in table.columns
    assert any(c.startswith(measure_name("presence")) for c in table.columns)
    names = dict(zip(truth["types"].code, truth["types"].name_zh, strict=True))
    expected = community.assign(
        type_name=community.type_code.map(names),
        share=community.population_covered / community.population.where(community.population > 0),
    )
    merged = table.merge(expected, left_on=["区域", "设施类型"], right_on=["name", "type_name"])
    assert len(merged) == len(table)
    assert np.allclose(merged[network].astype(float), merged.share.astype(float), equal_nan=True)
    # ranked by the composite share summed here over both circles, best first
    comp = truth["composite"]
    comp = comp[comp.level == "community"].groupby("name")[["population", "population_covered"]].sum()
    whole = (comp.population_covered / comp.population).reindex(table["区域"]).to_numpy()
    order = pd.DataFrame({"rank": table["排名"].to_numpy(), "whole": whole}).drop_duplicates("rank")
    assert (np.diff(order.sort_values("rank").whole.dropna().to_numpy()) <= 1e-12).all()
    assert set(table["状态"].dropna()) <= {"未设置", "步行可达不足", "可达不足", "容量不足", "达标"}
    towns = _table(book["镇街"])
    assert set(towns["区域"]) == set(truth["all_areas"].query("level == 'town'").name)


def test_gap_sheet_lists_the_largest_with_places_and_counts_the_rest(book, truth):
    table = _table(book["覆盖缺口"])
    gaps = truth["gaps"]
    names = dict(zip(truth["types"].code, truth["types"].name_zh, strict=True))
    assert len(table) < len(gaps)  # no longer one row per gap
    for code, part in gaps.groupby("type_code"):
        rows = table[table["设施类型"] == names[code]]
        listed = rows[rows["排名"].notna()]
        assert list(listed["人口"]) == sorted(part.population, reverse=True)[:10]
        assert listed["位置"].map(bool).all()
        rest = rows[rows["排名"].isna()]
        if len(part) > 10:
            assert rest["位置"].iloc[0] == f"其余 {len(part) - 10:,} 处较小的缺口（合计）"
            assert listed["人口"].sum() + rest["人口"].iloc[0] == part.population.sum()
        else:
            assert rest.empty


# --- the PDF ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdf_file(demo_db, run, sited, tmp_path_factory):
    with session(demo_db) as s:
        content = reports.pdf(s, run["run_id"])
    path = tmp_path_factory.mktemp("pdf") / "summary.pdf"
    path.write_bytes(content)
    return path


def _tool(*args) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout


@needs_poppler
def test_pdf_is_one_a4_landscape_page_with_embedded_fonts(pdf_file):
    info = _tool("pdfinfo", str(pdf_file))
    assert re.search(r"Pages:\s+1\n", info)
    width, height = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info).groups())
    assert abs(width - 842) < 2 and abs(height - 595) < 2
    fonts = _tool("pdffonts", str(pdf_file)).splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts  # emb column
    assert all("Type 3" not in line for line in fonts)


@needs_poppler
def test_pdf_text_says_what_the_summary_says(pdf_file, demo_db, run):
    words = _tool("pdftotext", "-layout", str(pdf_file), "-")
    flat = re.sub(r"\s+", "", words)
    assert "摘要" in flat and "演示数据(虚构)" in flat and "数据日期" in flat
    assert "北" in flat and ("公里" in flat or "米" in flat)  # north arrow and scale bar
    assert "覆盖缺口" in flat and "现有设施" in flat  # legend
    assert "一、全区对照目标" in flat and "二、最需关注的社区" in flat and "三、建议新增设施选址" in flat
    assert "老年人日间照料中心：建议新增" in flat
    assert not re.search(r"/(work|usr|home|tmp)/|check|fictional", words)


@needs_poppler
def test_pdf_renders_to_a_page_with_a_map(pdf_file, tmp_path):
    subprocess.run(
        ["pdftoppm", "-r", "50", "-png", str(pdf_file), str(tmp_path / "page")], check=True, timeout=120
    )
    [png] = sorted(tmp_path.glob("page*.png"))
    image = Image.open(png)
    assert abs(image.width / image.height - 842 / 595) < 0.02
    pixels = np.asarray(image.convert("RGB")).astype(int)
    assert pixels.std() > 20
    left = pixels[:, : pixels.shape[1] // 2]
    reddish = (left[..., 0] > 180) & (left[..., 1] < 150) & (left[..., 2] < 120)
    assert reddish.mean() > 0.001  # gaps drawn on the map half


def test_cli_writes_the_pdf_and_refuses_a_scenario_with_it(demo_db, run, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from api.cli.plan import app

    monkeypatch.setenv("DATABASE_URL", demo_db)
    out = tmp_path / "摘要.pdf"
    r = CliRunner().invoke(app, ["report", "--pdf", "--out", str(out), "--run", str(run["run_id"])])
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(b"%PDF")
    r = CliRunner().invoke(app, ["report", "--pdf", "--scenario", "1", "--out", str(out)])
    assert r.exit_code == 2 and "--scenario" in r.output


def test_site_sentence_without_siting():
    assert summary.site_sentences([])[0].startswith("本次运行之后尚未计算选址")
