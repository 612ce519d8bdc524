"""``minqing names`` through typer's CliRunner on the sub-app."""

from __future__ import annotations

import openpyxl
import pandas as pd
from typer.testing import CliRunner

from api.cli.names import app
from geo.placenames.tables import DATA_DIR, load_tables, use_overrides

runner = CliRunner()


def test_pinyin():
    result = runner.invoke(app, ["pinyin", "人民路"])
    assert result.exit_code == 0
    assert result.output == "Renmin Lu\n"
    result = runner.invoke(app, ["pinyin", "人民路", "--sign"])
    assert result.output == "人民路\nRenmin Lu\n"
    result = runner.invoke(app, ["pinyin", "白石洲", "--category", "village"])
    assert result.output == "Baishizhou\n"


def test_pinyin_unknown_category_fails_cleanly():
    result = runner.invoke(app, ["pinyin", "人民路", "--category", "avenue"])
    assert result.exit_code == 2
    assert "categories.csv" in result.output


def test_check_writes_xlsx(tmp_path):
    source = tmp_path / "names.csv"
    pd.DataFrame({"名称": ["幸福大道", "幸福巷", "曼哈顿花园"], "类别": ["lane", "lane", "estate"]}).to_csv(
        source, index=False
    )
    out = tmp_path / "report.xlsx"
    result = runner.invoke(app, ["check", str(source), "--xlsx", str(out)])
    assert result.exit_code == 0, result.output
    assert "generic_oversize" in result.output and "foreign" in result.output
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["检查结果", "汇总"]
    assert book["检查结果"].max_row == 3


def test_check_missing_file_fails_cleanly(tmp_path):
    result = runner.invoke(app, ["check", str(tmp_path / "absent.csv")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_search(tmp_path):
    source = tmp_path / "names.csv"
    pd.DataFrame({"id": [1, 2], "name": ["人民路", "解放路"]}).to_csv(source, index=False)
    result = runner.invoke(app, ["search", str(source), "rml"])
    assert result.exit_code == 0
    assert "人民路" in result.output and "解放路" not in result.output
    assert "no match" in runner.invoke(app, ["search", str(source), "xyz"]).output


def test_check_divisions_on_a_small_copy(tmp_path):
    pd.DataFrame(
        {
            "code": ["1", "2", "3", "4"],
            "name": ["和平村委会", "和平村村民委员会", "鹤平村委会", "石牌村委会"],
            "town_name": ["甲镇"] * 4,
            "county_code": ["9"] * 4,
            "county_name": ["某县"] * 4,
            "city_name": ["某市"] * 4,
        }
    ).to_csv(tmp_path / "guangdong_villages_communities.csv", index=False)
    pd.DataFrame(
        {
            "code": ["10", "20", "30"],
            "name": ["三角镇", "三角镇", "三脚镇"],
            "county_name": ["甲县", "乙县", "丙县"],
            "city_name": ["某市"] * 3,
        }
    ).to_csv(tmp_path / "guangdong_towns_streets.csv", index=False)
    out = tmp_path / "divisions.xlsx"
    result = runner.invoke(app, ["check-divisions", "--data-dir", str(tmp_path), "--xlsx", str(out)])
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(out)
    summary = [[c.value for c in row] for row in book["汇总"].iter_rows(min_row=2)]
    assert [row[2:] for row in summary] == [["重名", 1, 2], ["同音", 1, 3], ["重名", 1, 2], ["同音", 1, 3]]


def test_check_divisions_missing_data_fails_cleanly(tmp_path):
    result = runner.invoke(app, ["check-divisions", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "--data-dir" in result.output


def test_check_accepts_chinese_category_names(tmp_path):
    source = tmp_path / "names.csv"
    pd.DataFrame(
        {"名称": ["幸福大道", "幸福路", "曼哈顿花园"], "类别": ["巷、弄、胡同", "道路（路、街）", "住宅区"]}
    ).to_csv(source, index=False)
    out = tmp_path / "report.xlsx"
    result = runner.invoke(app, ["check", str(source), "--xlsx", str(out)])
    assert result.exit_code == 0, result.output
    rows = [[c.value for c in row] for row in openpyxl.load_workbook(out)["检查结果"].iter_rows(min_row=2)]
    reasons = pd.read_csv(DATA_DIR / "rules.csv").set_index("code")["reason_zh"]
    # Chinese category names and problems in the report, not codes
    assert {(r[1], r[2], r[4]) for r in rows} == {
        ("幸福大道", "巷、弄、胡同", reasons["generic_oversize"]),
        ("曼哈顿花园", "住宅区（小区）", reasons["foreign"]),
    }


def test_check_unknown_category_names_the_choices(tmp_path):
    source = tmp_path / "names.csv"
    pd.DataFrame({"名称": ["幸福路"], "类别": ["大马路"]}).to_csv(source, index=False)
    result = runner.invoke(app, ["check", str(source)])
    assert result.exit_code == 2 and "道路（路、街）" in result.output and "Traceback" not in result.output


def test_edited_tables_setting_reaches_every_command(tmp_path, monkeypatch):
    (tmp_path / "polyphones.csv").write_text("word,reading,note\n石牌,shi bai,local\n", encoding="utf-8")
    monkeypatch.setenv("MINQING_PLACENAME_TABLES", str(tmp_path))
    try:
        assert runner.invoke(app, ["pinyin", "石牌村", "--category", "village"]).output == "Shibai Cun\n"
        (tmp_path / "polyphone.csv").write_text("word,reading,note\n", encoding="utf-8")  # a typo in a name
        load_tables.cache_clear()  # a running process reads an edited folder again after this (or a restart)
        bad = runner.invoke(app, ["pinyin", "人民路"])
        assert bad.exit_code == 2 and "polyphone.csv" in bad.output and "Traceback" not in bad.output
    finally:
        monkeypatch.delenv("MINQING_PLACENAME_TABLES")
        use_overrides(None)
    assert runner.invoke(app, ["pinyin", "石牌村", "--category", "village"]).output == "Shipai Cun\n"


def test_check_divisions_counts_local_characters_and_surname_readings(tmp_path):
    names = [
        "甽头村委会",
        "北滘社区居委会",
        "翟家村委会",
        "仇家村委会",
        "石屋村委会",
        "𣒍坑村委会",
        "濛浬村委会",
        "和平村委会",
    ]
    pd.DataFrame(
        {
            "code": [str(i) for i in range(len(names))],
            "name": names,
            "town_name": ["甲镇"] * len(names),
            "county_code": ["9"] * len(names),
            "county_name": ["某县"] * len(names),
            "city_name": ["某市"] * len(names),
        }
    ).to_csv(tmp_path / "guangdong_villages_communities.csv", index=False)
    pd.DataFrame({"code": ["10"], "name": ["麻涌镇"], "county_name": ["甲县"], "city_name": ["某市"]}).to_csv(
        tmp_path / "guangdong_towns_streets.csv", index=False
    )
    result = runner.invoke(app, ["check-divisions", "--data-dir", str(tmp_path)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    lines = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in result.output.splitlines()
        if line.count("│") >= 4
    }
    # by hand: 甽 (甽头), 滘 (北滘), 涌 (麻涌) are regional; 翟 zhai and 仇 qiu change, 石 shi does not;
    # 麻涌 is a special reading; 𣒍 and 濛浬 (浬) stay rare, 濛 is a traditional form
    assert lines["使用岭南地名用字（不再标记为生僻字）"] == "3"
    assert lines["适用姓氏读音"] == "2"
    assert lines["含特殊读音地名"] == "2"  # 北滘, 麻涌
    assert lines["仍标记：使用生僻字"] == "2"
    assert lines["仍标记：使用繁体字或异体字"] == "1"
