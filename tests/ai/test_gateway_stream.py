"""Streaming through the gateway: restored deltas (a privacy token is never shown half
done), fallback before the first delta, a broken stream, the record at the end."""

from __future__ import annotations

import re

import httpx
import pytest

from bizos.ai import gateway, prompts
from bizos.ai.metering import AiBudgetExhausted
from bizos.ai.types import TextDelta
from bizos.core.db import Database
from tests.ai.test_gateway_support import calls_of, connect, ctx_of, put_settings
from tests.conftest import TenantLogin
from tests.fakes.llm_servers import ECHO_PREFIX, FakeLlmServer, Reply, fake_openai

__all__ = ["fake_openai"]


async def _stream(tenant: TenantLogin, message: str) -> tuple[list[str], gateway.AiResult]:
    deltas: list[str] = []
    final: gateway.AiResult | None = None
    async for item in gateway.generate_stream(
        ctx_of(tenant),
        feature="support.draft",
        task="draft",
        template="support.draft",
        variables={"message": message},
    ):
        if isinstance(item, TextDelta):
            assert final is None, "no delta after the result"
            deltas.append(item.text)
        else:
            final = item
    assert final is not None
    return deltas, final


async def test_streamed_deltas_come_back_restored_and_whole(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    r = await client.post(
        "/api/v1/crm/contacts",
        headers=tenant.headers,
        json={"name": "Ada Lovelace", "email": "ada@analytical.example"},
    )
    assert r.status_code == 201, r.text
    await connect(client, tenant, "openai", fake_openai, model="gpt-4o-mini")
    message = "Ada Lovelace asks: was ada@analytical.example refunded?"
    deltas, result = await _stream(tenant, message)

    seen = fake_openai.requests[0].text()
    assert "Lovelace" not in seen and "analytical" not in seen
    user_prompt = prompts.render("support.draft", {"message": message}).messages[-1].content
    assert message in user_prompt
    assert "".join(deltas) == result.text == ECHO_PREFIX + user_prompt
    assert len(deltas) > 3  # it really streamed
    for piece in deltas:  # no half token ever reached the caller
        assert not re.search(r"\[[A-Z_0-9]*$", piece) and "_1]" not in piece
    [call] = await calls_of(db, tenant)
    assert call.id == result.call_id
    assert call.streamed is True
    assert (call.provider, call.model) == ("openai", "gpt-4o-mini")
    # The fake counts the words of the (redacted) answer it sent.
    redacted_user = fake_openai.requests[0].json["messages"][-1]["content"]
    assert "[PERSON_1] asks: was [EMAIL_1] refunded?" in redacted_user
    assert call.completion_tokens == len((ECHO_PREFIX + redacted_user).split())
    assert call.prompt_tokens == result.prompt_tokens > 0


async def test_a_stream_falls_back_before_its_first_delta(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    await connect(client, tenant, "openai", fake_openai, model="gpt-4o-mini")
    fake_openai.script(Reply(status=400))
    deltas, result = await _stream(tenant, "Where is my parcel?")
    assert result.provider == "local"
    assert "".join(deltas) == result.text and result.text
    assert [(a["provider"], a["outcome"]) for a in result.attempts] == [
        ("openai", "failed"),
        ("local", "ok"),
    ]
    [call] = await calls_of(db, tenant)
    assert call.streamed and call.provider == "local"


async def test_a_stream_that_breaks_off_raises_and_records_nothing(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    await connect(client, tenant, "openai", fake_openai, model="gpt-4o-mini")
    fake_openai.script(Reply(drop_after_deltas=3))
    shown: list[str] = []
    with pytest.raises(gateway.AiUnavailable, match="broke off"):
        async for item in gateway.generate_stream(
            ctx_of(tenant),
            feature="support.draft",
            task="draft",
            template="support.draft",
            variables={"message": "a long enough question to stream in pieces"},
        ):
            assert isinstance(item, TextDelta)
            shown.append(item.text)
    assert shown  # text had been shown, so no other provider could take over
    assert await calls_of(db, tenant) == []


async def test_a_spent_budget_stops_a_stream_before_any_call(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    await connect(client, tenant, "openai", fake_openai, model="gpt-4o-mini")
    await put_settings(client, tenant, monthly_token_budget=0)
    with pytest.raises(AiBudgetExhausted):
        await _stream(tenant, "hello")
    assert fake_openai.requests == []
    assert await calls_of(db, tenant) == []
