"""Helpers for the gateway tests (no tests here): tenants wired to the fake model servers
through the real connectors API, and readers for what the gateway recorded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bizos.ai.models import AiCall
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.events import Event
from tests.conftest import TenantLogin
from tests.fakes.llm_servers import FakeLlmServer

OPENAI_KEY = "sk-tenant-byok-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-tenant-byok-fedcba9876543210"


def ctx_of(tenant: TenantLogin) -> Context:
    return Context(
        tenant_id=tenant.tenant_id,
        actor_id=tenant.user_id,
        actor_type="user",
        scopes=frozenset({"ai:use"}),
    )


@pytest.fixture
def keyed_openai() -> Iterator[FakeLlmServer]:
    """An OpenAI-compatible fake that answers 401 unless it gets the tenant's key."""
    server = FakeLlmServer("openai", api_key=OPENAI_KEY).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def keyed_anthropic() -> Iterator[FakeLlmServer]:
    server = FakeLlmServer("anthropic", api_key=ANTHROPIC_KEY).start()
    try:
        yield server
    finally:
        server.stop()


async def connect(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    provider: str,
    server: FakeLlmServer,
    *,
    model: str,
    key: str | None = None,
) -> None:
    """Configure the tenant's ``provider`` connector (BYOK key encrypted by the API)."""
    secret = key or (OPENAI_KEY if provider == "openai" else ANTHROPIC_KEY)
    r = await client.put(
        f"/api/v1/connectors/{provider}",
        headers=tenant.headers,
        json={
            "config": {"base_url": server.url, "model": model, "timeout_seconds": 10},
            "secrets": {"api_key": secret},
        },
    )
    assert r.status_code == 200, r.text


async def put_settings(
    client: httpx.AsyncClient, tenant: TenantLogin, **changes: Any
) -> dict[str, Any]:
    r = await client.put("/api/v1/ai/settings", headers=tenant.headers, json=changes)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def calls_of(db: Database, tenant: TenantLogin) -> list[AiCall]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        rows = await session.scalars(sa.select(AiCall).order_by(AiCall.created_at, AiCall.id))
        return list(rows)


async def events_of(db: Database, tenant: TenantLogin, type_: str) -> list[Event]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Event).where(Event.type == type_).order_by(Event.sequence)
        )
        return list(rows)


def row_text(call: AiCall) -> str:
    """Every column of an ``AiCall`` as text, for "is X anywhere in the row" checks."""
    return repr({a.key: getattr(call, a.key) for a in sa.inspect(AiCall).column_attrs})
