"""Shared pieces of the draft and reply tests: tickets written straight to the database
(with the events inbound email would raise), knowledge passages, waiting for drafts."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core.context import Context
from bizos.core.db import Database, utcnow
from bizos.core.events import Event, append_event
from bizos.core.ids import new_id
from bizos.core.sequences import format_number, next_value
from bizos.modules.knowledge.documents import service as knowledge
from bizos.modules.support.tickets.models import Ticket, TicketMessage
from tests.conftest import TenantLogin

Json = dict[str, Any]
SUPPORT_ADDRESS = "support@acme.example"


# --- data -------------------------------------------------------------------------------


async def make_ticket(
    db: Database,
    tenant_id: str,
    *,
    subject: str = "Where is my refund?",
    body: str = "I returned the blender two weeks ago and have not been refunded.",
    from_address: str | None = "ada@example.com",
    from_name: str | None = "Ada Lovelace",
    status: str = "new",
    assignee_id: str | None = None,
    header_message_id: str | None = None,
    references: Sequence[str] = (),
    announce: bool = True,
) -> tuple[str, str]:
    """A ticket with one inbound message (and ``support.ticket.created`` +
    ``support.message.received``, as inbound email raises them). Returns (ticket, message)."""
    ctx = Context(tenant_id=tenant_id, actor_type="system")
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        n = await next_value(session, tenant_id, "support.tests.ticket")
        ticket = Ticket(
            tenant_id=tenant_id,
            number=format_number("T", n),
            subject=subject,
            status=status,
            customer_email=from_address,
            assignee_id=assignee_id,
            last_inbound_at=utcnow(),
            resolved_at=utcnow() if status in ("resolved", "closed") else None,
        )
        session.add(ticket)
        await session.flush()
        message = TicketMessage(
            tenant_id=tenant_id,
            ticket_id=ticket.id,
            direction="inbound",
            from_address=from_address,
            from_name=from_name,
            to_addresses=[SUPPORT_ADDRESS],
            subject=subject,
            body=body,
            header_message_id=header_message_id or f"<{new_id()}@mail.example.com>",
            references=list(references),
        )
        session.add(message)
        await session.flush()
        if announce:
            data = {"ticket_id": ticket.id, "number": ticket.number, "message_id": message.id}
            await append_event(
                session,
                ctx,
                "support.ticket.created",
                aggregate_type="ticket",
                aggregate_id=ticket.id,
                data=data,
            )
            await append_event(
                session,
                ctx,
                "support.message.received",
                aggregate_type="ticket",
                aggregate_id=ticket.id,
                data={"ticket_id": ticket.id, "message_id": message.id},
            )
        return ticket.id, message.id


async def add_message(
    db: Database,
    tenant_id: str,
    ticket_id: str,
    *,
    body: str,
    direction: str = "inbound",
    from_address: str | None = "ada@example.com",
    header_message_id: str | None = None,
    references: Sequence[str] = (),
    event: str | None = "support.message.received",
) -> str:
    ctx = Context(tenant_id=tenant_id, actor_type="system")
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        message = TicketMessage(
            tenant_id=tenant_id,
            ticket_id=ticket_id,
            direction=direction,
            from_address=from_address,
            from_name="Ada Lovelace",
            to_addresses=[SUPPORT_ADDRESS],
            subject="Re: Where is my refund?",
            body=body,
            header_message_id=header_message_id or f"<{new_id()}@mail.example.com>",
            references=list(references),
            created_at=utcnow(),
        )
        session.add(message)
        await session.flush()
        if event is not None:
            await append_event(
                session,
                ctx,
                event,
                aggregate_type="ticket",
                aggregate_id=ticket_id,
                data={"ticket_id": ticket_id, "message_id": message.id},
            )
        return message.id


async def resolved_ticket(db: Database, tenant_id: str, *, question: str, answer: str) -> str:
    """A past ticket, resolved, with our answer on it."""
    ticket_id, _ = await make_ticket(
        db, tenant_id, subject="Refund question", body=question, status="resolved", announce=False
    )
    await add_message(db, tenant_id, ticket_id, body=answer, direction="outbound", event=None)
    return ticket_id


async def kb_passage(db: Database, tenant_id: str, *, title: str, text: str) -> tuple[str, str]:
    """A knowledge-base document of one short passage, indexed. Returns (document, chunk)."""
    ctx = Context(tenant_id=tenant_id, actor_type="system")
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        doc = await knowledge.create_document(
            session, ctx, title=title, content=text, content_type="text/plain"
        )
        [chunk] = await knowledge.document_chunks(session, ctx, doc.id)
        return doc.id, chunk.id


# --- looking ----------------------------------------------------------------------------


async def drafts_of(client: httpx.AsyncClient, tenant: TenantLogin, ticket_id: str) -> list[Json]:
    r = await client.get(f"/api/v1/support/tickets/{ticket_id}/drafts", headers=tenant.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def until_drafts(
    client: httpx.AsyncClient, tenant: TenantLogin, ticket_id: str, count: int = 1
) -> list[Json]:
    """Wait for the ticket to have ``count`` drafts (newest first)."""
    async with asyncio.timeout(60):
        while True:
            items = await drafts_of(client, tenant, ticket_id)
            if len(items) >= count:
                return items
            await asyncio.sleep(0.05)


async def events_of(db: Database, tenant_id: str, type_: str) -> list[Json]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Event).where(Event.type == type_).order_by(Event.position)
        )
        return [dict(r.data) for r in rows]
