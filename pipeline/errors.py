"""Errors the pipeline raises: what went wrong in the domain's words, never an HTTP status.

The API maps each class to its status in one table (``api/errors.py`` ``STATUS``); the CLI prints
the message and the fix. ``retry_after_s`` says when trying again may succeed and ``see`` names the
resource that is in the way (the API turns them into ``Retry-After`` and ``Location``).
"""

from __future__ import annotations

from typing import Any


class PipelineError(Exception):
    """Base class: a request the pipeline cannot carry out as asked."""

    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        fix: str | None = None,
        details: Any = None,
        retry_after_s: int | None = None,
        see: str | None = None,
    ):
        super().__init__(message)
        self.fix = fix
        self.details = details
        self.retry_after_s = retry_after_s
        self.see = see


class Invalid(PipelineError):
    """The request names something that does not fit (a format, a type, a scenario state)."""


class NotAllowed(PipelineError):
    """The user's role or assignment does not allow this."""

    code = "forbidden"


class TooLarge(PipelineError):
    """An uploaded file, or a result asked for within the request, is larger than allowed."""

    code = "payload_too_large"


class TooOften(PipelineError):
    """The same sender asked too often in the allowed period."""

    code = "rate_limited"


class Busy(PipelineError):
    """Too much work is already waiting; try again later."""

    code = "busy"


class AlreadyRunning(PipelineError):
    """The same work is already queued or running."""

    code = "run_in_progress"


class Unavailable(PipelineError):
    """Something the work needs is not installed on the server."""

    code = "unavailable"
