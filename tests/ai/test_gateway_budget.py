"""Monthly budgets: checked before the call (nothing is sent once spent), a call that
straddles the limit is still recorded, 429 problem+json with Retry-After until the
month turns, per tenant."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from bizos.ai import gateway, metering
from bizos.ai.metering import AiBudgetExhausted, CallRecord
from bizos.ai.settings import load_settings
from bizos.api.deps import Ctx
from bizos.core.auth import AiUse
from bizos.core.db import Database
from tests.ai.test_gateway_support import calls_of, connect, ctx_of, put_settings
from tests.conftest import TenantLogin
from tests.fakes.llm_servers import FakeLlmServer, Reply, fake_openai

__all__ = ["fake_openai"]

DRAFT_URL = "/api/v1/test/ai-draft"


class DraftIn(BaseModel):
    message: str


def _draft_router() -> APIRouter:
    """A feature endpoint the way the modules write them: no unit of work is open while
    the gateway runs."""
    router = APIRouter()

    @router.post(DRAFT_URL)
    async def draft(body: DraftIn, _: AiUse, ctx: Ctx) -> dict[str, Any]:
        result = await gateway.generate(
            ctx,
            feature="support.draft",
            task="draft",
            template="support.draft",
            variables={"message": body.message},
        )
        return {"text": result.text, "call_id": result.call_id}

    return router


@pytest.fixture
async def feature_app(app: FastAPI) -> AsyncIterator[FastAPI]:
    app.include_router(_draft_router())
    yield app


async def _post_draft(client: httpx.AsyncClient, tenant: TenantLogin) -> httpx.Response:
    return await client.post(
        DRAFT_URL, headers=tenant.headers, json={"message": "Where is my parcel?"}
    )


async def test_a_spent_token_budget_answers_429_and_calls_no_model(
    feature_app: FastAPI,
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantLogin,
    fake_openai: FakeLlmServer,
) -> None:
    await connect(client, tenant, "openai", fake_openai, model="gpt-4o-mini")
    await put_settings(client, tenant, monthly_token_budget=1000)
    fake_openai.script(Reply(text="On its way.", usage=(900, 150)))
    first = await _post_draft(client, tenant)
    assert first.status_code == 200, first.text
    # 1,050 tokens: the call that crossed the limit is recorded in full.
    [call] = await calls_of(db, tenant)
    assert call.prompt_tokens + call.completion_tokens == 1050

    r = await _post_draft(client, tenant)
    assert r.status_code == 429, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    now = dt.datetime.now(dt.UTC)
    period = now.strftime("%Y-%m")
    assert body["status"] == 429
    assert body["title"] == "AI budget exhausted"
    assert f"AI budget for {period} is spent" in body["detail"]
    assert "1,050 of 1,000 tokens" in body["detail"]
    assert "PUT /api/v1/ai/settings" in body["detail"]
    resets = metering.next_period_start(period)
    assert body["budget"] == {
        "period": period,
        "currency": "USD",
        "monthly_token_budget": 1000,
        "tokens_used": 1050,
        "monthly_cost_budget": None,
        "cost_used": str(call.cost),
        "resets_at": resets.isoformat(),
    }
    retry_after = int(r.headers["Retry-After"])
    assert 0 < retry_after <= 31 * 86400 + 1
    # Retry-After points at the first second of next month (UTC).
    assert abs((now + dt.timedelta(seconds=retry_after) - resets).total_seconds()) < 120
    assert len(fake_openai.requests) == 1  # the refused call reached no provider
    assert len(await calls_of(db, tenant)) == 1


async def test_a_spent_cost_budget_is_refused_too(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    await connect(client, tenant, "openai", fake_openai, model="gpt-4o")
    await put_settings(client, tenant, monthly_cost_budget="0.01")
    # gpt-4o: 2.50 / 10.00 per million: 2000 * 2.5e-6 + 1000 * 10e-6 = 0.015 USD
    fake_openai.script(Reply(text="Done.", usage=(2000, 1000)))
    first = await gateway.generate(
        ctx_of(tenant), feature="kb.summarize", task="summarize", template="kb.summarize.map",
        variables={"text": "A long document."},
    )  # fmt: skip
    assert first.cost == Decimal("0.015000")
    with pytest.raises(AiBudgetExhausted) as caught:
        await gateway.generate(
            ctx_of(tenant), feature="kb.summarize", task="summarize",
            template="kb.summarize.map", variables={"text": "Another document."},
        )  # fmt: skip
    assert "0.015 of 0.01 USD" in caught.value.detail
    assert caught.value.status == 429
    assert len(fake_openai.requests) == 1


async def test_the_local_provider_counts_against_a_token_budget(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await put_settings(client, tenant, monthly_token_budget=1)
    await gateway.generate(
        ctx_of(tenant), feature="support.draft", task="draft", template="support.draft",
        variables={"message": "hello"},
    )  # fmt: skip
    with pytest.raises(AiBudgetExhausted):
        await gateway.generate(
            ctx_of(tenant), feature="support.draft", task="draft", template="support.draft",
            variables={"message": "hello again"},
        )  # fmt: skip
    assert len(await calls_of(db, tenant)) == 1


async def test_raising_the_budget_lets_calls_resume(
    feature_app: FastAPI, client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await put_settings(client, tenant, monthly_token_budget=1)
    assert (await _post_draft(client, tenant)).status_code == 200
    assert (await _post_draft(client, tenant)).status_code == 429
    await put_settings(client, tenant, monthly_token_budget=None)
    assert (await _post_draft(client, tenant)).status_code == 200
    assert len(await calls_of(db, tenant)) == 2


async def test_last_months_usage_does_not_count(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await put_settings(client, tenant, monthly_token_budget=100)
    last_month = dt.datetime.now(dt.UTC).replace(day=1) - dt.timedelta(days=1)
    await _record(db, tenant, tokens=10_000, at=last_month)
    result = await gateway.generate(
        ctx_of(tenant), feature="support.draft", task="draft", template="support.draft",
        variables={"message": "hello"},
    )  # fmt: skip
    assert result.provider == "local"


async def test_one_tenants_spending_never_exhausts_another(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await put_settings(client, tenant, monthly_token_budget=100)
    await _record(db, other_tenant, tokens=10_000)
    result = await gateway.generate(
        ctx_of(tenant), feature="support.draft", task="draft", template="support.draft",
        variables={"message": "hello"},
    )  # fmt: skip
    assert result.call_id


@pytest.mark.parametrize(
    ("now", "retry_after", "resets"),
    [
        (dt.datetime(2025, 2, 28, 23, 59, 0, tzinfo=dt.UTC), 61, "2025-03-01"),
        (dt.datetime(2025, 12, 31, 23, 0, 0, tzinfo=dt.UTC), 3601, "2026-01-01"),
        (dt.datetime(2024, 2, 1, 0, 0, 0, tzinfo=dt.UTC), 29 * 86400 + 1, "2024-03-01"),
    ],
)
async def test_retry_after_runs_to_the_first_of_next_month(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantLogin,
    now: dt.datetime,
    retry_after: int,
    resets: str,
) -> None:
    await put_settings(client, tenant, monthly_token_budget=5)
    await _record(db, tenant, tokens=5, at=now)
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        settings = await load_settings(session, ctx_of(tenant))
        with pytest.raises(AiBudgetExhausted) as caught:
            await metering.check_budget(session, ctx_of(tenant), settings, now=now)
        # In the month before, the call does not count.
        month_start = metering.period_start(now.strftime("%Y-%m"))
        await metering.check_budget(
            session, ctx_of(tenant), settings, now=month_start - dt.timedelta(seconds=1)
        )
    assert caught.value.headers["Retry-After"] == str(retry_after)
    assert f"resume on {resets}" in caught.value.detail


async def _record(
    db: Database, tenant: TenantLogin, *, tokens: int, at: dt.datetime | None = None
) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await metering.record_call(
            session,
            ctx_of(tenant),
            CallRecord(
                feature="support.draft", task="draft", provider="openai", model="gpt-4o-mini",
                template="support.draft", template_version="1", prompt_tokens=tokens,
                completion_tokens=0, cost=Decimal("0"), currency="USD", sources=(), attempts=(),
            ),
            now=at,
        )  # fmt: skip
