"""The contact timeline's view of support: each ticket when it was opened (and resolved),
and every message on it, in and out.

An agent's reply that went out by email is on the timeline once, as the email the
outbound message log recorded (its ``related`` names the ticket); internal notes stay
on the ticket. Registered on the CRM's timeline port by support's ``handlers.register``.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.timeline import TimelineEntry
from bizos.modules.support.tickets.models import Ticket, TicketMessage
from bizos.modules.support.tickets.service import BASE as TICKETS


async def _tickets(
    session: AsyncSession,
    ctx: Context,
    contact_ids: list[str],
    limit: int,
    before: dt.datetime | None,
) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    for column, kind in ((Ticket.created_at, "ticket"), (Ticket.resolved_at, "ticket.resolved")):
        query = sa.select(Ticket).where(
            Ticket.tenant_id == ctx.require_tenant(),
            Ticket.contact_id.in_(contact_ids),
            column.is_not(None),
        )
        if before is not None:
            query = query.where(column <= before)
        for ticket in await session.scalars(query.order_by(column.desc()).limit(limit)):
            at = ticket.created_at if kind == "ticket" else ticket.resolved_at
            assert at is not None
            entries.append(
                TimelineEntry(
                    at=at,
                    kind=kind,
                    title=f"Ticket {ticket.number} "
                    + ("opened" if kind == "ticket" else "resolved")
                    + f": {ticket.subject[:200]}",
                    summary=f"{ticket.priority} priority, {ticket.status}",
                    ref_type="ticket",
                    ref_id=ticket.id,
                    data={
                        "ticket_id": ticket.id,
                        "number": ticket.number,
                        "status": ticket.status,
                        "priority": ticket.priority,
                        "channel": ticket.channel,
                    },
                    link=f"{TICKETS}/{ticket.id}",
                )
            )
    return entries


async def _messages(
    session: AsyncSession,
    ctx: Context,
    contact_ids: list[str],
    limit: int,
    before: dt.datetime | None,
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
    if before is not None:
        query = query.where(TicketMessage.created_at <= before)
    rows = await session.execute(query.order_by(TicketMessage.created_at.desc()).limit(limit))
    entries = []
    for message, number in rows:
        inbound = message.direction == "inbound"
        who = message.from_name or message.from_address or ("customer" if inbound else "agent")
        entries.append(
            TimelineEntry(
                at=message.created_at,
                kind=f"ticket.message.{message.direction}",
                title=(f"Email from {who}" if inbound else f"Reply by {who}")
                + f" on {number}"
                + (" (automatic)" if message.auto_reply else ""),
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
        )
    return entries


async def support_source(
    session: AsyncSession,
    ctx: Context,
    contact_ids: list[str],
    email: str | None,
    limit: int,
    *,
    before: dt.datetime | None = None,
) -> list[TimelineEntry]:
    entries = [
        *await _tickets(session, ctx, contact_ids, limit, before),
        *await _messages(session, ctx, contact_ids, limit, before),
    ]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]
