"""Dry runs write nothing and say what the import would do; the row limit; keys from sequences.

Against a real PostGIS. "Writes nothing" is measured by the database itself: the transaction's
own counters (``pg_stat_xact_user_tables``: rows inserted, updated, deleted — rolled-back
savepoints included) stay at zero, and no sequence moves. The dry-run report is compared with the
report of the real import of the same file from the same state.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from layers import ids
from layers.db import session
from layers.load import osm as osm_load
from layers.load.files import import_file
from layers.load.reference import read_facility_types, upsert_facility_types

FIXTURES = Path(__file__).parent / "fixtures"
BBOX = (113.299, 23.099, 113.309, 23.105)  # around tests/layers/fixtures/homes.osm (buildings 20, 21, 22)
X0, Y0, X1, Y1 = BBOX
XM, YM = (X0 + X1) / 2, (Y0 + Y1) / 2
LAYER_TABLES = (
    "areas",
    "facilities",
    "residences",
    "place_names",
    "place_name_history",
    "network_nodes",
    "network_edges",
    "audit_log",
    "divisions",
)


@pytest.fixture(scope="module")
def own_db(fresh_db):
    return fresh_db("import_dry_run")


def grid_frame(*, renamed: bool = False, fifth: bool = False) -> gpd.GeoDataFrame:
    """District → town → community → middle grid → small grids (quarters of BBOX; ``fifth``: the
    north-east quarter under a new code instead of the fourth)."""
    whole = shapely.box(*BBOX)
    rows = [
        ("900000000000", "测试区", "district", "", whole),
        ("900000001000", "测试镇", "town", "900000000000", whole),
        ("900000001001", "测试社区", "community", "900000001000", whole),
        ("90000000100101", "测试中网格", "grid_middle", "900000001001", whole),
    ]
    quads = [
        shapely.box(X0, Y0, XM, YM),
        shapely.box(XM, Y0, X1, YM),
        shapely.box(X0, YM, XM, Y1),
        shapely.box(XM, YM, X1, Y1),
    ]
    for i, quad in enumerate(quads, start=1):
        number = 5 if fifth and i == 4 else i
        name = f"网格{number}" + ("（新）" if renamed and i == 1 else "")
        rows.append((f"90000000100101{number:02d}", name, "grid_small", "90000000100101", quad))
    frame = pd.DataFrame(rows, columns=["编码", "名称", "层级", "上级编码", "geometry"])
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=4326)


def write_grids(path: Path, **options) -> Path:
    grid_frame(**options).to_file(path)
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8-sig")
    return path


def real(url: str, layer: str, path: Path, **options):
    with session(url, actor="pytest") as s:
        report = import_file(s, layer, path, **options)
    assert report.ok, report.problems
    return report


@pytest.fixture()
def db(own_db, tmp_path, monkeypatch):
    """Grids over BBOX (optional), the three OSM building estimates, facility types."""
    monkeypatch.setenv("DATABASE_URL", own_db)

    def make(*, grids: bool = True) -> str:
        with session(own_db) as s:
            s.execute(
                text(
                    "TRUNCATE coverage_area_rows, coverage_area_circle_rows, place_name_history, "
                    "place_names, facilities, visits, key_households, residences, "
                    "network_edges, network_nodes, audit_log"
                )
            )
            s.execute(text("UPDATE users SET area_id = NULL"))
            s.execute(text("DELETE FROM areas"))
            upsert_facility_types(s, read_facility_types())
        if grids:
            real(own_db, "grids", write_grids(tmp_path / "grids.geojson"), bbox=BBOX)
        with session(own_db, actor="pytest") as s:
            osm_load.import_osm(s, path=FIXTURES / "homes.osm", actor="pytest")
        return own_db

    return make


def digest(url: str) -> dict[str, str]:
    """Every row of every table an import may touch, and every sequence's position."""
    with session(url) as s:
        rows = {
            t: s.execute(
                text(
                    f"SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' "
                    f"ORDER BY x::text)), '') FROM {t} x"
                )
            ).scalar_one()
            for t in LAYER_TABLES
        }
        sequences = {
            t: s.execute(text(f"SELECT last_value || ':' || is_called FROM {ids.sequence(t)}")).scalar_one()
            for t in ids.KEYS
        }
    return {**rows, **{f"{t} sequence": v for t, v in sequences.items()}}


def writes_in(s) -> int:
    """Rows inserted, updated or deleted (rolled-back savepoints too) by this connection and not yet
    sent to the statistics: compare two readings in one transaction (nothing is sent during one)."""
    return int(
        s.execute(
            text("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_xact_user_tables")
        ).scalar_one()
    )


def outcome(report) -> tuple:
    """What a report says, except the dry-run flag and where the written count sits."""
    summary = {k: v for k, v in report.summary.items() if k not in ("would_write", "seconds")}
    return report.ok, report.rows, report.problems, report.warnings, json.dumps(summary, sort_keys=True)


def dry_then_real(url: str, layer: str, path: Path, **options):
    return compare(url, lambda s, dry_run: import_file(s, layer, path, dry_run=dry_run, **options))


def compare(url: str, run):
    """``run(session, dry_run)`` twice: the dry run writes nothing and reports what the import does."""
    before = digest(url)
    with session(url, actor="pytest") as s:
        start = writes_in(s)
        dry = run(s, True)
        dry_writes = writes_in(s) - start
    assert dry_writes == 0
    assert digest(url) == before
    with session(url, actor="pytest") as s:
        start = writes_in(s)
        done = run(s, False)
        real_writes = writes_in(s) - start
    assert real_writes >= done.written > 0  # the measure sees writes when there are some
    assert outcome(dry) == outcome(done)
    assert dry.summary["would_write"] == done.written
    return done


# ---------------------------------------------------------------------------------------------
# dry run = the real import's report, without a single write


@pytest.mark.parametrize("grids", [True, False])
def test_addresses_dry_run_reports_the_superseded_estimates_without_writing(db, tmp_path, grids):
    url = db(grids=grids)
    rows = [
        {
            "标准地址": "西街1号",
            "户数": 40,
            "人口": 100,
            "经度": 113.3001,
            "纬度": 23.1007,
        },  # 20 m from building 20
        {"标准地址": "北街2号", "户数": 5, "人口": 12, "经度": 113.3080, "纬度": 23.1040},  # north-east grid
        {"标准地址": "西外3号", "户数": 3, "人口": 7, "经度": 113.2985, "纬度": 23.1000},  # in no grid
        {
            "标准地址": "东街4号",
            "户数": 6,
            "人口": 15,
            "经度": 113.30645,
            "纬度": 23.1004,
        },  # 26 m from 22's wall
    ]
    report = dry_then_real(url, "addresses", write_csv(tmp_path / "一标三实.csv", rows))
    # by hand: building 20 lies within 30 m of 西街1号 and building 22's footprint within 30 m of 东街4号
    # (its point is 36 m away); with grids, building 21 shares 西街1号's small grid
    assert report.summary["estimates_removed"] == 3 if grids else 2
    with session(url) as s:
        left = set(s.execute(text("SELECT source FROM residences WHERE households_estimated")).scalars())
        outside = s.execute(text("SELECT count(*) FROM residences WHERE area_id IS NULL")).scalar_one()
    assert left == (set() if grids else {"osm:way/21"})
    assert outside == (1 if grids else 5)
    assert any(w["problem"].startswith(f"{outside} residences lie in no small grid") for w in report.warnings)


def test_addresses_dry_run_with_replace(db, tmp_path):
    url = db()
    path = write_csv(tmp_path / "a.csv", [{"户数": 4, "经度": 113.3001, "纬度": 23.1007}])
    report = dry_then_real(url, "addresses", path, replace=True)
    assert report.summary["estimates_removed"] == 0 and report.written == 1


def test_grids_dry_run_with_replace_renames_and_new_codes(db, tmp_path):
    url = db()
    report = dry_then_real(
        url, "grids", write_grids(tmp_path / "g.geojson", renamed=True, fifth=True), replace=True
    )
    assert report.written == 8
    with session(url) as s:
        codes = set(s.execute(text("SELECT code FROM areas")).scalars())
        parents = s.execute(
            text(
                "SELECT count(*) FROM areas c JOIN areas p ON c.parent_id = p.area_id "
                "WHERE c.level = 'grid_small' AND p.code = '90000000100101'"
            )
        ).scalar_one()
    assert "9000000010010105" in codes and "9000000010010104" not in codes and parents == 4


def test_facilities_and_place_names_dry_runs_with_stored_repeats(db, tmp_path):
    url = db()
    first = [{"名称": "东山幼儿园", "类型": "幼儿园", "经度": 113.3012, "纬度": 23.1003}]
    real(url, "facilities", write_csv(tmp_path / "f1.csv", first))
    # 490 m east
    again = first + [
        {"名称": "西山小学", "类型": "primary_school", "经度": 113.3050, "纬度": 23.1020},
        {"名称": "东山幼儿园", "类型": "幼儿园", "经度": 113.3060, "纬度": 23.1003},
    ]
    report = dry_then_real(url, "facilities", write_csv(tmp_path / "f2.csv", again))
    repeats = [w for w in report.warnings if "already stored" in w["problem"]]
    assert report.written == 3 and [w["row"] for w in repeats] == [2]  # within 100 m: the first row only
    names = [{"名称": "东山村", "类别": "village", "经度": 113.3015, "纬度": 23.0995}]
    real(url, "place_names", write_csv(tmp_path / "p1.csv", names))
    names.append({"名称": "西街巷", "类别": "lane", "经度": 113.3030, "纬度": 23.1010})
    report = dry_then_real(url, "place_names", write_csv(tmp_path / "p2.csv", names))
    assert report.written == 1 and "already registered" in report.warnings[0]["problem"]


@pytest.mark.parametrize("grids", [True, False])
def test_osm_dry_run_reports_the_estimates_it_would_skip_without_writing(db, tmp_path, grids):
    url = db(grids=grids)
    real(url, "addresses", write_csv(tmp_path / "a.csv", [{"户数": 40, "经度": 113.3001, "纬度": 23.1007}]))
    with session(url) as s:  # the estimates go: the next OSM import brings them back, then skips some
        s.execute(text("DELETE FROM residences WHERE households_estimated"))
    report = compare(
        url,
        lambda s, dry_run: osm_load.import_osm(
            s, path=FIXTURES / "homes.osm", actor="pytest", dry_run=dry_run
        ),
    )
    # by hand: building 20 stands 20 m from the address; with grids building 21 shares its grid
    assert report.summary["estimates_skipped"] == (2 if grids else 1)
    assert report.summary["residences"] == (1 if grids else 2)


def test_osm_dry_run_with_replace_all_and_names_already_registered(db, tmp_path):
    url = db()
    real(url, "addresses", write_csv(tmp_path / "a.csv", [{"户数": 40, "经度": 113.3001, "纬度": 23.1007}]))
    with session(url, actor="pytest") as s:
        s.execute(
            text(
                "INSERT INTO place_names (name, category, geom) VALUES ('西街', 'street', "
                "ST_SetSRID(ST_MakePoint(113.304, 23.1), 4326))"
            )
        )
    report = compare(
        url,
        lambda s, dry_run: osm_load.import_osm(
            s, path=FIXTURES / "homes.osm", actor="pytest", dry_run=dry_run, replace_all=True
        ),
    )
    assert report.summary["estimates_skipped"] == 0 and report.summary["residences"] == 3
    assert report.summary["names_already_registered"] == 1


def test_a_rejected_file_gives_the_same_report_dry_or_not(db, tmp_path):
    url = db()
    path = write_csv(
        tmp_path / "bad.csv",
        [
            {"名称": "甲", "类型": "spaceport", "经度": 113.30, "纬度": 23.10},
            {"名称": "乙", "类型": "幼儿园", "经度": 113.30, "纬度": 23.10},
        ],
    )
    before = digest(url)
    reports = []
    for dry_run in (True, False):
        with session(url, actor="pytest") as s:
            reports.append(import_file(s, "facilities", path, dry_run=dry_run))
    assert outcome(reports[0]) == outcome(reports[1]) and not reports[0].ok
    assert digest(url) == before


def test_a_name_whose_sign_text_would_not_fit_is_a_row_problem_dry_or_not(db, tmp_path):
    """The pinyin is computed after the rows are written: 50 × 庄 (zhuang) + 村 gives 304 letters, more
    than the column holds. Found by the row checks, so the dry run and the import say the same."""
    url = db()
    path = write_csv(
        tmp_path / "p.csv",
        [
            {"名称": "庄" * 50 + "村", "类别": "village", "经度": 113.301, "纬度": 23.10},
            {"名称": "东山村", "类别": "village", "经度": 113.302, "纬度": 23.10},
        ],
    )
    before = digest(url)
    reports = []
    for dry_run in (True, False):
        with session(url, actor="pytest") as s:
            reports.append(import_file(s, "place_names", path, dry_run=dry_run))
    assert outcome(reports[0]) == outcome(reports[1])
    [problem] = reports[0].problems
    assert problem["row"] == 2 and "would be 304 characters, more than 300" in problem["problem"]
    assert digest(url) == before


def test_the_caller_can_write_after_a_dry_run_in_the_same_transaction(db, tmp_path):
    url = db()
    path = write_csv(tmp_path / "f.csv", [{"名称": "丙", "类型": "幼儿园", "经度": 113.30, "纬度": 23.10}])
    with session(url, actor="pytest") as s:
        assert import_file(s, "facilities", path, dry_run=True).ok
        assert import_file(s, "facilities", path).written == 1  # the read-only part ended with the dry run


# ---------------------------------------------------------------------------------------------
# the row limit


def facility_csv(path: Path, n: int, *, tail: str = "") -> Path:
    lines = ["名称,类型,经度,纬度"] + [f"幼儿园{i},幼儿园,113.30{i % 10},23.10" for i in range(n)]
    path.write_text("\n".join(lines) + "\n" + tail, encoding="utf-8")
    return path


def test_a_file_over_the_row_limit_is_refused_naming_the_limit_and_the_fix(db, tmp_path):
    url = db()
    before = digest(url)
    with session(url, actor="pytest") as s:
        report = import_file(s, "facilities", facility_csv(tmp_path / "f.csv", 6), max_rows=5)
    assert not report.ok and report.written == 0
    [problem] = report.problems
    assert "more than 5 data rows" in problem["problem"] and "MINQING_IMPORT_MAX_ROWS" in problem["problem"]
    assert "split the file into parts of at most 5 rows" in problem["fix"]
    assert "MINQING_IMPORT_MAX_ROWS" in problem["fix"]
    assert digest(url) == before
    with session(url, actor="pytest") as s:
        assert import_file(s, "facilities", facility_csv(tmp_path / "g.csv", 5), max_rows=5, dry_run=True).ok


def test_the_limit_is_checked_before_the_rest_of_the_file_is_read(db, tmp_path):
    """Past the limit the file is not even parsed: a broken line there does not matter."""
    url = db()
    path = facility_csv(tmp_path / "f.csv", 6, tail='"never closed,,,\n' + "x,y\n" * 3)
    with session(url, actor="pytest") as s:
        report = import_file(s, "facilities", path, max_rows=5)
        whole = import_file(s, "facilities", path, max_rows=100)
    assert "more than 5 data rows" in report.problems[0]["problem"]
    assert "cannot read" in whole.problems[0]["problem"]  # the guard: read whole, the file is unreadable


@pytest.mark.parametrize("kind", ["geojson", "xlsx"])
def test_the_limit_comes_from_the_environment_for_every_format(db, tmp_path, monkeypatch, kind):
    url = db()
    monkeypatch.setenv("MINQING_IMPORT_MAX_ROWS", "2")
    frame = pd.DataFrame(
        {"名称": ["甲", "乙", "丙"], "类型": ["幼儿园"] * 3, "经度": [113.30] * 3, "纬度": [23.10] * 3}
    )
    if kind == "geojson":
        path = tmp_path / "f.geojson"
        gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["经度"], frame["纬度"]), crs=4326).to_file(
            path
        )
    else:
        path = tmp_path / "f.xlsx"
        frame.to_excel(path, index=False)
    with session(url, actor="pytest") as s:
        report = import_file(s, "facilities", path)
    assert "more than 2 data rows" in report.problems[0]["problem"]
    monkeypatch.setenv("MINQING_IMPORT_MAX_ROWS", "3")
    with session(url, actor="pytest") as s:
        assert import_file(s, "facilities", path, dry_run=True).ok


def test_the_cli_prints_the_limit_and_exits_1(db, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from api.cli.imports import app

    db()
    monkeypatch.setenv("MINQING_IMPORT_MAX_ROWS", "3")
    monkeypatch.setenv("COLUMNS", "400")  # the report table unwrapped
    result = CliRunner().invoke(app, ["facilities", str(facility_csv(tmp_path / "f.csv", 4)), "--dry-run"])
    assert result.exit_code == 1
    assert "more than 3 data rows" in result.output and "MINQING_IMPORT_MAX_ROWS" in result.output


def test_counts_too_large_for_the_database_are_row_problems(db, tmp_path):
    """Found by the row checks, so a dry run (which writes nothing) reports them too."""
    url = db()
    path = write_csv(tmp_path / "a.csv", [{"户数": 3_000_000_000, "经度": 113.3001, "纬度": 23.1007}])
    with session(url, actor="pytest") as s:
        report = import_file(s, "addresses", path, dry_run=True)
    [problem] = report.problems
    assert problem["row"] == 2 and "too large" in problem["problem"]


# ---------------------------------------------------------------------------------------------
# keys come from the sequences


def max_key(s, table: str) -> int:
    return int(s.execute(text(f"SELECT coalesce(max({ids.KEYS[table]}), 0) FROM {table}")).scalar_one())


def test_an_import_with_given_ids_advances_the_sequences(db):
    url = db(grids=False)  # homes.osm: OSM node ids up to 123 kept as network_nodes keys
    with session(url) as s:
        for table in ("network_nodes", "network_edges", "residences"):
            assert max_key(s, table) > 0
            assert int(
                s.execute(
                    text("SELECT nextval(CAST(:q AS regclass))"), {"q": ids.sequence(table)}
                ).scalar_one()
            ) > max_key(s, table)


def test_the_demo_load_advances_every_sequence_past_its_keys(demo_db):
    """The demo district comes with its own keys (data.demo): the next key of each table follows them."""
    with session(demo_db) as s:
        for table in ids.KEYS:
            top = max_key(s, table)
            state = s.execute(text(f"SELECT last_value, is_called FROM {ids.sequence(table)}")).one()
            upcoming = state.last_value + 1 if state.is_called else state.last_value
            assert upcoming > top, table


def test_rows_written_with_explicit_keys_do_not_collide_with_later_allocations(db):
    url = db()
    with session(url) as s:
        top = max_key(s, "facilities")
        s.execute(
            text(
                "INSERT INTO facilities (facility_id, type_code, name, geom) VALUES "
                "(:k, 'kindergarten', '手工', ST_Point(113.30, 23.10, 4326))"
            ),
            {"k": top + 1000},
        )
        assert ids.allocate(s, "facilities", 3).tolist() == [top + 1001, top + 1002, top + 1003]


def test_concurrent_allocations_are_distinct(db):
    url = db()

    def take(_):
        with session(url) as s:
            return ids.allocate(s, "residences", 200).tolist()

    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(take, range(4)))
    every = [k for run in runs for k in run]
    assert len(every) == len(set(every)) == 800


def test_the_migration_moves_sequences_past_keys_stored_before_it(fresh_db):
    from layers import migrate

    url = fresh_db("import_ids_migration")
    from alembic.script import ScriptDirectory

    revisions = ScriptDirectory.from_config(migrate.alembic_config(url)).walk_revisions()
    ours = next(r for r in revisions if r.path.endswith("_keys_from_sequences.py"))
    migrate.downgrade(url, ours.down_revision)  # to the revision before the sequences were set
    with session(url) as s:
        upsert_facility_types(s, read_facility_types())
        s.execute(
            text(
                "INSERT INTO facilities (facility_id, type_code, name, geom) VALUES "
                "(41, 'kindergarten', '旧', ST_Point(113.30, 23.10, 4326))"
            )
        )
    migrate.upgrade(url)
    with session(url) as s:
        assert int(s.execute(text("SELECT nextval('facilities_facility_id_seq')")).scalar_one()) == 42
        # empty: untouched
        assert int(s.execute(text("SELECT nextval('areas_area_id_seq')")).scalar_one()) == 1


# ---------------------------------------------------------------------------------------------
# progress


def test_the_cli_shows_each_phase_and_the_rows_written(db, tmp_path, monkeypatch):
    """Without a terminal (here) the phases and the rows written are time-stamped lines."""
    from typer.testing import CliRunner

    from api.cli.imports import app
    from layers.load import bulk

    url = db()
    monkeypatch.setattr(bulk, "PROGRESS_EVERY", 4)
    result = CliRunner().invoke(
        app, ["facilities", str(facility_csv(tmp_path / "f.csv", 10)), "--bbox", ",".join(map(str, BBOX))]
    )
    assert result.exit_code == 0, result.output
    lines = [
        line.split("] ", 1)[1] for line in result.output.splitlines() if line.startswith("[导入 facilities")
    ]
    assert lines == [
        "读取 reading",
        "检查 checking rows",
        "写入 writing",
        "4 / 10 行 rows",
        "8 / 10 行 rows",
        "10 / 10 行 rows",
    ]
    with session(url) as s:
        assert s.execute(text("SELECT count(*) FROM facilities WHERE name LIKE '幼儿园%'")).scalar_one() == 10
