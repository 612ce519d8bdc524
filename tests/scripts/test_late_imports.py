"""Imports sit at the module top; an import inside a function says why it is late.

A deliberate late import carries ``# late: <reason>`` on its own line, or the comment line directly
above its block of consecutive imports carries it.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["api", "layers", "pipeline", "maps", "province", "geo", "data", "settings"]


def late_import_blocks(source: str) -> list[list[ast.stmt]]:
    """Runs of consecutive import statements inside any function body of ``source``."""
    blocks: dict[int, list[ast.stmt]] = {}
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            for field in ("body", "orelse", "finalbody"):
                body = getattr(node, field, None)
                if not isinstance(body, list):
                    continue
                run: list[ast.stmt] = []
                for statement in [*body, None]:
                    if isinstance(statement, (ast.Import, ast.ImportFrom)):
                        run.append(statement)
                    elif run:
                        blocks.setdefault(run[0].lineno, run)
                        run = []
    return list(blocks.values())


def unexplained(source: str) -> list[int]:
    """Line numbers of function-level imports with no ``# late:`` reason."""
    lines = source.split("\n")
    missing = []
    for block in late_import_blocks(source):
        above = lines[block[0].lineno - 2].strip() if block[0].lineno > 1 else ""
        if above.startswith("# late:"):
            continue
        missing += [s.lineno for s in block if "# late:" not in lines[s.lineno - 1]]
    return missing


def test_the_check_finds_an_unexplained_import_and_accepts_a_reason():
    bare = "def f():\n    import json\n    return json\n"
    trailing = "def f():\n    import json  # late: only f needs it\n    return json\n"
    above = "def f():\n    # late: only f needs them\n    import json\n    import csv\n    return json, csv\n"
    nested = "def f():\n    if True:\n        from os import path\n    return path\n"
    top = "import json\n\ndef f():\n    return json\n"
    assert unexplained(bare) == [2]
    assert unexplained(trailing) == []
    assert unexplained(above) == []
    assert unexplained(nested) == [3]
    assert unexplained(top) == []


def test_every_function_level_import_says_why_it_is_late():
    files = sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))
    assert len(files) > 100
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in files
        for n in unexplained(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "move these imports to the module top, or add `# late: <reason>`: " + ", ".join(
        offenders
    )
