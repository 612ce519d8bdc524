"""``minqing demo``: generate and load the fictional demo district 澄湾区."""

from __future__ import annotations

import json
import time

import typer

from api.cli._common import friendly_errors, steps

app = typer.Typer(no_args_is_help=True)


@app.command()
def load(
    scale: float = typer.Option(1.0, help="size multiplier (10 → ≥300k network nodes, ≥1.5M residents)"),
    seed: int = typer.Option(20261122, help="random seed; the same seed gives the same district"),
    if_empty: bool = typer.Option(False, "--if-empty", help="do nothing when layers already hold data"),
) -> None:
    """Generate the demo district and load it, replacing every layer (users are kept)."""
    from data.demo import generate
    from layers.db import session
    from layers.load.demo import load_district
    from layers.queries import counts as layer_counts

    if if_empty:
        with friendly_errors(), session() as s:
            present = layer_counts(s)
        if present["network_nodes"] and present["areas"]:
            typer.echo(f"数据已存在, 跳过 layers already loaded: {present}")
            return

    t0 = time.perf_counter()
    with friendly_errors(), steps(10, desc="澄湾区演示数据") as step:
        step("生成 generating")
        district = generate(scale=scale, seed=seed)
        with session(actor="demo-loader") as s:
            counts = load_district(s, district, progress=step)
    typer.echo(f"已载入 loaded in {time.perf_counter() - t0:.1f} s: {json.dumps(counts, ensure_ascii=False)}")
    typer.echo("注意: 澄湾区为虚构演示数据 (fictional demo data).")


@app.command()
def summary(scale: float = 1.0, seed: int = 20261122) -> None:
    """Print the sizes of the generated district without loading it."""
    from data.demo import generate
    from data.demo import summary as summarise

    typer.echo(json.dumps(summarise(generate(scale=scale, seed=seed)), ensure_ascii=False, indent=2))
