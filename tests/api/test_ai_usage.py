"""GET /api/v1/ai/usage and GET /api/v1/ai/calls/{id}: figures summed by hand, period
validation, scopes and tenant isolation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx
import pytest

from bizos.ai import metering
from bizos.ai.metering import CallRecord
from bizos.ai.types import Source
from bizos.core.context import Context
from bizos.core.db import Database
from tests.api.conftest import add_member, assert_problem
from tests.conftest import TenantLogin

URL = "/api/v1/ai/usage"
NOW = dt.datetime.now(dt.UTC)
PERIOD = NOW.strftime("%Y-%m")


async def _record(
    db: Database,
    tenant: TenantLogin,
    *,
    feature: str,
    provider: str,
    model: str,
    prompt: int,
    completion: int,
    cost: str,
    at: dt.datetime = NOW,
    related: tuple[str, str] | None = None,
) -> str:
    ctx = Context(tenant_id=tenant.tenant_id, actor_id=tenant.user_id, actor_type="user")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        call = await metering.record_call(
            session,
            ctx,
            CallRecord(
                feature=feature,
                task="draft",
                provider=provider,
                model=model,
                template="support.draft",
                template_version="1",
                prompt_tokens=prompt,
                completion_tokens=completion,
                cost=Decimal(cost),
                currency="USD",
                sources=[Source(title="Returns", text="30 days", document_id="doc-1")],
                attempts=[{"provider": provider, "model": model, "outcome": "ok"}],
                related=related,
            ),
            now=at,
        )
        return call.id


@pytest.fixture
async def ledger(db: Database, tenant: TenantLogin) -> dict[str, str]:
    """Four calls this month and one last month, with figures easy to add by hand."""
    last_month = NOW.replace(day=1) - dt.timedelta(days=1)
    return {
        "a": await _record(db, tenant, feature="support.draft", provider="openai",
                           model="gpt-4o-mini", prompt=1000, completion=200, cost="0.000270"),
        "b": await _record(db, tenant, feature="support.draft", provider="local",
                           model="bizos-local-1", prompt=300, completion=100, cost="0"),
        "c": await _record(db, tenant, feature="kb.summarize", provider="anthropic",
                           model="claude-3-5-haiku-latest", prompt=2000, completion=500,
                           cost="0.003600"),
        "d": await _record(db, tenant, feature="kb.summarize", provider="openai",
                           model="gpt-4o", prompt=100, completion=10, cost="0.000350"),
        "old": await _record(db, tenant, feature="support.draft", provider="openai",
                             model="gpt-4o-mini", prompt=5, completion=5, cost="0.000004",
                             at=last_month),
    }  # fmt: skip


async def test_usage_sums_the_month_by_feature_and_provider(
    client: httpx.AsyncClient, tenant: TenantLogin, ledger: dict[str, str]
) -> None:
    r = await client.get(URL, params={"period": PERIOD}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["period"] == PERIOD
    assert body["currency"] == "USD"
    # 1000+300+2000+100 = 3400 prompt; 200+100+500+10 = 810 completion; cost by hand.
    assert body["totals"] == {
        "calls": 4,
        "prompt_tokens": 3400,
        "completion_tokens": 810,
        "total_tokens": 4210,
        "cost": "0.004220",
    }
    assert body["by_feature"] == [
        {"feature": "kb.summarize", "calls": 2, "prompt_tokens": 2100, "completion_tokens": 510,
         "total_tokens": 2610, "cost": "0.003950"},
        {"feature": "support.draft", "calls": 2, "prompt_tokens": 1300, "completion_tokens": 300,
         "total_tokens": 1600, "cost": "0.000270"},
    ]  # fmt: skip
    assert body["by_provider"] == [
        {"provider": "anthropic", "models": ["claude-3-5-haiku-latest"], "calls": 1,
         "prompt_tokens": 2000, "completion_tokens": 500, "total_tokens": 2500,
         "cost": "0.003600"},
        {"provider": "openai", "models": ["gpt-4o", "gpt-4o-mini"], "calls": 2,
         "prompt_tokens": 1100, "completion_tokens": 210, "total_tokens": 1310,
         "cost": "0.000620"},
        {"provider": "local", "models": ["bizos-local-1"], "calls": 1, "prompt_tokens": 300,
         "completion_tokens": 100, "total_tokens": 400, "cost": "0.000000"},
    ]  # fmt: skip
    assert body["budget"]["tokens_used"] == 4210
    assert body["budget"]["exhausted"] is False
    assert body["budget"]["monthly_token_budget"] is None


async def test_usage_without_period_is_the_current_month(
    client: httpx.AsyncClient, tenant: TenantLogin, ledger: dict[str, str]
) -> None:
    r = await client.get(URL, headers=tenant.headers)
    assert r.json()["period"] == PERIOD
    assert r.json()["totals"]["calls"] == 4


async def test_last_month_has_only_its_own_calls(
    client: httpx.AsyncClient, tenant: TenantLogin, ledger: dict[str, str]
) -> None:
    last = (NOW.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    body = (await client.get(URL, params={"period": last}, headers=tenant.headers)).json()
    assert body["totals"] == {
        "calls": 1,
        "prompt_tokens": 5,
        "completion_tokens": 5,
        "total_tokens": 10,
        "cost": "0.000004",
    }


async def test_a_month_without_calls_reports_zeros(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    body = (await client.get(URL, params={"period": "2031-02"}, headers=tenant.headers)).json()
    assert body["totals"]["calls"] == 0
    assert body["totals"]["cost"] == "0.000000"
    assert body["by_feature"] == [] and body["by_provider"] == []
    assert body["budget"]["resets_at"].startswith("2031-03-01T00:00:00")


async def test_budget_state_shows_what_is_left(
    client: httpx.AsyncClient, tenant: TenantLogin, ledger: dict[str, str]
) -> None:
    r = await client.put(
        "/api/v1/ai/settings",
        headers=tenant.headers,
        json={"monthly_token_budget": 5000, "monthly_cost_budget": "0.01"},
    )
    assert r.status_code == 200, r.text
    budget = (await client.get(URL, headers=tenant.headers)).json()["budget"]
    assert budget["tokens_remaining"] == 5000 - 4210
    assert Decimal(budget["cost_remaining"]) == Decimal("0.01") - Decimal("0.004220")
    assert budget["exhausted"] is False


@pytest.mark.parametrize(
    "period",
    ["2025-13", "2025-00", "2025-1", "25-01", "2025/01", "2025-01-01", "abcd-ef", "", "1999-12",
     " 2025-01", "\uff12\uff10\uff12\uff15-01", "2025-01\n"],
)  # fmt: skip
async def test_a_malformed_period_is_a_422_naming_the_parameter(
    client: httpx.AsyncClient, tenant: TenantLogin, period: str
) -> None:
    r = await client.get(URL, params={"period": period}, headers=tenant.headers)
    body = assert_problem(r, 422)
    assert body["errors"][0]["loc"] == ["query", "period"]


async def test_usage_needs_the_ai_use_scope(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    viewer = await add_member(client, tenant, "viewer")
    assert_problem(await client.get(URL, headers=viewer.headers), 403)
    r = await client.post(
        "/api/v1/api-keys", json={"name": "crm only", "scopes": ["crm:read"]},
        headers=tenant.headers,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    key_headers = {"Authorization": f"Bearer {r.json()['key']}"}
    assert_problem(await client.get(URL, headers=key_headers), 403)
    member = await add_member(client, tenant, "member")
    assert (await client.get(URL, headers=member.headers)).status_code == 200


async def test_usage_never_counts_another_tenants_calls(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
    ledger: dict[str, str],
) -> None:
    await _record(db, other_tenant, feature="support.draft", provider="openai",
                  model="gpt-4o-mini", prompt=7, completion=3, cost="0.000003")  # fmt: skip
    mine = (await client.get(URL, headers=tenant.headers)).json()
    theirs = (await client.get(URL, headers=other_tenant.headers)).json()
    assert mine["totals"]["calls"] == 4
    assert theirs["totals"] == {
        "calls": 1,
        "prompt_tokens": 7,
        "completion_tokens": 3,
        "total_tokens": 10,
        "cost": "0.000003",
    }


async def test_a_call_shows_its_provenance(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    call_id = await _record(db, tenant, feature="support.draft", provider="openai",
                            model="gpt-4o-mini", prompt=10, completion=4, cost="0.000004",
                            related=("ticket", "t-1"))  # fmt: skip
    r = await client.get(f"/api/v1/ai/calls/{call_id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == call_id
    assert (body["provider"], body["model"]) == ("openai", "gpt-4o-mini")
    assert (body["template"], body["template_version"]) == ("support.draft", "1")
    assert (body["prompt_tokens"], body["completion_tokens"], body["total_tokens"]) == (10, 4, 14)
    assert body["cost"] == "0.000004"
    assert body["related"] == {"type": "ticket", "id": "t-1"}
    assert body["actor_id"] == tenant.user_id
    assert body["sources"] == [
        {"document_id": "doc-1", "chunk_id": None, "title": "Returns", "kind": "kb", "score": None}
    ]
    assert body["attempts"] == [{"provider": "openai", "model": "gpt-4o-mini", "outcome": "ok"}]


async def test_another_tenants_call_is_not_found(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    call_id = await _record(db, tenant, feature="support.draft", provider="local",
                            model="bizos-local-1", prompt=1, completion=1, cost="0")  # fmt: skip
    assert_problem(
        await client.get(f"/api/v1/ai/calls/{call_id}", headers=other_tenant.headers), 404
    )
    assert_problem(await client.get("/api/v1/ai/calls/nope", headers=tenant.headers), 404)


async def test_recording_a_call_emits_a_usage_event(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    call_id = await _record(db, tenant, feature="kb.summarize", provider="anthropic",
                            model="claude-3-5-haiku-latest", prompt=2000, completion=500,
                            cost="0.003600")  # fmt: skip
    r = await client.get("/api/v1/events?type=ai.usage.recorded", headers=tenant.headers)
    [event] = r.json()["items"]
    assert event["aggregate_id"] == call_id
    assert event["data"] == {
        "call_id": call_id,
        "feature": "kb.summarize",
        "task": "draft",
        "provider": "anthropic",
        "model": "claude-3-5-haiku-latest",
        "prompt_tokens": 2000,
        "completion_tokens": 500,
        "cost": "0.003600",
        "currency": "USD",
        "period": PERIOD,
    }
