"""Conversations: each user's own, continued by follow-ups that reuse what the last
question named."""

from __future__ import annotations

import httpx

from tests.conftest import TenantLogin
from tests.modules.copilot.helpers import ask, ask_raw
from tests.modules.identity.helpers import add_member

CONVERSATIONS = "/api/v1/copilot/conversations"


async def test_a_follow_up_continues_from_the_previous_question(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    first = await ask(client, tenant.headers, "What was my revenue last month?")
    follow = await ask(
        client,
        tenant.headers,
        "and the month before?",
        conversation_id=first["conversation_id"],
    )

    assert follow["conversation_id"] == first["conversation_id"]
    assert follow["plan"][0]["tool"] == "commerce.revenue"
    before, last = follow["entities"]["period"], first["entities"]["period"]
    assert before["to"] < last["from"]

    r = await client.get(f"{CONVERSATIONS}/{first['conversation_id']}", headers=tenant.headers)
    assert r.status_code == 200
    turns = r.json()["turns"]
    assert [t["question"] for t in turns] == [
        "What was my revenue last month?",
        "and the month before?",
    ]
    assert turns[1]["answer"]["answer"] == follow["answer"]


async def test_conversations_are_listed_for_their_user_only(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    mine = await ask(client, tenant.headers, "How many orders this week?")
    member = await add_member(client, tenant, "member")
    theirs = await ask(client, member.headers, "How many orders this week?")

    r = await client.get(CONVERSATIONS, headers=tenant.headers)
    assert r.status_code == 200
    assert [c["id"] for c in r.json()["items"]] == [mine["conversation_id"]]
    assert r.json()["items"][0]["turn_count"] == 1

    r = await client.get(f"{CONVERSATIONS}/{theirs['conversation_id']}", headers=tenant.headers)
    assert r.status_code == 404


async def test_another_users_conversation_cannot_be_continued(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    mine = await ask(client, tenant.headers, "How many orders this week?")
    member = await add_member(client, tenant, "member")
    for headers in (member.headers, other_tenant.headers):
        r = await ask_raw(
            client, headers, "and last week?", conversation_id=mine["conversation_id"]
        )
        assert r.status_code == 404
        r = await client.get(f"{CONVERSATIONS}/{mine['conversation_id']}", headers=headers)
        assert r.status_code == 404


async def test_a_viewer_may_ask_and_read_their_conversations(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    viewer = await add_member(client, tenant, "viewer")
    answer = await ask(client, viewer.headers, "How many orders this week?")
    assert answer["plan"][0]["status"] == "ok"
    r = await client.get(CONVERSATIONS, headers=viewer.headers)
    assert [c["id"] for c in r.json()["items"]] == [answer["conversation_id"]]


async def test_conversations_page(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    for question in ("orders this week?", "orders last week?", "orders this month?"):
        await ask(client, tenant.headers, question)
    r = await client.get(CONVERSATIONS, params={"limit": 2}, headers=tenant.headers)
    page = r.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    r = await client.get(
        CONVERSATIONS, params={"limit": 2, "cursor": page["next_cursor"]}, headers=tenant.headers
    )
    assert len(r.json()["items"]) == 1 and r.json()["next_cursor"] is None
