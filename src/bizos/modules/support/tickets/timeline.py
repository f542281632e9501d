"""The contact timeline's view of support: each ticket when it was opened (and resolved),
and every message on it, in and out.

An agent's reply that went out by email is on the timeline once, as the email the
outbound message log recorded (its ``related`` names the ticket); internal notes stay
on the ticket. Declared in support's manifest (``timeline_sources``).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.events import payload
from bizos.core.timeline import TimelineEntry, newest_first
from bizos.modules.support.tickets.models import Ticket, TicketMessage
from bizos.modules.support.tickets.service import BASE as TICKETS

Before = dt.datetime | None


def _ticket_entry(ticket: Ticket, kind: str, at: dt.datetime) -> TimelineEntry:
    what = "opened" if kind == "ticket" else "resolved"
    return TimelineEntry(
        at=at,
        kind=kind,
        title=f"Ticket {ticket.number} {what}: {ticket.subject[:200]}",
        summary=f"{ticket.priority} priority, {ticket.status}",
        ref_type="ticket",
        ref_id=ticket.id,
        data={"ticket_id": ticket.id, **payload(ticket, "number", "status", "priority", "channel")},
        link=f"{TICKETS}/{ticket.id}",
    )


async def _tickets(
    session: AsyncSession, ctx: Context, contact_ids: list[str], limit: int, before: Before
) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    for column, kind in ((Ticket.created_at, "ticket"), (Ticket.resolved_at, "ticket.resolved")):
        query = sa.select(Ticket, column).where(
            Ticket.tenant_id == ctx.require_tenant(), Ticket.contact_id.in_(contact_ids)
        )
        for ticket, at in await session.execute(
            newest_first(query, column, limit=limit, before=before)
        ):
            entries.append(_ticket_entry(ticket, kind, at))
    return entries


def _message_entry(message: TicketMessage, number: str) -> TimelineEntry:
    inbound = message.direction == "inbound"
    who = message.from_name or message.from_address or ("customer" if inbound else "agent")
    said = f"Email from {who}" if inbound else f"Reply by {who}"
    return TimelineEntry(
        at=message.created_at,
        kind=f"ticket.message.{message.direction}",
        title=f"{said} on {number}" + (" (automatic)" if message.auto_reply else ""),
        summary=message.body[:280],
        ref_type="ticket_message",
        ref_id=message.id,
        data={
            "ticket_id": message.ticket_id,
            "ticket_number": number,
            "direction": message.direction,
            "from": message.from_address,
            "subject": message.subject,
        },
        link=f"{TICKETS}/{message.ticket_id}",
    )


async def _messages(
    session: AsyncSession, ctx: Context, contact_ids: list[str], limit: int, before: Before
) -> list[TimelineEntry]:
    query = (
        sa.select(TicketMessage, Ticket.number)
        .join(Ticket, Ticket.id == TicketMessage.ticket_id)
        .where(
            TicketMessage.tenant_id == ctx.require_tenant(),
            Ticket.tenant_id == ctx.require_tenant(),
            Ticket.contact_id.in_(contact_ids),
            sa.or_(
                TicketMessage.direction == "inbound",
                sa.and_(
                    TicketMessage.direction == "outbound",
                    TicketMessage.outbound_message_id.is_(None),
                ),
            ),
        )
    )
    query = newest_first(query, TicketMessage.created_at, limit=limit, before=before)
    return [_message_entry(message, number) for message, number in await session.execute(query)]


async def support_source(
    session: AsyncSession,
    ctx: Context,
    contact_ids: list[str],
    email: str | None,
    limit: int,
    *,
    before: Before = None,
) -> list[TimelineEntry]:
    entries = [
        *await _tickets(session, ctx, contact_ids, limit, before),
        *await _messages(session, ctx, contact_ids, limit, before),
    ]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]
