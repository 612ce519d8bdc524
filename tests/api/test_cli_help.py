"""Every ``minqing ... --help`` page is clean: no typer type tags (<bool>, <int>, <list[str]>) or {arg}."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from api.cli import _help, app

TAG = re.compile(
    r"<(bool|int|float|str|path|file|directory|datetime|list\[|int range|float range)[^>]*>|\{[a-z_]+\}"
)


def _commands(command, path=()):
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


PATHS = list(_commands(typer.main.get_command(app)))


def test_every_group_and_command_is_listed():
    assert ("demo", "load") in PATHS and ("db", "status") in PATHS and len(PATHS) > 20


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "minqing")
def test_help_has_no_type_tags(path):
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert not TAG.search(result.output), TAG.search(result.output)


def test_flags_show_nothing_and_values_show_a_metavar():
    out = CliRunner().invoke(app, ["demo", "load", "--help"], terminal_width=200).output
    assert re.search(r"--if-empty\s+do nothing", out)
    assert re.search(r"--scale\s+FLOAT\s", out) and re.search(r"--seed\s+INTEGER\s", out)


@pytest.mark.parametrize(
    ("label", "shown"),
    [
        ("int", "INTEGER"),
        ("float range", "FLOAT"),
        ("str", "TEXT"),
        ("list[str]", "TEXT..."),
        ("walk|car", "[walk|car]"),
        ("path", "PATH"),
        ("int,str", "INTEGER,TEXT"),
    ],
)
def test_plain_metavars(label, shown):
    assert _help.plain(label) == shown


def test_a_missing_command_module_fails_loudly():
    """A checkout that lost a command module must not start with that command silently absent."""
    import subprocess
    import sys

    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'api.cli.names':\n"
        "            raise ModuleNotFoundError(\"No module named 'api.cli.names'\", name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import api.cli\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "api.cli.names" in r.stderr
