"""An oversized body is refused before it is parsed, as problem+json, and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx

from bizos.app import create_app
from bizos.core.config import Settings
from bizos.core.db import Database
from tests.conftest import TenantLogin


async def test_a_body_over_the_limit_is_413_problem_json(
    settings: Settings, db: Database, tenant: TenantLogin, client: httpx.AsyncClient
) -> None:
    small = settings.model_copy(update={"max_body_bytes": 2048})
    application: Any = create_app(small, database=db, workers=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            events = [{"type": "page.viewed", "email": "a@example.com", "properties": {}}] * 200
            r = await c.post("/api/v1/track", headers=tenant.headers, json={"events": events})
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["title"] == "Payload too large"
    listed = await client.get("/api/v1/events?type=activity.*", headers=tenant.headers)
    assert listed.json()["items"] == []


async def test_a_chunked_body_over_the_limit_is_refused_too(
    settings: Settings, db: Database, tenant: TenantLogin
) -> None:
    small = settings.model_copy(update={"max_body_bytes": 1024})
    application: Any = create_app(small, database=db, workers=False)

    async def chunks() -> Any:
        for _ in range(10):
            yield b'{"events": [' + b" " * 200

    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.post("/api/v1/track", headers=tenant.headers, content=chunks())
    assert r.status_code == 413
    assert r.headers["x-request-id"]


async def test_a_body_within_the_limit_reaches_the_endpoint(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    events = [{"type": "page.viewed", "email": "a@example.com", "properties": {}}]
    r = await client.post("/api/v1/track", headers=tenant.headers, json={"events": events})
    assert r.status_code == 202
