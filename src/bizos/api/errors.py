"""Every error leaves as RFC 9457 problem+json."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from bizos.core.db import TenancyViolation
from bizos.core.errors import ProblemError

log = structlog.get_logger("bizos.api")
PROBLEM = "application/problem+json"


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


# FastAPI's answer to a body it cannot decode at all (e.g. not UTF-8).
UNPARSABLE_BODY = "There was an error parsing the body"
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette names only the first
    route that matched the path, so a GET and a POST route on one path said just one)."""
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def sqlstate(exc: sa.exc.DBAPIError) -> str:
    return str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")


def is_data_error(exc: sa.exc.DBAPIError) -> bool:
    """SQLSTATE class 22 (data exception); asyncpg's are not all translated to DataError."""
    return isinstance(exc, sa.exc.DataError) or sqlstate(exc).startswith("22")


def _loc(loc: tuple[Any, ...] | list[Any]) -> list[Any]:
    return [p for p in loc]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return JSONResponse(
            exc.to_problem(instance=request.url.path),
            status_code=exc.status,
            media_type=PROBLEM,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": _loc(e.get("loc", ())), "msg": e.get("msg", "invalid")} for e in exc.errors()
        ]
        return problem_response(
            422,
            "Validation failed",
            "the request did not validate",
            errors=errors,
            instance=request.url.path,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == UNPARSABLE_BODY:
            # A body that is not text (bad UTF-8) is as malformed as bad JSON: 422 alike.
            return problem_response(
                422,
                "Validation failed",
                "the request did not validate",
                errors=[{"loc": ["body"], "msg": "the body is not valid UTF-8 JSON"}],
                instance=request.url.path,
            )
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        titles = {
            401: "Unauthorized",
            404: "Not found",
            405: "Method not allowed",
            413: "Payload too large",
        }
        return problem_response(
            exc.status_code,
            titles.get(exc.status_code, "Error"),
            str(exc.detail),
            headers=headers or None,
            instance=request.url.path,
        )

    @app.exception_handler(TenancyViolation)
    async def _tenancy(request: Request, exc: TenancyViolation) -> JSONResponse:
        log.error("tenancy.violation", path=request.url.path, error=str(exc))
        return problem_response(404, "Not found", "not found", instance=request.url.path)

    @app.exception_handler(sa.exc.DBAPIError)
    async def _data(request: Request, exc: sa.exc.DBAPIError) -> JSONResponse:
        # The database refused a value (a number past a column's precision, text past its
        # length: SQLSTATE class 22): the caller's data, though a service should have
        # caught it first. Anything else is ours: re-raised, it becomes the logged 500.
        # The transaction is already rolled back (the unit of work exited).
        if not is_data_error(exc):
            raise exc
        log.warning("request.data_refused", path=request.url.path, sqlstate=sqlstate(exc))
        return problem_response(
            422,
            "Unprocessable content",
            "a value is out of the range that can be stored",
            errors=[{"loc": ["body"], "msg": "a value is out of range"}],
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request.failed", path=request.url.path)
        return problem_response(
            500, "Internal server error", "an unexpected error occurred", instance=request.url.path
        )
