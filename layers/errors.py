"""Errors raised by the storage layer. Each message names the problem and the fix."""

from __future__ import annotations

import re


class LayersError(Exception):
    """Base class; ``status`` is the HTTP status the API maps it to."""

    status = 400


class DatabaseUnavailable(LayersError):
    status = 503


class NotFound(LayersError):
    status = 404


class Conflict(LayersError):
    """Optimistic-locking conflict (the row changed since it was read)."""

    status = 412


class ValidationFailed(LayersError):
    """Input rejected; ``problems`` lists row-level problems when there are several."""

    status = 422

    def __init__(self, message: str, problems: list[dict] | None = None):
        super().__init__(message)
        self.problems = problems or []


_SQLSTATE = {
    "23505": (
        "a value that must be unique is already stored or repeats in the file{where}",
        "remove the repeated rows, or change their code/id so that each is unique",
    ),
    "23503": (
        "a row refers to something that does not exist{where}",
        "import the referenced areas/types first, or correct the reference",
    ),
    "23502": ("a required value is empty{where}", "fill it in every row"),
    "23514": (
        "a value is not one of those allowed{where}",
        "use one of the values the column allows (see the docs)",
    ),
    "22001": ("a text is longer than the column allows{where}", "shorten it"),
    "22003": ("a number is out of range{where}", "correct the number"),
    "22P02": ("a value has the wrong type{where}", "write numbers as numbers and dates as dates"),
    "42P01": ("a table is missing", "run `minqing db migrate`"),
    "42703": ("a column is missing", "run `minqing db migrate`"),
}


CHECK_RULES = {
    "residence_people_consistent": (
        "a residence cannot count more elderly (60岁以上) and children (0-14岁) together than people (人口)",
        "correct population, elderly and children so that elderly + children is at most population",
    ),
    "area_worker_phone_work": (
        "the grid worker's public phone (worker_phone) must be a work number",
        "give an office landline with its area code (0755-12345678, an extension as 0755-12345678转123), "
        "a service hotline (12345, 95xxx, 96xxx, 400-xxx-xxxx, 800-xxx-xxxx) or a work mobile marked as such "
        "(工作手机 13912345678); personal numbers are never published",
    ),
}
"""Check constraints that encode a rule people must know (name → problem, fix); migration 0012."""


def check_rule(exc: BaseException) -> tuple[str, str] | None:
    """(problem, fix) when ``exc`` is the violation of one of ``CHECK_RULES``, else None."""
    orig = getattr(exc, "orig", None) or exc
    diag = getattr(orig, "diag", None)
    return CHECK_RULES.get(getattr(diag, "constraint_name", None) or "")


def describe_database_error(exc: BaseException) -> tuple[str, str]:
    """(problem, fix) for a database error met while writing user data, in words a user can act on:
    never the raw server text (constraint names, SQL), which goes to the log instead."""
    rule = check_rule(exc)
    if rule is not None:
        return rule
    orig = getattr(exc, "orig", None) or exc
    state = getattr(orig, "sqlstate", None) or ""
    diag = getattr(orig, "diag", None)
    column = getattr(diag, "column_name", None)
    table = getattr(diag, "table_name", None)
    if column is None:
        constraint = getattr(diag, "constraint_name", None)
        column = _key_columns(getattr(diag, "message_detail", None)) or (
            _constraint_column(constraint, table) if constraint else None
        )
    where = (
        (f" (column {column}" + (f" of {table})" if table else ")"))
        if column
        else (f" ({table})" if table else "")
    )
    problem, fix = _SQLSTATE.get(
        state,
        (
            "the database refused the data{where}",
            f"check the rows; error code {state or 'unknown'} is in the server log",
        ),
    )
    return f"the database refused the data: {problem.format(where=where)}", fix


def _key_columns(detail: str | None) -> str | None:
    """The column names of PostgreSQL's 'Key (a, b)=(…) …' detail (the values are left out: they may be
    personal data)."""

    found = re.match(r"Key \(([^)]*)\)=", detail or "")
    return found.group(1) if found else None


def _constraint_column(constraint: str, table: str | None) -> str:
    """The column a constraint name points at (``areas_code_key`` → code, ``user_role_known`` → role)."""
    name = constraint.removeprefix(f"{table}_") if table else constraint
    for suffix in ("_key", "_fkey", "_check", "_known", "_pkey"):
        name = name.removesuffix(suffix)
    return name
