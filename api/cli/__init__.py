"""The ``minqing`` command line: one typer app with a sub-app per concern.

Each concern lives in its own module exposing ``app``. Every module of ``GROUPS`` must be there: a
missing one is an installation error and fails loudly at start, never a silently absent command.
"""

from __future__ import annotations

import importlib

import typer

from api.cli import _help

_help.install()

GROUPS = {
    "db": "数据库 local PostGIS: up, down, status, migrate",
    "demo": "演示数据 the fictional demo district 澄湾区",
    "data": "参考表 editable reference tables of data/ (facility types)",
    "coverage": "生活圈覆盖 service-circle coverage runs",
    "plan": "规划工具 scenarios, siting, compliance, reports",
    "names": "地名 place-name tools",
    "import": "导入 OpenStreetMap and government files",
    "users": "用户 accounts and roles",
    "events": "民情事件 residents' reports: 超时升级 and lists",
    "visits": "走访 key households (重点人群) and visits",
}

app = typer.Typer(
    name="minqing",
    help="民情地图 minqing-map: 15-minute / half-hour life-circle coverage, grids and place names.",
    no_args_is_help=True,
    add_completion=False,
)


def _register() -> None:
    for name, help_text in GROUPS.items():
        module = importlib.import_module(f"api.cli.{name if name != 'import' else 'imports'}")
        app.add_typer(module.app, name=name, help=help_text)
    # late: loaded with the command groups above, when the CLI is built
    from api.cli.serve import serve
    from api.cli.start import init, status
    from api.cli.worker import worker

    app.command("serve", help="启动服务 serve the maps and API on http://127.0.0.1:8000")(serve)
    app.command("worker", help="后台任务 background jobs: coverage, siting, imports, 超时升级")(worker)
    app.command("init", help="从零开始 start empty for a city's own data (--empty --yes)")(init)
    app.command("status", help="数据状态 what is loaded and what is missing before coverage can run")(status)


_register()


def main() -> None:
    app()
