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

import time

import structlog
from fastapi import FastAPI
from opentelemetry import trace
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bizos.api.asgi import (
    METHODS,
    PROVIDER_WEBHOOKS,
    PUBLIC_PREFIXES,
    QUIET_PATHS,
    SANE_ID,
    SCOPE_RATE_LIMIT,
    RouteTemplates,
    client_ip,
    credential_key,
    header,
    rate_limit_headers,
    send_problem,
    tenant_of,
)
from bizos.api.body_limit import BodyLimitMiddleware
from bizos.api.idempotency import IdempotencyMiddleware
from bizos.core.config import Settings
from bizos.core.idempotency import (
    IdempotencyStore,
)
from bizos.core.ids import new_id
from bizos.core.observability import metrics
from bizos.core.ratelimit import RateLimiter, rate_limiter_for

log = structlog.get_logger("bizos.api")

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
                decision = scope.get(SCOPE_RATE_LIMIT)
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
        method_label = method if method in METHODS else "OTHER"
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
    return value if value is not None and SANE_ID.match(value) else None


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
        scope[SCOPE_RATE_LIMIT] = decision
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
