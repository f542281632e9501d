"""Triage: how an inbound message reads (sentiment, intent, urgency) and what that does
to its ticket's priority.

Every inbound message is classified by the local classifier as it arrives (``triage``,
in the ingest transaction); when an external provider is configured, the AI draft
workflow may refine it later (``apply_classification``). Either way:

* the message keeps its sentiment, score and intent; the ticket takes those of its
  latest classified inbound message;
* a negative message (score ≤ -0.5) or an urgent one raises the priority to at least
  ``high``; an urgent message on a ticket already ``high``, or one both urgent and
  negative, raises it to ``urgent``. Triage never lowers a priority (an agent may);
* a changed priority re-applies the SLA (new due times);
* ``support.ticket.triaged`` {ticket_id, message_id, sentiment, sentiment_score,
  intent, urgent, signals, priority_before, priority, source} is recorded.
"""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.ai.extract.classify import Classification, classify
from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.reads import one_or_404
from bizos.modules.support.sla.service import apply_sla
from bizos.modules.support.tickets.models import PRIORITIES, Ticket, TicketMessage
from bizos.modules.support.tickets.service import TicketRules, unversioned_ticket_event

log = structlog.get_logger("bizos.support.triage")

NEGATIVE_RAISES_AT = -0.5


def raised_priority(current: str, classification: Classification) -> str:
    """The priority ``classification`` calls for, never below ``current``."""
    rank = {p: i for i, p in enumerate(PRIORITIES)}
    level = rank.get(current, rank["normal"])
    negative = (
        classification.sentiment == "negative"
        and classification.sentiment_score <= NEGATIVE_RAISES_AT
    )
    wanted = level
    if negative or classification.urgent:
        wanted = max(wanted, rank["high"])
    if classification.urgent and (level >= rank["high"] or negative):
        wanted = rank["urgent"]
    return PRIORITIES[max(level, wanted)]


_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|antw|fw|fwd|wg|tr|rv|ref|réf)\s*(?:\[\d+\])?\s*:\s*)+",
    re.IGNORECASE,
)
_TICKET_TAG = re.compile(r"\[T-\d+\]")


def thread_subject(subject: str | None) -> str:
    """``subject`` without reply/forward prefixes and ticket numbers, for comparing."""
    text = _TICKET_TAG.sub(" ", subject or "")
    return " ".join(_REPLY_PREFIX.sub("", text).split()).casefold()


def message_text(message: TicketMessage, *, include_subject: bool = True) -> str:
    """What the classifier reads: the subject (often the strongest cue) and the body."""
    subject = message.subject if include_subject else None
    return "\n".join(part for part in (subject, message.body) if part)


async def _has_message(
    session: AsyncSession, ticket: Ticket, *where: sa.ColumnElement[bool]
) -> bool:
    """Whether the ticket has a message that matches ``where``."""
    found = await session.scalar(
        sa.select(TicketMessage.id)
        .where(
            TicketMessage.tenant_id == ticket.tenant_id,
            TicketMessage.ticket_id == ticket.id,
            *where,
        )
        .limit(1)
    )
    return found is not None


async def _subject_is_news(session: AsyncSession, ticket: Ticket, message: TicketMessage) -> bool:
    """Whether ``message``'s subject says something of its own: it opens the ticket, or
    it is not just the ticket's subject again (``Re: URGENT: site down`` on a thank-you
    must not read as urgent a second time)."""
    if thread_subject(message.subject) != thread_subject(ticket.subject):
        return True
    return not await _has_message(session, ticket, TicketMessage.id != message.id)


async def triage(
    session: AsyncSession, ctx: Context, ticket: Ticket, message: TicketMessage
) -> Classification:
    """Classify ``message`` with the local classifier and apply it to ``ticket`` (in
    the caller's transaction; the caller saves both)."""
    include_subject = await _subject_is_news(session, ticket, message)
    classification = classify(message_text(message, include_subject=include_subject))
    await _apply(session, ctx, ticket, message, classification, source="local", now=utcnow())
    return classification


async def apply_classification(
    session: AsyncSession,
    ctx: Context,
    ticket_id: str,
    message_id: str,
    classification: Classification,
    *,
    source: str = "provider",
    now: dt.datetime | None = None,
) -> Ticket:
    """Apply a (provider's) classification of one of the ticket's messages. 404 for a
    ticket or message the tenant does not have."""
    tenant_id = ctx.require_tenant()
    ticket = await one_or_404(
        session,
        sa.select(Ticket)
        .where(Ticket.tenant_id == tenant_id, Ticket.id == ticket_id)
        .with_for_update()
        .execution_options(populate_existing=True),
        "ticket",
    )
    message = await one_or_404(
        session,
        sa.select(TicketMessage).where(
            TicketMessage.tenant_id == tenant_id,
            TicketMessage.id == message_id,
            TicketMessage.ticket_id == ticket.id,
        ),
        "message",
    )
    changed = await _apply(
        session, ctx, ticket, message, classification, source=source, now=now or utcnow()
    )
    if changed:
        ticket.version += 1
    await session.flush()
    return ticket


async def _is_latest_inbound(session: AsyncSession, ticket: Ticket, message: TicketMessage) -> bool:
    if message.direction != "inbound":
        return False
    if message.created_at is None:  # being ingested now: it is the latest
        return True
    later = TicketMessage.created_at > message.created_at
    return not await _has_message(session, ticket, TicketMessage.direction == "inbound", later)


async def _apply(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    message: TicketMessage,
    classification: Classification,
    *,
    source: str,
    now: dt.datetime,
) -> bool:
    """Store the classification; raise the priority if it calls for it. Whether the
    ticket's own fields changed."""
    message.sentiment = classification.sentiment
    message.sentiment_score = classification.sentiment_score
    message.intent = classification.intent
    before = ticket.priority or "normal"
    after = before
    changed = False
    if await _is_latest_inbound(session, ticket, message):
        if (ticket.sentiment, ticket.intent) != (classification.sentiment, classification.intent):
            ticket.sentiment = classification.sentiment
            ticket.intent = classification.intent
            changed = True
        after = raised_priority(before, classification)
        if after != before:
            ticket.priority = after
            await apply_sla(session, ctx, ticket, now)
            changed = True
    if ticket.id is None:
        await session.flush()
    await unversioned_ticket_event(
        session,
        ctx,
        ticket,
        "support.ticket.triaged",
        message_id=message.id,
        **classification.to_dict(),
        priority_before=before,
        priority=after,
        source=source,
    )
    if after != before:
        log.info("support.ticket.priority_raised", ticket_id=ticket.id, priority=after)
    return changed


# What every ticket goes through as it is written: this triage, then the SLA's due times.
TICKET_RULES = TicketRules(triage=triage, apply_sla=apply_sla)
