"""POST /api/v1/support/tickets/{id}/replies, .../draft and .../drafts/{id}/discard.

An agent approves the AI draft (as written or edited) or writes their own reply; it
goes to the customer by email threaded to their message, the ticket waits on the
customer (``pending``) and ``support.ticket.replied`` records whether AI drafted it.
Bad paths: another ticket's or tenant's draft, a draft already used, an empty body, a
ticket without an address, a caller without support:write, a retried request and two
agents approving one draft at once.

Workflows are off in this app: asking for a draft writes it inside the request.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bizos.core.db import Database
from bizos.modules.outreach.models import Message
from bizos.modules.support.tickets.models import Ticket, TicketMessage
from tests.conftest import TenantLogin
from tests.modules.support.drafts_helpers import (
    add_message,
    events_of,
    make_ticket,
)

Json = dict[str, Any]


def replies_url(ticket_id: str) -> str:
    return f"/api/v1/support/tickets/{ticket_id}/replies"


async def new_draft(client: httpx.AsyncClient, tenant: TenantLogin, ticket_id: str) -> Json:
    r = await client.post(f"/api/v1/support/tickets/{ticket_id}/draft", headers=tenant.headers)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "pending"
    return dict(r.json())


async def emails(client: httpx.AsyncClient, tenant: TenantLogin) -> list[Json]:
    r = await client.get("/api/v1/messages", params={"channel": "email"}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return [m for m in r.json()["items"] if (m.get("related") or {}).get("type") == "ticket"]


async def ticket_row(db: Database, tenant_id: str, ticket_id: str) -> Ticket:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket


def assert_problem(r: httpx.Response, status: int) -> Json:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return dict(r.json())


# --- the good paths ---------------------------------------------------------------------


async def test_approving_a_draft_emails_the_customer_threaded_to_their_message(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    ticket_id, message_id = await make_ticket(
        db, tenant.tenant_id, header_message_id="<q1@mail.example.com>",
        references=["<older@mail.example.com>"],
    )  # fmt: skip
    draft = await new_draft(client, tenant, ticket_id)

    r = await client.post(
        replies_url(ticket_id), json={"body": draft["body"], "draft_id": draft["id"]},
        headers=tenant.headers,
    )  # fmt: skip

    assert r.status_code == 201, r.text
    reply = r.json()
    assert reply["is_ai_drafted"] is True
    assert reply["edited"] is False
    assert reply["message_id"].startswith("<") and reply["message_id"].endswith(">")
    [email] = await emails(client, tenant)
    ticket = await ticket_row(db, tenant.tenant_id, ticket_id)
    assert email["to"] == "ada@example.com"
    assert email["subject"] == f"Re: Where is my refund? [{ticket.number}]"
    assert email["body"] == draft["body"]
    assert email["message_id"] == reply["message_id"]
    assert email["in_reply_to"] == "<q1@mail.example.com>"
    assert email["related"] == {"type": "ticket", "id": ticket_id}
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        sent = await session.get(Message, email["id"])
        out = await session.get(TicketMessage, reply["id"])
    assert sent is not None and sent.references == [
        "<older@mail.example.com>",
        "<q1@mail.example.com>",
    ]
    assert out is not None
    assert (out.direction, out.is_ai_drafted, out.draft_id) == ("outbound", True, draft["id"])
    assert (out.outbound_message_id, out.header_message_id) == (email["id"], reply["message_id"])
    assert out.author_id == tenant.user_id
    assert (ticket.status, ticket.first_responded_at is not None) == ("pending", True)
    r = await client.get(
        f"/api/v1/support/tickets/{ticket_id}/drafts/{draft['id']}", headers=tenant.headers
    )
    assert (r.json()["status"], r.json()["edited"], r.json()["reply_id"]) == (
        "sent", False, reply["id"],
    )  # fmt: skip
    [replied] = await events_of(db, tenant.tenant_id, "support.ticket.replied")
    assert replied["ticket_id"] == ticket_id
    assert (replied["message_id"], replied["email_message_id"]) == (
        reply["id"],
        reply["message_id"],
    )
    assert (replied["is_ai_drafted"], replied["draft_id"]) == (True, draft["id"])
    assert message_id != reply["id"]


async def test_an_edited_draft_is_sent_as_edited(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    ticket_id, _ = await make_ticket(db, tenant.tenant_id)
    draft = await new_draft(client, tenant, ticket_id)
    edited = draft["body"] + "\n\nP.S. We added a 10% voucher for the wait."

    r = await client.post(
        replies_url(ticket_id), json={"body": edited, "draft_id": draft["id"]},
        headers=tenant.headers,
    )  # fmt: skip

    assert r.status_code == 201, r.text
    assert (r.json()["is_ai_drafted"], r.json()["edited"]) == (True, True)
    [email] = await emails(client, tenant)
    assert email["body"] == edited
    [sent] = await events_of(db, tenant.tenant_id, "support.draft.sent")
    assert (sent["draft_id"], sent["edited"]) == (draft["id"], True)


async def test_an_agents_own_reply_is_not_ai_drafted(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    ticket_id, _ = await make_ticket(db, tenant.tenant_id)

    r = await client.post(
        replies_url(ticket_id), json={"body": "We are on it."}, headers=tenant.headers
    )

    assert r.status_code == 201, r.text
    assert (r.json()["is_ai_drafted"], r.json()["draft_id"], r.json()["edited"]) == (
        False, None, None,
    )  # fmt: skip
    [replied] = await events_of(db, tenant.tenant_id, "support.ticket.replied")
    assert (replied["is_ai_drafted"], replied["draft_id"]) == (False, None)


async def test_the_next_reply_answers_the_customers_latest_message_in_the_same_thread(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    ticket_id, _ = await make_ticket(
        db, tenant.tenant_id, header_message_id="<q1@mail.example.com>"
    )
    r = await client.post(replies_url(ticket_id), json={"body": "First."}, headers=tenant.headers)
    first = r.json()["message_id"]
    await add_message(
        db, tenant.tenant_id, ticket_id, body="Thanks, but where is it?",
        header_message_id="<q2@mail.example.com>", references=["<q1@mail.example.com>", first],
    )  # fmt: skip

    r = await client.post(replies_url(ticket_id), json={"body": "Second."}, headers=tenant.headers)

    assert r.status_code == 201, r.text
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        second = await session.get(TicketMessage, r.json()["id"])
    assert second is not None
    assert second.in_reply_to == "<q2@mail.example.com>"
    assert second.references == ["<q1@mail.example.com>", first, "<q2@mail.example.com>"]
    ticket = await ticket_row(db, tenant.tenant_id, ticket_id)
    assert second.subject == f"Re: Where is my refund? [{ticket.number}]"


async def test_discarding_a_draft_takes_it_off_the_ticket(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    ticket_id, _ = await make_ticket(db, tenant.tenant_id)
    draft = await new_draft(client, tenant, ticket_id)
    url = f"/api/v1/support/tickets/{ticket_id}/drafts/{draft['id']}/discard"

    r = await client.post(url, headers=tenant.headers)

    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["decided_by"]) == ("discarded", tenant.user_id)
    assert_problem(await client.post(url, headers=tenant.headers), 409)
    r = await client.post(
        replies_url(ticket_id), json={"body": draft["body"], "draft_id": draft["id"]},
        headers=tenant.headers,
    )  # fmt: skip
    assert_problem(r, 409)
    assert await emails(client, tenant) == []


# --- bad paths --------------------------------------------------------------------------


async def test_a_draft_of_another_ticket_or_tenant_is_not_found(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    mine, _ = await make_ticket(db, tenant.tenant_id)
    other, _ = await make_ticket(db, tenant.tenant_id, subject="Another question")
    theirs, _ = await make_ticket(db, other_tenant.tenant_id)
    other_draft = await new_draft(client, tenant, other)
    their_draft = await new_draft(client, other_tenant, theirs)

    for draft_id in (other_draft["id"], their_draft["id"], "no-such-draft"):
        r = await client.post(
            replies_url(mine), json={"body": "Hello", "draft_id": draft_id},
            headers=tenant.headers,
        )  # fmt: skip
        assert_problem(r, 404)
    # Another tenant's ticket is not found either, for every endpoint.
    assert_problem(
        await client.post(replies_url(theirs), json={"body": "Hi"}, headers=tenant.headers), 404
    )
    base = f"/api/v1/support/tickets/{theirs}"
    assert_problem(await client.post(f"{base}/draft", headers=tenant.headers), 404)
    assert_problem(await client.get(f"{base}/drafts", headers=tenant.headers), 404)
    assert_problem(
        await client.post(f"{base}/drafts/{their_draft['id']}/discard", headers=tenant.headers),
        404,
    )
    assert await emails(client, tenant) == []
    assert await emails(client, other_tenant) == []


async def test_a_used_or_superseded_draft_cannot_be_sent(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    ticket_id, _ = await make_ticket(db, tenant.tenant_id)
    old = await new_draft(client, tenant, ticket_id)
    current = await new_draft(client, tenant, ticket_id)  # supersedes ``old``
    r = await client.post(
        replies_url(ticket_id), json={"body": current["body"], "draft_id": current["id"]},
        headers=tenant.headers,
    )  # fmt: skip
    assert r.status_code == 201, r.text

    for used in (old, current):
        r = await client.post(
            replies_url(ticket_id), json={"body": "again", "draft_id": used["id"]},
            headers=tenant.headers,
        )  # fmt: skip
        problem = assert_problem(r, 409)
        assert "pending" in problem["detail"]
    assert len(await emails(client, tenant)) == 1


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"body": "   \n "}, ["body", "body"]),
        ({"body": ""}, ["body", "body"]),
        ({}, ["body", "body"]),
        ({"body": "Hi", "cc": "x@example.com"}, ["body", "cc"]),
        ({"body": "Hi", "draft_id": "x" * 37}, ["body", "draft_id"]),
    ],
)
async def test_a_malformed_reply_is_refused(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, body: Json, loc: list[str]
) -> None:
    ticket_id, _ = await make_ticket(db, tenant.tenant_id)

    problem = assert_problem(
        await client.post(replies_url(ticket_id), json=body, headers=tenant.headers), 422
    )

    assert loc in [e["loc"] for e in problem["errors"]]
    assert await emails(client, tenant) == []


async def test_a_ticket_without_a_customer_address_cannot_be_replied_to(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    ticket_id, _ = await make_ticket(db, tenant.tenant_id, from_address=None)

    problem = assert_problem(
        await client.post(replies_url(ticket_id), json={"body": "Hi"}, headers=tenant.headers),
        422,
    )

    assert "address" in problem["detail"]
    ticket = await ticket_row(db, tenant.tenant_id, ticket_id)
    assert ticket.status == "new"
    assert await events_of(db, tenant.tenant_id, "support.ticket.replied") == []


async def test_replying_and_drafting_need_support_write(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    ticket_id, _ = await make_ticket(db, tenant.tenant_id)
    draft = await new_draft(client, tenant, ticket_id)
    r = await client.post(
        "/api/v1/api-keys", json={"name": "reader", "scopes": ["support:read"]},
        headers=tenant.headers,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    reader = {"Authorization": f"Bearer {r.json()['key']}"}
    base = f"/api/v1/support/tickets/{ticket_id}"

    assert_problem(
        await client.post(
            f"{base}/replies", json={"body": "x", "draft_id": draft["id"]}, headers=reader
        ),
        403,
    )
    assert_problem(await client.post(f"{base}/draft", headers=reader), 403)
    assert_problem(await client.post(f"{base}/drafts/{draft['id']}/discard", headers=reader), 403)
    assert (await client.get(f"{base}/drafts", headers=reader)).status_code == 200
    assert_problem(await client.post(f"{base}/replies", json={"body": "x"}), 401)
    assert await emails(client, tenant) == []


async def test_drafting_a_ticket_without_a_customer_message_is_a_conflict(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    ticket_id, message_id = await make_ticket(db, tenant.tenant_id, announce=False)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await session.execute(sa.delete(TicketMessage).where(TicketMessage.id == message_id))

    r = await client.post(f"/api/v1/support/tickets/{ticket_id}/draft", headers=tenant.headers)

    assert_problem(r, 409)


# --- retries and races ------------------------------------------------------------------


async def test_a_retried_reply_with_its_idempotency_key_sends_one_email(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    ticket_id, _ = await make_ticket(db, tenant.tenant_id)
    draft = await new_draft(client, tenant, ticket_id)
    body = {"body": draft["body"], "draft_id": draft["id"]}
    headers = {**tenant.headers, "Idempotency-Key": "reply-1"}

    first = await client.post(replies_url(ticket_id), json=body, headers=headers)
    again = await client.post(replies_url(ticket_id), json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert len(await emails(client, tenant)) == 1
    assert len(await events_of(db, tenant.tenant_id, "support.ticket.replied")) == 1
    other = await client.post(replies_url(ticket_id), json={"body": "different"}, headers=headers)
    assert_problem(other, 422)


async def test_two_agents_approving_one_draft_at_once_send_it_once(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    ticket_id, _ = await make_ticket(db, tenant.tenant_id)
    draft = await new_draft(client, tenant, ticket_id)

    results = await asyncio.gather(
        *(
            client.post(
                replies_url(ticket_id),
                json={"body": body, "draft_id": draft["id"]},
                headers=tenant.headers,
            )
            for body in (draft["body"], draft["body"] + " (checked)")
        )
    )

    assert sorted(r.status_code for r in results) == [201, 409]
    assert len(await emails(client, tenant)) == 1
    assert len(await events_of(db, tenant.tenant_id, "support.ticket.replied")) == 1
    assert len(await events_of(db, tenant.tenant_id, "support.draft.sent")) == 1
