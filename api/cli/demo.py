"""``minqing demo``: generate and load the fictional demo district 澄湾区."""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import forkserver
from multiprocessing.context import BaseContext
from typing import TYPE_CHECKING

import typer

from api.cli._common import friendly_errors, steps

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from data.demo import DemoDistrict

app = typer.Typer(no_args_is_help=True)


@app.command()
def load(
    scale: float = typer.Option(1.0, help="size multiplier (10 → ≥300k network nodes, ≥1.5M residents)"),
    seed: int = typer.Option(20261122, help="random seed; the same seed gives the same district"),
    if_empty: bool = typer.Option(False, "--if-empty", help="do nothing when layers already hold data"),
    queue_scenarios: bool | None = typer.Option(
        None,
        "--queue-scenarios/--evaluate-scenarios",
        help="leave the demo scenarios' evaluation to the task queue's worker (`minqing worker`) or "
        "evaluate them here; default: queued above scale 1",
    ),
) -> None:
    """Generate the demo district and load it, replacing every layer (users are kept), with its 民情
    and its what-if scenarios (evaluated here, or queued for the worker: see --queue-scenarios)."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from data.demo import generate
    from layers.db import database_url, session
    from layers.load.demo import load_district
    from layers.queries import counts as layer_counts

    if if_empty:
        # late: keeps `minqing` start-up fast (loaded when the command runs)
        from layers.load.clean import emptied_on_purpose

        with friendly_errors(), session() as s:
            present = layer_counts(s)
            chosen = emptied_on_purpose(s)
        if present["network_nodes"] and present["areas"]:
            typer.echo(f"数据已存在, 跳过 layers already loaded: {present}")
            return
        if chosen:
            typer.echo(
                "数据库已按要求清空/移除演示数据, 不再载入演示 the demo was removed on purpose: not loaded "
                "(run `minqing demo load` to bring it back)"
            )
            return

    t0 = time.perf_counter()
    if scale > 1 if queue_scenarios is None else queue_scenarios:
        _load_with_minqing(scale, seed, t0)
        return
    with friendly_errors(), steps(10, desc="澄湾区演示数据") as step:
        step("生成 generating")
        district = generate(scale=scale, seed=seed)
        generated = time.perf_counter() - t0
        with session(actor="demo-loader") as s:
            counts = load_district(s, district, progress=step)
        url = database_url()
    loaded = time.perf_counter() - t0
    typer.echo(f"已载入 loaded in {loaded:.1f} s: {json.dumps(counts, ensure_ascii=False)}")
    # the 民情 in a process of its own while the scenarios are evaluated here: one core each
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver")) as pool:
        minqing = pool.submit(_minqing_rows, url, scale, seed, 6)
        t1 = time.perf_counter()
        _scenarios(district)
        scenarios_s = time.perf_counter() - t1
        _echo_minqing(*minqing.result())
    typer.echo(
        f"阶段用时 phases: 生成 generating {generated:.1f} s, 入库 storing {loaded - generated:.1f} s, "
        f"演示情景与民情 (并行) scenarios and 民情 in parallel {time.perf_counter() - t1:.1f} s "
        f"(情景 {scenarios_s:.1f} s); 共 total {time.perf_counter() - t0:.1f} s"
    )
    typer.echo("注意: 澄湾区为虚构演示数据 (fictional demo data).")


def _load_with_minqing(scale: float, seed: int, t0: float) -> None:
    """The district and its 民情 in one transaction, the 民情 drawn (in the processes that made the
    district) while the district is stored; then the scenarios saved and queued."""
    pool = _pool(min(2, os.cpu_count() or 1))  # first: before this process starts a thread
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from data.demo import generate
    from layers.db import session
    from layers.load.demo import load_district
    from pipeline import minqing_demo

    with (
        friendly_errors(),
        steps(12, desc="澄湾区演示数据") as step,
        pool,
        ThreadPoolExecutor(1) as drawing,
    ):
        step("生成 generating")
        end = minqing_demo.default_end()
        started: dict = {}  # the generated copies' 民情, drawn in the pool while the others are laid out

        def start(parts: dict[int, dict]) -> None:
            started.update(minqing_demo.start_copies(parts, pool, end=end, scale=scale, seed=seed))

        district = generate(scale=scale, seed=seed, pool=pool, made=start)
        generated = time.perf_counter() - t0
        with session(actor="demo-loader") as s:
            # the rest drawn and made ready for COPY in a thread while the district is stored
            minqing = drawing.submit(
                minqing_demo.draw_ready,
                district,
                minqing_demo.column_kinds(s),
                scale=scale,
                seed=seed,
                end=end,
                pool=pool,
                started=started,
            )
            # then the scenarios' changes, while the 民情 is stored
            scenarios = drawing.submit(_scenario_changes, district)
            counts = load_district(s, district, progress=step)
            loaded = time.perf_counter() - t0
            step("民情演示 民情")
            rows = minqing_demo.store(s, minqing.result())
    stored = time.perf_counter() - t0
    typer.echo(f"已载入 loaded in {loaded:.1f} s: {json.dumps(counts, ensure_ascii=False)}")
    _echo_minqing(rows, stored - loaded, 0)
    _queue_scenarios(district, scenarios.result())
    typer.echo(
        f"阶段用时 phases: 生成 generating {generated:.1f} s, 入库 storing {loaded - generated:.1f} s, "
        f"民情演示 民情 (drawn while storing) {stored - loaded:.1f} s, 情景排队 scenarios queued "
        f"{time.perf_counter() - t0 - stored:.1f} s; 共 total {time.perf_counter() - t0:.1f} s"
    )
    typer.echo("注意: 澄湾区为虚构演示数据 (fictional demo data).")


POOL_MODULES = ("data.demo.frames", "data.demo.minqing")
"""What the pool's processes run (``copy_frames``, the 民情's ``generate``)."""


def _pool(workers: int) -> ProcessPoolExecutor:
    """The process pool, its processes started now. Where the platform forks (Linux), they are forked
    from this process once it has imported ``POOL_MODULES`` and before it starts a thread or opens a
    connection: they start at once with everything imported (a forkserver imported the modules a
    second time, and the first copies waited for it). Elsewhere: a forkserver with them preloaded."""
    for module in POOL_MODULES:
        importlib.import_module(module)
    if "fork" in multiprocessing.get_all_start_methods():
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        pool.submit(int)  # forks every process now, before the executor's own thread starts
        return pool
    return ProcessPoolExecutor(workers, mp_context=_pool_context())


def _pool_context() -> BaseContext:
    """The forkserver context for the pool, its server started now with ``POOL_MODULES`` imported
    once: the pool's processes are forked from it with them instead of importing them each. When
    this runs as the `minqing` script, each process first runs the script again (multiprocessing
    prepares a child so; the forkserver is not told the script's path to run it once itself): the
    CLI it imports is imported in the server too, and the script costs the processes nothing."""
    context = multiprocessing.get_context("forkserver")
    script = getattr(sys.modules["__main__"], "__file__", None) is not None
    context.set_forkserver_preload([*(["api.cli"] if script else []), *POOL_MODULES])
    forkserver.ensure_running()
    return context


@app.command()
def province(
    counties: int = typer.Option(
        3,
        "--counties",
        min=1,
        help="how many real Guangdong counties (taken in turn from each city of the NBS 2023 list)",
    ),
    scale: float = typer.Option(
        0.3, "--scale", min=0.05, max=1.0, help="size of each county (1.0: one demo district)"
    ),
    seed: int = typer.Option(20261122, help="random seed"),
    cities: list[str] = typer.Option(
        None,
        "--city",
        help="4-digit city code (repeat), e.g. 4415: every county of these cities instead of --counties",
    ),
) -> None:
    """虚构省 Generate and load a FICTIONAL province: each county a demo district named after a real
    Guangdong county, cut into the county's real towns and villages (real names, codes and counts),
    offshore in the demo's open-sea box, neighbours joined by roads; replaces every layer (users are kept)."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.db import session
    from layers.load.demo import load_district
    from province.synthetic import synthetic_province

    t0 = time.perf_counter()
    with friendly_errors(), steps(10, desc="虚构省演示数据") as step:
        step("生成 generating")
        district, table = synthetic_province(
            None if cities else counties, scale, seed=seed, cities=cities or None
        )
        with session(actor="demo-loader") as s:
            counts = load_district(s, district, progress=step)
    typer.echo(f"已载入 loaded in {time.perf_counter() - t0:.1f} s: {json.dumps(counts, ensure_ascii=False)}")
    for r in table.itertuples():
        typer.echo(
            f"  {r.city_name}{r.county_name} {r.county_code}: 真实 {r.towns} 个镇街、{r.villages} 个村居"
        )
    typer.echo(
        "注意: 以上为虚构演示数据 (fictional demo data): 仅名称与代码取自国家统计局区划, "
        "位置、道路、人口均为虚构。"
    )


@app.command()
def events(
    scale: float = typer.Option(1.0, help="the scale the demo was loaded with (places its old town)"),
    seed: int = typer.Option(20261122, help="the seed the demo was loaded with"),
    months: int = typer.Option(6, min=1, max=24, help="how many months of 民情 up to today"),
) -> None:
    """民情演示: six months of fictional reports, key households (重点人群) and visits for the loaded
    demo district, ending today; REPLACES every event, key household and visit."""
    _minqing(scale, seed, months=months)


def _minqing(scale: float, seed: int, *, months: int = 6) -> None:
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.db import database_url

    with friendly_errors():
        url = database_url()
    _echo_minqing(*_minqing_rows(url, scale, seed, months))


def _minqing_rows(
    url: str, scale: float, seed: int, months: int, *, workers: int = 1
) -> tuple[dict[str, int] | None, float, int]:
    """Generate and store the demo's 民情 in the database at ``url`` (also in a worker process; the
    copies drawn anew in up to ``workers`` processes): (row counts, seconds, exit code: 0, or that of
    the error already printed)."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.db import session
    from pipeline import minqing_demo

    t0 = time.perf_counter()
    try:
        with friendly_errors(), session(url, actor="demo-loader") as s:
            counts = minqing_demo.load(s, scale=scale, seed=seed, months=months, workers=workers)
    except typer.Exit as e:  # the error is printed: its exit code crosses the process boundary
        return None, time.perf_counter() - t0, e.exit_code
    return counts, time.perf_counter() - t0, 0


def _echo_minqing(counts: dict[str, int] | None, seconds: float, code: int) -> None:
    if counts is None:
        raise typer.Exit(code)
    typer.echo(
        f"民情演示 ({seconds:.1f} s): 事件 {counts['events']} 件, 流转记录 {counts['event_history']} 条, "
        f"重点人群 {counts['key_households']} 户, 走访 {counts['visits']} 次"
    )


@app.command()
def scenarios(
    scale: float = typer.Option(1.0, help="the scale the demo was loaded with"),
    seed: int = typer.Option(20261122, help="the seed the demo was loaded with"),
    if_missing: bool = typer.Option(
        False, "--if-missing", help="only save those not saved yet (no re-evaluation)"
    ),
) -> None:
    """Save and evaluate the demo's what-if scenarios
    (规划新增日间照料中心 …); existing ones are re-evaluated.
    """
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from data.demo import generate

    with friendly_errors():
        _scenarios(generate(scale=scale, seed=seed), only_missing=if_missing)


def _scenarios(district: DemoDistrict, *, only_missing: bool = False) -> None:
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.db import session

    t0 = time.perf_counter()
    with friendly_errors(), session(actor="demo-loader") as s:
        rows = save_demo_scenarios(s, district, only_missing=only_missing)
    names = "、".join(r["name"] for r in rows)
    typer.echo(f"演示情景 demo scenarios ({time.perf_counter() - t0:.1f} s): {names or '无 none'}")


def _scenario_changes(district: DemoDistrict) -> list[dict]:
    """The demo scenarios of ``district`` (``data.demo.scenarios``), with what saving and queueing
    them imports imported: made beside the storing, for ``_queue_scenarios``."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from data.demo.scenarios import demo_scenarios

    for module in ("layers.queries", "layers.scenarios", "pipeline.jobs", "pipeline.scenarios"):
        importlib.import_module(module)
    return demo_scenarios(district)


def _queue_scenarios(district: DemoDistrict, made: list[dict] | None = None) -> None:
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.db import session
    from pipeline import jobs

    with friendly_errors(), session(actor="demo-loader") as s:
        rows = save_demo_scenarios(s, district, queue=True, made=made)
        workers = jobs.live_workers(s)
    names = "、".join(f"{r['name']} (任务 job #{r['job_id']})" for r in rows)
    if not rows:
        typer.echo("演示情景 demo scenarios: 无 none")
        return
    typer.echo(f"演示情景已保存, 待任务队列评估 demo scenarios saved, evaluation queued: {names}")
    typer.echo(
        f"  正在运行的 worker {workers} 个, 评估完成后规划地图即可查看"
        if workers
        else "  当前没有运行中的 worker: 运行 `minqing worker` (make demo 会启动) 评估, "
        "或运行 `minqing demo scenarios` 在此立即评估 (no worker is running: start one, or evaluate now)"
    )


def save_demo_scenarios(
    s: Session,
    district: DemoDistrict,
    *,
    actor: str = "demo-loader",
    only_missing: bool = False,
    queue: bool = False,
    made: list[dict] | None = None,
) -> list[dict]:
    """Save and evaluate the scenarios of ``data.demo.scenarios`` for ``district``; one already saved under
    its name is re-evaluated (skipped with ``only_missing``). Returns the evaluated scenario rows; with
    ``queue``, the evaluations are queued for the task queue's worker instead, and the rows are the
    scenarios' name, id and queue job id. ``made``: ``demo_scenarios(district)`` made already."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from data.demo.scenarios import demo_scenarios
    from layers import queries
    from layers import scenarios as table
    from pipeline import jobs
    from pipeline import scenarios as service

    existing = {r["name"]: r["scenario_id"] for r in table.listing(s, limit=1000)}
    # Only for the district the layers hold: the facilities the changes name must be the stored ones.
    stored = queries.facilities(s, statuses=("open", "planned", "closed"))
    stored_names = dict(zip(stored.facility_id.astype(int), stored.name, strict=True))
    demo_names = dict(zip(district.facilities.facility_id.astype(int), district.facilities.name, strict=True))
    rows = []
    for sc in demo_scenarios(district) if made is None else made:
        ids = [int(c["facility_id"]) for c in sc["changes"] if "facility_id" in c]
        if any(stored_names.get(i) != demo_names.get(i) for i in ids):
            continue
        scenario_id = existing.get(sc["name"])
        if scenario_id is not None and only_missing:
            continue
        if scenario_id is None:
            scenario_id = service.create(
                s, name=sc["name"], description=sc["description"], changes=sc["changes"], actor=actor
            )["scenario_id"]
        if queue:
            job_id = jobs.queue_scenario_evaluation(s, scenario_id, actor=actor)
            rows.append({"name": sc["name"], "scenario_id": scenario_id, "job_id": job_id})
        else:
            rows.append(service.evaluate(s, scenario_id, actor=actor))
    return rows


@app.command()
def remove(yes: bool = typer.Option(False, "--yes", help="do not ask for confirmation")) -> None:
    """Remove only what the demo loaded (its areas, network, water, homes, facilities and place
    names, all inside its open-sea box), with coverage results and scenarios. Audited."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.db import session
    from layers.load import clean

    if not yes and not typer.confirm("移除演示数据澄湾区及全部覆盖分析结果和方案? remove the demo district?"):
        raise typer.Exit(1)
    with friendly_errors(), session(actor="cli") as s:
        removed = clean.remove_demo(s, actor="cli")
    typer.echo("已移除演示数据 demo removed: " + "，".join(f"{k} {v}" for k, v in removed.items()))


@app.command()
def summary(scale: float = 1.0, seed: int = 20261122) -> None:
    """Print the sizes of the generated district without loading it."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from data.demo import generate
    from data.demo import summary as summarise

    typer.echo(json.dumps(summarise(generate(scale=scale, seed=seed)), ensure_ascii=False, indent=2))
