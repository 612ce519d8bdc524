"""The CLI's error plumbing: a user's mistake is one line with its exit code, a bug is code 3."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from api.cli._common import fail, friendly_errors

app = typer.Typer()


@app.command()
def run(kind: str) -> None:
    with friendly_errors():
        if kind == "mistake":
            fail("the file has no lon column — name it with --lon", code=2)
        if kind == "bug":
            raise KeyError("oops")


def test_fail_inside_friendly_errors_keeps_its_message_and_code():
    result = CliRunner().invoke(app, ["mistake"])
    assert result.exit_code == 2
    assert "no lon column" in result.output
    assert "internal error" not in result.output


def test_unexpected_error_is_one_line_with_code_3(monkeypatch):
    monkeypatch.delenv("MINQING_DEBUG", raising=False)
    result = CliRunner().invoke(app, ["bug"])
    assert result.exit_code == 3
    assert "internal error (KeyError" in result.output
    assert "Traceback" not in result.output
