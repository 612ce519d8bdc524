"""Import the official division gazetteer (镇街 and 村居 names and codes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.load.bulk import Progress, copy_frame, read_only, record_import
from layers.load.report import ImportReport, Rejected, write_all_or_nothing
from settings import divisions_dir

DIVISION_FILES = {"towns": "guangdong_towns_streets.csv", "villages": "guangdong_villages_communities.csv"}


DIVISION_COLS = [
    "code",
    "name",
    "level",
    "parent_code",
    "city_code",
    "city_name",
    "county_code",
    "county_name",
    "town_code",
    "town_name",
    "class_hint",
    "urban_rural_code",
    "source",
]


def pad12(code) -> str:
    """A statistics code padded right with zeros to 12 digits (4415 → 441500000000)."""
    return str(code).strip().ljust(12, "0")


def read_divisions(data_dir: Path, report: ImportReport) -> pd.DataFrame:
    """City, county, town and village rows from the NBS division files in ``data_dir``."""
    towns = _division_file(
        data_dir, "towns", ["code", "name", "county_code", "county_name", "city_code", "city_name"], report
    )
    villages = _division_file(
        data_dir,
        "villages",
        [
            "code",
            "name",
            "code_class_hint",
            "town_code",
            "town_name",
            "county_code",
            "county_name",
            "city_code",
            "city_name",
        ],
        report,
    )
    cities = towns.drop_duplicates("city_code").assign(
        code=lambda f: f["city_code"], name=lambda f: f["city_name"], level="city", parent_code="44"
    )
    counties = towns.drop_duplicates("county_code").assign(
        code=lambda f: f["county_code"],
        name=lambda f: f["county_name"],
        level="county",
        parent_code=lambda f: f["city_code"],
    )
    towns = towns.assign(
        level="town", parent_code=towns["county_code"], town_code=towns["code"], town_name=towns["name"]
    )
    villages = villages.assign(
        level="village", parent_code=villages["town_code"], class_hint=villages["code_class_hint"]
    )
    frame = pd.concat([cities, counties, towns, villages], ignore_index=True)
    for column in ("code", "parent_code", "city_code", "county_code", "town_code"):
        frame[column] = frame[column].map(lambda c: pad12(c) if isinstance(c, str) and c else None)
    # 东莞/中山 have no counties: their "county" code is the city's, keep the city row
    frame = frame[
        ~((frame["level"] == "county") & frame["code"].isin(frame.loc[frame["level"] == "city", "code"]))
    ]
    frame["urban_rural_code"] = None
    frame["source"] = "国家统计局 2023年统计用区划代码 (china-division 2.7.0)"
    return frame.reindex(columns=DIVISION_COLS)


def _division_file(data_dir: Path, which: str, columns: list[str], report: ImportReport) -> pd.DataFrame:
    path = data_dir / DIVISION_FILES[which]
    if not path.is_file():
        report.add(
            None,
            None,
            f"{path} is missing",
            f"point --data-dir at the folder holding {DIVISION_FILES[which]}",
        )
        raise Rejected
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        report.add(
            None,
            ",".join(missing),
            f"{path.name} lacks columns {missing}",
            f"the header must be {','.join(columns)}",
        )
        raise Rejected
    return frame


def _check_divisions(frame: pd.DataFrame, report: ImportReport) -> None:
    dup = frame.loc[frame["code"].duplicated(), "code"].tolist()
    if dup:
        report.add(None, "code", f"codes repeated: {dup[:10]}", "each division code must be unique")
    known = set(frame["code"])
    orphans = frame[(frame["level"] == "village") & ~frame["parent_code"].isin(known)]
    for r in orphans.head(20).itertuples():
        report.add(
            None,
            "town_code",
            f"village {r.code} {r.name}: town {r.parent_code} is not listed",
            "add the town to the towns file or correct the village's town_code",
        )


def import_divisions(
    s: Session,
    data_dir: Path | None = None,
    *,
    dry_run: bool = False,
    actor: str = "import",
    step: Callable[[str], None] | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Replace the ``divisions`` gazetteer with the NBS division names and codes in ``data_dir``."""
    step = step or (lambda _label: None)
    if data_dir is None:
        data_dir = divisions_dir()
    report = ImportReport(layer="divisions", path=str(data_dir), dry_run=dry_run)
    step("读取 reading")
    try:
        frame = read_divisions(Path(data_dir), report)
    except Rejected:
        report.ok = False
        return report
    report.rows = len(frame)
    _check_divisions(frame, report)
    report.summary = frame["level"].value_counts().to_dict()
    if report.ok:
        step("写入 writing")
        with read_only(s, enabled=dry_run):
            write_all_or_nothing(
                s,
                report,
                lambda: _write_divisions(s, frame, actor=actor, progress=progress),
                actor=actor,
                dry_run=dry_run,
                preview=lambda: len(frame),
            )
    return report


def _write_divisions(s: Session, frame: pd.DataFrame, *, actor: str, progress: Progress | None = None) -> int:
    s.execute(text("DELETE FROM divisions"))
    n = copy_frame(s, "divisions", frame, columns=DIVISION_COLS, progress=progress)
    record_import(s, actor=actor, layer="divisions", summary={"rows": n})
    return n
