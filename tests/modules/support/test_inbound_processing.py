"""Stored inbound mail becomes tickets through the event log: numbered per workspace,
linked to a CRM contact, threaded by Message-ID across our own replies, reopened by a
customer's answer — and never by a robot's; bad mail fails once, with a task."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.modules.support.inbound.service import ingest_email
from bizos.modules.support.tickets.models import Ticket, TicketMessage
from bizos.modules.support.tickets.service import TicketRules
from tests.conftest import TenantLogin
from tests.modules.support.test_inbound_helpers import (
    add_outbound,
    attachments_of,
    build_email,
    configure_inbound,
    deliver,
    events_of,
    fixture,
    messages_of,
    process,
    tasks_about,
    tickets_of,
)


async def receive(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin, raw: bytes
) -> None:
    r = await deliver(client, tenant.slug, raw)
    assert r.status_code == 202, r.text
    await process(db, settings, tenant.tenant_id)


@pytest.fixture
async def inbox(client: httpx.AsyncClient, tenant: TenantLogin) -> TenantLogin:
    await configure_inbound(client, tenant)
    return tenant


async def test_a_new_email_opens_a_numbered_ticket_for_a_new_contact(
    client: httpx.AsyncClient, db: Database, settings: Settings, inbox: TenantLogin
) -> None:
    await receive(client, db, settings, inbox, fixture("plain_utf8.eml"))

    [row] = await process(db, settings, inbox.tenant_id)
    assert row.status == "processed"
    [ticket] = await tickets_of(db, inbox.tenant_id)
    assert (ticket.number, ticket.status, ticket.channel) == ("T-000001", "new", "email")
    assert ticket.subject == "Where is my order \u2013 #1042?"
    assert ticket.customer_email == "maria.gonzalez@example.com"
    [message] = await messages_of(db, inbox.tenant_id, ticket.id)
    assert message.direction == "inbound" and message.inbound_id == row.id
    assert message.header_message_id == "<CAF7h2+plain-0001@mail.example.com>"
    assert "hasn\u2019t shipped" in message.body
    contact = await client.get(f"/api/v1/crm/contacts/{ticket.contact_id}", headers=inbox.headers)
    assert contact.json()["email"] == "maria.gonzalez@example.com"
    assert contact.json()["name"] == "María González"
    [created] = await events_of(db, inbox.tenant_id, "support.ticket.created")
    assert created.data == {
        "ticket_id": ticket.id,
        "number": "T-000001",
        "message_id": message.id,
        "contact_id": ticket.contact_id,
        "priority": ticket.priority,
        "channel": "email",
    }
    [received] = await events_of(db, inbox.tenant_id, "support.message.received")
    assert received.data["message_id"] == message.id and received.data["created"] is True


async def test_a_known_sender_is_linked_to_the_existing_contact(
    client: httpx.AsyncClient, db: Database, settings: Settings, inbox: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/crm/contacts",
        json={"email": "Maria.Gonzalez@example.com", "name": "Maria G."},
        headers=inbox.headers,
    )
    assert r.status_code == 201, r.text
    await receive(client, db, settings, inbox, fixture("plain_utf8.eml"))
    [ticket] = await tickets_of(db, inbox.tenant_id)
    assert ticket.contact_id == r.json()["id"]


async def test_ticket_numbers_run_per_workspace(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    inbox: TenantLogin,
    other_tenant: TenantLogin,
) -> None:
    await configure_inbound(client, other_tenant)
    for i in range(3):
        await deliver(client, inbox.slug, build_email(subject=f"Question {i}"))
    await deliver(client, other_tenant.slug, build_email(subject="Elsewhere"))
    await process(db, settings, inbox.tenant_id)
    await process(db, settings, other_tenant.tenant_id)
    mine = await tickets_of(db, inbox.tenant_id)
    theirs = await tickets_of(db, other_tenant.tenant_id)
    assert [t.number for t in mine] == ["T-000001", "T-000002", "T-000003"]
    assert [(t.number, t.subject) for t in theirs] == [("T-000001", "Elsewhere")]


async def test_a_reply_joins_its_ticket_by_in_reply_to_and_keeps_the_trimmed_body(
    client: httpx.AsyncClient, db: Database, settings: Settings, inbox: TenantLogin
) -> None:
    await receive(client, db, settings, inbox, fixture("plain_utf8.eml"))
    await receive(client, db, settings, inbox, fixture("reply_quoted.eml"))

    [ticket] = await tickets_of(db, inbox.tenant_id)
    first, reply = await messages_of(db, inbox.tenant_id, ticket.id)
    assert reply.in_reply_to == first.header_message_id
    assert reply.body == "Thanks, but it is still not here."
    assert reply.full_body is not None and "> I ordered a pour-over kettle" in reply.full_body
    assert ticket.status == "new"  # not pending: nothing to reopen
    assert await events_of(db, inbox.tenant_id, "support.ticket.reopened") == []
    received = await events_of(db, inbox.tenant_id, "support.message.received")
    assert [e.data["created"] for e in received] == [True, False]


async def test_a_reply_to_our_outbound_message_reopens_the_pending_ticket(
    client: httpx.AsyncClient, db: Database, settings: Settings, inbox: TenantLogin
) -> None:
    await receive(client, db, settings, inbox, build_email(message_id="<q1@mail.example.com>"))
    [ticket] = await tickets_of(db, inbox.tenant_id)
    await add_outbound(db, inbox.tenant_id, ticket.id, "<reply-1@acme.example>")

    # The customer's client names only our reply (and an id we never saw).
    answer = build_email(
        subject="Re: Where is my order?",
        body="Still nothing, sorry.",
        in_reply_to="<reply-1@acme.example>",
        references=["<unknown@elsewhere>", "<reply-1@acme.example>"],
    )
    await receive(client, db, settings, inbox, answer)

    [after] = await tickets_of(db, inbox.tenant_id)
    assert after.status == "open" and after.reopened_count == 1
    assert after.version == ticket.version + 2  # the outbound reply, then the reopen
    messages = await messages_of(db, inbox.tenant_id, ticket.id)
    assert [m.direction for m in messages] == ["inbound", "outbound", "inbound"]
    [reopened] = await events_of(db, inbox.tenant_id, "support.ticket.reopened")
    assert reopened.data == {
        "ticket_id": ticket.id,
        "message_id": messages[2].id,
        "previous_status": "pending",
        "number": "T-000001",
    }


@pytest.mark.parametrize("status", ["resolved", "closed"])
async def test_a_customer_reply_reopens_a_finished_ticket(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    inbox: TenantLogin,
    status: str,
) -> None:
    await receive(client, db, settings, inbox, build_email(message_id="<q2@mail.example.com>"))
    [ticket] = await tickets_of(db, inbox.tenant_id)
    r = await client.patch(
        f"/api/v1/support/tickets/{ticket.id}", json={"status": status}, headers=inbox.headers
    )
    assert r.status_code == 200, r.text
    await receive(client, db, settings, inbox, build_email(references=["<q2@mail.example.com>"]))
    [after] = await tickets_of(db, inbox.tenant_id)
    assert (after.status, after.resolved_at, after.closed_at) == ("open", None, None)
    assert len(await events_of(db, inbox.tenant_id, "support.ticket.reopened")) == 1


async def test_references_only_threading_finds_the_newest_known_id(
    client: httpx.AsyncClient, db: Database, settings: Settings, inbox: TenantLogin
) -> None:
    await receive(client, db, settings, inbox, build_email(message_id="<t1@mail.example.com>"))
    await receive(client, db, settings, inbox, build_email(message_id="<t2@mail.example.com>"))
    one, two = await tickets_of(db, inbox.tenant_id)
    raw = build_email(references=["<t1@mail.example.com>", "<t2@mail.example.com>"])
    await receive(client, db, settings, inbox, raw)
    assert len(await messages_of(db, inbox.tenant_id, two.id)) == 2
    assert len(await messages_of(db, inbox.tenant_id, one.id)) == 1


async def test_a_ticket_number_in_the_subject_threads_only_for_that_customer(
    client: httpx.AsyncClient, db: Database, settings: Settings, inbox: TenantLogin
) -> None:
    await receive(client, db, settings, inbox, build_email(sender="maria@example.com"))
    [ticket] = await tickets_of(db, inbox.tenant_id)
    same = build_email(sender="MARIA@example.com", subject="Re: [T-000001] more details")
    stranger = build_email(sender="eve@example.net", subject="Re: [T-000001] let me in")
    await receive(client, db, settings, inbox, same)
    await receive(client, db, settings, inbox, stranger)
    tickets = await tickets_of(db, inbox.tenant_id)
    assert len(await messages_of(db, inbox.tenant_id, ticket.id)) == 2
    assert [t.customer_email for t in tickets] == ["maria@example.com", "eve@example.net"]


async def test_threading_never_crosses_workspaces(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    inbox: TenantLogin,
    other_tenant: TenantLogin,
) -> None:
    await configure_inbound(client, other_tenant)
    await receive(client, db, settings, inbox, build_email(message_id="<x1@mail.example.com>"))
    reply = build_email(in_reply_to="<x1@mail.example.com>", subject="Re: [T-000001]")
    await deliver(client, other_tenant.slug, reply)
    await process(db, settings, other_tenant.tenant_id)
    [theirs] = await tickets_of(db, other_tenant.tenant_id)
    [mine] = await tickets_of(db, inbox.tenant_id)
    assert len(await messages_of(db, inbox.tenant_id, mine.id)) == 1
    assert len(await messages_of(db, other_tenant.tenant_id, theirs.id)) == 1


async def test_an_auto_reply_is_kept_on_its_ticket_but_does_not_reopen_it(
    client: httpx.AsyncClient, db: Database, settings: Settings, inbox: TenantLogin
) -> None:
    await receive(client, db, settings, inbox, fixture("plain_utf8.eml"))
    [ticket] = await tickets_of(db, inbox.tenant_id)
    await add_outbound(db, inbox.tenant_id, ticket.id, "<reply-2@acme.example>")
    await receive(client, db, settings, inbox, fixture("auto_reply_ooo.eml"))

    [after] = await tickets_of(db, inbox.tenant_id)
    assert after.status == "pending" and after.reopened_count == 0
    *_, ooo = await messages_of(db, inbox.tenant_id, ticket.id)
    assert ooo.auto_reply and ooo.body == "I am out of the office until Monday."
    assert await events_of(db, inbox.tenant_id, "support.ticket.reopened") == []
    received = await events_of(db, inbox.tenant_id, "support.message.received")
    assert len(received) == 1  # the first message only: no draft answers a robot
    [auto] = await events_of(db, inbox.tenant_id, "support.message.auto_reply_received")
    assert auto.data["message_id"] == ooo.id


async def test_robots_never_open_tickets(
    client: httpx.AsyncClient, db: Database, settings: Settings, inbox: TenantLogin
) -> None:
    await deliver(client, inbox.slug, fixture("bounce.eml"))
    await deliver(client, inbox.slug, build_email(headers={"Auto-Submitted": "auto-replied"}))
    rows = await process(db, settings, inbox.tenant_id)
    assert [r.status for r in rows] == ["ignored", "ignored"]
    assert all(r.error and r.error.startswith("automatic message") for r in rows)
    assert await tickets_of(db, inbox.tenant_id) == []


async def test_mail_from_our_own_support_address_is_ignored(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await configure_inbound(client, tenant, config={"inbound_address": "help@acme.example"})
    await receive(client, db, settings, tenant, build_email(sender="Help <HELP@acme.example>"))
    [row] = await process(db, settings, tenant.tenant_id)
    assert row.status == "ignored"
    assert await tickets_of(db, tenant.tenant_id) == []


async def test_unparseable_mail_fails_once_with_a_task_and_no_ticket(
    client: httpx.AsyncClient, db: Database, settings: Settings, inbox: TenantLogin
) -> None:
    await deliver(client, inbox.slug, fixture("not_an_email.eml"))
    [row] = await process(db, settings, inbox.tenant_id)
    assert row.status == "failed" and row.error == "the message has no sender address (From)"
    [task] = await tasks_about(db, inbox.tenant_id, row.id)
    assert task.assignee_id == inbox.user_id and task.priority == "high"
    assert await tickets_of(db, inbox.tenant_id) == []
    # Running the dispatcher again does not retry it.
    [again] = await process(db, settings, inbox.tenant_id)
    assert again.status == "failed" and len(await tasks_about(db, inbox.tenant_id, row.id)) == 1


async def test_attachments_are_stored_with_their_ticket(
    client: httpx.AsyncClient, db: Database, settings: Settings, inbox: TenantLogin
) -> None:
    await receive(client, db, settings, inbox, fixture("mixed_attachments.eml"))
    [ticket] = await tickets_of(db, inbox.tenant_id)
    [message] = await messages_of(db, inbox.tenant_id, ticket.id)
    files = await attachments_of(db, inbox.tenant_id)
    assert [f.filename for f in files] == [
        "Original receipt.eml",
        "evil.exe",
        "photo.png",
        "reçu №99.pdf",
    ]
    assert all(f.ticket_id == ticket.id and f.message_id == message.id for f in files)
    pdf = files[3]
    assert pdf.content.startswith(b"%PDF") and pdf.size_bytes == len(pdf.content)
    assert message.cc_addresses == ["jane@example.org"] and message.html


async def test_every_charset_fixture_files_as_readable_text(
    client: httpx.AsyncClient, db: Database, settings: Settings, inbox: TenantLogin
) -> None:
    for name in ("iso2022jp.eml", "mislabelled_cp1252.eml", "unknown_charset.eml"):
        await deliver(client, inbox.slug, fixture(name))
    rows = await process(db, settings, inbox.tenant_id)
    assert {r.status for r in rows} == {"processed"}
    bodies = set()
    for ticket in await tickets_of(db, inbox.tenant_id):
        bodies |= {m.body for m in await messages_of(db, inbox.tenant_id, ticket.id)}
    assert bodies == {
        "こんにちは。注文が届いていません。",
        "Bonjour, la facture indique “120 €” au lieu de 100 € \u2013 merci de corriger.",
        "Não recebi a encomenda. Obrigada!",
    }


async def test_ingesting_the_same_message_twice_returns_the_first_result(
    db: Database, tenant: TenantLogin
) -> None:
    ctx = Context(tenant_id=tenant.tenant_id)
    raw = fixture("plain_utf8.eml")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        first = await ingest_email(s, ctx, raw, inbound_id=None)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        again = await ingest_email(s, ctx, raw, inbound_id=None)
    assert first.created and not again.created
    assert (again.ticket_id, again.message_id) == (first.ticket_id, first.message_id)


async def test_triage_and_sla_run_for_a_new_ticket_before_it_is_announced(
    db: Database, tenant: TenantLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, Any]] = []

    async def triage(session: Any, ctx: Context, ticket: Ticket, message: TicketMessage) -> None:
        calls.append(("triage", message.body))
        ticket.priority = "high"

    async def apply_sla(session: Any, ctx: Context, ticket: Ticket, now: Any) -> None:
        calls.append(("sla", ticket.priority))

    rules = TicketRules(triage=triage, apply_sla=apply_sla)
    ctx = Context(tenant_id=tenant.tenant_id)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        result = await ingest_email(s, ctx, build_email(body="Help!"), inbound_id=None, rules=rules)
    assert calls == [("triage", "Help!"), ("sla", "high")]
    [created] = await events_of(db, tenant.tenant_id, "support.ticket.created")
    assert created.data["priority"] == "high" and created.data["ticket_id"] == result.ticket_id
