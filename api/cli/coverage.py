"""``minqing coverage``: compute and inspect service-circle coverage runs."""

from __future__ import annotations

import json

import typer

from api.cli._common import friendly_errors, steps

app = typer.Typer(no_args_is_help=True)


@app.command()
def run(
    types: list[str] = typer.Option(None, "--type", "-t", help="facility type code (repeat); default all"),
    full: bool = typer.Option(False, "--full", help="recompute every type even if only some facilities changed"),
    if_stale: bool = typer.Option(False, "--if-stale", help="do nothing when the latest run is up to date"),
    fmt: str = typer.Option("table", "--format", help="table | json (a summary for scripts)"),
) -> None:
    """Compute coverage of every facility type (urban 5/10/15-minute and rural half-hour circles)
    for every residence, aggregate it to grids, communities, towns and the district, and store the run."""
    from api.services.coverage import run_and_store
    from layers import store
    from layers.db import session

    with friendly_errors():
        if if_stale:
            with session() as s:
                last = store.latest_run(s)
                if last and not store.is_stale(s, last):
                    typer.echo(f"覆盖分析已是最新 run {last['run_id']} is up to date")
                    return
        with steps(1, desc="生活圈覆盖分析 coverage") as step, session(actor="cli") as s:
            row = run_and_store(s, types=types or None, incremental=not full)
            step("完成 done")
    summary = row["summary"]
    if fmt == "json":
        typer.echo(json.dumps({"run_id": row["run_id"], **summary}, ensure_ascii=False, indent=2, default=str))
        return
    _print_summary(row["run_id"], summary)


def _print_summary(run_id: int, summary: dict) -> None:
    typer.echo(f"运行 run {run_id}: {summary['seconds']} s, recomputed {len(summary['recomputed_types'])} types, "
               f"{summary['gaps']} gap areas")
    typer.echo(f"{'设施类型 type':32} {'居民覆盖率 share':>16} {'老人覆盖率 elderly':>18}")
    for code, t in sorted(summary["types"].items()):
        share = "-" if t["share"] is None else f"{t['share']:.1%}"
        eld = "-" if t["elderly_share"] is None else f"{t['elderly_share']:.1%}"
        typer.echo(f"{code:32} {share:>16} {eld:>18}")
    typer.echo("目标 targets:")
    for t in summary["targets"]:
        value = "-" if t["value"] is None else f"{t['value']:.1%}"
        mark = "达标 pass" if t["pass"] else "未达标 FAIL"
        typer.echo(f"  {t['label_zh']}: {value} (目标 {float(t['threshold']):.0%}) {mark}")


@app.command()
def status() -> None:
    """Show the latest run and whether the data changed since."""
    from layers import store
    from layers.db import session

    with friendly_errors(), session() as s:
        last = store.latest_run(s)
        if not last:
            typer.echo("尚无覆盖分析 no coverage run yet: run `minqing coverage run`")
            raise typer.Exit(1)
        stale = store.is_stale(s, last)
    typer.echo(f"run {last['run_id']} finished {last['finished_at']:%Y-%m-%d %H:%M:%S}; "
               f"{'数据已变化, 需重新计算 STALE' if stale else '最新 up to date'}")
