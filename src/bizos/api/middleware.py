"""The gateway: pure ASGI middleware every HTTP request passes through.

Outermost first:

1. ``GatewayMiddleware`` — request id (echoed or made), log context (request, tenant,
   correlation ids), our ids on the HTTP server span (opened by FastAPI's native
   OpenTelemetry support), request metrics by route template, the
   ``X-Request-ID`` and ``RateLimit-*`` headers on every response, and a problem+json 500
   for anything unhandled.
2. ``RateLimitMiddleware`` — GCRA per credential, or per client IP for anonymous callers
   and (stricter) for public endpoints; 429 with ``Retry-After`` when exceeded.
3. ``IdempotencyMiddleware`` — ``Idempotency-Key`` on authenticated POSTs: the first
   response is stored and replayed for a retry with the same body.

Pure ASGI rather than ``BaseHTTPMiddleware``: no per-request task or body streaming
through memory channels, which matters at the request rates in the budget.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

import structlog
from fastapi import FastAPI
from opentelemetry import trace
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bizos.core.auth import principal_key
from bizos.core.config import Settings
from bizos.core.db import get_database
from bizos.core.idempotency import (
    IdempotencyStore,
    Outcome,
    StoredResponse,
    request_fingerprint,
)
from bizos.core.ids import new_id
from bizos.core.observability import metrics
from bizos.core.ratelimit import RateLimitDecision, RateLimiter, rate_limiter_for

log = structlog.get_logger("bizos.api")

PROBLEM = "application/problem+json"
# Endpoints anyone can call without a credential: limited per client IP, more strictly.
PUBLIC_PREFIXES = ("/forms/", "/webhooks/", "/api/v1/auth/login", "/api/v1/auth/signup")
# Provider webhooks: public, but limited per receiving tenant rather than per client IP.
PROVIDER_WEBHOOKS = ("/webhooks/shopify/", "/webhooks/stripe/", "/webhooks/email/")
# Probes and scrapes: logged at debug so they do not drown the request log.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Ids we echo and store (events keep 64 characters): conservative characters and length.
_SANE_ID = re.compile(r"^[A-Za-z0-9._:/+=~-]{1,64}$")
_SANE_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_UNMATCHED = "<unmatched>"
_SCOPE_CREDENTIAL = "bizos.credential"
_SCOPE_RATE_LIMIT = "bizos.rate_limit"


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
    if _SCOPE_CREDENTIAL in scope:
        cached: str | None = scope[_SCOPE_CREDENTIAL]
        return cached
    key: str | None = None
    auth = header(scope, b"authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token and len(token) <= 4096:
            key = principal_key(token)
    scope[_SCOPE_CREDENTIAL] = key
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
        return _UNMATCHED

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


# --- 1. request id, logs, traces, metrics, last-resort 500 -------------------------


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, *, routes_of: FastAPI | None = None) -> None:
        self.app = app
        self.route_template = RouteTemplates(routes_of)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        request_id = _sane(header(scope, b"x-request-id")) or new_id()
        correlation_id = _sane(header(scope, b"x-correlation-id")) or request_id
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["correlation_id"] = correlation_id
        tenant_id = tenant_of(credential_key(scope))
        method = scope["method"]
        status = 500
        response_started = False
        # FastAPI's native OpenTelemetry support opens the HTTP server span (continuing an
        # incoming traceparent) around this middleware; we add our ids to it.
        span = trace.get_current_span()
        span.set_attribute("bizos.request_id", request_id)

        async def send_with_gateway_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                extra = [(b"x-request-id", request_id.encode())]
                decision = scope.get(_SCOPE_RATE_LIMIT)
                if decision is not None:
                    extra.extend(rate_limit_headers(decision))
                message["headers"] = [*message.get("headers", ()), *extra]
                # Authenticated by now (if at all): name the tenant on the span while it is open.
                principal_tenant = getattr(state.get("principal"), "tenant_id", None)
                if principal_tenant:
                    span.set_attribute("bizos.tenant_id", principal_tenant)
            await send(message)

        with structlog.contextvars.bound_contextvars(
            request_id=request_id, correlation_id=correlation_id, tenant_id=tenant_id
        ):
            try:
                await self.app(scope, receive, send_with_gateway_headers)
            except Exception as exc:
                log.exception("request.failed", method=method, path=scope["path"])
                span.record_exception(exc)
                if response_started:
                    raise
                await send_problem(
                    send_with_gateway_headers,
                    500,
                    "Internal server error",
                    "an unexpected error occurred",
                    instance=scope["path"],
                )
            finally:
                self._observe(scope, method, status, started_at)

    def _observe(self, scope: Scope, method: str, status: int, started_at: float) -> None:
        duration = time.perf_counter() - started_at
        route = self.route_template(scope)
        method_label = method if method in _METHODS else "OTHER"
        metrics.http_requests.labels(method_label, route, str(status)).inc()
        metrics.http_latency.labels(method_label, route).observe(duration)
        principal = scope.get("state", {}).get("principal")
        tenant_id = getattr(principal, "tenant_id", None)
        fields = {
            "method": method,
            "path": scope["path"],
            "route": route,
            "status": status,
            "duration_ms": round(duration * 1000, 2),
            "client_ip": client_ip(scope),
        }
        if principal is not None:
            fields["tenant_id"] = tenant_id
            fields["actor_id"] = getattr(principal, "actor_id", None)
        if scope["path"] in QUIET_PATHS:
            log.debug("http.request", **fields)
        else:
            log.info("http.request", **fields)


def _sane(value: str | None) -> str | None:
    return value if value is not None and _SANE_ID.match(value) else None


# --- 2. rate limits ------------------------------------------------------------------


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, settings: Settings) -> None:
        self.app = app
        self.limiter = limiter
        self.limit = settings.rate_limit_per_minute
        self.public_limit = settings.rate_limit_public_per_minute
        self.form_limit = settings.rate_limit_form_per_minute
        self.webhook_limit = settings.rate_limit_webhook_per_minute

    def bucket(self, scope: Scope) -> tuple[str, int]:
        """Which counter a request draws on, and its limit per minute."""
        ip = client_ip(scope)
        path: str = scope["path"]
        if path.startswith(PROVIDER_WEBHOOKS):
            # /webhooks/<provider>/<tenant_slug>: one allowance per receiving tenant and
            # provider, whichever address sends (the provider's), whatever trails the slug.
            provider, _, rest = path.removeprefix("/webhooks/").partition("/")
            slug = rest.split("/", 1)[0][:100]
            return f"webhook:{provider}:{slug}", self.webhook_limit
        if path.startswith(PUBLIC_PREFIXES):
            return f"public:{ip}", self.public_limit
        credential = credential_key(scope)
        if credential is not None:
            return credential, self.limit
        return f"ip:{ip}", self.limit

    def stricter_bucket(self, scope: Scope) -> tuple[str, int] | None:
        """A second, smaller allowance per client IP for the routes bots aim at (posts to
        the public lead forms), drawn on once the request passed its bucket."""
        if scope["method"] == "POST" and scope["path"].startswith("/forms/"):
            return f"form:{client_ip(scope)}", self.form_limit
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key, limit = self.bucket(scope)
        try:
            decision = await self.limiter.hit(key, limit=limit, period=60.0)
            stricter = self.stricter_bucket(scope) if decision.allowed else None
            if stricter is not None:
                key, limit = stricter
                decision = await self.limiter.hit(key, limit=limit, period=60.0)
        except (RedisError, OSError) as exc:
            # Fail open: a cache outage must not take the API down with it.
            log.warning("ratelimit.unavailable", error=type(exc).__name__)
            await self.app(scope, receive, send)
            return
        scope[_SCOPE_RATE_LIMIT] = decision
        if decision.allowed:
            await self.app(scope, receive, send)
            return
        log.info("ratelimit.exceeded", bucket=key.split(":", 1)[0], limit=limit)
        await send_problem(
            send,
            429,
            "Too many requests",
            f"rate limit of {limit} requests per minute exceeded; "
            f"retry after {decision.retry_after_seconds} s",
            instance=scope["path"],
            headers=[("Retry-After", str(decision.retry_after_seconds))],
        )


# --- 3. idempotency keys -------------------------------------------------------------


class IdempotencyMiddleware:
    """Replays the first response of an authenticated POST for a retry with the same
    ``Idempotency-Key`` and body; 422 if the body differs; 409 while the first runs.

    The response is recorded *before* it is sent, so a client that got an answer always
    gets the same answer on retry. Failures on our side (5xx) and throttling (429) are not
    recorded: the retry runs afresh. Streams (``text/event-stream``) are passed through
    unrecorded.
    """

    def __init__(self, app: ASGIApp, *, store: IdempotencyStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        key = header(scope, b"idempotency-key")
        owner = credential_key(scope) if key is not None else None
        if key is None or owner is None:
            # No key, or no credential to own it: the route itself answers (401 if needed).
            await self.app(scope, receive, send)
            return
        if not _SANE_IDEMPOTENCY_KEY.match(key):
            await send_problem(
                send,
                422,
                "Validation failed",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
                instance=scope["path"],
                errors=[{"loc": ["header", "Idempotency-Key"], "msg": "invalid key"}],
            )
            return
        body, disconnected = await _read_body(receive)
        if disconnected:
            return
        fingerprint = request_fingerprint(
            scope["method"], scope["path"], scope.get("query_string", b"").decode("latin-1"), body
        )
        db = get_database()
        reservation = await self.store.reserve(
            db, owner_key=owner, key=key, fingerprint=fingerprint
        )
        if reservation.outcome is Outcome.REPLAY and reservation.response is not None:
            await _replay(send, reservation.response)
            return
        if reservation.outcome is Outcome.MISMATCH:
            await send_problem(
                send,
                422,
                "Idempotency key reused",
                "this Idempotency-Key was used for a different request; use a new key",
                instance=scope["path"],
                errors=[{"loc": ["header", "Idempotency-Key"], "msg": "reused with another body"}],
            )
            return
        if reservation.outcome is not Outcome.PROCEED or reservation.record_id is None:
            await send_problem(
                send,
                409,
                "Request in progress",
                "a request with this Idempotency-Key is still being processed; retry later",
                instance=scope["path"],
                headers=[("Retry-After", "1")],
            )
            return
        await self._run_and_record(scope, receive, send, body, owner, key, reservation.record_id)

    async def _run_and_record(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        body: bytes,
        owner: str,
        key: str,
        record_id: str,
    ) -> None:
        db = get_database()
        recorder = _ResponseRecorder(send)
        try:
            await self.app(scope, _replaying(body, receive), recorder.send)
        except BaseException:
            await _shielded(self.store.release(db, record_id=record_id))
            raise
        response = recorder.response()
        if response is None:
            # Streamed, failed on our side, throttled, or never answered: let a retry run.
            await _shielded(self.store.release(db, record_id=record_id))
            await recorder.flush()
            return
        try:
            await self.store.complete(
                db, record_id=record_id, owner_key=owner, key=key, response=response
            )
        except Exception:
            # The work is done and committed; the reservation stays until its lease ends.
            log.exception("idempotency.record_failed", record_id=record_id)
        await recorder.flush()


class _ResponseRecorder:
    """Holds a response back until it is recorded; streams pass straight through."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._start: Message | None = None
        self._chunks: list[bytes] = []
        self._complete = False
        self._streaming = False

    async def send(self, message: Message) -> None:
        if self._streaming:
            await self._send(message)
            return
        if message["type"] == "http.response.start":
            if not _recordable(message):
                self._streaming = True
                await self._send(message)
                return
            self._start = message
        elif message["type"] == "http.response.body":
            self._chunks.append(message.get("body", b""))
            self._complete = not message.get("more_body", False)
        else:
            await self._send(message)

    def response(self) -> StoredResponse | None:
        if self._streaming or self._start is None or not self._complete:
            return None
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in self._start.get("headers", ())
            if k.lower() != b"set-cookie"
        ]
        return StoredResponse(self._start["status"], headers, b"".join(self._chunks))

    async def flush(self) -> None:
        if self._start is not None:
            await self._send(self._start)
            await self._send({"type": "http.response.body", "body": b"".join(self._chunks)})


def _recordable(start: Message) -> bool:
    status = int(start["status"])
    if status >= 500 or status == 429:
        return False
    for key, value in start.get("headers", ()):
        if key.lower() == b"content-type" and value.startswith(b"text/event-stream"):
            return False
    return True


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body we already read, then the real stream
    (which later reports the client's disconnect)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _replay(send: Send, response: StoredResponse) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def _shielded(coro: Any) -> None:
    """Run a clean-up to the end even if this request is being cancelled."""
    try:
        await asyncio.shield(asyncio.ensure_future(coro))
    except Exception:
        log.exception("idempotency.release_failed")


# --- request body limit ---------------------------------------------------------------


class BodyLimitMiddleware:
    """Refuse a body over ``max_bytes`` with 413 problem+json before anything parses it.

    The body is read here (up to the limit) and replayed to the app, so a declared length
    and a chunked upload are held to the same limit and nothing downstream sees a partial
    body.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        upload_max_bytes: int | None = None,
        upload_paths: Iterable[str] = (),
        larger: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes or max_bytes
        self.upload_paths = frozenset(upload_paths)
        # Path prefixes whose bodies may be larger than max_bytes (mail, documents).
        self.larger = dict(larger or {})

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.larger.items():
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if scope["path"].rstrip("/") in self.upload_paths:
            await self._stream_upload(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the app will see the disconnect
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send, limit: int | None = None) -> None:
        await send_problem(
            send,
            413,
            "Payload too large",
            f"the request body is larger than {limit or self.max_bytes} bytes",
            instance=scope["path"],
        )

    async def _stream_upload(self, scope: Scope, receive: Receive, send: Send) -> None:
        """File uploads (CSV imports) are large: counted as they stream to the app, which
        spools them to disk, instead of being held here. Past the limit the body read
        raises a 413, answered here if the app had not begun its response."""
        limit = self.upload_max_bytes
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        size = 0
        started = False

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    raise StarletteHTTPException(
                        413, f"the request body is larger than {limit} bytes"
                    )
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except StarletteHTTPException as exc:
            if exc.status_code != 413 or started:
                raise
            await self._refuse(scope, send, limit)


# --- assembly ------------------------------------------------------------------------

# Routes that take file uploads larger than max_body_bytes (streamed, see BodyLimitMiddleware).
UPLOAD_PATHS = ("/api/v1/crm/imports",)


def install_gateway(app: FastAPI, settings: Settings) -> None:
    """Add the gateway middleware in order (the last added runs first)."""
    if settings.rate_limit_enabled:
        app.state.rate_limiter = rate_limiter_for(settings)
    app.state.idempotency = IdempotencyStore(
        ttl_seconds=settings.idempotency_ttl_seconds,
        lease_seconds=settings.idempotency_lease_seconds,
    )
    app.add_middleware(IdempotencyMiddleware, store=app.state.idempotency)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        upload_max_bytes=settings.max_import_bytes,
        upload_paths=UPLOAD_PATHS,
        larger={
            "/webhooks/email/": settings.max_email_bytes,
            # A document upload is a file plus a little multipart framing.
            "/api/v1/kb/documents": settings.max_document_bytes + 64 * 1024,
        },
    )
    if settings.rate_limit_enabled:
        app.add_middleware(RateLimitMiddleware, limiter=app.state.rate_limiter, settings=settings)
    app.add_middleware(GatewayMiddleware, routes_of=app)


async def close_gateway(app: FastAPI) -> None:
    limiter: RateLimiter | None = getattr(app.state, "rate_limiter", None)
    if limiter is not None:
        await limiter.close()
