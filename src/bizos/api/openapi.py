"""The OpenAPI document states the errors every route can answer, as they really leave.

FastAPI documents only the success response and a 422 shaped like its own validation
error (``application/json``, ``{detail: [...]}``). Ours leave as problem+json
(``bizos.api.errors``), and the gateway and the auth layer add 401, 403, 404, 409, 413 and
429 to any route. Documenting them once here keeps ``/openapi.json`` in agreement with
API.md and lets contract tools (schemathesis) hold every response to its schema.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

PROBLEM = "application/problem+json"
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_BODY_METHODS = frozenset({"post", "put", "patch"})
_WRITE_METHODS = _BODY_METHODS | {"delete"}
# Routes anyone may call: no scope to lack (401 still: bad credentials or signature).
_PUBLIC_PREFIXES = ("/forms/", "/webhooks/", "/api/v1/auth/")

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string"},
                },
            },
        },
    },
}

_DESCRIPTIONS = {
    "401": "No or bad credentials (or webhook signature)",
    "403": "Authenticated but lacking a scope",
    "404": "Not found, or belongs to another tenant",
    "409": "Version conflict, duplicate, or a request with this Idempotency-Key in progress",
    "413": "Request body too large",
    "422": "Validation failed",
    "429": "Rate limited or locked out",
}


def error_statuses(path: str, method: str) -> list[str]:
    """The problem statuses a route can answer besides its own success."""
    statuses = ["401", "404", "422", "429"]
    if not path.startswith(_PUBLIC_PREFIXES):
        statuses.append("403")
    if method in _WRITE_METHODS:
        statuses.append("409")
    if method in _BODY_METHODS:
        statuses.append("413")
    return sorted(statuses)


def problem_response(status: str, existing: dict[str, Any] | None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": (existing or {}).get("description") or _DESCRIPTIONS[status],
        "content": {PROBLEM: {"schema": _PROBLEM_REF}},
    }
    if status == "429":
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
        }
    return response


def document_problems(doc: dict[str, Any]) -> dict[str, Any]:
    """Add (or correct) the problem+json error responses of every operation in ``doc``."""
    doc.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in _WRITE_METHODS | {"get", "head", "options"}:
                continue
            responses = operation.setdefault("responses", {})
            for status in error_statuses(path, method):
                existing = responses.get(status)
                # A route's own problem description stays; FastAPI's 422 shape does not.
                if existing is None or status == "422" or "content" not in existing:
                    responses[status] = problem_response(status, existing)
    return doc


def install_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
