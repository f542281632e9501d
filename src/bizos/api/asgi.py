"""Helpers over the raw ASGI scope, shared by the gateway middleware: headers, the
caller's credential and client address, problem+json answers, route templates."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import structlog
from fastapi import FastAPI
from starlette.routing import Route, compile_path
from starlette.types import Scope, Send

from bizos.core.auth import principal_key
from bizos.core.ratelimit import RateLimitDecision

log = structlog.get_logger("bizos.api")

PROBLEM = "application/problem+json"
# Endpoints anyone can call without a credential: limited per client IP, more strictly.
PUBLIC_PREFIXES = ("/forms/", "/webhooks/", "/api/v1/auth/login", "/api/v1/auth/signup")
# Provider webhooks: public, but limited per receiving tenant rather than per client IP.
PROVIDER_WEBHOOKS = ("/webhooks/shopify/", "/webhooks/stripe/", "/webhooks/email/")
# Probes and scrapes: logged at debug so they do not drown the request log.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Ids we echo and store (events keep 64 characters): conservative characters and length.
SANE_ID = re.compile(r"^[A-Za-z0-9._:/+=~-]{1,64}$")
SANE_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"
SCOPE_CREDENTIAL = "bizos.credential"
SCOPE_RATE_LIMIT = "bizos.rate_limit"


# --- helpers over the raw ASGI scope -----------------------------------------------


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def credential_key(scope: Scope) -> str | None:
    """``principal_key`` of the bearer credential, computed once per request (cheap, no
    database: a JWT's signature is checked, an API key is hashed). ``None`` if absent or
    not a valid token."""
    if SCOPE_CREDENTIAL in scope:
        cached: str | None = scope[SCOPE_CREDENTIAL]
        return cached
    key: str | None = None
    auth = header(scope, b"authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token and len(token) <= 4096:
            key = principal_key(token)
    scope[SCOPE_CREDENTIAL] = key
    return key


def tenant_of(credential: str | None) -> str | None:
    """The tenant a JWT credential key names (``user:<tenant>:<user>``); API keys name
    none until the request authenticates."""
    if credential and credential.startswith("user:"):
        return credential.split(":", 2)[1]
    return None


def problem_body(
    status: int, title: str, detail: str, *, instance: str | None = None, **extra: Any
) -> bytes:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    return json.dumps(body).encode()


async def send_problem(
    send: Send,
    status: int,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    **extra: Any,
) -> None:
    body = problem_body(status, title, detail, instance=instance, **extra)
    raw = [
        (b"content-type", PROBLEM.encode()),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def rate_limit_headers(decision: RateLimitDecision) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(decision.limit).encode()),
        (b"ratelimit-remaining", str(decision.remaining).encode()),
        (b"ratelimit-reset", str(decision.reset_seconds).encode()),
        (b"ratelimit-policy", f"{decision.limit};w=60".encode()),
    ]


class RouteTemplates:
    """Maps a request to its route's path template (``/api/v1/crm/leads/{id}``), never
    the raw path, so metric label values stay bounded whatever ids clients send."""

    def __init__(self, app: FastAPI | None) -> None:
        self._app = app
        self._patterns: list[tuple[re.Pattern[str], str]] | None = None

    def __call__(self, scope: Scope) -> str:
        route = scope.get("route")
        path = getattr(route, "path_format", None) or getattr(route, "path", None)
        if isinstance(path, str):
            return path or "/"
        # Answered before routing (rate limited) or not routable: match the documented paths.
        for pattern, template in self._documented_paths():
            if pattern.match(scope["path"]):
                return template
        return UNMATCHED

    def _documented_paths(self) -> list[tuple[re.Pattern[str], str]]:
        if self._patterns is None:
            patterns: list[tuple[re.Pattern[str], str]] = []
            if self._app is not None:
                # Plain routes (docs, OpenAPI) first, then every documented API path.
                for route in self._app.routes:
                    if isinstance(route, Route):
                        patterns.append((route.path_regex, route.path_format))
                for path in self._app.openapi().get("paths", {}):
                    patterns.append((compile_path(path)[0], path))
            self._patterns = patterns
        return self._patterns
