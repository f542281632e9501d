"""The AI draft workflow as a running server does it: a new ticket's events reach the
dispatcher, which starts the durable ``support.ai_draft`` run; it retrieves knowledge
passages and similar resolved tickets, has the gateway write the draft, stores it with
its sources and provenance and tells the agent.

Also: one draft per customer message however many events name it; a new customer
message supersedes the pending draft; a failing provider leaves a failed draft with its
error and a notification, once; a regenerated draft is the next attempt.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bizos.ai import gateway
from bizos.app import create_app
from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.core.workflows import get_workflow_status, get_workflow_steps, start_workflow
from bizos.modules.notifications.models import Notification
from bizos.modules.support.drafts.models import AiDraft
from bizos.modules.support.drafts.service import draft_workflow_id
from bizos.modules.support.drafts.workflows import ai_draft
from bizos.modules.support.tickets.models import Ticket, TicketMessage
from tests.conftest import TenantLogin, signup
from tests.fakes.llm_servers import FakeLlmServer, Reply, echo_of
from tests.fakes.llm_servers import fake_openai as fake_openai
from tests.modules.support.drafts_helpers import (
    add_message,
    drafts_of,
    events_of,
    kb_passage,
    make_ticket,
    resolved_ticket,
    until_drafts,
)

REFUND_POLICY = (
    "Refunds are paid to the original card within 5 business days after the returned "
    "item reaches our warehouse."
)


@pytest.fixture
async def client(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A whole server: API plus dispatcher and durable workflows."""
    running = settings.model_copy(
        update={"workflows_enabled": True, "executor_id": f"test-{uuid.uuid4().hex[:8]}"}
    )
    app = create_app(running, database=db, workers=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


@pytest.fixture
async def desk(client: httpx.AsyncClient) -> TenantLogin:
    return await signup(client, "Acme Ltd")


async def notifications_of(db: Database, tenant_id: str, kind: str) -> list[Notification]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        rows = await session.scalars(sa.select(Notification).where(Notification.kind == kind))
        return list(rows)


async def test_a_new_ticket_gets_a_draft_grounded_in_the_kb_and_past_tickets(
    client: httpx.AsyncClient, db: Database, desk: TenantLogin
) -> None:
    doc_id, chunk_id = await kb_passage(
        db, desk.tenant_id, title="Refund policy", text=REFUND_POLICY
    )
    past = await resolved_ticket(
        db,
        desk.tenant_id,
        question="I returned my blender and the refund has not arrived yet.",
        answer="Your refund for the returned blender was issued today.",
    )
    ticket_id, message_id = await make_ticket(db, desk.tenant_id)

    [draft] = await until_drafts(client, desk, ticket_id)

    assert draft["status"] == "pending"
    assert draft["message_id"] == message_id
    assert draft["attempt"] == 1
    assert draft["body"].strip()
    kb = [s for s in draft["sources"] if s["kind"] == "kb"]
    tickets = [s for s in draft["sources"] if s["kind"] == "ticket"]
    assert (kb[0]["document_id"], kb[0]["chunk_id"]) == (doc_id, chunk_id)
    assert kb[0]["text"] == REFUND_POLICY
    assert [s["ticket_id"] for s in tickets] == [past]
    assert "issued today" in tickets[0]["text"]
    assert draft["provider"] == "local"
    assert draft["template"] == "support.draft"
    assert draft["provenance"]["call_id"] == draft["call_id"]
    assert {"prompt_tokens", "completion_tokens", "template_version"} <= set(draft["provenance"])
    [created] = await events_of(db, desk.tenant_id, "support.draft.created")
    assert (created["draft_id"], created["ticket_id"]) == (draft["id"], ticket_id)
    # Nobody is assigned: the owner hears about it.
    [note] = await notifications_of(db, desk.tenant_id, "support.draft.created")
    assert (note.user_id, note.related_id) == (desk.user_id, ticket_id)


async def test_the_assigned_agent_is_the_one_told(
    client: httpx.AsyncClient, db: Database, desk: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/users",
        json={"email": "sam@acme.example", "name": "Sam", "role": "member", "password": "x" * 12},
        headers=desk.headers,
    )
    assert r.status_code == 201, r.text
    agent = r.json()["id"]
    ticket_id, _ = await make_ticket(db, desk.tenant_id, assignee_id=agent)

    await until_drafts(client, desk, ticket_id)

    notes = await notifications_of(db, desk.tenant_id, "support.draft.created")
    assert [n.user_id for n in notes] == [agent]


async def test_the_events_of_one_email_draft_it_once(
    client: httpx.AsyncClient, db: Database, desk: TenantLogin
) -> None:
    ticket_id, message_id = await make_ticket(db, desk.tenant_id)
    [draft] = await until_drafts(client, desk, ticket_id)

    # A redelivered event asks for the same run: it is the finished one.
    run = await start_workflow(
        ai_draft,
        desk.tenant_id,
        ticket_id,
        message_id,
        1,
        workflow_id=draft_workflow_id(message_id, 1),
    )
    assert await run.result(timeout_seconds=30) == "drafted"
    assert [d["id"] for d in await drafts_of(client, desk, ticket_id)] == [draft["id"]]
    assert len(await events_of(db, desk.tenant_id, "support.draft.created")) == 1
    steps = [s.name for s in await get_workflow_steps(run.workflow_id)]
    assert steps == [
        "support.ai_draft.prepare",
        "support.ai_draft.retrieve",
        "support.ai_draft.write",
        "support.ai_draft.store",
    ]


async def test_a_new_customer_message_supersedes_the_pending_draft(
    client: httpx.AsyncClient, db: Database, desk: TenantLogin
) -> None:
    ticket_id, _ = await make_ticket(db, desk.tenant_id)
    [first] = await until_drafts(client, desk, ticket_id)

    later = await add_message(
        db, desk.tenant_id, ticket_id, body="Also, can I get the refund to my PayPal instead?"
    )
    newest, older = await until_drafts(client, desk, ticket_id, count=2)

    assert (newest["message_id"], newest["status"]) == (later, "pending")
    assert (older["id"], older["status"]) == (first["id"], "superseded")
    [_, second_event] = await events_of(db, desk.tenant_id, "support.draft.created")
    assert second_event["superseded"] == [first["id"]]


async def test_a_failing_provider_leaves_a_failed_draft_and_tells_the_agent_once(
    client: httpx.AsyncClient, db: Database, desk: TenantLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0

    async def every_provider_down(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        raise gateway.AiUnavailable("no AI provider could answer; try again later")

    monkeypatch.setattr(gateway, "generate", every_provider_down)
    ticket_id, message_id = await make_ticket(db, desk.tenant_id)

    [draft] = await until_drafts(client, desk, ticket_id)

    assert draft["status"] == "failed"
    assert draft["error"] == "no AI provider could answer; try again later"
    assert draft["body"] == ""
    # The draft is stored by the last step; the run is marked finished just after it.
    async with asyncio.timeout(30):
        while True:
            state = await get_workflow_status(draft_workflow_id(message_id, 1))
            if state is not None and state.status != "pending":
                break
            await asyncio.sleep(0.05)
    assert state.status == "succeeded"
    assert calls == 1  # not retried, not looping
    [failed] = await events_of(db, desk.tenant_id, "support.draft.failed")
    assert failed["draft_id"] == draft["id"]
    [note] = await notifications_of(db, desk.tenant_id, "support.draft.failed")
    assert note.user_id == desk.user_id
    assert "try again later" in (note.body or "")


async def test_a_failed_draft_does_not_hide_the_pending_one(
    client: httpx.AsyncClient, db: Database, desk: TenantLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticket_id, _ = await make_ticket(db, desk.tenant_id)
    [good] = await until_drafts(client, desk, ticket_id)

    async def budget_spent(*args: object, **kwargs: object) -> object:
        from bizos.core.errors import TooManyRequests

        raise TooManyRequests("the monthly AI budget is spent", retry_after=3600)

    monkeypatch.setattr(gateway, "generate", budget_spent)
    r = await client.post(f"/api/v1/support/tickets/{ticket_id}/draft", headers=desk.headers)

    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["attempt"]) == ("failed", 2)
    assert r.json()["error"] == "the monthly AI budget is spent"
    states = {d["id"]: d["status"] for d in await drafts_of(client, desk, ticket_id)}
    assert states[good["id"]] == "pending"


async def test_regenerating_makes_the_next_attempt_and_supersedes_the_last(
    client: httpx.AsyncClient, db: Database, desk: TenantLogin
) -> None:
    ticket_id, message_id = await make_ticket(db, desk.tenant_id)
    [first] = await until_drafts(client, desk, ticket_id)

    r = await client.post(f"/api/v1/support/tickets/{ticket_id}/draft", headers=desk.headers)

    assert r.status_code == 201, r.text
    second = r.json()
    assert (second["message_id"], second["attempt"], second["status"]) == (message_id, 2, "pending")
    states = {d["id"]: d["status"] for d in await drafts_of(client, desk, ticket_id)}
    assert states == {first["id"]: "superseded", second["id"]: "pending"}
    [requested] = await events_of(db, desk.tenant_id, "support.draft.requested")
    assert requested == {"ticket_id": ticket_id, "message_id": message_id, "attempt": 2}


async def test_a_late_run_for_an_older_message_never_hides_the_newer_draft(
    client: httpx.AsyncClient, db: Database, desk: TenantLogin
) -> None:
    ticket_id, first_message = await make_ticket(db, desk.tenant_id, announce=False)
    second_message = await add_message(db, desk.tenant_id, ticket_id, body="Any news?")
    [newest] = await until_drafts(client, desk, ticket_id)
    assert newest["message_id"] == second_message

    # The first message's run comes late (a slow worker): it sees the newer message.
    run = await start_workflow(
        ai_draft,
        desk.tenant_id,
        ticket_id,
        first_message,
        1,
        workflow_id=draft_workflow_id(first_message, 1),
    )
    assert await run.result(timeout_seconds=30) == "superseded"
    async with db.unit_of_work(tenant_id=desk.tenant_id, readonly=True) as session:
        rows = (await session.scalars(sa.select(AiDraft))).all()
    assert [(d.message_id, d.status) for d in rows] == [(second_message, "pending")]


async def test_an_external_provider_refines_the_triage_before_drafting(
    client: httpx.AsyncClient, db: Database, desk: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    r = await client.put(
        "/api/v1/connectors/openai",
        json={
            "config": {"base_url": fake_openai.url, "model": "gpt-test"},
            "secrets": {"api_key": "sk-test-key"},
        },
        headers=desk.headers,
    )
    assert r.status_code == 200, r.text
    verdict = {
        "sentiment": "negative",
        "sentiment_score": -0.8,
        "intent": "refund",
        "urgent": True,
        "signals": ["not been refunded"],
    }
    fake_openai.script(Reply(text=json.dumps(verdict)))
    ticket_id, message_id = await make_ticket(db, desk.tenant_id)

    [draft] = await until_drafts(client, desk, ticket_id)

    classify_call, draft_call = fake_openai.requests
    assert "classify" in classify_call.text()
    assert draft["provider"] == "openai"
    assert draft["model"] == "gpt-test"
    assert draft["body"] == echo_of(draft_call.json["messages"][-1]["content"]).strip()
    async with db.unit_of_work(tenant_id=desk.tenant_id, readonly=True) as session:
        ticket = await session.get(Ticket, ticket_id)
        message = await session.get(TicketMessage, message_id)
    assert ticket is not None and message is not None
    assert (ticket.sentiment, ticket.intent, ticket.priority) == ("negative", "refund", "urgent")
    assert (message.sentiment, message.sentiment_score) == ("negative", -0.8)


async def test_an_unreadable_classification_is_skipped_and_the_draft_still_written(
    client: httpx.AsyncClient, db: Database, desk: TenantLogin, fake_openai: FakeLlmServer
) -> None:
    r = await client.put(
        "/api/v1/connectors/openai",
        json={"config": {"base_url": fake_openai.url}, "secrets": {"api_key": "sk-test-key"}},
        headers=desk.headers,
    )
    assert r.status_code == 200, r.text
    fake_openai.script(Reply(text="I think the customer is rather unhappy."))
    ticket_id, _ = await make_ticket(db, desk.tenant_id)

    [draft] = await until_drafts(client, desk, ticket_id)

    assert draft["status"] == "pending"
    assert len(fake_openai.requests) == 2
    async with db.unit_of_work(tenant_id=desk.tenant_id, readonly=True) as session:
        ticket = await session.get(Ticket, ticket_id)
    assert ticket is not None and ticket.sentiment is None


async def test_a_follow_up_is_drafted_together_with_the_question_it_follows(
    client: httpx.AsyncClient, db: Database, desk: TenantLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real_generate = gateway.generate

    async def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["variables"]["message"])
        return await real_generate(*args, **kwargs)

    monkeypatch.setattr(gateway, "generate", recording)
    ticket_id, _ = await make_ticket(db, desk.tenant_id, body="Where is my refund?")
    await until_drafts(client, desk, ticket_id)
    await add_message(db, desk.tenant_id, ticket_id, body="My order number is 1042.")

    await until_drafts(client, desk, ticket_id, count=2)

    assert seen == ["Where is my refund?", "Where is my refund?\n\nMy order number is 1042."]


async def test_no_automatic_draft_once_an_agent_replied_but_one_can_be_asked_for(
    client: httpx.AsyncClient, db: Database, desk: TenantLogin
) -> None:
    ticket_id, message_id = await make_ticket(db, desk.tenant_id, announce=False)
    await add_message(
        db, desk.tenant_id, ticket_id, body="Looking into it.", direction="outbound", event=None
    )

    run = await start_workflow(
        ai_draft, desk.tenant_id, ticket_id, message_id, 1,
        workflow_id=draft_workflow_id(message_id, 1),
    )  # fmt: skip
    assert await run.result(timeout_seconds=30) == "answered"
    assert await drafts_of(client, desk, ticket_id) == []

    r = await client.post(f"/api/v1/support/tickets/{ticket_id}/draft", headers=desk.headers)
    assert r.status_code == 201, r.text
    assert (r.json()["message_id"], r.json()["attempt"], r.json()["status"]) == (
        message_id, 2, "pending",
    )  # fmt: skip


async def test_asking_twice_while_the_model_writes_starts_one_run(
    client: httpx.AsyncClient, db: Database, desk: TenantLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticket_id, message_id = await make_ticket(db, desk.tenant_id)
    [first] = await until_drafts(client, desk, ticket_id)
    release = asyncio.Event()
    calls = 0
    real_generate = gateway.generate

    async def slow_model(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        await release.wait()
        return await real_generate(*args, **kwargs)

    monkeypatch.setattr(gateway, "generate", slow_model)
    url = f"/api/v1/support/tickets/{ticket_id}/draft"

    answers = await asyncio.gather(
        *(client.post(url, params={"wait_seconds": 0}, headers=desk.headers) for _ in range(2))
    )

    assert [r.status_code for r in answers] == [202, 202]
    assert (
        answers[0].json()
        == answers[1].json()
        == {
            "ticket_id": ticket_id,
            "message_id": message_id,
            "attempt": 2,
            "status": "drafting",
            "workflow_id": draft_workflow_id(message_id, 2),
        }
    )
    release.set()
    newest, _ = await until_drafts(client, desk, ticket_id, count=2)
    assert (newest["attempt"], newest["status"]) == (2, "pending")
    assert calls == 1
    assert len(await drafts_of(client, desk, ticket_id)) == 2
    too_long = await client.post(url, params={"wait_seconds": 31}, headers=desk.headers)
    assert too_long.status_code == 422
    states = {d["id"]: d["status"] for d in await drafts_of(client, desk, ticket_id)}
    assert states == {first["id"]: "superseded", newest["id"]: "pending"}
