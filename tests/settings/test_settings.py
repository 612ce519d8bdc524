"""One settings module: every variable documented in the README, bad values named, no stray reads."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import settings

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "geo", "layers", "pipeline", "maps", "data", "province")


def test_readme_table_is_the_one_generated_from_the_settings():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(re.escape(settings.TABLE_START) + ".*?" + re.escape(settings.TABLE_END), readme, re.S)
    assert block is not None, "README.md lost its environment table"
    assert block.group(0) == settings.environment_markdown(), "run `python scripts/env_table.py --write`"


def test_every_field_has_a_meaning_and_a_unique_variable():
    rows = settings.environment_table()
    names = [var for var, _, _ in rows]
    assert len(names) == len(set(names))
    assert all(meaning for _, _, meaning in rows), [var for var, _, meaning in rows if not meaning]
    assert "MINQING_SECRET_KEY" in names and "DATABASE_URL" in names and "MINQING_EVENTS_PHOTO_DIR" in names


def test_a_bad_value_is_named_with_its_variable(monkeypatch):
    monkeypatch.setenv("MINQING_SNAP_MAX_M", "-3")
    with pytest.raises(settings.SettingsError, match="MINQING_SNAP_MAX_M"):
        settings.read(settings.CoverageSettings)
    monkeypatch.setenv("MINQING_EVENTS_PHOTO_MAX_MB", "many")
    with pytest.raises(settings.SettingsError, match="MINQING_EVENTS_PHOTO_MAX_MB"):
        settings.read(settings.EventSettings)


def test_a_missing_secret_says_how_to_make_one(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("MINQING_SECRET_KEY", raising=False)
    with pytest.raises(settings.SettingsError, match="MINQING_SECRET_KEY.*secrets.token_urlsafe"):
        settings.read(settings.ApiSettings)


def _modules():
    for package in PACKAGES:
        yield from (ROOT / package).rglob("*.py")


def test_no_settings_class_or_environment_read_outside_the_settings_module():
    found = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                getattr(b, "id", getattr(b, "attr", None)) == "BaseSettings" for b in node.bases
            ):
                found.append(f"{path.relative_to(ROOT)}: class {node.name}")
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("environ", "getenv")
                and getattr(node.value, "id", None) == "os"
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} os.{node.attr}")
    assert found == []
