"""Logs and traces: JSON lines with request/tenant/correlation ids and no secrets; spans for
HTTP requests and the SQL they run; an OTLP exporter that really speaks OTLP/HTTP."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from bizos.core.config import Settings
from bizos.core.observability import configure_logging, configure_tracing, span_processor_for
from tests.api.conftest import AppFactory
from tests.conftest import TenantLogin


@pytest.fixture
def log_lines(settings: Settings) -> Iterator[io.StringIO]:
    """Capture what the configured JSON logging writes (restored afterwards)."""
    buffer = io.StringIO()
    configure_logging(settings.model_copy(update={"log_json": True}), stream=buffer)
    yield buffer
    configure_logging(settings)


def _records(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


async def test_request_logs_carry_request_tenant_and_correlation_ids(
    client: httpx.AsyncClient, tenant: TenantLogin, log_lines: io.StringIO
) -> None:
    r = await client.get(
        "/api/v1/me",
        headers={**tenant.headers, "X-Request-ID": "req-42", "X-Correlation-ID": "flow-9"},
    )
    assert r.status_code == 200
    [line] = [rec for rec in _records(log_lines) if rec["event"] == "http.request"]
    assert line["request_id"] == "req-42"
    assert line["correlation_id"] == "flow-9"
    assert line["tenant_id"] == tenant.tenant_id
    assert line["actor_id"] == tenant.user_id
    assert line["route"] == "/api/v1/me"
    assert line["status"] == 200
    assert line["level"] == "info"
    assert line["timestamp"].endswith("Z")
    assert tenant.access_token not in log_lines.getvalue()


async def test_an_unsafe_correlation_id_is_replaced_by_the_request_id(
    client: httpx.AsyncClient, log_lines: io.StringIO
) -> None:
    await client.get("/api/v1/nowhere", headers={"X-Correlation-ID": "c" * 65})
    await client.get("/api/v1/nowhere", headers={"X-Correlation-ID": "x<script>"})
    lines = [rec for rec in _records(log_lines) if rec["event"] == "http.request"]
    assert len(lines) == 2
    assert all(line["correlation_id"] == line["request_id"] for line in lines)
    assert "<script>" not in log_lines.getvalue()


async def test_secrets_never_reach_a_log_line(log_lines: io.StringIO) -> None:
    log = structlog.get_logger("bizos.test")
    log.info(
        "connector.configured",
        password="hunter2",
        api_key="sk-live-123",
        headers={"Authorization": "Bearer abc.def", "Accept": "json"},
        payload=[{"refresh_token": "rt-1", "name": "ok"}],
        client_secret="s3",
    )
    text = log_lines.getvalue()
    for secret in ("hunter2", "sk-live-123", "abc.def", "rt-1", "s3"):
        assert secret not in text
    [record] = _records(log_lines)
    assert record["headers"] == {"Authorization": "[redacted]", "Accept": "json"}
    assert record["payload"] == [{"refresh_token": "[redacted]", "name": "ok"}]


async def test_failed_logins_do_not_log_the_password(
    client: httpx.AsyncClient, log_lines: io.StringIO
) -> None:
    await client.post(
        "/api/v1/auth/login", json={"email": "who@example.com", "password": "my-secret-pw-1"}
    )
    assert "my-secret-pw-1" not in log_lines.getvalue()


async def test_unhandled_errors_are_logged_with_the_request_id(
    client: httpx.AsyncClient, tenant: TenantLogin, log_lines: io.StringIO
) -> None:
    await client.post(
        "/api/v1/test/broken-orders",
        json={"item": "anvil"},
        headers={**tenant.headers, "X-Request-ID": "boom-7"},
    )
    [failure] = [rec for rec in _records(log_lines) if rec["event"] == "request.failed"]
    assert failure["request_id"] == "boom-7"
    assert failure["level"] == "error"
    assert "the warehouse exploded" in failure["exception"]


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    configure_tracing(Settings(otel_exporter="none"), exporter=exporter)
    yield exporter
    exporter.shutdown()  # later spans are dropped instead of piling up in memory


async def test_http_requests_and_their_sql_are_traced_in_one_trace(
    spans: InMemorySpanExporter, make_app: AppFactory
) -> None:
    async with make_app() as (_app, client):
        from tests.conftest import signup

        tenant = await signup(client)
        spans.clear()
        r = await client.get(f"/api/v1/test/users/{tenant.user_id}", headers=tenant.headers)
        assert r.status_code == 200
    finished = spans.get_finished_spans()
    [server] = [s for s in finished if s.kind == SpanKind.SERVER]
    assert server.name == "GET /api/v1/test/users/{user_id}"
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/api/v1/test/users/{user_id}"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["bizos.request_id"] == r.headers["x-request-id"]
    assert server.attributes["bizos.tenant_id"] == tenant.tenant_id
    queries = [s for s in finished if s.kind == SpanKind.CLIENT]
    assert any(s.name.startswith("SELECT") for s in queries)
    assert server.context is not None
    for query in queries:
        assert query.context is not None and query.parent is not None
        assert query.context.trace_id == server.context.trace_id


async def test_an_incoming_traceparent_is_continued(
    spans: InMemorySpanExporter, client: httpx.AsyncClient
) -> None:
    spans.clear()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    await client.get("/healthz", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    [server] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert server.context is not None
    assert format(server.context.trace_id, "032x") == trace_id


def test_an_unknown_exporter_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        configure_tracing(Settings(otel_exporter="zipkin"))


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_the_otlp_exporter_posts_protobuf_spans_to_the_collector() -> None:
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}"
        processor = span_processor_for(Settings(otel_exporter="otlp", otel_endpoint=endpoint))
        assert processor is not None
        provider = TracerProvider()
        provider.add_span_processor(processor)
        with provider.get_tracer("test").start_as_current_span("order.allocated"):
            pass
        provider.shutdown()
    finally:
        server.shutdown()
    [(path, content_type, body)] = _Collector.received
    assert path == "/v1/traces"
    assert content_type == "application/x-protobuf"
    assert b"order.allocated" in body


def test_the_console_exporter_prints_spans(capsys: pytest.CaptureFixture[str]) -> None:
    processor = span_processor_for(Settings(otel_exporter="console"))
    assert processor is not None
    provider = TracerProvider()
    provider.add_span_processor(processor)
    with provider.get_tracer("test").start_as_current_span("invoice.issued"):
        pass
    provider.shutdown()
    assert "invoice.issued" in capsys.readouterr().out
    assert span_processor_for(Settings(otel_exporter="none")) is None
