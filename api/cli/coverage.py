"""``minqing coverage``: compute and inspect service-circle coverage runs."""

from __future__ import annotations

import json
import sys
from types import TracebackType

import typer
from tqdm import tqdm

from api.cli._common import friendly_errors
from geo.standards import TIER_LABELS

app = typer.Typer(no_args_is_help=True)


class _ProgressBar:
    """A progress bar for ``run_and_store(progress=...)``: one step per facility type × profile
    search (plus reading, aggregation, gaps, storing); the total is known at the first step."""

    def __init__(self, desc: str):
        self.desc = desc
        self.bar: tqdm | None = None

    def __call__(self, label: str, total: int) -> None:
        if self.bar is None:
            self.bar = tqdm(
                total=total, desc=self.desc, unit="步", file=sys.stderr, dynamic_ncols=True, disable=None
            )
        self.bar.set_postfix_str(label)
        self.bar.update(1)

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.bar is not None:
            self.bar.close()


@app.command()
def run(
    types: list[str] = typer.Option(
        None,
        "--type",
        "-t",
        help="facility type code (repeat); default all. The run then holds only these types",
    ),
    full: bool = typer.Option(
        False, "--full", help="recompute every type even if only some facilities changed"
    ),
    if_stale: bool = typer.Option(
        False, "--if-stale", help="do nothing when the latest run is up to date and holds every type"
    ),
    snap_max_m: float | None = typer.Option(
        None,
        "--snap-max-m",
        min=1,
        max=5000,
        help="homes and facilities farther than this from every usable street are "
        "reported unreachable (metres; default MINQING_SNAP_MAX_M, else 500)",
    ),
    fmt: str = typer.Option("table", "--format", help="table | json (a summary for scripts)"),
    partition: str | None = typer.Option(
        None,
        "--partition",
        help="county: run each county (district) as a task on Dask distributed, "
        "store per-home rows partitioned by county and roll up to city and "
        "province (default: one run of the whole database here)",
    ),
    scheduler: str = typer.Option(
        "local",
        "--scheduler",
        help="with --partition: local[:N] (a local Dask cluster of N workers) or the "
        "address of a Dask scheduler, e.g. tcp://10.0.0.5:8786",
    ),
) -> None:
    """Compute coverage of every facility type (urban 5/10/15-minute and rural half-hour circles)
    for every residence, aggregate it to grids, communities, towns and the district, and store the run."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import store
    from layers.db import session
    from pipeline import coverage as service

    with friendly_errors():
        config = service.RunConfig.from_settings(snap_max_m=snap_max_m)
        if partition is not None:
            _run_partitioned(partition, scheduler, config, types or None, fmt)
            return
        if if_stale:
            with session() as s:
                last = store.latest_run(s)
                current = (
                    last is not None
                    and not service.is_stale(s, last, config=config)
                    and not service.missing_types(s, last)
                )
            if current and last is not None:
                if fmt == "json":
                    typer.echo(json.dumps({"run_id": last["run_id"], "up_to_date": True}))
                else:
                    typer.echo(f"覆盖分析已是最新 run {last['run_id']} is up to date")
                return
        with _ProgressBar("生活圈覆盖分析 coverage") as bar, session(actor="cli") as s:
            row = service.run_and_store(
                s, types=types or None, incremental=not full, config=config, progress=bar, isochrones=False
            )
        # the run is committed and shown to planners; the public map's facility isochrones follow
        if config.store_isochrones and fmt != "json":
            typer.echo("覆盖分析已完成, 正在存储设施等时圈 run stored; storing the facility isochrones…")
        with session(actor="cli") as s:
            held = service.store_run_isochrones(s, row["run_id"], config=config)
    summary = {**row["summary"], "isochrones": held or row["summary"].get("isochrones")}
    if fmt == "json":
        typer.echo(
            json.dumps({"run_id": row["run_id"], **summary}, ensure_ascii=False, indent=2, default=str)
        )
        return
    _print_summary(row["run_id"], summary)


def _run_partitioned(partition: str, scheduler: str, config, types: list[str] | None, fmt: str) -> None:
    """``--partition county``: one Dask task per county, a progress bar advancing per county."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from api.cli._common import fail
    from layers.db import database_url
    from province.run import run_province, scheduler_spec

    if partition != "county":
        fail(f"--partition {partition!r} is not supported: use --partition county")
    try:
        scheduler_spec(scheduler)
    except ValueError as exc:
        fail(str(exc))
    bar: tqdm | None = None

    def progress(label: str, done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                total=total,
                desc="分县覆盖分析 counties",
                unit="县",
                file=sys.stderr,
                dynamic_ncols=True,
                disable=None,
            )
        bar.set_postfix_str(label)
        bar.update(1)
        if bar.disable:  # not a terminal (a log, a pipe): one line per county instead of the bar
            typer.echo(f"分县覆盖分析 counties {done}/{total}: {label}", err=True)

    try:
        out = run_province(database_url(), scheduler=scheduler, config=config, types=types, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if fmt == "json":
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2, default=str))
    else:
        typer.echo(
            f"分县运行 province run {out['run_id']}: {len(out['counties'])} 个县完成, {out['seconds']} s; "
            f"缓冲区 buffer {out['buffers']['network_m']:.0f} m"
        )
        for f in out["failed"]:
            typer.echo(f"失败 FAILED {f['name']} {f['code']}（已重试，未写入 not stored）: {f['error']}")
    if out["failed"]:
        raise typer.Exit(1)


def _print_summary(run_id: int, summary: dict) -> None:
    typer.echo(
        f"运行 run {run_id}: {summary['seconds']} s, recomputed {len(summary['recomputed_types'])} types, "
        f"reused {len(summary.get('reused_types', []))}, {summary['gaps']} gap areas"
    )
    if summary.get("missing_types"):
        typer.echo(
            f"只含部分类型 partial run: {len(summary['missing_types'])} types not computed "
            f"({', '.join(summary['missing_types'][:5])}"
            f"{' ...' if len(summary['missing_types']) > 5 else ''})"
        )
    held = summary.get("isochrones")
    if held:
        typer.echo(
            f"设施等时圈 facility isochrones: 新算 computed {held['computed']}, 沿用 copied {held['copied']} "
            f"({held['seconds']:.1f} s)"
        )
    far = summary.get("unreachable")
    if far:
        ids = ", ".join(map(str, far["facilities"][:10])) + (" ..." if len(far["facilities"]) > 10 else "")
        typer.echo(
            f"不可达 unreachable (> {far['snap_max_m']:g} m from every usable street, "
            f"counted as not covered): {far['residences']} homes ({far['population']} residents), "
            f"{len(far['facilities'])} facilities" + (f" ({ids})" if ids else "")
        )
    typer.echo(
        f"{'设施类型 type':32} {'服务半径覆盖率':>14} {'步行/半小时可达覆盖率 share':>26} "
        f"{'老人可达 elderly':>16}"
    )
    for code, t in sorted(summary["types"].items()):
        share = "-" if t["share"] is None else f"{t['share']:.1%}"
        radius = "-" if t.get("radius_share") is None else f"{t['radius_share']:.1%}"
        eld = "-" if t["elderly_share"] is None else f"{t['elderly_share']:.1%}"
        typer.echo(f"{code:32} {radius:>14} {share:>26} {eld:>16}")
    for circle, c in summary.get("composite", {}).items():
        lacking = "、".join(
            f"{t['name_zh']}（{t['population_missing']:,} 人不可达）" for t in c["limiting"][:3]
        )
        share = "-" if c["share"] is None else f"{c['share']:.1%}"
        level = TIER_LABELS.get(c.get("tier"), "")
        typer.echo(
            f"{'城市' if circle == 'urban' else '农村'}{c['measure_zh']}（{level}{c['required_types']} "
            f"类应配建设施全部可达）: {share}" + (f"；最常缺的是 {lacking}" if lacking else "")
        )
    typer.echo("目标 targets (口径 measure in brackets):")
    for t in summary["targets"]:
        value = "-" if t["value"] is None else f"{t['value']:.1%}"
        mark = "达标 pass" if t["pass"] else "未达标 FAIL"
        typer.echo(
            f"  {t['label_zh']} [{t.get('measure_zh', '')}]: {value} (目标 {float(t['threshold']):.0%}) "
            f"{mark}"
        )
        towns = [
            f"{w['name']} {'-' if w['value'] is None else format(w['value'], '.0%')} "
            f"{'-' if w['pass'] is None else ('达标' if w['pass'] else '未达标')}"
            for w in t.get("towns", [])
        ]
        if towns:
            typer.echo(f"    镇街 towns: {'; '.join(towns)}")


@app.command()
def targets(
    run_id: int = typer.Option(None, "--run", help="run id (default: the latest run)"),
    level: str = typer.Option("town", "--level", help="district | town | community"),
    code: str = typer.Option(None, "--code", help="one target code of data/targets.csv"),
    fmt: str = typer.Option("table", "--format", help="table | json"),
) -> None:
    """Targets of data/targets.csv judged per district, town or community (pass/fail per area)."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from api.cli._common import fail
    from layers.db import session
    from pipeline import coverage as service
    from pipeline.runs import resolve_run

    if level not in ("district", "town", "community"):
        fail(f"--level {level!r} is not one of district, town, community")
    with friendly_errors(), session() as s:
        run = resolve_run(s, run_id)
        rows = service.target_table(s, run["run_id"], level=level, code=code)
    if fmt == "json":
        typer.echo(json.dumps({"run_id": run["run_id"], "targets": rows}, ensure_ascii=False, indent=2))
        return
    typer.echo(f"运行 run {run['run_id']}: {len(rows)} verdicts at level {level}")
    for r in rows:
        value = "-" if r["value"] is None else f"{r['value']:.1%}"
        mark = "-" if r["pass"] is None else ("达标 pass" if r["pass"] else "未达标 FAIL")
        extra = f" ({r['communities_reached']}/{r['communities']} communities)" if r["communities"] else ""
        typer.echo(
            f"  {r['target_code']:24} {r['name']:16} {r['measure_zh']:10} {value:>7} / {r['threshold']:.0%}  "
            f"{mark}{extra}"
        )
    for code, m in sorted({(r["measure"], r["measure_zh"]) for r in rows}):
        typer.echo(f"口径 {m}: {service.measure_table()[code]['definition_zh']}")


@app.command()
def status() -> None:
    """Show the latest run, whether the data or settings changed since, and whether it holds every type."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import store
    from layers.db import session
    from pipeline import coverage as service

    with friendly_errors(), session() as s:
        last = store.latest_run(s)
        if not last:
            typer.echo("尚无覆盖分析 no coverage run yet: run `minqing coverage run`")
            raise typer.Exit(1)
        stale = service.is_stale(s, last)
        missing = service.missing_types(s, last)
    typer.echo(
        f"run {last['run_id']} finished {last['finished_at']:%Y-%m-%d %H:%M:%S}; "
        f"{'数据已变化, 需重新计算 STALE' if stale else '最新 up to date'}"
        + (f"; 只含部分类型 PARTIAL ({len(missing)} types missing)" if missing else "")
    )
