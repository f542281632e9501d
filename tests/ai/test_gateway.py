"""The gateway end to end: tenant chain from the connectors, BYOK keys, fallback,
metering figures by hand, provenance, privacy and no open write transaction during a
model call. Providers are the real ones speaking to the fake servers over HTTP."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa

from bizos.ai import gateway
from bizos.ai.prompts import UnknownTemplate
from bizos.ai.providers.local import LocalProvider
from bizos.ai.types import Completion, CompletionRequest, ProviderError, Source
from bizos.connectors.models import ConnectorConfig
from bizos.core import db as core_db
from bizos.core.db import Database
from bizos.core.events import append_event
from tests.ai.test_gateway_support import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    calls_of,
    connect,
    ctx_of,
    events_of,
    keyed_anthropic,
    keyed_openai,
    put_settings,
    row_text,
)
from tests.conftest import TenantLogin
from tests.fakes.llm_servers import ECHO_PREFIX, FakeLlmServer, Reply, fake_openai

__all__ = ["fake_openai", "keyed_anthropic", "keyed_openai"]  # fixtures used below

SOURCES = (
    Source(title="Returns policy", text="Items can be returned within 30 days.",
           document_id="doc-1", chunk_id="chunk-1", score=0.9),
    Source(title="Shipping", text="We ship within 2 business days.", document_id="doc-2",
           chunk_id="chunk-7", score=0.4),
)  # fmt: skip


async def _draft(
    tenant: TenantLogin, message: str = "Can items be returned after 20 days?"
) -> gateway.AiResult:
    return await gateway.generate(
        ctx_of(tenant),
        feature="support.draft",
        task="draft",
        template="support.draft",
        variables={"message": message},
        sources=SOURCES,
        related=("ticket", "ticket-1"),
    )


async def test_without_connectors_the_local_provider_answers_and_is_metered(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    result = await _draft(tenant)
    assert (result.provider, result.model) == ("local", "bizos-local-1")
    assert "30 days" in result.text
    assert result.cost == Decimal("0")
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
    [call] = await calls_of(db, tenant)
    assert call.id == result.call_id
    assert (call.feature, call.task, call.provider, call.model) == (
        "support.draft", "draft", "local", "bizos-local-1",
    )  # fmt: skip
    assert (call.prompt_tokens, call.completion_tokens) == (
        result.prompt_tokens,
        result.completion_tokens,
    )
    assert call.cost == Decimal("0")
    assert (call.related_type, call.related_id) == ("ticket", "ticket-1")
    assert call.actor_id == tenant.user_id
    [event] = await events_of(db, tenant, "ai.usage.recorded")
    assert event.aggregate_id == call.id
    assert event.data["call_id"] == call.id
    assert event.data["prompt_tokens"] == result.prompt_tokens
    assert event.data["cost"] == "0.000000"


async def test_provenance_is_stored_with_the_output(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    result = await _draft(tenant)
    assert result.provenance() == {
        "provider": "local",
        "model": "bizos-local-1",
        "template": "support.draft",
        "template_version": "1",
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "call_id": result.call_id,
    }
    assert result.sources == SOURCES
    r = await client.get(f"/api/v1/ai/calls/{result.call_id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    provenance = {**result.provenance(), "id": result.call_id}
    del provenance["call_id"]
    assert {k: body[k] for k in provenance} == provenance
    assert body["sources"] == [
        {"document_id": "doc-1", "chunk_id": "chunk-1", "title": "Returns policy",
         "kind": "kb", "score": 0.9},
        {"document_id": "doc-2", "chunk_id": "chunk-7", "title": "Shipping", "kind": "kb",
         "score": 0.4},
    ]  # fmt: skip
    assert body["attempts"] == [
        {**a, "latency_ms": body["attempts"][0]["latency_ms"]} for a in result.attempts
    ]
    assert [a["outcome"] for a in body["attempts"]] == ["ok"]


async def test_the_tenants_byok_key_reaches_the_provider_and_nothing_else(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantLogin,
    keyed_openai: FakeLlmServer,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await connect(client, tenant, "openai", keyed_openai, model="gpt-4o-mini")
    result = await _draft(tenant)
    assert result.provider == "openai" and result.model == "gpt-4o-mini"
    [request] = keyed_openai.requests
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    # The key is stored encrypted, and is in no AiCall, event or log line.
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        stored = await session.scalar(sa.select(ConnectorConfig))
        assert stored is not None and OPENAI_KEY not in json.dumps(stored.secrets)
    [call] = await calls_of(db, tenant)
    assert OPENAI_KEY not in row_text(call)
    for event in await events_of(db, tenant, "ai.usage.recorded"):
        assert OPENAI_KEY not in json.dumps(event.data)
    out, err = capfd.readouterr()
    assert OPENAI_KEY not in out + err + caplog.text


async def test_a_wrong_key_is_a_recorded_failure_and_local_answers(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, keyed_openai: FakeLlmServer
) -> None:
    await connect(client, tenant, "openai", keyed_openai, model="gpt-4o-mini", key="sk-wrong")
    result = await _draft(tenant)
    assert result.provider == "local"
    outcomes = [(a["provider"], a["outcome"], a["status"], a["retryable"]) for a in result.attempts]
    assert outcomes == [("openai", "failed", 401, False), ("local", "ok", None, False)]
    assert len(keyed_openai.requests) == 1  # a 401 is not retried
    [call] = await calls_of(db, tenant)
    assert call.attempts == list(result.attempts)
    assert "sk-wrong" not in row_text(call)


async def test_metering_figures_from_the_providers_usage_and_builtin_prices(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    await connect(client, tenant, "openai", fake_openai, model="gpt-4o-mini")
    fake_openai.script(Reply(text="Sure, within 30 days.", usage=(1234, 56)))
    result = await _draft(tenant)
    assert (result.prompt_tokens, result.completion_tokens) == (1234, 56)
    # gpt-4o-mini: 0.15 / 0.60 USD per million: 1234*0.15e-6 + 56*0.6e-6 = 0.0002187
    assert result.cost == Decimal("0.000219")
    [call] = await calls_of(db, tenant)
    assert (call.prompt_tokens, call.completion_tokens) == (1234, 56)
    assert call.cost == Decimal("0.000219") and call.currency == "USD"
    usage = (await client.get("/api/v1/ai/usage", headers=tenant.headers)).json()
    assert usage["totals"]["total_tokens"] == 1290
    assert usage["totals"]["cost"] == "0.000219"
    assert usage["by_provider"][0]["provider"] == "openai"


async def test_tenant_prices_override_the_builtin_table(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    await connect(client, tenant, "openai", fake_openai, model="my-llama")
    await put_settings(
        client,
        tenant,
        prices={"openai/my-llama": {"prompt_per_million": "2", "completion_per_million": "10"}},
    )
    fake_openai.script(Reply(text="ok", usage=(1234, 56)))
    result = await _draft(tenant)
    # 1234 * 2 / 1e6 + 56 * 10 / 1e6 = 0.002468 + 0.00056
    assert result.cost == Decimal("0.003028")


async def test_an_unpriced_model_costs_nothing_but_its_tokens_count(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    await connect(client, tenant, "openai", fake_openai, model="llama3.1:8b")
    fake_openai.script(Reply(text="ok", usage=(100, 5)))
    result = await _draft(tenant)
    assert (result.cost, result.prompt_tokens, result.completion_tokens) == (Decimal(0), 100, 5)


async def test_the_chosen_order_is_followed_and_fallback_is_recorded(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantLogin,
    keyed_openai: FakeLlmServer,
    keyed_anthropic: FakeLlmServer,
) -> None:
    await connect(client, tenant, "openai", keyed_openai, model="gpt-4o-mini")
    await connect(client, tenant, "anthropic", keyed_anthropic, model="claude-3-5-haiku-latest")
    await put_settings(client, tenant, providers=["anthropic", "openai", "local"])
    keyed_anthropic.script(Reply(status=400))
    keyed_openai.script(Reply(status=503, retry_after=0))
    result = await _draft(tenant)
    assert result.provider == "openai"
    assert [(a["provider"], a["outcome"], a["status"]) for a in result.attempts] == [
        ("anthropic", "failed", 400),
        ("openai", "failed", 503),
        ("openai", "ok", None),
    ]
    assert keyed_anthropic.requests[0].headers["x-api-key"] == ANTHROPIC_KEY
    [call] = await calls_of(db, tenant)
    assert [a["provider"] for a in call.attempts] == ["anthropic", "openai", "openai"]


async def test_another_tenants_connector_is_never_used(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
    fake_openai: FakeLlmServer,
) -> None:
    await connect(client, other_tenant, "openai", fake_openai, model="gpt-4o-mini")
    result = await _draft(tenant)
    assert result.provider == "local"
    assert fake_openai.requests == []
    assert await calls_of(db, other_tenant) == []


async def test_a_contacts_details_never_reach_the_provider_and_come_back_restored(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    r = await client.post(
        "/api/v1/crm/contacts",
        headers=tenant.headers,
        json={"name": "Ada Lovelace", "email": "ada@analytical.example"},
    )
    assert r.status_code == 201, r.text
    await connect(client, tenant, "openai", fake_openai, model="gpt-4o-mini")
    message = "Hi, Ada Lovelace here (ada@analytical.example). Where is my refund?"
    result = await gateway.generate(
        ctx_of(tenant),
        feature="support.draft",
        task="draft",
        template="support.draft",
        variables={"message": message, "customer_name": "Ada Lovelace"},
        sources=(Source(title="Ada Lovelace's order", text="Refund sent to Ada Lovelace."),),
    )
    [request] = fake_openai.requests
    seen = request.text()
    assert "Ada" not in seen and "Lovelace" not in seen and "analytical" not in seen
    assert "[PERSON_1]" in seen and "[EMAIL_1]" in seen
    # The fake echoes the last user message: the answer comes back with the real values.
    assert result.text.startswith(ECHO_PREFIX)
    assert "Ada Lovelace" in result.text and "ada@analytical.example" in result.text
    [call] = await calls_of(db, tenant)
    assert call.redactions >= 2


async def test_the_local_provider_sees_the_real_text(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/crm/contacts", headers=tenant.headers, json={"name": "Grace Hopper"}
    )
    assert r.status_code == 201, r.text
    result = await gateway.generate(
        ctx_of(tenant),
        feature="kb.summarize",
        task="summarize",
        template="kb.summarize.map",
        variables={"text": "Grace Hopper signed the renewal. The renewal costs 900 EUR."},
    )
    assert "Grace Hopper" in result.text
    [call] = await calls_of(db, tenant)
    assert call.redactions == 0


async def test_no_write_transaction_is_open_while_the_model_answers(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantLogin,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A provider that writes to the database itself would wait for the writer lock
    (and fail after its timeout) if the gateway held a write transaction open."""
    wrote: list[str] = []
    original = LocalProvider.complete

    async def complete_after_a_write(self: LocalProvider, request: CompletionRequest) -> Completion:
        async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
            row = await append_event(
                session, ctx_of(tenant), "test.written", aggregate_type="t", aggregate_id="1"
            )
            wrote.append(row["id"])
        return await original(self, request)

    monkeypatch.setattr(core_db, "WRITER_GATE_TIMEOUT_SECONDS", 2.0)  # fail fast, not in 30 s
    monkeypatch.setattr(LocalProvider, "complete", complete_after_a_write)
    result = await _draft(tenant)
    assert len(wrote) == 1
    assert [c.id for c in await calls_of(db, tenant)] == [result.call_id]


async def test_when_every_provider_fails_nothing_is_recorded(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: LocalProvider, request: CompletionRequest) -> Completion:
        raise ProviderError("local is broken", provider="local", retryable=False)

    monkeypatch.setattr(LocalProvider, "complete", broken)
    with pytest.raises(gateway.AiUnavailable) as caught:
        await _draft(tenant)
    assert caught.value.status == 503
    assert await calls_of(db, tenant) == []


async def test_an_unknown_template_or_task_is_refused_before_any_call(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    await connect(client, tenant, "openai", fake_openai, model="gpt-4o-mini")
    with pytest.raises(UnknownTemplate):
        await gateway.generate(
            ctx_of(tenant), feature="x", task="draft", template="no.such", variables={}
        )
    with pytest.raises(ValueError, match="unknown AI task"):
        await gateway.generate(
            ctx_of(tenant), feature="x", task="poem", template="support.draft",
            variables={"message": "hi"},
        )  # fmt: skip
    assert fake_openai.requests == []
    assert await calls_of(db, tenant) == []
