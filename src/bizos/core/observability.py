"""Metrics, logs and traces (DESIGN rule 10).

* ``metrics``: the process's Prometheus metrics (served at ``/metrics``).
* ``configure_logging``: structlog, JSON lines by default, every line carrying the
  request/tenant/correlation ids bound in contextvars, secrets redacted by key name.
  Standard-library loggers (uvicorn, sqlalchemy) go through the same renderer.
* ``configure_tracing``: an OpenTelemetry SDK tracer provider exporting to the console or
  OTLP/HTTP; ``tracer`` is what our code starts spans with (HTTP spans come from the
  gateway middleware, database spans from ``instrument_database``).
"""

from __future__ import annotations

import logging
import sys
import weakref
from collections.abc import Mapping, MutableMapping
from typing import IO, Any

import structlog
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, ExceptionContext

from bizos.core.config import Settings
from bizos.core.db import Database


class Metrics:
    """The process's Prometheus metrics, in one registry so tests can read them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "bizos_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.http_latency = Histogram(
            "bizos_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.events_appended = Counter(
            "bizos_events_appended_total", "Events appended to the log", ["type"], registry=r
        )
        self.events_handled = Counter(
            "bizos_events_handled_total", "Events handled", ["subscriber"], registry=r
        )
        self.events_failed = Counter(
            "bizos_events_failed_total", "Handler failures", ["subscriber"], registry=r
        )
        self.events_dead_lettered = Counter(
            "bizos_events_dead_lettered_total", "Events dead-lettered", ["subscriber"], registry=r
        )
        self.dispatcher_lag = Gauge(
            "bizos_dispatcher_lag_events",
            "Events appended but not yet processed by a subscriber",
            ["subscriber"],
            registry=r,
        )
        self.workflow_runs = Counter(
            "bizos_workflow_runs_total", "Workflow runs", ["workflow", "outcome"], registry=r
        )
        self.webhook_deliveries = Counter(
            "bizos_webhook_deliveries_total", "Outbound webhook attempts", ["outcome"], registry=r
        )


metrics = Metrics()


# --- logs -------------------------------------------------------------------------

REDACTED = "[redacted]"
_SECRET_KEY_MARKERS = (
    "password",
    "passwd",
    "token",
    "secret",
    "authorization",
    "api_key",
    "apikey",
    "cookie",
    "private_key",
    "signature",
)


def _is_secret_key(key: str) -> bool:
    lowered = key.lower().replace("-", "_")
    return any(marker in lowered for marker in _SECRET_KEY_MARKERS)


def _redact(value: Any, depth: int = 0) -> Any:
    if depth > 6:
        return value
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and _is_secret_key(k) else _redact(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v, depth + 1) for v in value]
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: values under secret-sounding keys never reach a log line,
    at any depth (``headers={"authorization": ...}`` too)."""
    for key, value in list(event_dict.items()):
        if key == "event":
            continue
        if _is_secret_key(key):
            event_dict[key] = REDACTED
        elif isinstance(value, Mapping | list | tuple):
            event_dict[key] = _redact(value)
    return event_dict


class _BizosLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler we installed, so reconfiguring replaces it and nothing else."""


def configure_logging(settings: Settings, *, stream: IO[str] | None = None) -> None:
    """Route structlog and the standard library through one renderer. Safe to call again
    (each call replaces the previous configuration)."""
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        level = logging.INFO
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    final: list[Any] = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
        if settings.log_json
        else [
            # Plain tracebacks: the default (rich, with every frame's locals) takes seconds
            # for a deep stack, all of it blocking the event loop, and would print local
            # values (passwords, tokens, webhook secrets) that redact_secrets never sees.
            structlog.dev.ConsoleRenderer(
                colors=False, exception_formatter=structlog.dev.plain_traceback
            )
        ]
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = _BizosLogHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _BizosLogHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Migration chatter (plugin set-up, each revision) is noise at INFO.
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
    # uvicorn installs its own handlers; let its records reach ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


# --- traces -----------------------------------------------------------------------

tracer = trace.get_tracer("bizos")
_provider: TracerProvider | None = None


def span_processor_for(settings: Settings) -> SpanProcessor | None:
    """The span processor ``otel_exporter`` names: ``none`` → None, ``console`` (stdout),
    ``otlp`` (HTTP/protobuf to ``otel_endpoint``, default ``http://localhost:4318``)."""
    kind = settings.otel_exporter.lower()
    if kind == "none":
        return None
    if kind == "console":
        return BatchSpanProcessor(ConsoleSpanExporter(out=sys.stdout))
    if kind == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = (settings.otel_endpoint or "http://localhost:4318").rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        return BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))
    raise ValueError(f"unknown otel_exporter {settings.otel_exporter!r}: none, console or otlp")


def configure_tracing(
    settings: Settings, *, exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """Install the SDK tracer provider (once per process) with the configured exporter.

    With ``otel_exporter=none`` and no ``exporter`` nothing is installed and spans cost
    next to nothing. ``exporter`` attaches one directly (tests, embedding).
    """
    global _provider
    processor = span_processor_for(settings)
    if exporter is not None:
        processor = SimpleSpanProcessor(exporter)
    if processor is None:
        return _provider
    if _provider is None:
        _provider = TracerProvider(
            resource=Resource.create(
                {"service.name": "bizos", "deployment.environment": settings.environment}
            )
        )
        trace.set_tracer_provider(_provider)
    _provider.add_span_processor(processor)
    return _provider


def tracing_enabled() -> bool:
    return _provider is not None


_instrumented: weakref.WeakSet[Engine] = weakref.WeakSet()
_SPAN_KEY = "bizos.otel_spans"
_MAX_STATEMENT = 2000


def instrument_engine(engine: Engine) -> None:
    """A client span per SQL statement (on the engine's events), when tracing is on.

    ``opentelemetry-instrumentation-sqlalchemy`` would do this but pins an older
    ``opentelemetry-api`` than the SDK we use; these three hooks are all we need.
    """
    if engine in _instrumented or not tracing_enabled():
        return
    _instrumented.add(engine)
    system = engine.dialect.name
    database = engine.url.database or ""

    @event.listens_for(engine, "before_cursor_execute")
    def _start(
        conn: Connection, _cursor: Any, statement: str, _params: Any, _ctx: Any, _many: bool
    ) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        span = tracer.start_span(
            f"{verb} {system}",
            kind=SpanKind.CLIENT,
            attributes={
                "db.system": system,
                "db.namespace": database,
                "db.operation.name": verb,
                "db.query.text": statement[:_MAX_STATEMENT],
            },
        )
        conn.info.setdefault(_SPAN_KEY, []).append(span)

    @event.listens_for(engine, "after_cursor_execute")
    def _end(
        conn: Connection, _cursor: Any, _statement: str, _params: Any, _ctx: Any, _many: bool
    ) -> None:
        spans = conn.info.get(_SPAN_KEY)
        if spans:
            spans.pop().end()

    @event.listens_for(engine, "handle_error")
    def _fail(context: ExceptionContext) -> None:
        conn = context.connection
        spans = conn.info.get(_SPAN_KEY) if conn is not None else None
        if spans:
            span = spans.pop()
            span.set_status(Status(StatusCode.ERROR, type(context.original_exception).__name__))
            span.end()


def instrument_database(db: Database) -> None:
    """Instrument a ``core.db.Database``'s engines (writer and reader)."""
    for engine in {id(e): e for e in (db.engine, db.read_engine)}.values():
        instrument_engine(engine.sync_engine)
