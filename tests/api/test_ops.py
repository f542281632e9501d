"""Operations endpoints: liveness, readiness, metrics, and the generated API docs."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import httpx
from fastapi import FastAPI

from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.runtime import Runtime
from tests.api.conftest import AppFactory, assert_problem
from tests.conftest import TenantLogin


async def test_healthz_answers_ok(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readyz_is_ok_when_the_database_answers(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok", "checks": {"database": "ok", "workers": "disabled"}}


async def test_readyz_is_503_when_the_database_is_unreachable(
    make_app: AppFactory, tmp_path: Path
) -> None:
    gone = Database(f"sqlite+aiosqlite:///{tmp_path}/missing-dir/nothing.db")
    try:
        async with make_app(database=gone) as (_app, client):
            r = await client.get("/readyz")
    finally:
        await gone.dispose()
    body = assert_problem(r, 503)
    assert body["checks"]["database"] == "unavailable"
    assert r.headers["retry-after"]


class _RuntimeWithADeadDispatcher:
    workers = True

    def worker_health(self) -> Mapping[str, bool]:
        return {"dispatcher": False, "webhooks": True}

    async def stop(self) -> None:
        pass


async def test_readyz_is_503_when_a_background_worker_died(
    gateway: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = gateway
    real = app.state.runtime
    app.state.runtime = _RuntimeWithADeadDispatcher()
    try:
        r = await client.get("/readyz")
    finally:
        app.state.runtime = real
    body = assert_problem(r, 503)
    assert body["checks"] == {"database": "ok", "workers": "down: dispatcher"}


async def test_readyz_follows_the_real_runtimes_loops(
    gateway: tuple[FastAPI, httpx.AsyncClient], settings: Settings, db: Database
) -> None:
    app, client = gateway
    runtime = Runtime(settings, db, workers=True)
    await runtime.start()
    real, app.state.runtime = app.state.runtime, runtime
    try:
        healthy = await client.get("/readyz")
        loop = [t for t in asyncio.all_tasks() if t.get_name() == "bizos-dispatcher"]
        runtime.dispatcher.stop()  # the dispatcher loop ends, as if it had crashed
        await asyncio.wait(loop, timeout=30)
        sick = await client.get("/readyz")
    finally:
        app.state.runtime = real
        await runtime.stop()
    assert healthy.status_code == 200, healthy.text
    assert healthy.json()["checks"]["workers"] == "ok"
    assert assert_problem(sick, 503)["checks"]["workers"] == "down: dispatcher"


async def test_metrics_count_requests_by_route_template_not_raw_path(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await client.get(f"/api/v1/test/users/{tenant.user_id}", headers=tenant.headers)
    await client.get("/api/v1/test/users/no-such-user", headers=tenant.headers)
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert (
        'bizos_http_requests_total{method="GET",route="/api/v1/test/users/{user_id}",'
        'status="200"}' in text
    )
    assert 'route="/api/v1/test/users/{user_id}",status="404"' in text
    assert tenant.user_id not in text
    assert "no-such-user" not in text
    assert 'bizos_http_request_duration_seconds_bucket{le="0.005",method="GET"' in text
    assert "bizos_events_appended_total" in text


async def test_unrouted_paths_share_one_metric_label(client: httpx.AsyncClient) -> None:
    await client.get("/wp-admin/secret-probe-123")
    text = (await client.get("/metrics")).text
    assert 'route="<unmatched>",status="404"' in text
    assert "secret-probe-123" not in text


async def test_openapi_and_docs_load(client: httpx.AsyncClient) -> None:
    spec = await client.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in ("/healthz", "/readyz", "/metrics", "/api/v1/audit"):
        assert path in paths
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    metrics = (await client.get("/metrics")).text
    assert 'route="/docs",status="200"' in metrics
    assert 'route="/openapi.json",status="200"' in metrics


async def test_docs_and_redoc_load_everything_from_this_server(client: httpx.AsyncClient) -> None:
    """Offline, a page that pulls its script from a CDN renders blank: every asset the
    documentation pages reference must be served by bizos itself."""
    import re

    for page in ("/docs", "/redoc"):
        html = (await client.get(page)).text
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)
        assert urls, page
        for url in urls:
            assert not url.startswith(("http:", "https:", "//")), f"{page} loads {url}"
            if url.startswith("/docs/assets/"):
                asset = await client.get(url)
                assert asset.status_code == 200, url
                assert len(asset.content) > 1000, url
    assert "redoc.standalone.js" in (await client.get("/redoc")).text
