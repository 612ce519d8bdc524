"""The commit-msg hook: subjects of at most 72 characters, a blank line before the body."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

HOOK = Path(__file__).resolve().parents[2] / "scripts" / "commit-msg"


def check(tmp_path: Path, message: str) -> subprocess.CompletedProcess:
    path = tmp_path / "COMMIT_EDITMSG"
    path.write_text(message, encoding="utf-8")
    return subprocess.run([str(HOOK), str(path)], capture_output=True, text=True)


@pytest.mark.parametrize(
    "message",
    [
        "Add the weekly export\n\nThe KPI table per grid, community and town.\n",
        "x" * 72 + "\n",
        "# a comment git adds\nFix the tile cache\n",
    ],
)
def test_good_messages_pass(tmp_path, message):
    assert check(tmp_path, message).returncode == 0


@pytest.mark.parametrize(
    ("message", "says"),
    [
        ("x" * 73 + "\n", "73 characters"),
        ("Add a thing\nwith the body glued to it\n", "line 2"),
        ("\n", "empty"),
    ],
)
def test_bad_messages_are_refused_with_the_reason(tmp_path, message, says):
    result = check(tmp_path, message)
    assert result.returncode == 1 and says in result.stderr
