"""Asking the copilot over HTTP: the answer with its working, streamed or whole; bad
input; scopes; out-of-scope questions."""

from __future__ import annotations

import httpx

from bizos.modules.copilot.schemas import MAX_QUESTION
from tests.conftest import TenantLogin
from tests.modules.commerce.orders.helpers import add_product
from tests.modules.copilot.helpers import ask, ask_raw, place_order, sse_events
from tests.modules.events.helpers import key_headers

BODY_KEYS = {
    "conversation_id",
    "turn_id",
    "answer",
    "intent",
    "entities",
    "figures",
    "sources",
    "plan",
    "actions",
    "provenance",
    "cached",
}


async def test_a_metric_question_is_answered_with_its_working(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await add_product(client, tenant, "MUG-1", price="12.50")
    await place_order(client, tenant.headers, "MUG-1", 2)

    answer = await ask(client, tenant.headers, "What's my revenue this month?")

    assert set(answer) == BODY_KEYS
    assert answer["intent"] == "metrics"
    assert answer["entities"]["period"]["label"] == "this month"
    [step] = answer["plan"]
    assert step["tool"] == "commerce.revenue"
    assert step["status"] == "ok" and step["error"] is None
    assert step["args"]["from"] == answer["entities"]["period"]["from"]
    assert answer["answer"]
    assert answer["provenance"]["provider"] == "local"


async def test_the_answer_streams_as_plan_tool_calls_deltas_and_complete(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/copilot/ask",
        json={"question": "How many orders did we get last month?"},
        headers={**tenant.headers, "Accept": "text/event-stream"},
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    names = [name for name, _ in events]

    assert names[0] == "plan"
    assert names[-1] == "complete"
    assert names.index("tool_call") < names.index("tool_result") < names.index("delta")
    assert set(names) == {"plan", "tool_call", "tool_result", "delta", "complete"}
    assert events[0][1]["steps"][0]["tool"] == "commerce.orders"
    complete = events[-1][1]
    assert set(complete) == BODY_KEYS
    said = "".join(data["text"] for name, data in events if name == "delta")
    assert said == complete["answer"]


async def test_an_empty_or_oversized_question_is_a_422(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for question in ("", "   \n ", "x" * (MAX_QUESTION + 1)):
        r = await ask_raw(client, tenant.headers, question)
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.post("/api/v1/copilot/ask", json={}, headers=tenant.headers)
    assert r.status_code == 422


async def test_asking_needs_a_credential(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/copilot/ask", json={"question": "revenue?"})
    assert r.status_code == 401


async def test_a_step_the_caller_may_not_run_fails_plainly_and_states_no_figure(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await add_product(client, tenant, "MUG-1", price="12.50")
    await place_order(client, tenant.headers, "MUG-1", 2)
    headers = await key_headers(client, tenant, ["copilot:read", "kb:read"])

    answer = await ask(client, headers, "What's my revenue this month?")

    [step] = answer["plan"]
    assert step["status"] == "failed"
    assert step["error"] == "missing scope: commerce:read"
    assert answer["figures"] == []
    assert "25.00" not in answer["answer"]


async def test_a_key_without_the_copilot_scope_may_not_ask(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    headers = await key_headers(client, tenant, ["commerce:read"])
    r = await ask_raw(client, headers, "What's my revenue this month?")
    assert r.status_code == 403


async def test_an_out_of_scope_question_says_so_and_states_no_figure(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    answer = await ask(client, tenant.headers, "What's the weather in Paris?")
    assert answer["intent"] == "out_of_scope"
    assert answer["figures"] == [] and answer["plan"] == []
    assert not any(ch.isdigit() for ch in answer["answer"])
