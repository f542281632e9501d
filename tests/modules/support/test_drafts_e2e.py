"""Seed 000 §4 end to end, through the public API of a running server: a signed email
webhook opens a ticket, the AI draft workflow answers it from the knowledge base (local
provider), the agent approves the draft with an edit, the threaded reply is in GET
/api/v1/messages, and the customer's answer to it rejoins the ticket, reopens it and
gets a new draft.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bizos.app import create_app
from bizos.core.config import Settings
from bizos.core.db import Database
from tests.conftest import TenantLogin, signup
from tests.modules.support.drafts_helpers import until_drafts
from tests.modules.support.test_inbound_helpers import build_email, configure_inbound, deliver

Json = dict[str, Any]
SHIPPING_FAQ = (
    "# Shipping\n\nOrders ship within 2 business days. You get a tracking number by "
    "email when your order ships."
)


@pytest.fixture
async def client(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    running = settings.model_copy(
        update={"workflows_enabled": True, "executor_id": f"test-{uuid.uuid4().hex[:8]}"}
    )
    app = create_app(running, database=db, workers=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def until_ticket(
    client: httpx.AsyncClient, tenant: TenantLogin, ticket_id: str | None = None, **want: Any
) -> Json:
    async with asyncio.timeout(60):
        while True:
            if ticket_id is None:
                r = await client.get("/api/v1/support/tickets", headers=tenant.headers)
                assert r.status_code == 200, r.text
                items = r.json()["items"]
                ticket = items[0] if items else None
            else:
                r = await client.get(f"/api/v1/support/tickets/{ticket_id}", headers=tenant.headers)
                assert r.status_code == 200, r.text
                ticket = r.json()
            if ticket is not None and all(ticket.get(k) == v for k, v in want.items()):
                return dict(ticket)
            await asyncio.sleep(0.05)


async def test_an_email_is_answered_by_an_approved_ai_draft_and_the_reply_reopens_it(
    client: httpx.AsyncClient,
) -> None:
    desk = await signup(client, "Acme Ltd")
    await configure_inbound(client, desk)
    r = await client.post(
        "/api/v1/kb/documents",
        json={"title": "Shipping FAQ", "content": SHIPPING_FAQ, "content_type": "text/markdown"},
        headers=desk.headers,
    )
    assert r.status_code == 201, r.text
    faq = r.json()["id"]
    question = build_email(
        subject="Where is my order?",
        body="When does my order ship, and when do I get a tracking number?",
        message_id="<order-q1@mail.example.com>",
    )

    assert (await deliver(client, desk.slug, question)).status_code == 202

    opened = await until_ticket(client, desk)
    [draft] = await until_drafts(client, desk, opened["id"])
    ticket = await until_ticket(client, desk, opened["id"])
    assert ticket["ai_draft"]["id"] == draft["id"]
    assert ticket["ai_draft"]["provider"] == "local"
    assert any(s["document_id"] == faq for s in ticket["ai_draft"]["sources"])
    assert "tracking" in draft["body"].lower()

    edited = draft["body"] + "\n\nSorry for the wait!"
    r = await client.post(
        f"/api/v1/support/tickets/{ticket['id']}/replies",
        json={"body": edited, "draft_id": draft["id"]},
        headers=desk.headers,
    )
    assert r.status_code == 201, r.text
    reply = r.json()
    assert (reply["is_ai_drafted"], reply["edited"]) == (True, True)

    r = await client.get("/api/v1/messages", params={"channel": "email"}, headers=desk.headers)
    [sent] = [m for m in r.json()["items"] if m["message_id"] == reply["message_id"]]
    assert sent["to"] == "maria@example.com"
    assert sent["subject"] == f"Re: Where is my order? [{ticket['number']}]"
    assert sent["in_reply_to"] == "<order-q1@mail.example.com>"
    assert sent["body"] == edited
    waiting = await until_ticket(client, desk, ticket["id"])
    assert (waiting["status"], waiting["ai_draft"]) == ("pending", None)
    assert waiting["sla"]["first_responded_at"] is not None

    answer = build_email(
        subject=f"Re: Where is my order? [{ticket['number']}]",
        body="Thanks! The tracking page says the parcel is lost. Can you resend it?",
        message_id="<order-q2@mail.example.com>",
        in_reply_to=reply["message_id"],
        references=["<order-q1@mail.example.com>", reply["message_id"]],
    )
    assert (await deliver(client, desk.slug, answer)).status_code == 202

    newest, first = await until_drafts(client, desk, ticket["id"], count=2)
    assert (first["id"], first["status"]) == (draft["id"], "sent")
    assert newest["status"] == "pending"
    reopened = await until_ticket(client, desk, ticket["id"], status="open")
    assert reopened["ai_draft"]["id"] == newest["id"]
    assert [m["direction"] for m in reopened["messages"]] == ["inbound", "outbound", "inbound"]
    r = await client.get("/api/v1/support/tickets", headers=desk.headers)
    assert [t["id"] for t in r.json()["items"]] == [ticket["id"]]
