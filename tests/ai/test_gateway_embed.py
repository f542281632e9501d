"""Embeddings through the gateway: the built-in embedder is free and unmetered;
provider embeddings see only redacted text, are budget-checked, retried and metered."""

from __future__ import annotations

from decimal import Decimal

import httpx
import numpy as np
import pytest

from bizos.ai import gateway
from bizos.ai.metering import AiBudgetExhausted
from bizos.core.db import Database
from tests.ai.test_gateway_support import calls_of, connect, ctx_of, put_settings
from tests.conftest import TenantLogin
from tests.fakes.llm_servers import FakeLlmServer, Reply, fake_openai

__all__ = ["fake_openai"]

TEXTS = ["Returns are accepted within 30 days.", "We ship worldwide in two days."]


async def test_the_builtin_embedder_is_used_by_default_and_not_metered(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    await connect(client, tenant, "openai", fake_openai, model="gpt-4o-mini")
    result = await gateway.embed(ctx_of(tenant), TEXTS)
    assert result.model == "local-hash-384"
    assert [len(v) for v in result.vectors] == [384, 384]
    assert np.isclose(np.linalg.norm(result.vectors[0]), 1.0)
    assert fake_openai.requests == []
    assert await calls_of(db, tenant) == []


async def test_provider_embeddings_are_redacted_and_metered(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    r = await client.post(
        "/api/v1/crm/contacts", headers=tenant.headers, json={"name": "Grace Hopper"}
    )
    assert r.status_code == 201, r.text
    await connect(client, tenant, "openai", fake_openai, model="gpt-4o-mini")
    await put_settings(client, tenant, embeddings="openai")
    texts = [*TEXTS, "Grace Hopper asked for a refund."]
    result = await gateway.embed(ctx_of(tenant), texts, feature="kb.index")
    assert result.model == "openai/text-embedding-3-small"
    assert len(result.vectors) == 3
    [request] = fake_openai.requests
    assert request.path == "/v1/embeddings"
    assert request.json["input"][2] == "[PERSON_1] asked for a refund."
    assert "Hopper" not in request.text()
    [call] = await calls_of(db, tenant)
    # The fake counts words: 6 + 6 + 5 = 17 tokens at 0.02 USD per million.
    assert (call.feature, call.task, call.provider) == ("kb.index", "embed", "openai")
    assert call.model == "text-embedding-3-small"
    assert (call.prompt_tokens, call.completion_tokens) == (17, 0)
    assert call.cost == Decimal("0.000000")  # 17 * 0.02e-6 rounds to nothing
    assert call.redactions == 1
    assert call.template is None


async def test_a_retryable_embeddings_failure_is_retried(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    await connect(client, tenant, "openai", fake_openai, model="gpt-4o-mini")
    await put_settings(client, tenant, embeddings="openai:text-embedding-3-large")
    fake_openai.script(Reply(status=429, retry_after=0))
    result = await gateway.embed(ctx_of(tenant), TEXTS)
    assert result.model == "openai/text-embedding-3-large"
    assert len(fake_openai.requests) == 2
    assert fake_openai.requests[1].json["model"] == "text-embedding-3-large"
    assert len(await calls_of(db, tenant)) == 1


async def test_a_failed_embeddings_call_is_an_error_not_other_vectors(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    await connect(client, tenant, "openai", fake_openai, model="gpt-4o-mini")
    await put_settings(client, tenant, embeddings="openai")
    fake_openai.script(Reply(status=400))
    with pytest.raises(gateway.AiUnavailable, match="embeddings provider failed"):
        await gateway.embed(ctx_of(tenant), TEXTS)
    assert await calls_of(db, tenant) == []


async def test_provider_embeddings_stop_when_the_budget_is_spent(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    await connect(client, tenant, "openai", fake_openai, model="gpt-4o-mini")
    await put_settings(client, tenant, embeddings="openai", monthly_token_budget=0)
    with pytest.raises(AiBudgetExhausted):
        await gateway.embed(ctx_of(tenant), TEXTS)
    assert fake_openai.requests == []


async def test_openai_embeddings_need_the_connector(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.put(
        "/api/v1/ai/settings", headers=tenant.headers, json={"embeddings": "openai"}
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "embeddings"]
