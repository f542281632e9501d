"""The OpenAPI document states the errors every route can answer, as they really leave.

FastAPI documents only the success response and a 422 shaped like its own validation
error (``application/json``, ``{detail: [...]}``). Ours leave as problem+json
(``bizos.api.errors``), and the gateway and the auth layer add 401, 403, 404, 409, 413 and
429 to any route. Documenting them once here keeps ``/openapi.json`` in agreement with
API.md and lets contract tools (schemathesis) hold every response to its schema.

It also states the rules the server enforces on requests beyond what the models say, so
that a request the document calls valid is one the server takes:

* no text holds NUL (U+0000): ``bizos.api.guards.reject_nul_characters`` refuses it in
  path and query parameters, and in the strings and object keys of form and JSON bodies;
* a ``cursor`` is one the server issued (``core/pagination.py``): its shape is stated, and
  that it must come from ``next_cursor``;
* ``If-Match`` names versions as ``core/versions.py`` parses them (``3``, ``"3"``,
  ``W/"3"``, a list of them, or ``*``);
* a decimal sent as a string is written as one (``"12.50"``);
* 415 where a route takes bodies other than JSON and refuses the media types it cannot use.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from bizos.api.guards import RAW_BODY_PATHS

PROBLEM = "application/problem+json"
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
JSON = "application/json"
# The text of a decimal (amounts, rates): what Decimal parses, without exponents.
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
OCTET_STREAM = "application/octet-stream"
ANY_MEDIA_TYPE = "*/*"
# Text without U+0000 (see bizos.api.guards); a search, so any other text matches.
NO_NUL_PATTERN = r"^[^\x00]*$"
# What encode_cursor makes: URL-safe base64 of the key, a dot, a 12-character MAC.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{12}$"
_ETAG = r'(W/"[0-9]{1,18}"|"[0-9]{1,18}"|[0-9]{1,18})'
# What parse_if_match accepts: "*", or a comma-separated list of versions (blank: ignored).
IF_MATCH_PATTERN = rf"^[ \t]*(\*|{_ETAG}([ \t]*,[ \t]*{_ETAG})*)?[ \t]*$"
# Free-form JSON (properties, payloads) holding no NUL in any string or key.
_NO_NUL_JSON = "NoNulJson"
NO_NUL_JSON_SCHEMA: dict[str, Any] = {
    "title": _NO_NUL_JSON,
    "description": "Any JSON value whose strings and object keys hold no NUL (U+0000).",
    "anyOf": [
        {"type": "string", "pattern": NO_NUL_PATTERN},
        {"type": ["number", "boolean", "null"]},
        {"type": "array", "items": {"$ref": f"#/components/schemas/{_NO_NUL_JSON}"}},
        {
            "type": "object",
            "propertyNames": {"pattern": NO_NUL_PATTERN},
            "additionalProperties": {"$ref": f"#/components/schemas/{_NO_NUL_JSON}"},
        },
    ],
}
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
    "415": "The body's media type is not one this route takes",
    "422": "Validation failed",
    "429": "Rate limited or locked out",
}


def error_statuses(path: str, method: str, media_types: list[str] | None = None) -> list[str]:
    """The problem statuses a route can answer besides its own success; ``media_types``
    are those its request body is documented in."""
    statuses = ["401", "404", "422", "429"]
    if not path.startswith(_PUBLIC_PREFIXES):
        statuses.append("403")
    if method in _WRITE_METHODS:
        statuses.append("409")
    if method in _BODY_METHODS:
        statuses.append("413")
    if any(media_type != JSON for media_type in media_types or ()):
        statuses.append("415")
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
            media_types = list(operation.get("requestBody", {}).get("content", {}))
            for status in error_statuses(path, method, media_types):
                existing = responses.get(status)
                # A route's own problem description stays; FastAPI's 422 shape does not.
                if existing is None or status == "422" or "content" not in existing:
                    responses[status] = problem_response(status, existing)
            _document_downloads(responses)
            # Errors a route declares itself (400, 410, 503...) leave as problem+json too.
            for status, response in responses.items():
                if status[:1] in ("4", "5") and "content" not in response:
                    response["content"] = {PROBLEM: {"schema": _PROBLEM_REF}}
    return doc


def _document_downloads(responses: dict[str, Any]) -> None:
    """A stored file (an attachment) is served in the media type it was stored with; a
    route documents it as ``application/octet-stream``, so say any type may come."""
    for status, response in responses.items():
        content = response.get("content") or {}
        if status.startswith("2") and OCTET_STREAM in content:
            content.setdefault(ANY_MEDIA_TYPE, {"schema": {"type": "string", "format": "binary"}})


# --- request rules ---------------------------------------------------------------


def _string_branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The string schemas of ``schema`` itself or of its ``anyOf`` (``str | None``)."""
    branches = [schema, *schema.get("anyOf", ())]
    return [b for b in branches if b.get("type") == "string"]


def _decimal_text(schema: dict[str, Any]) -> None:
    """A decimal is documented as a number or a string (``Decimal``): the string is a
    decimal number too (``"12.50"``), which is what the server parses."""
    branches = schema.get("anyOf", ())
    if any(b.get("type") == "number" for b in branches):
        for branch in branches:
            if branch.get("type") == "string" and not {"pattern", "format", "enum"} & branch.keys():
                branch["pattern"] = DECIMAL_PATTERN


def _forbid_nul(schema: dict[str, Any]) -> None:
    """State the NUL rule on the text of a parameter's schema (files are not text)."""
    for branch in _string_branches(schema):
        if not {"pattern", "enum", "const"} & branch.keys() and branch.get("format") != "binary":
            branch["pattern"] = NO_NUL_PATTERN


def _forbid_nul_in_body(schema: Any, schemas: dict[str, Any], seen: set[str]) -> None:
    """State the NUL rule everywhere in a request body schema, following ``$ref`` into the
    components once each: strings, free-form values and the keys of free-form objects."""
    if isinstance(schema, list):
        for item in schema:
            _forbid_nul_in_body(item, schemas, seen)
        return
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[-1]
        if name not in seen and name in schemas:
            seen.add(name)
            _forbid_nul_in_body(schemas[name], schemas, seen)
        return
    _decimal_text(schema)
    _forbid_nul(schema)
    if schema.get("type") == "object" and "additionalProperties" in schema:
        extra = schema["additionalProperties"]
        if extra is True or extra == {}:
            schema["additionalProperties"] = {"$ref": f"#/components/schemas/{_NO_NUL_JSON}"}
        if extra is not False:
            schema.setdefault("propertyNames", {"pattern": NO_NUL_PATTERN})
    for key in ("properties", "patternProperties", "$defs"):
        for sub in (schema.get(key) or {}).values():
            _forbid_nul_in_body(sub, schemas, seen)
    for key in ("items", "additionalProperties", "not", "prefixItems"):
        if key in schema:
            _forbid_nul_in_body(schema[key], schemas, seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, ()):
            _forbid_nul_in_body(sub, schemas, seen)


def document_request_rules(doc: dict[str, Any]) -> dict[str, Any]:
    """State the NUL, cursor and If-Match rules on the requests of every operation."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas[_NO_NUL_JSON] = NO_NUL_JSON_SCHEMA
    seen: set[str] = {_NO_NUL_JSON, "Problem"}
    for path, operations in doc.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", ()):
                _document_parameter(parameter)
            if path.startswith(RAW_BODY_PATHS):
                continue  # provider webhooks are stored byte for byte (see the guard)
            for content in operation.get("requestBody", {}).get("content", {}).values():
                _forbid_nul_in_body(content.get("schema", {}), schemas, seen)
    return doc


def _document_parameter(parameter: dict[str, Any]) -> None:
    where, name = parameter.get("in"), str(parameter.get("name", "")).lower()
    schema = parameter.setdefault("schema", {})
    if where == "header" and name == "if-match":
        parameter["schema"] = {"type": "string", "pattern": IF_MATCH_PATTERN}
        parameter.setdefault(
            "description",
            'The `version` you read, as `3`, `"3"` or the `ETag` (`W/"3"`); 409 if stale.',
        )
    elif where == "query" and name == "cursor":
        for branch in _string_branches(schema):
            branch.setdefault("pattern", CURSOR_PATTERN)
        parameter["description"] = (
            f"{parameter.get('description') or 'A page cursor.'} Opaque: pass a "
            "`next_cursor` exactly as received; a cursor the server did not issue is a 422."
        )
    elif where in ("path", "query"):
        _decimal_text(schema)
        _forbid_nul(schema)


def install_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_request_rules(document_problems(generate()))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
