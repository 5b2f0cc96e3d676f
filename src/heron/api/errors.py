"""One error body for every 4xx and 5xx the API answers, and the handlers that make it.

::

    {"error": {"code": "not_found", "message": "one line", "details": {...}}}

Codes: ``bad_request`` 400, ``unauthorized`` 401, ``forbidden`` 403, ``not_found`` 404,
``conflict`` 409, ``too_large`` 413, ``invalid`` 422, ``unavailable`` 503 (a venue or
database failed for now: retry), ``internal`` 500. heron's own errors map by what the
caller must do (:mod:`heron.errors`); anything else is a bug, answered 500 with a
reference to the server log and never with its text, which may hold paths or secrets.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from heron import errors as heron_errors

log = logging.getLogger("heron.api")

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
         409: "conflict", 413: "too_large", 422: "invalid", 503: "unavailable",
         500: "internal"}


class ApiError(Exception):
    """An answer other than success, raised anywhere below a route."""

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "bad_request")
        self.message = message
        self.details = details or {}
        self.headers = headers


def error_body(code: str, message: str, details: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(status: int, code: str, message: str,
                   details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status,
                        headers=headers)


def heron_status(exc: heron_errors.HeronError) -> int:
    """The HTTP status of one of heron's errors: by what the caller has to do."""
    if isinstance(exc, heron_errors.RunNotFound):
        return 404
    if isinstance(exc, heron_errors.RunConflict):
        return 409
    if isinstance(exc, heron_errors.InputError):
        return 422
    if isinstance(exc, heron_errors.RetryableError):
        return 503
    return 500


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:500] if lines else "error"


async def _on_api_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ApiError):  # pragma: no cover - registered for ApiError only
        raise exc
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


async def _on_heron_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, heron_errors.HeronError):  # pragma: no cover
        raise exc
    status = heron_status(exc)
    if status == 500:
        return _internal(request, exc)
    return error_response(status, CODES[status], _one_line(str(exc)),
                          {"error": type(exc).__name__})


async def _on_http_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover
        raise exc
    status = exc.status_code
    message = exc.detail if isinstance(exc.detail, str) else "request refused"
    if status == 404 and message == "Not Found":
        message = "no such route; GET /openapi.json lists the routes"
    elif status == 405:
        message = "method not allowed on this route; GET /openapi.json lists the methods"
    code = CODES.get(status, "bad_request" if status < 500 else "internal")
    return error_response(status, code, message, headers=getattr(exc, "headers", None))


async def _on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover
        raise exc
    problems = [_problem(err) for err in exc.errors()]
    if any(p["type"] == "json_invalid" for p in problems):
        return error_response(400, "bad_request", "malformed JSON body; send a JSON object",
                              {"errors": problems})
    first = problems[0] if problems else {"where": "request", "message": "invalid"}
    message = f"{first['where']}: {first['message']}"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more)"
    return error_response(422, "invalid", message, {"errors": problems})


def _problem(err: Any) -> dict[str, str]:
    """A validation error reduced to plain strings (the raw one may hold any object)."""
    loc = [str(part) for part in err.get("loc", ()) if part != "body"] or ["body"]
    return {"where": ".".join(loc), "message": str(err.get("msg", "invalid")),
            "type": str(err.get("type", ""))}


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    return _internal(request, exc)


def _internal(request: Request, exc: BaseException) -> JSONResponse:
    ref = secrets.token_hex(4)
    log.error("internal error %s on %s %s", ref, request.method, request.url.path,
              exc_info=(type(exc), exc, exc.__traceback__))
    return error_response(500, "internal", f"internal error (ref {ref}); the server log "
                          "has the details: please report it")


def install_error_handlers(app: FastAPI) -> None:
    """Route every failure through :func:`error_body`."""
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(heron_errors.HeronError, _on_heron_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)
