"""Print the table of every environment variable (from settings/), or write it into README.md.

python scripts/env_table.py            # print it
python scripts/env_table.py --write    # replace the table in README.md
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import settings

README = Path(__file__).resolve().parents[1] / "README.md"


def main() -> None:
    parser = argparse.ArgumentParser(description="README 的环境变量表 (the README's environment table)")
    parser.add_argument("--write", action="store_true", help="write it into README.md instead of printing it")
    table = settings.environment_markdown()
    if not parser.parse_args().write:
        print(table)
        return
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(settings.TABLE_START) + ".*?" + re.escape(settings.TABLE_END), re.S)
    if not pattern.search(text):
        raise SystemExit(
            f"README.md has no {settings.TABLE_START} … {settings.TABLE_END} block: add one first"
        )
    README.write_text(pattern.sub(lambda _: table, text), encoding="utf-8")


if __name__ == "__main__":
    main()
