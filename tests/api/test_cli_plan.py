"""``minqing plan`` on the demo district: help, scenarios, siting, compliance, report, export, gap map."""

from __future__ import annotations

import json

import geopandas as gpd
import pyogrio
import pytest
import shapely
from openpyxl import load_workbook
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from layers.db import session
from pipeline import coverage as coverage_service


@pytest.fixture(scope="module")
def cli(demo_db, monkeypatch_module):
    monkeypatch_module.setenv("DATABASE_URL", demo_db)
    with session(demo_db) as s:
        coverage_service.run_and_store(s, incremental=False)
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(app, ["plan", *args])
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_help_lists_every_tool():
    out = CliRunner().invoke(app, ["plan", "--help"]).output
    for command in ("scenario", "site", "compliance", "report", "export", "gap-map"):
        assert command in out
    assert "--candidates" in CliRunner().invoke(app, ["plan", "site", "--help"]).output


def test_scenario_create_show_list(cli, demo_db):
    with session(demo_db) as s:
        fid = s.execute(
            text(
                "SELECT facility_id FROM facilities WHERE type_code = 'kindergarten' AND status = 'open' "
                "ORDER BY facility_id LIMIT 1"
            )
        ).scalar_one()
    out = cli("scenario", "create", "--name", "关一所幼儿园", "--close", str(fid), "--evaluate")
    assert "saved scenario" in out and "幼儿园" in out
    scenario_id = int(out.split("saved scenario ")[1].split(":")[0])
    shown = json.loads(cli("scenario", "show", str(scenario_id), "--format", "json"))
    assert shown["changes"] == [{"op": "close", "facility_id": fid}]
    district = shown["result"]["summary"][0]
    assert district["population_gained"] == 0 and district["population_lost"] > 0
    assert "关一所幼儿园" in cli("scenario", "list")


def test_site_prints_json_and_writes_geojson(cli, tmp_path):
    out = tmp_path / "sites.geojson"
    summary = json.loads(
        cli(
            "site",
            "--type",
            "elderly_daycare",
            "--k",
            "2",
            "--target",
            "0.15",
            "--format",
            "json",
            "--out",
            str(out),
        )
    )
    mclp, lscp = summary["maximal_covering"], summary["set_covering"]
    assert len(mclp["sites"]) == 2 and mclp["gained"] > 0 and mclp["bound"] >= mclp["gained"]
    assert lscp["feasible"] and lscp["share_after"] >= 0.15
    sites = gpd.read_file(out)
    assert (
        len(sites) == 2 + lscp["sites_needed"] and (sites.geom_type.isin(["Polygon", "MultiPolygon"])).all()
    )


def test_site_from_a_parcel_file(cli, tmp_path, demo_db):
    with session(demo_db) as s:
        x, y = s.execute(
            text(
                "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM coverage_gaps "
                "WHERE type_code = 'kindergarten' ORDER BY run_id DESC, rank LIMIT 1"
            )
        ).one()
    parcel = shapely.box(x - 0.001, y - 0.001, x + 0.001, y + 0.001)
    path = tmp_path / "parcels.geojson"
    gpd.GeoDataFrame({"name": ["公有地块甲"]}, geometry=[parcel], crs=4326).to_file(path, driver="GeoJSON")
    summary = json.loads(
        cli("site", "--type", "kindergarten", "--k", "1", "--candidates", str(path), "--format", "json")
    )
    assert summary["candidates"]["source"] == "parcels"
    site = summary["maximal_covering"]["sites"][0]
    assert (
        site["name"] == "公有地块甲"
        and shapely.distance(parcel, shapely.Point(site["lon"], site["lat"])) < 1e-9
    )


def test_compliance_report_export_and_map(cli, tmp_path):
    data = json.loads(cli("compliance", "--format", "json", "--min-share", "0.6"))
    assert data["min_share"] == 0.6 and len(data["communities"]) > 10
    assert "合计" in cli("compliance")
    cli("report", "--out", str(tmp_path / "r.xlsx"))
    assert load_workbook(tmp_path / "r.xlsx", read_only=True).sheetnames[:4] == [
        "摘要",
        "区县",
        "镇街",
        "村居",
    ]
    cli("export", "--format", "gpkg", "--out", str(tmp_path / "gis"), "--level", "community")
    names = sorted(p.name for p in (tmp_path / "gis").iterdir())
    assert len(names) == 2 and all(n.endswith(".gpkg") for n in names)
    areas = pyogrio.read_dataframe(tmp_path / "gis" / next(n for n in names if n.startswith("areas")))
    assert len(areas) > 10 and "elderly_daycare__share" in areas.columns
    cli("gap-map", "--type", "kindergarten", "--out", str(tmp_path / "g.png"), "--dpi", "60")
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"


def test_site_in_existing_buildings_and_save_the_result_as_a_scenario(cli):
    summary = json.loads(
        cli(
            "site",
            "--type",
            "kindergarten",
            "--k",
            "2",
            "--candidates",
            "facilities",
            "--save-scenario",
            "两所新幼儿园",
            "--format",
            "json",
        )
    )
    assert summary["candidates"]["source"] == "facilities" and summary["users"]["label"] == "适龄儿童"
    sites = summary["maximal_covering"]["sites"]
    assert sites and all(s["name"].startswith("与") and s["name"].endswith("同址") for s in sites)
    assert all(s["users_served"] <= s["capacity_users"] + 1e-6 and s["place"] for s in sites)
    shown = json.loads(cli("scenario", "show", str(summary["scenario_id"]), "--format", "json"))
    assert shown["name"] == "两所新幼儿园"
    assert [(c["op"], c["type_code"], c["lon"], c["lat"]) for c in shown["changes"]] == [
        ("add", "kindergarten", pytest.approx(s["lon"]), pytest.approx(s["lat"])) for s in sites
    ]
    assert all(
        c["name"] == f"拟建幼儿园（{s['place']}）" and c["capacity"] == s["capacity"]
        for c, s in zip(shown["changes"], sites, strict=True)
    )
    text_out = cli("site", "--type", "kindergarten", "--k", "1", "--candidates", "facilities")
    assert "适龄儿童" in text_out and "容量" in text_out and "同址" in text_out
