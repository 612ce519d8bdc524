"""Where the real Guangdong division names are looked for."""

from __future__ import annotations

from settings import DIVISIONS_NAME, divisions_dir


def test_environment_variable_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("MINQING_DIVISIONS_DIR", str(tmp_path))
    assert divisions_dir() == tmp_path


def test_default_is_the_shared_folder_beside_the_project(monkeypatch):
    monkeypatch.delenv("MINQING_DIVISIONS_DIR", raising=False)
    found = divisions_dir()
    assert (
        found.name == DIVISIONS_NAME and found.parent.name == "data" and found.parent.parent.name == "shared"
    )
