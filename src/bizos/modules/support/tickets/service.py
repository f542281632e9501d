"""Tickets: the only writer of ``support_tickets``, ``support_messages`` and
``support_attachments``.

A ticket is numbered per tenant from the ``support.ticket`` series (``T-000042``,
gapless: a rolled-back ticket gives its number back). Every new ticket and every inbound
message goes through triage (sentiment, intent, priority) and a new ticket or a priority
change through the SLA: both are the caller's :class:`TicketRules` (``support.sla``
provides them; tickets imports neither) and run in the caller's transaction, so a ticket
is never visible without its due times.

Status: ``new`` → ``open`` → ``pending`` (waiting on the customer) → ``resolved`` →
``closed``, set by agents (``PATCH``) and by replies: a customer's message reopens a
pending, resolved or closed ticket (``support.ticket.reopened``). ``version`` moves on
every change an agent could have raced with (status, priority, assignee, tags), so a
``PATCH`` with a stale ``If-Match`` is 409.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import sqlalchemy as sa
import structlog
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import NotFound, Unprocessable, field_error
from bizos.core.events import append_event, append_row_event, payload
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, PageParams
from bizos.core.reads import one_or_404, read_of
from bizos.core.sequences import format_number, next_value
from bizos.core.versions import check_version
from bizos.modules.crm.contacts import service as contacts_service
from bizos.modules.identity import service as identity_service
from bizos.modules.support.tickets.models import Ticket, TicketAttachment, TicketMessage
from bizos.modules.support.tickets.schemas import (
    AiDraftRead,
    AttachmentRead,
    MessageRead,
    SlaRead,
    TicketCreate,
    TicketRead,
)

log = structlog.get_logger("bizos.support.tickets")

NUMBER_SERIES = "support.ticket"
REOPENING_STATUSES = ("pending", "resolved", "closed")
BASE = "/api/v1/support/tickets"

M = TypeVar("M", TicketMessage, TicketAttachment)


# --- what the rest of the desk adds (tickets imports none of it) -------------------------

Triage = Callable[[AsyncSession, Context, Ticket, TicketMessage], Awaitable[object]]
ApplySla = Callable[[AsyncSession, Context, Ticket, dt.datetime], Awaitable[None]]
# ``(session, ctx, ticket_ids) -> {ticket_id: its pending AI draft}`` (support.drafts).
PendingDrafts = Callable[
    [AsyncSession, Context, Sequence[str]], Awaitable[Mapping[str, AiDraftRead]]
]


@dataclass(slots=True)
class TicketRules:
    """What every ticket goes through as it is written, in the writer's transaction:
    ``triage`` reads a customer's message (sentiment, intent, maybe a higher priority) and
    ``apply_sla`` sets the due times for the ticket's priority. ``support.sla`` provides
    them (``support.sla.triage.TICKET_RULES``); callers hand them in."""

    triage: Triage
    apply_sla: ApplySla


# --- reads ------------------------------------------------------------------------------


def ticket_query(ctx: Context, ticket_id: str) -> Select[Ticket]:
    return sa.select(Ticket).where(Ticket.tenant_id == ctx.require_tenant(), Ticket.id == ticket_id)


async def get_ticket(session: AsyncSession, ctx: Context, ticket_id: str) -> Ticket:
    """The tenant's ticket; 404 for an unknown id or another tenant's."""
    return await one_or_404(session, ticket_query(ctx, ticket_id), "ticket")


async def locked_ticket(session: AsyncSession, ctx: Context, ticket_id: str) -> Ticket:
    """The ticket, row-locked for a change (and re-read, so it is current)."""
    query = ticket_query(ctx, ticket_id).with_for_update()
    return await one_or_404(session, query.execution_options(populate_existing=True), "ticket")


async def find_ticket_by_number(session: AsyncSession, ctx: Context, number: str) -> Ticket | None:
    row: Ticket | None = await session.scalar(
        sa.select(Ticket).where(Ticket.tenant_id == ctx.require_tenant(), Ticket.number == number)
    )
    return row


def _of_tickets(model: type[M], ctx: Context, ticket_ids: Sequence[str]) -> Select[M]:
    """``model``'s rows (messages, attachments) of the tickets, oldest first."""
    query = sa.select(model).where(
        model.tenant_id == ctx.require_tenant(), model.ticket_id.in_(ticket_ids)
    )
    return query.order_by(model.created_at, model.id)


async def ticket_messages(
    session: AsyncSession, ctx: Context, ticket_id: str
) -> list[TicketMessage]:
    """The ticket's messages (in, out and notes), oldest first."""
    return list(await session.scalars(_of_tickets(TicketMessage, ctx, [ticket_id])))


async def get_attachment(
    session: AsyncSession, ctx: Context, ticket_id: str, attachment_id: str
) -> TicketAttachment:
    query = _of_tickets(TicketAttachment, ctx, [ticket_id]).where(
        TicketAttachment.id == attachment_id
    )
    return await one_or_404(session, query, "attachment")


def _attachment_read(row: TicketAttachment) -> AttachmentRead:
    return read_of(AttachmentRead, row, url=f"{BASE}/{row.ticket_id}/attachments/{row.id}")


def _message_read(row: TicketMessage, attachments: list[AttachmentRead]) -> MessageRead:
    return read_of(
        MessageRead,
        row,
        from_=row.from_address,
        to=list(row.to_addresses or []),
        cc=list(row.cc_addresses or []),
        attachments=attachments,
    )


def _sla_read(ticket: Ticket) -> SlaRead:
    return read_of(SlaRead, ticket, policy_id=ticket.sla_policy_id, breached=ticket.sla_breached)


async def ticket_reads(
    session: AsyncSession, ctx: Context, tickets: Sequence[Ticket], *, drafts: PendingDrafts
) -> list[TicketRead]:
    """Tickets as the API shows them, with messages, attachments and the pending draft
    (``drafts`` finds those: three queries for the whole page)."""
    if not tickets:
        return []
    ids = [t.id for t in tickets]
    messages = await session.scalars(_of_tickets(TicketMessage, ctx, ids))
    files = await session.scalars(_of_tickets(TicketAttachment, ctx, ids))
    latest_draft = await drafts(session, ctx, ids)
    by_message: dict[str, list[AttachmentRead]] = {}
    by_ticket: dict[str, list[AttachmentRead]] = {}
    for f in files:
        read = _attachment_read(f)
        by_message.setdefault(f.message_id, []).append(read)
        by_ticket.setdefault(f.ticket_id, []).append(read)
    messages_of: dict[str, list[MessageRead]] = {}
    for m in messages:
        messages_of.setdefault(m.ticket_id, []).append(_message_read(m, by_message.get(m.id, [])))
    return [
        read_of(
            TicketRead,
            t,
            tags=list(t.tags or []),
            messages=messages_of.get(t.id, []),
            ai_draft=latest_draft.get(t.id),
            sla=_sla_read(t),
            attachments=by_ticket.get(t.id, []),
        )
        for t in tickets
    ]


async def ticket_read(
    session: AsyncSession, ctx: Context, ticket: Ticket, *, drafts: PendingDrafts
) -> TicketRead:
    [read] = await ticket_reads(session, ctx, [ticket], drafts=drafts)
    return read


async def tickets_of_contact(session: AsyncSession, ctx: Context, contact_id: str) -> list[Ticket]:
    """Every ticket the contact opened, oldest first (for their data export)."""
    rows = await session.scalars(
        sa.select(Ticket)
        .where(Ticket.tenant_id == ctx.require_tenant(), Ticket.contact_id == contact_id)
        .order_by(Ticket.created_at, Ticket.id)
    )
    return list(rows)


TICKET_ORDER = ListOrder(
    "tickets",
    Ticket.id,
    [Ticket.created_at, Ticket.updated_at, Ticket.last_inbound_at],
    unsorted_descending=True,
)


@dataclass(frozen=True, slots=True)
class TicketFilters:
    """What a list of tickets is narrowed to (``None``: any)."""

    status: str | None = None
    priority: str | None = None
    assignee_id: str | None = None
    contact_id: str | None = None

    def where(self) -> list[sa.ColumnElement[bool]]:
        """The conditions on :class:`Ticket`'s columns of the same names."""
        given = ((f.name, getattr(self, f.name)) for f in fields(self))
        return [getattr(Ticket, name) == value for name, value in given if value is not None]


async def list_tickets(
    session: AsyncSession,
    ctx: Context,
    page: PageParams,
    filters: TicketFilters,
    *,
    drafts: PendingDrafts,
) -> tuple[list[TicketRead], str | None]:
    """The tenant's tickets in ``page``'s order (newest first by default), filtered."""
    query = sa.select(Ticket).where(Ticket.tenant_id == ctx.require_tenant(), *filters.where())
    rows = list(await session.scalars(TICKET_ORDER.apply(query, page)))
    items, cursor = TICKET_ORDER.take_page(rows, page)
    return await ticket_reads(session, ctx, items, drafts=drafts), cursor


# --- writing ------------------------------------------------------------------------------


async def ticket_event(
    session: AsyncSession, ctx: Context, ticket: Ticket, type_: str, **data: Any
) -> None:
    """``type_`` about the ticket at its version, ``ticket_id`` first in its data."""
    data = {"ticket_id": ticket.id, **data}
    await append_row_event(session, ctx, type_, ticket, aggregate_type="ticket", data=data)


async def unversioned_ticket_event(
    session: AsyncSession, ctx: Context, ticket: Ticket, type_: str, **data: Any
) -> None:
    """:func:`ticket_event` at the log's default version, for what does not change the
    ticket's own version (a triage, a draft asked for)."""
    data = {"ticket_id": ticket.id, **data}
    await append_event(
        session, ctx, type_, aggregate_type="ticket", aggregate_id=ticket.id, data=data
    )


async def open_ticket(
    session: AsyncSession,
    ctx: Context,
    *,
    subject: str,
    channel: str,
    contact_id: str | None,
    customer_email: str | None,
    priority: str = "normal",
    assignee_id: str | None = None,
    tags: Sequence[str] = (),
) -> Ticket:
    """A new numbered ticket (flushed, no events yet: :func:`announce_ticket` follows once
    its first message is stored)."""
    tenant_id = ctx.require_tenant()
    number = format_number("T", await next_value(session, tenant_id, NUMBER_SERIES))
    ticket = Ticket(
        id=new_id(),
        tenant_id=tenant_id,
        number=number,
        subject=(subject.strip() or "(no subject)")[:998],
        status="new",
        priority=priority,
        channel=channel,
        contact_id=contact_id,
        customer_email=customer_email,
        assignee_id=assignee_id,
        tags=list(dict.fromkeys(tags)),
        sla_breaches=[],
    )
    session.add(ticket)
    await session.flush()
    return ticket


async def add_message(
    session: AsyncSession, ctx: Context, ticket: Ticket, **fields: Any
) -> TicketMessage:
    """Store a message on ``ticket`` (flushed). ``fields`` are TicketMessage columns."""
    message = TicketMessage(
        id=new_id(), tenant_id=ctx.require_tenant(), ticket_id=ticket.id, **fields
    )
    session.add(message)
    await session.flush()
    return message


async def announce_ticket(
    session: AsyncSession, ctx: Context, ticket: Ticket, message: TicketMessage, rules: TicketRules
) -> None:
    """Triage and SLA for a new ticket, then ``support.ticket.created`` and
    ``support.message.received`` (in this order: the created event names the priority
    triage settled on)."""
    await rules.triage(session, ctx, ticket, message)
    await _apply_sla(session, ctx, ticket, rules)
    await ticket_event(
        session,
        ctx,
        ticket,
        "support.ticket.created",
        number=ticket.number,
        message_id=message.id,
        **payload(ticket, "contact_id", "priority", "channel"),
    )
    await message_received(session, ctx, ticket, message, created=True, reopened=False)
    log.info("support.ticket.created", ticket_id=ticket.id, channel=ticket.channel)


async def _apply_sla(
    session: AsyncSession, ctx: Context, ticket: Ticket, rules: TicketRules
) -> None:
    """The SLA's due times for the ticket's priority now, flushed."""
    await rules.apply_sla(session, ctx, ticket, utcnow())
    await session.flush()


async def message_received(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    message: TicketMessage,
    *,
    created: bool,
    reopened: bool,
) -> None:
    """``support.message.received``: a customer's message is on the ticket (the one
    that opened it, ``created``, or a reply, which may have ``reopened`` it)."""
    await ticket_event(
        session,
        ctx,
        ticket,
        "support.message.received",
        message_id=message.id,
        direction=message.direction,
        created=created,
        reopened=reopened,
    )


async def create_ticket(
    session: AsyncSession, ctx: Context, body: TicketCreate, rules: TicketRules
) -> Ticket:
    """A ticket entered through the API (channel ``api``) with the customer's words as
    its first inbound message."""
    if body.contact_id is None and body.email is None:
        raise Unprocessable(
            "name the customer by contact_id or email",
            errors=[field_error(["body", "contact_id"], "contact_id or email is required")],
        )
    if body.contact_id is not None:
        try:
            contact = await contacts_service.read_contact(session, ctx, body.contact_id)
        except NotFound as exc:
            raise Unprocessable(
                "no such contact", errors=[field_error(["body", "contact_id"], "not found")]
            ) from exc
    else:
        assert body.email is not None
        contact = await contacts_service.contact_for_email(
            session, ctx, email=str(body.email), name=body.name, source="support"
        )
    if body.assignee_id is not None:
        await identity_service.require_assignee(session, ctx, body.assignee_id)
    email = contact.email or (str(body.email) if body.email else None)
    ticket = await open_ticket(
        session,
        ctx,
        subject=body.subject,
        channel="api",
        contact_id=contact.id,
        customer_email=email,
        priority=body.priority or "normal",
        assignee_id=body.assignee_id,
        tags=body.tags,
    )
    now = utcnow()
    ticket.last_inbound_at = now
    message = await add_message(
        session,
        ctx,
        ticket,
        direction="inbound",
        from_address=email,
        from_name=contact.name,
        to_addresses=[],
        cc_addresses=[],
        subject=ticket.subject,
        body=body.body,
        references=[],
        author_id=ctx.actor_id if ctx.actor_type == "user" else None,
        created_at=now,
    )
    await announce_ticket(session, ctx, ticket, message, rules)
    return ticket


def touch(ticket: Ticket, now: dt.datetime) -> None:
    """A change an agent could race with: the next ``version`` (and ``updated_at``)."""
    ticket.version += 1
    ticket.updated_at = now


_bump = touch


async def update_ticket(
    session: AsyncSession,
    ctx: Context,
    ticket_id: str,
    changes: dict[str, Any],
    rules: TicketRules,
    *,
    if_match: str | None = None,
) -> Ticket:
    """Apply the fields sent (status, priority, assignee_id, tags). A priority change
    recomputes the SLA; resolving stamps ``resolved_at`` (``support.ticket.resolved``);
    closing stamps ``closed_at``; moving back to new/open/pending clears both."""
    ticket = await locked_ticket(session, ctx, ticket_id)
    check_version(if_match, ticket.version)
    for name in ("status", "priority", "tags"):
        if name in changes and changes[name] is None:
            raise Unprocessable(
                f"{name} may not be null", errors=[field_error(["body", name], "may not be null")]
            )
    if changes.get("assignee_id") is not None:
        await identity_service.require_assignee(session, ctx, changes["assignee_id"])
    if "tags" in changes:
        changes["tags"] = list(dict.fromkeys(changes["tags"]))
    changed = {name: value for name, value in changes.items() if getattr(ticket, name) != value}
    if not changed:
        return ticket
    now = utcnow()
    previous = {name: getattr(ticket, name) for name in changed}
    for name, value in changed.items():
        setattr(ticket, name, value)
    if "status" in changed:
        _stamp_status(ticket, now)
    _bump(ticket, now)
    await session.flush()
    if "priority" in changed:
        await _apply_sla(session, ctx, ticket, rules)
    await ticket_event(
        session,
        ctx,
        ticket,
        "support.ticket.updated",
        changed=sorted(changed),
        previous=previous,
        **payload(ticket, "status", "priority", "assignee_id"),
    )
    if changed.get("status") == "resolved":
        await ticket_event(session, ctx, ticket, "support.ticket.resolved", number=ticket.number)
    if "assignee_id" in changed and ticket.assignee_id is not None:
        await ticket_event(
            session,
            ctx,
            ticket,
            "support.ticket.assigned",
            assignee_id=ticket.assignee_id,
            previous_assignee_id=previous["assignee_id"],
        )
    return ticket


def _stamp_status(ticket: Ticket, now: dt.datetime) -> None:
    if ticket.status == "resolved":
        ticket.resolved_at = now
        ticket.closed_at = None
    elif ticket.status == "closed":
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    else:
        ticket.resolved_at = None
        ticket.closed_at = None


async def reopen_for_reply(
    session: AsyncSession, ctx: Context, ticket: Ticket, message: TicketMessage
) -> bool:
    """A customer wrote on a pending, resolved or closed ticket: it is open again
    (``support.ticket.reopened``). Returns whether it was reopened."""
    if ticket.status not in REOPENING_STATUSES:
        return False
    previous = ticket.status
    now = utcnow()
    ticket.status = "open"
    ticket.reopened_count += 1
    _stamp_status(ticket, now)
    _bump(ticket, now)
    await session.flush()
    await ticket_event(
        session,
        ctx,
        ticket,
        "support.ticket.reopened",
        message_id=message.id,
        previous_status=previous,
        number=ticket.number,
    )
    return True
