"""Errors as application/problem+json, mapped from the domain's stable codes in one place."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
from eventsourcing.persistence import OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.bearer import bearer_token
from domain.errors import LedgerError
from domain.personal import PersonalDataUnreadable

log = logging.getLogger("api")

# Bad input is 422; a refusal by a rule or by a concurrent change is 409.
STATUS_BY_CODE: dict[str, int] = {
    "unauthenticated": 401,
    "forbidden": 403,
    "out_of_jurisdiction": 403,
    "not_found": 404,
    "validation_error": 422,
    "invalid_registration_no": 422,
    "future_date": 422,
    "validity_too_long": 422,
    "idempotency_key_reused": 422,
    "not_ready": 503,
}
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
TITLES = {401: "Unauthenticated", 403: "Forbidden", 404: "Not found", 405: "Method not allowed", 409: "Refused",
          422: "Invalid request", 500: "Internal error", 503: "Not ready"}


class ApiError(Exception):
    """An error raised by the API layer itself (authentication, roles, idempotency)."""

    def __init__(self, code: str, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail
        self.status = status or STATUS_BY_CODE.get(code, 409)


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": f"/problems/{code}", "title": TITLES.get(status, "Error"), "status": status,
            "detail": detail, "code": code, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def known_error_response(error: BaseException) -> JSONResponse | None:
    """The problem response for a refusal or bad input; None for anything unexpected."""
    if isinstance(error, LedgerError):
        return problem(STATUS_BY_CODE.get(error.code, 409), error.code, error.detail)
    if isinstance(error, ApiError):
        return problem(error.status, error.code, error.detail)
    if isinstance(error, RequestValidationError):
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in error.errors()
        ]
        detail = "; ".join(f"{'.'.join(e['loc'][1:] or e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
        return problem(422, "validation_error", detail, errors=errors)
    return None


def allowed_methods(request: Request) -> str:
    """The methods some route answers at the request's path, for a 405's `Allow` (Starlette's
    own names only those of the first route that matched the path)."""
    probe = {"type": "http", "path": request.scope["path"], "root_path": request.scope.get("root_path", ""),
             "headers": [], "query_string": b""}
    return ", ".join(
        method for method in METHODS
        if any(route.matches({**probe, "method": method})[0] == Match.FULL for route in request.app.router.routes)
    )


MEMBER_TOKEN_ONLY = "a member's token opens only the member's own pages (/v1/me)"


def is_member_token(request: Request) -> bool:
    """Whether the request's bearer token is a member's (api/routes/me.py)."""
    token = bearer_token(request.headers.get("authorization"))
    return token is not None and request.app.state.services.ledger.member_for_token(token) is not None


def install(app: FastAPI) -> None:
    async def known(_: Request, error: Exception) -> JSONResponse:
        response = known_error_response(error)
        assert response is not None
        return response

    for kind in (LedgerError, ApiError, RequestValidationError):
        app.add_exception_handler(kind, known)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400:  # e.g. a body that is not JSON or not UTF-8
            return problem(422, "validation_error", str(error.detail))
        if error.status_code in (404, 405) and request.url.path.startswith("/v1/") and \
                await run_in_threadpool(is_member_token, request):
            # API.md: with a member's token, any call but the member's own is 403
            return problem(403, "forbidden", MEMBER_TOKEN_ONLY)
        code = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            error.status_code, "http_error")
        response = problem(error.status_code, code, str(error.detail))
        response.headers.update(error.headers or {})
        if error.status_code == 405:
            response.headers["Allow"] = allowed_methods(request)
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        if isinstance(error, OperationalError | psycopg.OperationalError | sqlite3.OperationalError):
            log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(error).__name__)
            return problem(503, "not_ready", "the database is unavailable or busy; try again")
        if isinstance(error, PersonalDataUnreadable):  # names the event and the key id, nothing personal
            log.error("data keys on %s %s: %s", request.method, request.url.path, error)
            return problem(503, "not_ready", "a stored record can't be read with the data keys configured")
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "internal_error", "an unexpected error occurred")
