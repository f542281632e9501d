"""Replying to a ticket: the agent's answer (an approved AI draft, edited or not, or
their own words) goes to the customer by email, threaded to the conversation.

The email answers the customer's latest message (``In-Reply-To`` its Message-ID,
``References`` the conversation's ids) under ``Re: <subject> [T-000042]``, so the
customer's mail client threads it and their next reply finds the ticket again. It is
queued with the ticket message, the draft's decision, the ticket's move to ``pending``
and ``support.ticket.replied`` in one transaction: all or nothing. The ticket row is
locked first, so two agents approving one draft at once send it once (the second sees
it ``sent`` → 409).
"""

from __future__ import annotations

import re

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Conflict, Unprocessable, field_error
from bizos.core.events import payload
from bizos.core.reads import read_of
from bizos.modules.outreach import service as outreach
from bizos.modules.outreach.schemas import Related
from bizos.modules.support.drafts import service as drafts
from bizos.modules.support.drafts.models import AiDraft
from bizos.modules.support.drafts.schemas import ReplyRead
from bizos.modules.support.inbound.service import is_no_reply
from bizos.modules.support.sla import service as sla
from bizos.modules.support.tickets.models import Ticket, TicketMessage
from bizos.modules.support.tickets.service import ticket_event

log = structlog.get_logger("bizos.support.replies")

# References kept on a reply: the thread's first id and the most recent ones.
MAX_REFERENCES = 20
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|fw|fwd)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_TICKET_TAG = re.compile(r"\s*\[T-\d+\]\s*")


def reply_subject(subject: str, number: str) -> str:
    """``Re: <subject> [T-000042]``, without piling up ``Re:`` or ticket tags."""
    base = _TICKET_TAG.sub(" ", " ".join(subject.split()))
    base = _REPLY_PREFIX.sub("", base).strip() or "Your request"
    return f"Re: {base} [{number}]"[:998]


def thread_references(messages: list[TicketMessage], parent: TicketMessage | None) -> list[str]:
    """The reply's References: the parent's own chain, its id, then every other id of
    the conversation in order (first id and the latest kept when there are many)."""
    chain: list[str] = []
    if parent is not None:
        chain.extend(parent.references or [])
        if parent.header_message_id:
            chain.append(parent.header_message_id)
    for message in messages:
        if message.header_message_id:
            chain.append(message.header_message_id)
    seen: set[str] = set()
    ordered = []
    for ref in chain:
        ref = ref.strip()
        if ref and ref not in seen and "\r" not in ref and "\n" not in ref:
            seen.add(ref)
            ordered.append(ref)
    if len(ordered) > MAX_REFERENCES:
        ordered = [ordered[0], *ordered[-(MAX_REFERENCES - 1) :]]
    return ordered


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


async def send_reply(
    session: AsyncSession, ctx: Context, ticket_id: str, *, body: str, draft_id: str | None
) -> ReplyRead:
    """Email ``body`` to the customer, threaded; record it on the ticket. With
    ``draft_id`` the reply approves that pending draft (``edited`` when the text
    differs). Unknown ticket or a draft of another ticket → 404; a draft no longer
    pending → 409; nobody to write to → 422."""
    if not body.strip():
        raise Unprocessable("the reply is empty", errors=[field_error(["body"], "empty")])
    ticket = await drafts.ticket_for(session, ctx, ticket_id, lock=True)
    draft: AiDraft | None = None
    if draft_id is not None:
        draft = await drafts.get_draft(session, ctx, ticket.id, draft_id, lock=True)
        if draft.status != "pending":
            raise Conflict(f"the draft is {draft.status}; only a pending draft can be sent")
    messages = await _conversation(session, ctx, ticket.id)
    parent = next((m for m in reversed(messages) if m.direction == "inbound"), None)
    to = _customer_address(ticket, parent)
    subject = reply_subject(ticket.subject, ticket.number)
    references = thread_references(messages, parent)
    in_reply_to = parent.header_message_id if parent is not None else None
    email = await outreach.send_email(
        session,
        ctx,
        to=to,
        subject=subject,
        body=body,
        in_reply_to=in_reply_to,
        references=references,
        related=Related(type="ticket", id=ticket.id),
    )
    reply = TicketMessage(
        tenant_id=ctx.require_tenant(),
        ticket_id=ticket.id,
        direction="outbound",
        from_address=email.from_,
        to_addresses=[to],
        subject=subject,
        body=body,
        header_message_id=email.message_id,
        in_reply_to=in_reply_to,
        references=references,
        is_ai_drafted=draft is not None,
        draft_id=draft.id if draft is not None else None,
        author_id=ctx.actor_id if ctx.actor_type == "user" else None,
        outbound_message_id=email.id,
        created_at=utcnow(),
    )
    edited = await _record_reply(session, ctx, ticket, reply, draft)
    assert email.message_id is not None  # an email always has one
    return read_of(ReplyRead, reply, message_id=email.message_id, edited=edited, to=to)


async def _record_reply(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    reply: TicketMessage,
    draft: AiDraft | None,
) -> bool | None:
    """Store the queued reply on the ticket (now ``pending``, its first response marked),
    decide the draft it came from, and say so in events. Whether the draft was edited."""
    now = reply.created_at
    edited = None if draft is None else not _same_text(reply.body, draft.body)
    session.add(reply)
    await session.flush()
    if draft is not None:
        draft.status = "sent"
        draft.edited = edited
        draft.reply_id = reply.id
        draft.decided_by = ctx.actor_id
        draft.decided_at = now
        draft.version += 1
    ticket.status = "pending"
    ticket.last_outbound_at = now
    ticket.version += 1
    await session.flush()
    await sla.mark_first_response(session, ctx, ticket, now)
    if draft is not None:
        await drafts.draft_event(
            session, ctx, draft, "support.draft.sent", reply_id=reply.id, edited=edited
        )
    await ticket_event(
        session,
        ctx,
        ticket,
        "support.ticket.replied",
        message_id=reply.id,
        email_message_id=reply.header_message_id,
        **payload(reply, "outbound_message_id", "is_ai_drafted", "draft_id"),
        edited=edited,
    )
    log.info(
        "support.ticket.replied",
        ticket_id=ticket.id,
        message_id=reply.id,
        is_ai_drafted=reply.is_ai_drafted,
        edited=edited,
    )
    return edited


async def _conversation(session: AsyncSession, ctx: Context, ticket_id: str) -> list[TicketMessage]:
    rows = await session.scalars(
        sa.select(TicketMessage)
        .where(
            TicketMessage.tenant_id == ctx.require_tenant(),
            TicketMessage.ticket_id == ticket_id,
            TicketMessage.direction.in_(("inbound", "outbound")),
        )
        .order_by(TicketMessage.created_at, TicketMessage.id)
    )
    return list(rows)


def _customer_address(ticket: Ticket, parent: TicketMessage | None) -> str:
    """Who the reply goes to: whoever wrote last, else the ticket's customer (a no-reply
    relay's address is never answered: its customer is the ticket's)."""
    for candidate in (parent.from_address if parent else None, ticket.customer_email):
        if candidate and "@" in candidate and not is_no_reply(candidate):
            return candidate.strip()
    raise Unprocessable(
        "the ticket has no customer email address to reply to",
        errors=[field_error(["ticket", "customer_email"], "missing")],
    )
