"""The external-model path: the tenant's model writes the words from the tool results
(sent as OpenAI/Anthropic tool calls through the gateway); a number it writes that is not
a figure is caught and the templated answer is used instead."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from bizos.core.db import Database
from bizos.modules.copilot.cache import MemoryQueryCache, use_query_cache
from tests.ai.test_gateway_support import connect
from tests.conftest import TenantLogin
from tests.fakes.llm_servers import FakeLlmServer, Reply
from tests.modules.commerce.orders.helpers import add_product
from tests.modules.copilot.helpers import ask, place_order

QUESTION = "What's my revenue this month?"


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    use_query_cache(MemoryQueryCache())
    yield
    use_query_cache(None)


async def shop(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    await add_product(client, tenant, "MUG-1", price="12.50")
    await place_order(client, tenant.headers, "MUG-1", 2)


async def test_the_model_writes_the_words_when_its_numbers_are_the_figures(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantLogin,
    fake_openai: FakeLlmServer,
) -> None:
    await shop(client, tenant)
    await connect(client, tenant, "openai", fake_openai, model="gpt-test")
    fake_openai.script(Reply(text="Good month so far: you have taken $25.00 in revenue."))

    answer = await ask(client, tenant.headers, QUESTION)

    assert answer["answer"] == "Good month so far: you have taken $25.00 in revenue."
    provenance = answer["provenance"]
    assert provenance["provider"] == "openai" and provenance["model"] == "gpt-test"
    assert len(provenance["ai_call_ids"]) == 1
    sent = fake_openai.requests[-1].json
    assert [t["function"]["name"] for t in sent["tools"]] == ["commerce__revenue"]
    calling, result = sent["messages"][-2], sent["messages"][-1]
    assert calling["role"] == "assistant"
    assert calling["tool_calls"][0]["function"]["name"] == "commerce__revenue"
    assert result["role"] == "tool" and result["tool_call_id"] == calling["tool_calls"][0]["id"]
    assert "25.00" in json.loads(result["content"])["figures"][0]["value"]


async def test_a_number_the_model_invents_falls_back_to_the_template(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantLogin,
    fake_openai: FakeLlmServer,
) -> None:
    await shop(client, tenant)
    templated = (await ask(client, tenant.headers, "what is my revenue this month")).get("answer")
    await connect(client, tenant, "openai", fake_openai, model="gpt-test")
    fake_openai.script(Reply(text="You made $31,337.00 this month, up 12% on last month."))

    answer = await ask(client, tenant.headers, QUESTION)

    assert answer["answer"] == templated
    assert "31,337" not in answer["answer"]
    provenance = answer["provenance"]
    assert provenance["provider"] == "local" and len(provenance["ai_call_ids"]) == 1
    assert provenance["rejected"]["provider"] == "openai"
    assert provenance["rejected"]["numbers"]


async def test_the_anthropic_model_gets_the_results_as_tool_use_and_tool_result(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantLogin,
    fake_anthropic: FakeLlmServer,
) -> None:
    await shop(client, tenant)
    await connect(client, tenant, "anthropic", fake_anthropic, model="claude-test")
    fake_anthropic.script(Reply(text="Revenue this month: $25.00."))

    answer = await ask(client, tenant.headers, QUESTION)

    assert answer["answer"] == "Revenue this month: $25.00."
    assert answer["provenance"]["provider"] == "anthropic"
    sent = fake_anthropic.requests[-1].json
    assert sent["tools"][0]["name"] == "commerce__revenue"
    blocks = [b for m in sent["messages"] if isinstance(m["content"], list) for b in m["content"]]
    assert {b["type"] for b in blocks} >= {"tool_use", "tool_result"}


async def test_without_an_external_model_no_ai_call_is_made(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await shop(client, tenant)
    answer = await ask(client, tenant.headers, QUESTION)
    assert answer["provenance"] == {
        "provider": "local",
        "model": "templates",
        "ai_call_ids": [],
        "understood_as": None,
        "rejected": None,
    }


async def test_the_model_rephrases_what_the_parser_does_not_understand(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantLogin,
    fake_openai: FakeLlmServer,
) -> None:
    await shop(client, tenant)
    await connect(client, tenant, "openai", fake_openai, model="gpt-test")
    fake_openai.script(
        Reply(text="What is my revenue this month?"),
        Reply(text="This month's revenue is $25.00."),
    )

    answer = await ask(client, tenant.headers, "what did the till ring up lately")

    assert answer["intent"] == "metrics"
    assert answer["plan"][0]["tool"] == "commerce.revenue"
    assert answer["answer"] == "This month's revenue is $25.00."
    assert answer["provenance"]["understood_as"] == "What is my revenue this month?"
    assert len(answer["provenance"]["ai_call_ids"]) == 2


async def test_a_question_the_model_also_finds_off_topic_stays_out_of_scope(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantLogin,
    fake_openai: FakeLlmServer,
) -> None:
    await connect(client, tenant, "openai", fake_openai, model="gpt-test")
    fake_openai.script(Reply(text="OUT_OF_SCOPE"))

    answer = await ask(client, tenant.headers, "What's the weather in Paris?")

    assert answer["intent"] == "out_of_scope"
    assert answer["figures"] == [] and answer["plan"] == []
    assert len(answer["provenance"]["ai_call_ids"]) == 1
