"""``minqing data facility-types load``: check and load the facility-type table, nothing else
(own database).
"""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from layers.db import session

SHIPPED = "data/facility_types.csv"
OTHER_LAYERS = ("facilities", "water", "network_nodes", "areas")


@pytest.fixture(scope="module")
def ref_db(fresh_db):
    return fresh_db("reftypes")


@pytest.fixture
def cli(ref_db, monkeypatch):
    from layers.db import engine

    monkeypatch.setenv("DATABASE_URL", ref_db)
    engine.cache_clear()

    def invoke(*args: str):
        return CliRunner().invoke(app, ["data", "facility-types", "load", *args], terminal_width=200)

    yield invoke
    engine.cache_clear()


def _state(url) -> dict:
    with session(url) as s:
        types = pd.read_sql(text("SELECT * FROM facility_types ORDER BY code"), s.connection())
        others = {
            t: s.execute(
                text(f"SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM {t} x")
            ).scalar_one()
            for t in OTHER_LAYERS
        }
        versions = dict(s.execute(text("SELECT layer, version FROM data_versions")).all())
        audit = s.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    return {"types": types, "others": others, "versions": versions, "audit": audit}


def _edited(tmp_path, change) -> str:
    frame = pd.read_csv(SHIPPED, dtype=str, keep_default_na=False)
    frame = change(frame)
    path = tmp_path / "types.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_first_load_adds_everything_then_nothing_changes(cli, ref_db):
    r = cli()
    n = len(pd.read_csv(SHIPPED))
    assert r.exit_code == 0, r.output
    assert f"{n} rows — added {n}, changed 0, unchanged 0, removed 0" in r.output
    before = _state(ref_db)
    r = cli(SHIPPED)
    assert r.exit_code == 0 and f"added 0, changed 0, unchanged {n}, removed 0" in r.output
    after = _state(ref_db)
    assert after["audit"] == before["audit"] and after["versions"] == before["versions"]  # nothing written


def _with_layers(url):
    """A facility of the kindergarten type, a water body, a street node and an area: other layers."""
    with session(url, actor="fixture") as s:
        s.execute(
            text(
                "INSERT INTO areas (area_id, level, code, name, geom) VALUES (1, 'district', '441599000000', "
                "'测试区', ST_Multi(ST_MakeEnvelope(115.9, 21.6, 115.91, 21.61, 4326))) "
                "ON CONFLICT DO NOTHING"
            )
        )
        s.execute(
            text(
                "INSERT INTO facilities (facility_id, type_code, name, geom) VALUES "
                "(1, 'kindergarten', '海景幼儿园', ST_SetSRID(ST_MakePoint(115.905, 21.605), 4326)), "
                "(2, 'kindergarten', '东湖幼儿园', ST_SetSRID(ST_MakePoint(115.906, 21.605), 4326)) "
                "ON CONFLICT DO NOTHING"
            )
        )
        s.execute(
            text(
                "INSERT INTO water (water_id, kind, name, geom) VALUES (1, 'lake', '澄湖', "
                "ST_Multi(ST_MakeEnvelope(115.901, 21.601, 115.902, 21.602, 4326))) ON CONFLICT DO NOTHING"
            )
        )
        s.execute(
            text(
                "INSERT INTO network_nodes (node_id, geom) "
                "VALUES (1, ST_SetSRID(ST_MakePoint(115.9, 21.6), 4326)) ON CONFLICT DO NOTHING"
            )
        )


def test_changes_are_reported_audited_and_touch_no_other_layer(cli, ref_db, tmp_path):
    assert cli(SHIPPED).exit_code == 0
    _with_layers(ref_db)
    before = _state(ref_db)

    def change(f):
        f.loc[f["code"] == "kindergarten", "urban_max_distance_m"] = "400"
        f = f[f["code"] != "public_toilet"]
        extra = f[f["code"] == "nursery"].assign(code="test_pet_clinic", name_zh="宠物诊所", required="0")
        return pd.concat([f, extra])

    r = cli(_edited(tmp_path, change), "--actor", "editor")
    assert r.exit_code == 0, r.output
    assert "added 1, changed 1, unchanged" in r.output and "removed 1" in r.output
    assert "added: test_pet_clinic" in r.output and "removed: public_toilet" in r.output
    assert "changed kindergarten: urban_max_distance_m 300.0 → 400.0" in r.output
    after = _state(ref_db)
    types = after["types"].set_index("code")
    assert types.loc["kindergarten", "urban_max_distance_m"] == 400
    assert "test_pet_clinic" in types.index and "public_toilet" not in types.index
    assert after["others"] == before["others"]
    assert {k: v for k, v in after["versions"].items() if k != "facility_types"} == {
        k: v for k, v in before["versions"].items() if k != "facility_types"
    }
    assert after["versions"]["facility_types"] > before["versions"]["facility_types"]
    with session(ref_db) as s:
        rows = s.execute(
            text(
                "SELECT actor, action, object_id, before, after FROM audit_log "
                "WHERE layer = 'facility_types' AND audit_id > 0 ORDER BY audit_id DESC LIMIT 3"
            )
        ).all()
    assert sorted((a, act, o) for a, act, o, _, _ in rows) == [
        ("editor", "delete", "public_toilet"),
        ("editor", "insert", "test_pet_clinic"),
        ("editor", "update", "kindergarten"),
    ]
    update = next(r for r in rows if r[1] == "update")
    assert update[3]["urban_max_distance_m"] == 300 and update[4]["urban_max_distance_m"] == 400


def test_a_type_in_use_is_not_removed(cli, ref_db, tmp_path):
    assert cli(SHIPPED).exit_code == 0
    _with_layers(ref_db)
    before = _state(ref_db)
    r = cli(_edited(tmp_path, lambda f: f[~f["code"].isin(["kindergarten", "village_hall"])]))
    assert r.exit_code == 2
    assert "kindergarten (2 facilities)" in r.output and "nothing was changed" in r.output
    assert (
        "Keep those rows in the file" in r.output and "village_hall" not in r.output.split("facilities:")[1]
    )
    after = _state(ref_db)
    pd.testing.assert_frame_equal(after["types"], before["types"])
    assert after["audit"] == before["audit"]


def test_invalid_rows_are_listed_and_nothing_is_loaded(cli, ref_db, tmp_path):
    assert cli(SHIPPED).exit_code == 0
    before = _state(ref_db)

    def change(f):
        f.loc[f["code"] == "kindergarten", "urban_tier"] = "20min"
        f.loc[f["code"] == "nursery", "urban_profile"] = "helicopter"
        f.loc[f["code"] == "primary_school", "urban_max_distance_m"] = "about 500"
        f.loc[f["code"] == "health_station", "code"] = "Health Station"
        f.loc[f["code"] == "public_toilet", "required"] = "yes"
        return f

    r = cli(_edited(tmp_path, change))
    assert r.exit_code == 2
    for text_ in (
        "urban_tier '20min' is unknown",
        "urban_profile 'helicopter' is not a travel profile",
        "urban_max_distance_m='about 500' is not a positive number",
        "code 'Health Station' is not a type code",
        "required='yes' is not 0 or 1",
        "5 problem(s)",
        "nothing was loaded",
    ):
        assert text_ in r.output, text_
    assert "types.csv:" in r.output  # every problem names its line
    after = _state(ref_db)
    pd.testing.assert_frame_equal(after["types"], before["types"])


def test_dry_run_reports_and_writes_nothing(cli, ref_db, tmp_path):
    assert cli(SHIPPED).exit_code == 0
    before = _state(ref_db)
    path = _edited(tmp_path, lambda f: f.assign(source=f["source"] + " (edited)"))
    r = cli(path, "--dry-run")
    n = len(pd.read_csv(SHIPPED))
    assert r.exit_code == 0 and f"changed {n}" in r.output and "dry run: nothing written" in r.output
    after = _state(ref_db)
    pd.testing.assert_frame_equal(after["types"], before["types"])
    assert after["audit"] == before["audit"]
