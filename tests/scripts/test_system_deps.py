"""scripts/system-deps.sh decides which Debian packages to install from what dpkg-query reports.

The real script runs as a subprocess (a copy in a temporary project folder, so its ``.env`` is the
test's) with a PATH holding only stubs: ``dpkg-query`` answers from ``FAKE_INSTALLED`` like the
real one (``installed``/``not-installed``, or an error for an unknown package), ``apt-get``
records its arguments instead of installing, ``npm`` exists only when a test puts it there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "system-deps.sh"
BASH = shutil.which("bash") or "/bin/bash"
DEMO_LOCAL = [
    "python3",
    "python3-venv",
    "npm",
    "fonts-noto-cjk",
    "fonts-wqy-zenhei",
    "postgresql-15",
    "postgresql-15-postgis-3",
]
TEST_EXTRA = ["chromium", "chromium-driver", "poppler-utils"]
ALL = DEMO_LOCAL + TEST_EXTRA + ["wrk", "postgresql-15-pgrouting"]

DPKG_QUERY = f"""#!{BASH}
pkg="${{@: -1}}"
for p in $FAKE_INSTALLED; do [ "$p" = "$pkg" ] && {{ printf installed; exit 0; }}; done
for p in $FAKE_KNOWN; do [ "$p" = "$pkg" ] && {{ printf not-installed; exit 0; }}; done
echo "dpkg-query: no packages found matching $pkg" >&2
exit 1
"""
APT_GET = f"""#!{BASH}
echo "$*" >> "$APT_LOG"
"""


@pytest.fixture()
def project():
    """A world-readable temporary project with a copy of the script and a stub bin folder."""
    root = Path(tempfile.mkdtemp(prefix="minqing-deps-"))
    (root / "scripts").mkdir()
    shutil.copy(SCRIPT, root / "scripts" / "system-deps.sh")
    stubs = root / "stubs"
    stubs.mkdir()
    for name, body in (("dpkg-query", DPKG_QUERY), ("apt-get", APT_GET)):
        (stubs / name).write_text(body)
        (stubs / name).chmod(0o755)
    for p in (root, root / "scripts", stubs):
        p.chmod(0o755)
    (root / "apt.log").touch()
    (root / "apt.log").chmod(0o666)
    yield root
    shutil.rmtree(root)


def run(project: Path, *args: str, installed=(), env=None, as_user: str | None = None):
    environ = {
        "PATH": str(project / "stubs"),
        "FAKE_INSTALLED": " ".join(installed),
        "FAKE_KNOWN": " ".join(ALL),
        "APT_LOG": str(project / "apt.log"),
        **(env or {}),
    }
    cmd = [BASH, str(project / "scripts" / "system-deps.sh"), *args]
    if as_user:
        cmd = ["runuser", "-u", as_user, "--", "env", *(f"{k}={v}" for k, v in environ.items()), *cmd]
        environ = {"PATH": os.environ["PATH"]}
    return subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=60)


def missing(project: Path, *args: str, **kw) -> list[str]:
    r = run(project, *args, "--print", **kw)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_fresh_machine_demo_needs_python_venv_database_npm_fonts(project):
    assert missing(project) == DEMO_LOCAL
    assert missing(project, "demo") == DEMO_LOCAL


def test_test_mode_adds_the_browser_and_the_pdf_tools(project):
    assert missing(project, "test") == DEMO_LOCAL + TEST_EXTRA
    assert missing(project, "test", installed=DEMO_LOCAL) == TEST_EXTRA


def test_bench_mode_adds_wrk_and_pgrouting(project):
    assert missing(project, "bench", installed=DEMO_LOCAL + TEST_EXTRA) == ["wrk", "postgresql-15-pgrouting"]


def test_debian_python_without_venv(project):
    have = [p for p in DEMO_LOCAL if p != "python3-venv"]
    assert missing(project, installed=have) == ["python3-venv"]


def test_database_url_means_no_postgresql_packages(project):
    env = {"DATABASE_URL": "postgresql://u:p@db.example.gov/minqing"}
    assert missing(project, env=env) == [
        "python3",
        "python3-venv",
        "npm",
        "fonts-noto-cjk",
        "fonts-wqy-zenhei",
    ]
    assert missing(project, "bench", env=env, installed=DEMO_LOCAL + TEST_EXTRA) == ["wrk"]


def test_database_url_in_dot_env_counts_too(project):
    (project / ".env").write_text("MINQING_SECRET_KEY=x\nDATABASE_URL=postgresql://u:p@db/minqing\n")
    assert "postgresql-15" not in missing(project)
    (project / ".env").write_text("MINQING_SECRET_KEY=x\nDATABASE_URL=\n")
    assert "postgresql-15" in missing(project)


def test_npm_outside_dpkg_counts_as_present(project):
    npm = project / "stubs" / "npm"
    npm.write_text(f"#!{BASH}\n")
    npm.chmod(0o755)
    assert "npm" not in missing(project)


def test_nothing_missing_installs_nothing(project):
    r = run(project, "test", installed=DEMO_LOCAL + TEST_EXTRA)
    assert r.returncode == 0 and r.stdout == "" and (project / "apt.log").read_text() == ""


def test_unknown_argument_fails(project):
    r = run(project, "everything")
    assert r.returncode == 2 and "unknown argument" in r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="the install path runs as root")
def test_root_installs_exactly_what_is_missing(project):
    r = run(project, "test", installed=["python3", "postgresql-15", "postgresql-15-postgis-3", "npm"])
    assert r.returncode == 0, r.stderr
    assert (project / "apt.log").read_text().splitlines() == [
        "update -qq",
        "install -y -qq --no-install-recommends python3-venv fonts-noto-cjk fonts-wqy-zenhei chromium "
        "chromium-driver poppler-utils",
    ]


def test_non_root_prints_the_apt_get_command_and_fails(project):
    as_user = "nobody" if os.geteuid() == 0 else None
    r = run(project, "test", installed=["python3", "npm", "fonts-noto-cjk"], as_user=as_user)
    assert r.returncode == 1
    assert (
        "    sudo apt-get update && sudo apt-get install -y --no-install-recommends python3-venv "
        "fonts-wqy-zenhei postgresql-15 postgresql-15-postgis-3 chromium chromium-driver poppler-utils\n"
    ) in r.stderr
    assert "DATABASE_URL" in r.stderr and (project / "apt.log").read_text() == ""
    r = run(
        project,
        installed=["python3", "python3-venv", "npm"],
        as_user=as_user,
        env={"DATABASE_URL": "postgresql://u:p@db/minqing"},
    )
    assert (
        r.returncode == 1
        and "install -y --no-install-recommends fonts-noto-cjk fonts-wqy-zenhei\n" in r.stderr
    )
    assert "DATABASE_URL" not in r.stderr
