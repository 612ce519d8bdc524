"""One error model for every failure, and one table from exception class to HTTP status.

Every error response is ``{"error": {"code", "message", "fix", "details"}}``. 4xx messages say
what was wrong and ``fix`` says what to do; 5xx responses carry a reference number only — the
SQL, the stack trace and the exception text go to the server log, never to the client.
"""

from __future__ import annotations

import email.message
import json
import logging
import math
import re
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo.errors import GeoError
from layers.errors import LayersError
from pipeline import errors as pipeline_errors

log = logging.getLogger("minqing.api")


class ApiError(Exception):
    """An error raised by the service itself; ``status`` is its HTTP status."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        fix: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.fix = fix
        self.details = details
        self.headers = headers


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"

    def __init__(self, message: str, *, fix: str | None = None):
        super().__init__(
            message,
            fix=fix
            or "log in: POST /auth/token (username, password) and send "
            "`Authorization: Bearer <access_token>`",
            headers={"WWW-Authenticate": "Bearer"},
        )


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class PreconditionRequired(ApiError):
    status, code = 428, "precondition_required"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class RateLimited(ApiError):
    status, code = 429, "rate_limited"


class Busy(ApiError):
    status, code = 503, "busy"


class UnsafeJson(ApiError):
    status, code = 422, "invalid_json_value"


STATUS: dict[type[Exception], int | None] = {
    # None: the exception carries its own status (``status`` / ``status_code``).
    ApiError: None,
    pipeline_errors.PipelineError: 400,
    pipeline_errors.NotAllowed: 403,
    pipeline_errors.AlreadyRunning: 409,
    pipeline_errors.TooLarge: 413,
    pipeline_errors.TooOften: 429,
    pipeline_errors.Busy: 503,
    pipeline_errors.Unavailable: 503,
    LayersError: None,
    GeoError: None,
    StarletteHTTPException: None,
    RequestValidationError: 422,
    IntegrityError: 409,
    OperationalError: 503,
    PoolTimeout: 503,  # every database connection busy: overload, not a bug
    DBAPIError: 500,
    Exception: 500,
}
"""Exception class → HTTP status; the most specific class in an exception's MRO wins."""

GENERIC_FIX = {
    400: "correct the request as the message says",
    401: "log in: POST /auth/token and send the token",
    403: "ask an administrator for a role that may do this",
    404: "check the id or path (GET /collections lists the layers)",
    405: "use one of the methods the path allows (see /docs)",
    409: "read the current data and resolve the conflict, then retry",
    412: "GET the resource again for its current ETag, reapply the change, resend with If-Match",
    422: "correct the listed values and resend",
    503: "retry shortly; if it persists, check that the database is running (`minqing db status`)",
}


def status_for(exc: BaseException) -> int:
    """The HTTP status of ``exc`` according to ``STATUS``."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            fixed = STATUS[cls]
            if fixed is not None:
                return fixed
            return int(getattr(exc, "status", 0) or getattr(exc, "status_code", 500))
    return 500


def _code(exc: BaseException, status: int) -> str:
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        return code
    if isinstance(exc, StarletteHTTPException):
        return {404: "not_found", 405: "method_not_allowed"}.get(status, f"http_{status}")
    # FooBarError → foo_bar
    name = re.sub(r"Error$", "", type(exc).__name__)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def error_body(code: str, message: str, *, fix: str | None = None, details: Any = None) -> dict:
    return {"error": {"code": code, "message": message, "fix": fix, "details": details}}


def error_response(exc: BaseException, request: Request | None = None) -> JSONResponse:
    """The client-facing response for any exception (used by every handler and middleware)."""
    status = status_for(exc)
    headers = dict(getattr(exc, "headers", None) or {})
    if isinstance(exc, pipeline_errors.PipelineError):
        if exc.retry_after_s is not None:
            headers["Retry-After"] = str(exc.retry_after_s)
        if exc.see is not None:
            headers["Location"] = exc.see
    if status >= 500:
        return _server_error(exc, status, request, headers)
    if isinstance(exc, RequestValidationError):
        return _validation_error(exc)
    if isinstance(exc, IntegrityError):
        body = error_body(
            "conflict",
            "the change conflicts with existing data (a duplicate value or a "
            "reference to a row that does not exist)",
            fix=GENERIC_FIX[409],
        )
        return JSONResponse(body, status_code=409)
    message = (
        str(getattr(exc, "detail", None) or exc) if isinstance(exc, StarletteHTTPException) else str(exc)
    )
    fix = getattr(exc, "fix", None) or GENERIC_FIX.get(status)
    details = getattr(exc, "details", None) or getattr(exc, "problems", None) or None
    body = error_body(_code(exc, status), message, fix=fix, details=jsonable_encoder(details))
    return JSONResponse(body, status_code=status, headers=headers)


def _server_error(exc: BaseException, status: int, request: Request | None, headers: dict) -> JSONResponse:
    ref = uuid.uuid4().hex[:12]
    where = f"{request.method} {request.url.path}" if request is not None else "?"
    if isinstance(exc, PoolTimeout):
        log.warning("overloaded [%s] %s: no free database connection", ref, where)
        message, code = "the service is busy (too many requests at once)", "busy"
        headers.setdefault("Retry-After", "2")
    elif status == 503:
        # refusals expected under load (``quiet``) are not logged one by one: a flood would fill the log
        log.log(
            logging.DEBUG if getattr(exc, "quiet", False) else logging.WARNING,
            "service unavailable [%s] %s: %r",
            ref,
            where,
            exc,
        )
        message = "the database is not available right now"
        code = "service_unavailable"
    else:
        log.error("internal error [%s] %s", ref, where, exc_info=exc)
        message = "internal server error"
        code = "internal_error"
    fix = GENERIC_FIX.get(status, f"retry later; report reference {ref} to the administrator")
    if isinstance(exc, (ApiError, pipeline_errors.PipelineError, LayersError, GeoError)) and status == 503:
        # our own 503s (busy, no database configured) are written for users
        code = getattr(exc, "code", None) or code
        message, fix = str(exc), getattr(exc, "fix", None) or fix
    body = error_body(code, f"{message} (reference {ref})", fix=fix)
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_error(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    path_errors = [e for e in errors if tuple(e.get("loc", ()))[:2] == ("path", "collection_id")]
    if path_errors:
        bad = path_errors[0].get("input")
        body = error_body(
            "not_found", f"collection {bad!r} does not exist", fix="GET /collections lists the collection ids"
        )
        return JSONResponse(body, status_code=404)
    details = [
        {
            "location": [_printable(p) for p in e.get("loc", ())],
            "problem": _printable(e.get("msg")),
            "input": _short(e.get("input")),
        }
        for e in errors
    ]
    in_body = any(tuple(e.get("loc", ()))[:1] == ("body",) for e in errors)
    status = 422 if in_body else 400
    where = "; ".join(f"{'.'.join(map(str, d['location']))}: {d['problem']}" for d in details[:5])
    body = error_body(
        "invalid_request" if in_body else "invalid_parameter",
        f"invalid request: {where}",
        fix=GENERIC_FIX[422] if in_body else "correct the named query/path/header parameter",
        details=jsonable_encoder(details),
    )
    return JSONResponse(body, status_code=status)


def _short(value: Any) -> Any:
    """The input echoed in a 422: short scalars only, and only what JSON can carry (no NaN/Infinity,
    no lone surrogates; those would make the error itself a 500)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        value = _printable(value)
        return value if len(value) <= 200 else value[:200] + "…"
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return None  # do not echo whole bodies back


def _printable(value: Any) -> Any:
    """``value`` with any character UTF-8 cannot encode (a lone surrogate) written as an escape."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


class _Bad:
    """Stands in for a value JSON bodies may not hold, so the check can say where it was."""

    def __init__(self, what: str):
        self.what = what


def _strict_float(text: str) -> float | _Bad:
    value = float(text)
    return value if math.isfinite(value) else _Bad(f"the number {text[:20]} is too large for a float")


def _first_bad(value: Any, where: tuple) -> tuple[tuple, str] | None:
    """Path and reason of the first value a JSON body may not hold (None when all are fine)."""
    if isinstance(value, _Bad):
        return where, value.what
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where, "a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape without its pair)"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _first_bad(key, where) or _first_bad(item, (*where, _printable(key)))
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _first_bad(item, (*where, i))
            if found:
                return found
    return None


def json_body_problem(body: bytes) -> str | None:
    """Why a JSON request body cannot be accepted, or None (also when it is not JSON at all: the
    route's own parser reports that). Refused: NaN, Infinity, numbers beyond a float (``1e400``),
    lone surrogates and bytes that are not UTF-8 — standard JSON has none of them, and they cannot
    be stored or written back in a response."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"the body is not valid UTF-8 (at byte {e.start})"
    try:
        parsed = json.loads(
            text, parse_float=_strict_float, parse_constant=lambda name: _Bad(f"{name} is not a JSON number")
        )
    except (ValueError, RecursionError):
        return None
    found = _first_bad(parsed, ("body",))
    if found is None:
        return None
    where, what = found
    return f"{what} at {'.'.join(map(str, where))}"


def _is_json(scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            message = email.message.Message()
            message["content-type"] = value.decode("latin-1")
            subtype = message.get_content_subtype()
            return message.get_content_maintype() == "application" and (
                subtype == "json" or subtype.endswith("+json")
            )
    return False


class StrictJsonBodies:
    """Refuse JSON bodies holding NaN, Infinity, 1e400 or a lone surrogate with a 422 (issue 14.7).

    Python's JSON parser accepts them, and then neither PostgreSQL nor the error response can carry
    them. The body (already capped by ``BodySizeLimit``) is read once here and replayed to the route.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS") or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left (or the body was over the size limit, already answered 413)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = json_body_problem(body)
        if problem:
            exc = UnsafeJson(
                f"请求中的 JSON 含有无法处理的值 the JSON body holds {problem}",
                fix="send finite numbers (no NaN, Infinity or numbers beyond ±1.8e308) and "
                "text in valid Unicode",
            )
            await error_response(exc)(scope, receive, send)
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    return error_response(exc, request)


class CatchAll:
    """Outermost middleware: any exception no handler took becomes a logged, traceless 500."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # too late for a clean error: the client sees a cut response
                log.error("error after the response started", exc_info=exc)
                return
            await error_response(exc, Request(scope))(scope, receive, send)


def install(app: FastAPI) -> None:
    """Register the one handler for every class in ``STATUS`` and the catch-all middleware."""
    for cls in STATUS:
        if cls is not Exception:  # plain Exception is the CatchAll middleware's job (no re-raise)
            app.add_exception_handler(cls, _handle)
    app.add_middleware(StrictJsonBodies)  # innermost of the middlewares: after the size and rate limits
