"""``minqing init --empty`` and ``minqing status``: start a city's own data from nothing, and see
what is loaded and what is still missing before coverage can run."""

from __future__ import annotations

import typer

from api.cli._common import fail, friendly_errors


def init(
    empty: bool = typer.Option(
        False,
        "--empty",
        help="remove every layer's data (areas, network, homes, "
        "facilities, place names, coverage results, scenarios)",
    ),
    yes: bool = typer.Option(False, "--yes", help="do not ask for confirmation"),
) -> None:
    """Start empty: a migrated database with accounts, facility types and the division gazetteer kept.

    Use it before importing a city's own data (see the README: 从零开始导入本市数据). Audited.
    `make demo` will not load the demo again afterwards; `minqing demo load` does it on request.
    """
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import migrate
    from layers.db import session
    from layers.load import clean

    if not empty:
        fail("say what to start from: `minqing init --empty` (the only kind for now)")
    with friendly_errors():
        migrate.upgrade()
        with session() as s:
            present = clean.counts(s)
    total = sum(present.values())
    if total and not yes:
        listed = "，".join(f"{k} {v}" for k, v in present.items() if v)
        if not typer.confirm(
            f"将删除现有全部数据 this removes every stored row ({listed}); accounts are kept. 继续?"
        ):
            fail("cancelled: nothing was changed", code=1)
    with friendly_errors(), session(actor="cli") as s:
        removed = clean.start_empty(s, actor="cli")
    typer.echo(
        f"已清空 the database is empty ({sum(removed.values())} rows removed); accounts, facility types "
        "and the division gazetteer are kept."
    )
    typer.echo("下一步 next: `minqing status` lists what to load, with the command for each step.")


def status() -> None:
    """What is loaded (with counts) and what is still missing before coverage can run."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.db import session
    from layers.load import clean
    from layers.planning import district_name, is_demo

    with friendly_errors(), session() as s:
        items = clean.checklist(s)
        name, demo = district_name(s), is_demo(s)
    typer.echo(
        f"数据状态 data status: {name or '（尚无区县边界 no district yet）'}"
        + ("  [演示数据(虚构) fictional demo]" if demo else "")
    )
    for item in items:
        mark = "✔" if item["done"] else ("✘" if item["needed_for_coverage"] else "·")
        typer.echo(f"  {mark} {item['label']}: {item['count']}")
        if not item["done"]:
            typer.echo(f"      → {item['command']}")
    missing = [i["label"] for i in items if i["needed_for_coverage"] and not i["done"]]
    if missing:
        typer.echo(f"覆盖分析前还缺 still missing before coverage can run: {'；'.join(missing)}")
        raise typer.Exit(1)
    typer.echo("可以运行覆盖分析 ready: `minqing coverage run`")
