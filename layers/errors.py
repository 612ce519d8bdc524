"""Errors raised by the storage layer. Each message names the problem and the fix."""

from __future__ import annotations


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
