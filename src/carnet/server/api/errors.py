"""THE table from carnet's error tree to HTTP statuses, and the problem+json rendering of errors.

Every :class:`carnet.errors.CarnetError` becomes ``application/problem+json`` (RFC 9457)::

    {"type": "urn:carnet:problem:not-found", "title": "Not found", "status": 404,
     "detail": "no run with id ...", "field": "run_id", "error": "NotFound", "instance": "/api/v1/..."}

A user's invalid input is **422** (as FastAPI's own validation errors and malformed JSON are), so
one status means "fix the request" whatever caught it. Server-side failures (5xx) are logged in full
and answered without internal paths.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from carnet.errors import (
    AlreadyExists,
    ArtifactCorrupted,
    AuditChainBroken,
    AuditIntegrityError,
    AuditKeyMismatch,
    CarnetError,
    ConfigurationError,
    Conflict,
    DeliveryFailed,
    FilterSyntaxError,
    GateFailed,
    HookRefused,
    InvalidInput,
    MetricUnavailable,
    NotFound,
    Overloaded,
    PermissionDenied,
    StorageError,
    Unauthenticated,
)
from carnet.schemas import PROBLEM_MEDIA_TYPE, PromotionOut

__all__ = [
    "ERROR_STATUS",
    "PayloadTooLarge",
    "install_error_handlers",
    "problem_of",
    "problem_response",
    "status_for",
]

log = logging.getLogger("carnet.server.api")

#: THE mapping of the error tree to HTTP statuses (the most specific class wins)
ERROR_STATUS: dict[type[CarnetError], int] = {
    CarnetError: 500,
    InvalidInput: 422,
    FilterSyntaxError: 422,
    NotFound: 404,
    AlreadyExists: 409,
    Conflict: 409,
    HookRefused: 409,
    GateFailed: 422,
    PermissionDenied: 403,
    Unauthenticated: 401,
    StorageError: 503,
    ArtifactCorrupted: 500,
    AuditChainBroken: 500,
    AuditIntegrityError: 500,
    ConfigurationError: 500,
    AuditKeyMismatch: 500,
    MetricUnavailable: 422,
    DeliveryFailed: 502,
    Overloaded: 503,
}

_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Permission denied",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    422: "Invalid input",
    500: "Internal server error",
    503: "Storage unavailable",
}
_CLASS_TITLES: dict[type[CarnetError], str] = {
    GateFailed: "Promotion refused",
    ArtifactCorrupted: "Artifact corrupted",
    AuditIntegrityError: "Audit ledger damaged",
    ConfigurationError: "Server misconfigured",
}
#: the error class a client raises for a status FastAPI or Starlette answered by itself
_STATUS_ERROR = {401: "Unauthenticated", 403: "PermissionDenied", 404: "NotFound", 409: "Conflict"}
_BEARER = 'Bearer realm="carnet"'


class PayloadTooLarge(StarletteHTTPException):
    """The request body is over the limit (413). An HTTPException, so body parsing re-raises it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the {limit}-byte limit")
        self.limit = limit


def status_for(exc: CarnetError) -> int:
    """The HTTP status of an error: the entry of its nearest class in :data:`ERROR_STATUS`."""
    for cls in type(exc).__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]
    return 500


def _slug(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def problem_response(
    status: int,
    detail: str,
    *,
    error: str,
    field: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An ``application/problem+json`` response."""
    body: dict[str, Any] = {
        "type": f"urn:carnet:problem:{_slug(error)}",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "field": field,
        "error": error,
    }
    if instance is not None:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def problem_of(request: Request, exc: CarnetError) -> tuple[int, dict[str, Any]]:
    """The status and problem detail the API answers for ``exc`` (the web UI renders the same)."""
    response = _carnet_error(request, exc)
    return response.status_code, json.loads(bytes(response.body))


def _carnet_error(request: Request, exc: CarnetError) -> JSONResponse:
    status = status_for(exc)
    detail, extra, headers = exc.message, _extensions(exc), None
    if isinstance(exc, Unauthenticated):
        headers = {"WWW-Authenticate": _BEARER}
    hidden = isinstance(exc, StorageError) and not isinstance(exc, AuditIntegrityError)
    if hidden or isinstance(exc, ConfigurationError):
        # logged in full; a configuration error (the operator's to fix) is also named (no secrets)
        log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc.message)
    if hidden:  # the answer does not show server paths
        detail = (
            f"artifact {exc.digest} is corrupted: its stored bytes do not match the digest"
            if isinstance(exc, ArtifactCorrupted)
            else "the metadata database or the artifact store failed; the server log has the cause"
        )
    title = next((t for c, t in _CLASS_TITLES.items() if isinstance(exc, c)), None)
    return problem_response(
        status,
        detail,
        error=type(exc).__name__,
        field=exc.field,
        title=title,
        instance=request.url.path,
        headers=headers,
        **extra,
    )


def _extensions(exc: CarnetError) -> dict[str, Any]:
    if isinstance(exc, FilterSyntaxError):
        return {"position": exc.position}
    if isinstance(exc, ArtifactCorrupted):
        return {"digest": exc.digest}
    if isinstance(exc, AuditChainBroken):
        return {"seq": exc.seq}
    promotion = getattr(exc, "promotion", None)
    if isinstance(exc, GateFailed) and promotion is not None:
        out = PromotionOut.of(promotion)
        return {
            "gates": [g.model_dump(mode="json") for g in out.results],
            "promotion": out.model_dump(mode="json"),
        }
    return {}


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:] if len(parts) > 1 else parts
    if loc and loc[0] == "body" and len(loc) == 2 and isinstance(loc[1], int):
        return "body"  # malformed JSON: the location is an offset
    return ".".join(parts)


def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {
            "field": _field_of(tuple(e.get("loc", ()))),
            "message": str(e.get("msg", "invalid")),
            "type": e.get("type"),
        }
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"field": None, "message": "invalid request"}
    return problem_response(
        422,
        f"{first['field']}: {first['message']}" if first["field"] else str(first["message"]),
        error="InvalidInput",
        field=first["field"],
        instance=request.url.path,
        errors=errors,
    )


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(status, "error")
    error = _STATUS_ERROR.get(status, "InvalidInput" if status < 500 else "CarnetError")
    headers = dict(exc.headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", _BEARER)
    return problem_response(
        status,
        detail,
        error=error,
        field="body" if isinstance(exc, PayloadTooLarge) else None,
        instance=request.url.path,
        headers=headers or None,
    )


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return problem_response(
        500,
        "the server failed on this request; the server log has the cause",
        error="CarnetError",
        instance=request.url.path,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Render carnet errors, validation errors, HTTP errors and crashes as problem+json."""
    app.add_exception_handler(CarnetError, _carnet_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
