"""The report of one import: every problem with its row and a fix; and the all-or-nothing write."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import psycopg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from layers.db import set_actor
from layers.errors import ValidationFailed, describe_database_error

log = logging.getLogger("minqing.imports")


@dataclass
class ImportReport:
    """What an import found and did.

    ``problems`` (each ``row``, ``column``, ``problem``, ``fix``) block the import; ``warnings``
    do not. ``written`` is 0 unless the rows were stored.
    """

    layer: str
    path: str
    ok: bool = True
    rows: int = 0
    written: int = 0
    dry_run: bool = False
    problems: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    def add(self, row: int | None, column: str | None, problem: str, fix: str) -> None:
        self.ok = False
        self.problems.append({"row": row, "column": column, "problem": problem, "fix": fix})

    def warn(self, row: int | None, column: str | None, problem: str, fix: str) -> None:
        self.warnings.append({"row": row, "column": column, "problem": problem, "fix": fix})

    def table(self, *, warnings: bool = False) -> pd.DataFrame:
        """Problems (or warnings) with Chinese/English headers, for printing and exports."""
        rows = self.warnings if warnings else self.problems
        frame = pd.DataFrame(rows, columns=["row", "column", "problem", "fix"])
        return frame.rename(
            columns={"row": "行 row", "column": "列 column", "problem": "问题 problem", "fix": "修改方法 fix"}
        )

    def raise_if_failed(self) -> None:
        """Raise ``ValidationFailed`` (with ``problems``) when the file was rejected."""
        if not self.ok:
            first = self.problems[0]
            where = f"row {first['row']}: " if first["row"] is not None else ""
            raise ValidationFailed(
                f"{self.path}: {len(self.problems)} problem(s), e.g. {where}{first['problem']} — "
                f"{first['fix']}",
                problems=self.problems,
            )


class Rejected(Exception):
    """Internal: stop reading a file whose problems make row checks pointless."""


def write_all_or_nothing(
    s: Session,
    report: ImportReport,
    write: Callable[[], int],
    *,
    actor: str,
    dry_run: bool,
    preview: Callable[[], int],
) -> None:
    """Run ``write`` in a savepoint and keep it when it succeeds; on a dry run call ``preview``.

    ``preview`` writes nothing: with read queries it adds to the report what ``write`` would
    add (warnings, summary counts) and returns the rows ``write`` would write.
    """
    if dry_run:
        report.summary["would_write"] = preview()
        return
    savepoint = s.begin_nested()
    try:
        set_actor(s, actor, bulk=True)
        n = write()
    except (DBAPIError, psycopg.Error) as e:  # COPY runs on the driver connection: psycopg errors
        savepoint.rollback()
        log.warning(
            "import of %s refused by the database: %s", report.layer, str(getattr(e, "orig", None) or e)
        )
        report.add(None, None, *describe_database_error(e))  # never the raw server text
        return
    s.execute(text("SELECT set_config('minqing.bulk', 'off', true)"))
    savepoint.commit()
    report.written = n
