"""Metrics, logs and traces (DESIGN rule 10)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
