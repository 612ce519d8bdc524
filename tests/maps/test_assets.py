"""The asset whitelist: every URL the pages use is served, nothing else is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maps import assets

PACKAGE = Path(assets.__file__).parent / "assets" / "package.json"
LOCK = PACKAGE.with_name("package-lock.json")


def test_npm_packages_are_pinned_and_locked():
    deps = json.loads(PACKAGE.read_text())["dependencies"]
    locked = json.loads(LOCK.read_text())["packages"]
    assert {"leaflet", "leaflet.markercluster", "leaflet.vectorgrid"} <= set(deps)
    for name, version in deps.items():
        assert version[0].isdigit(), f"{name} must be pinned to an exact version, got {version}"
        assert locked[f"node_modules/{name}"]["version"] == version


def test_every_whitelisted_url_resolves_to_an_installed_file():
    assets.check_installed()  # fails with the fix (`npm ci`) when the npm packages are missing
    for url in assets.all_urls():
        path = url.removeprefix(assets.PREFIX)
        if path.endswith(".map"):
            continue
        assert assets.resolve(path) is not None, url


@pytest.mark.parametrize(
    "path",
    [
        "../assets.py",
        "static/../assets.py",
        "static/../../pyproject.toml",
        "leaflet/../../package.json",
        "leaflet/dist/leaflet.js",
        "static/.hidden.js",
        "static/page.html",
        "static/sub/dir.js",
        "",
        "markercluster/README.md",
        "/etc/passwd",
        "static/minqing.js\x00.png",
    ],
)
def test_anything_else_is_refused(path):
    assert assets.resolve(path) is None


def test_media_types():
    assert assets.media_type(Path("a.js")).startswith("text/javascript")
    assert assets.media_type(Path("a.css")).startswith("text/css")
    assert assets.media_type(Path("a.svg")) == "image/svg+xml"
