"""File imports at scale: time and peak memory of a dry run and of a real import.

    .venv/bin/python bench/imports.py [--url DATABASE_URL] [--rows 100000 1000000] [--layer facilities]
                                      [--write]

Each size runs in a child process (peak memory = that child's maximum resident set size): a
generated CSV of ``--rows`` facilities (or 一标三实 addresses) with coordinates, checked with
``dry_run=True`` — which writes nothing, so any database will do (default: ``DATABASE_URL``). The
row limit (``MINQING_IMPORT_MAX_ROWS``) is raised for the run so the large sizes are measured.
``--write`` also times the real import, in a throw-away database ``<db>_bench_imports``.
Prints one line per run: rows, seconds, peak MB, what the report says.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BOX = (113.30, 22.58, 113.40, 22.66)


def write_csv(path: Path, rows: int, layer: str, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    lon = rng.uniform(BOX[0], BOX[2], rows)
    lat = rng.uniform(BOX[1], BOX[3], rows)
    with path.open("w", encoding="utf-8") as out:
        if layer == "facilities":
            out.write("名称,类型,经度,纬度,状态\n")
            for i in range(rows):
                out.write(f"测试幼儿园{i},kindergarten,{lon[i]:.6f},{lat[i]:.6f},开放\n")
        else:
            out.write("标准地址,户数,人口,60岁以上,0-14岁,经度,纬度\n")
            for i in range(rows):
                out.write(f"测试路{i}号,3,8,1,2,{lon[i]:.6f},{lat[i]:.6f}\n")


def child(url: str, layer: str, path: str, dry_run: bool) -> None:
    from layers.db import session
    from layers.load.files import import_file

    t0 = time.perf_counter()
    with session(url, actor="bench") as s:
        report = import_file(s, layer, path, dry_run=dry_run, actor="bench", bbox=(113, 22, 114, 23))
        if dry_run:
            s.rollback()
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "rows": report.rows,
                "seconds": round(seconds, 1),
                "peak_mb": round(peak_mb),
                "ok": report.ok,
                "written": report.written,
                "would_write": report.summary.get("would_write"),
                "problems": [p["problem"] for p in report.problems[:2]],
            },
            ensure_ascii=False,
        )
    )


def bench_db(url: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from layers.migrate import upgrade

    base = make_url(url)
    name = f"{base.database}_bench_imports"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        con.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    target = base.set(database=name).render_as_string(hide_password=False)
    upgrade(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=None)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--layer", default="facilities", choices=["facilities", "addresses"])
    parser.add_argument(
        "--write", action="store_true", help="also time the real import (throw-away database)"
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from layers.db import database_url

    url = args.url or database_url()
    if args.child:
        child(url, args.layer, args.child[0], args.child[1] == "dry")
        return
    env = {**os.environ, "MINQING_IMPORT_MAX_ROWS": str(max(args.rows) + 1)}
    targets = [("dry", url)] + ([("write", bench_db(url))] if args.write else [])
    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.rows:
            path = Path(tmp) / f"{args.layer}_{rows}.csv"
            write_csv(path, rows, args.layer)
            for mode, target in targets:
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--url",
                        target,
                        "--layer",
                        args.layer,
                        "--child",
                        str(path),
                        mode,
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-2000:]
                print(f"{args.layer} {mode:5s} {rows:>9,} rows: {line}", flush=True)


if __name__ == "__main__":
    main()
