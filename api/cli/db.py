"""``minqing db``: the local PostGIS cluster and migrations."""

from __future__ import annotations

import typer

from api.cli._common import friendly_errors
from settings import database_settings

app = typer.Typer(no_args_is_help=True)


@app.command()
def up() -> None:
    """Start the local PostGIS (made on first use) and migrate it.

    As root the server runs as the postgres user and keeps its data under
    /var/lib/postgresql/minqing/ (one folder per checkout); otherwise in .pgdata/.
    `minqing db status` says where."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import migrate
    from layers.cluster import local_cluster

    with friendly_errors():
        if database_settings().database_url:
            typer.echo("DATABASE_URL is set: using that server, no local cluster started.")
        else:
            local_cluster().up()
            typer.echo(f"本地数据库已启动 local PostGIS {local_cluster().status()}")
        migrate.upgrade()
        typer.echo(f"schema at revision {migrate.current()}")


@app.command()
def down(
    remove: bool = typer.Option(
        False,
        "--remove",
        help="also delete the local database and its data, wherever "
        "it lives (every stored row is lost; `minqing db up` makes a new empty one)",
    ),
) -> None:
    """Stop the local PostGIS (its data stays, unless --remove)."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.cluster import local_cluster

    with friendly_errors():
        removed = local_cluster().down(remove=remove)
    typer.echo("本地数据库已停止 local PostGIS stopped")
    for folder in removed:
        typer.echo(f"已删除 removed {folder}")


@app.command()
def status() -> None:
    """Say where the database is, whether it answers and whether its schema is up to date.

    Exits with 1 when the database does not answer (or the local one is not initialised).
    """
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import migrate as m
    from layers.cluster import local_cluster

    url = database_settings().database_url
    if url:
        typer.echo(f"DATABASE_URL server: {url.split('@')[-1]}")  # never the password
    else:
        cluster = local_cluster()
        typer.echo(f"local PostGIS: {cluster.status()}")
        if not cluster.running():
            raise typer.Exit(1)
    try:
        revision = m.current()
    except Exception as e:  # any driver error: the server is down, refuses us, or the name is wrong
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        typer.echo(f"数据库无响应 the database does not answer: {reason}")
        raise typer.Exit(1) from None
    latest = m.head()
    state = "up to date" if revision == latest else f"the code's latest is {latest}: run `minqing db migrate`"
    typer.echo(f"answers; schema at revision {revision} ({state})")


@app.command()
def migrate(revision: str = typer.Argument("head", help="target revision")) -> None:
    """Upgrade the schema (Alembic) to REVISION."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import migrate as m

    with friendly_errors():
        m.upgrade(revision=revision)
        typer.echo(f"schema at revision {m.current()}")


@app.command()
def url() -> None:
    """Print the database URL in use (contains the password: keep it private)."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.db import database_url

    with friendly_errors():
        typer.echo(database_url())


@app.command()
def topology(
    min_area_m2: float = typer.Option(1.0, help="ignore overlaps/gaps smaller than this (m²)"),
) -> None:
    """Check the area tree: sibling overlaps, gaps inside a parent, children outside their parent."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from geo.topology import check_topology
    from layers import queries
    from layers.db import session

    with friendly_errors(), session() as s:
        problems = check_topology(queries.areas(s), min_area_m2=min_area_m2)
    if problems.empty:
        typer.echo("拓扑检查通过 topology OK: no overlaps, gaps or children outside their parent")
        return
    for r in problems.itertuples():
        typer.echo(
            f"{r.kind:16} area {r.area_id} {'' if r.other_id is None else f'vs {r.other_id} '}"
            f"({r.level}): {r.area_m2:,.0f} m² {r.detail}"
        )
    raise typer.Exit(1)
