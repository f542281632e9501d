"""AI drafts: their lifecycle and the writes the draft workflow makes. The only writer of
``support_ai_drafts``.

A draft answers one inbound message (reading every customer message since our last
reply); the automatic draft is attempt 1, an agent's request for a new one the next
``attempt`` (2 or more). At most one draft of a ticket is ``pending`` (the one shown as the
ticket's ``ai_draft``): a new one supersedes the older pending ones, unless it answers
an older message than they do (a late run never hides the newer draft). A draft leaves
``pending`` once: ``sent`` (replies.py), ``discarded`` or ``superseded``. ``failed``
drafts carry the error and never block a new attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy import Select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.connectors.service import connector_config
from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Conflict
from bizos.core.events import append_row_event, payload
from bizos.core.pagination import PageParams
from bizos.core.reads import one_or_404, read_of
from bizos.modules.identity import service as identity
from bizos.modules.notifications import service as notifications
from bizos.modules.support.drafts.models import AiDraft
from bizos.modules.support.drafts.schemas import DraftRead, DraftRequested, DraftSource
from bizos.modules.support.tickets.models import Ticket, TicketMessage
from bizos.modules.support.tickets.schemas import AiDraftRead, TicketDraftSource
from bizos.modules.support.tickets.service import ticket_query, unversioned_ticket_event

log = structlog.get_logger("bizos.support.drafts")

WORKFLOW_NAME = "support.ai_draft"
EXTERNAL_PROVIDERS = ("openai", "anthropic")
# Who hears about a draft on a ticket nobody is assigned to.
FALLBACK_ROLES = ("owner", "admin")
ERROR_CHARS = 2000
FIRST_ATTEMPT = 1  # the automatic draft of a customer message
# How much of the customer's unanswered writing a draft reads.
UNANSWERED_LIMIT = 20
MESSAGE_CHARS = 8000


def draft_workflow_id(message_id: str, attempt: int) -> str:
    """The run that writes draft ``attempt`` for an inbound message. Every event about
    that message (ticket created, reopened, message received) and a regeneration asking
    for the same attempt name the same run, so it drafts once."""
    return f"{WORKFLOW_NAME}:{message_id}:{attempt}"


def draft_read(row: AiDraft) -> DraftRead:
    return read_of(
        DraftRead,
        row,
        sources=[DraftSource.model_validate(s) for s in row.sources or []],
        provenance=row.provenance or {},
    )


# --- reads ------------------------------------------------------------------------------


async def ticket_for(
    session: AsyncSession, ctx: Context, ticket_id: str, *, lock: bool = False
) -> Ticket:
    """The ticket (locked for update if asked); another tenant's → 404."""
    query = ticket_query(ctx, ticket_id)
    return await one_or_404(session, query.with_for_update() if lock else query, "ticket")


def _drafts(ctx: Context, *where: sa.ColumnElement[bool]) -> Select[AiDraft]:
    """The tenant's drafts that match ``where``."""
    return sa.select(AiDraft).where(AiDraft.tenant_id == ctx.require_tenant(), *where)


def _messages(
    ctx: Context, ticket_id: str, *where: sa.ColumnElement[bool]
) -> Select[TicketMessage]:
    """The ticket's messages that match ``where``."""
    return sa.select(TicketMessage).where(
        TicketMessage.tenant_id == ctx.require_tenant(),
        TicketMessage.ticket_id == ticket_id,
        *where,
    )


async def get_draft(
    session: AsyncSession, ctx: Context, ticket_id: str, draft_id: str, *, lock: bool = False
) -> AiDraft:
    """A draft of this ticket; a draft of another ticket or tenant → 404."""
    query = _drafts(ctx, AiDraft.id == draft_id, AiDraft.ticket_id == ticket_id)
    return await one_or_404(session, query.with_for_update() if lock else query, "draft")


async def list_drafts(session: AsyncSession, ctx: Context, ticket_id: str) -> list[AiDraft]:
    """Every draft of the ticket, newest first (failed and used ones included)."""
    await ticket_for(session, ctx, ticket_id)
    rows = await session.scalars(
        _drafts(ctx, AiDraft.ticket_id == ticket_id).order_by(
            AiDraft.created_at.desc(), AiDraft.id.desc()
        )
    )
    return list(rows)


async def latest_pending_draft(
    session: AsyncSession, ctx: Context, ticket_id: str
) -> AiDraft | None:
    """The ticket's ``ai_draft``: its pending draft, if any."""
    newest = _pending(ctx, [ticket_id]).order_by(AiDraft.created_at.desc(), AiDraft.id.desc())
    draft: AiDraft | None = await session.scalar(newest.limit(1))
    return draft


def _pending(ctx: Context, ticket_ids: Sequence[str]) -> Select[AiDraft]:
    return _drafts(ctx, AiDraft.ticket_id.in_(ticket_ids), AiDraft.status == "pending")


async def pending_drafts(
    session: AsyncSession, ctx: Context, ticket_ids: Sequence[str]
) -> dict[str, AiDraftRead]:
    """Each ticket's ``ai_draft``: its latest pending draft, as a ticket shows it."""
    rows = await session.scalars(_pending(ctx, ticket_ids).order_by(AiDraft.created_at, AiDraft.id))
    return {row.ticket_id: _ticket_draft_read(row) for row in rows}  # the last one wins


def _ticket_draft_read(row: AiDraft) -> AiDraftRead:
    sources = [
        TicketDraftSource.model_validate(
            {k: v for k, v in s.items() if k in TicketDraftSource.model_fields}
        )
        for s in row.sources or []
        if isinstance(s, dict)
    ]
    return read_of(AiDraftRead, row, sources=sources)


async def latest_inbound(
    session: AsyncSession, ctx: Context, ticket_id: str
) -> TicketMessage | None:
    inbound = _messages(ctx, ticket_id, TicketMessage.direction == "inbound")
    message: TicketMessage | None = await session.scalar(
        inbound.order_by(TicketMessage.created_at.desc(), TicketMessage.id.desc()).limit(1)
    )
    return message


# --- agent actions ----------------------------------------------------------------------


async def discard_draft(
    session: AsyncSession, ctx: Context, ticket_id: str, draft_id: str
) -> AiDraft:
    """Throw a pending (or failed) draft away. Sent, superseded or already discarded → 409."""
    await ticket_for(session, ctx, ticket_id, lock=True)
    draft = await get_draft(session, ctx, ticket_id, draft_id, lock=True)
    if draft.status not in ("pending", "failed"):
        raise Conflict(f"the draft is {draft.status}; only a pending draft can be discarded")
    draft.status = "discarded"
    draft.decided_by = ctx.actor_id
    draft.decided_at = utcnow()
    draft.version += 1
    await session.flush()
    await draft_event(session, ctx, draft, "support.draft.discarded")
    return draft


async def request_draft(session: AsyncSession, ctx: Context, ticket_id: str) -> DraftRequested:
    """Ask for a fresh draft of the answer to the ticket's latest customer message
    (``support.draft.requested``; the draft workflow writes it). Asking again while
    that draft is still being written names the same run."""
    ticket = await ticket_for(session, ctx, ticket_id, lock=True)
    message = await latest_inbound(session, ctx, ticket.id)
    if message is None:
        raise Conflict("the ticket has no customer message to answer")
    done = await session.scalar(
        sa.select(sa.func.max(AiDraft.attempt)).where(
            AiDraft.tenant_id == ctx.require_tenant(), AiDraft.message_id == message.id
        )
    )
    # Attempt 1 is the automatic draft (its run may have ended without one): asked-for
    # drafts count from 2.
    attempt = max(int(done or 0), FIRST_ATTEMPT) + 1
    await unversioned_ticket_event(
        session,
        ctx,
        ticket,
        "support.draft.requested",
        message_id=message.id,
        attempt=attempt,
    )
    return DraftRequested(
        ticket_id=ticket.id,
        message_id=message.id,
        attempt=attempt,
        workflow_id=draft_workflow_id(message.id, attempt),
    )


# --- what the workflow writes -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DraftBasis:
    """What a draft is written from (plain values: it is a checkpointed step result)."""

    tenant_id: str
    ticket_id: str
    message_id: str
    number: str
    subject: str
    message: str
    customer_name: str | None
    external_provider: bool


async def draft_basis(
    session: AsyncSession, ctx: Context, ticket_id: str, message_id: str, attempt: int
) -> DraftBasis | str:
    """What to draft from: every customer message since our last reply (a follow-up
    "here is my order number" is answered together with the question it follows), or
    why there is nothing to do (a draft of this attempt exists, the message is not a
    customer's, a newer one will be drafted, or an agent has replied since)."""
    tenant_id = ctx.require_tenant()
    if await find_draft(session, ctx, message_id, attempt) is not None:
        return "exists"
    ticket = await session.scalar(ticket_query(ctx, ticket_id))
    message = await session.scalar(_messages(ctx, ticket_id, TicketMessage.id == message_id))
    if ticket is None or message is None:
        return "gone"
    if message.direction != "inbound":
        return "not_inbound"
    latest = await latest_inbound(session, ctx, ticket_id)
    if latest is not None and latest.id != message.id:
        return "superseded"  # the newer customer message gets its own draft
    unanswered = await _unanswered(session, ctx, ticket_id)
    if not unanswered:
        if attempt == FIRST_ATTEMPT:
            return "answered"  # an agent replied before the automatic draft was written
        unanswered = [message]  # asked for anyway: answer the customer's last message
    external = False
    for provider in EXTERNAL_PROVIDERS:
        if await connector_config(session, ctx, provider) is not None:
            external = True
    return DraftBasis(
        tenant_id=tenant_id,
        ticket_id=ticket.id,
        message_id=message.id,
        number=ticket.number,
        subject=ticket.subject,
        message=_customer_text(unanswered),
        customer_name=message.from_name or None,
        external_provider=external,
    )


async def store_draft(
    session: AsyncSession,
    ctx: Context,
    *,
    ticket_id: str,
    message_id: str,
    attempt: int,
    body: str,
    sources: Sequence[dict[str, Any]],
    provenance: dict[str, Any],
) -> AiDraft:
    """Keep a written draft as the ticket's pending one (superseding older pending
    drafts), raise ``support.draft.created`` and tell the agent. Idempotent: the draft
    of this message and attempt is returned if it exists."""
    ticket = await ticket_for(session, ctx, ticket_id, lock=True)
    made = await find_draft(session, ctx, message_id, attempt)
    if made is not None:
        return made
    pending = list(
        await session.scalars(
            _drafts(
                ctx, AiDraft.ticket_id == ticket_id, AiDraft.status == "pending"
            ).with_for_update()
        )
    )
    newer = await _newer_messages(session, ctx, message_id, [d.message_id for d in pending])
    draft = _new_draft(
        ctx,
        ticket_id,
        message_id,
        attempt,
        status="superseded" if newer else "pending",
        body=body,
        sources=list(sources),
        call_id=provenance.get("call_id"),
        provider=str(provenance.get("provider") or ""),
        model=str(provenance.get("model") or ""),
        template=provenance.get("template"),
        template_version=_text_or_none(provenance.get("template_version")),
        provenance=dict(provenance),
    )
    if (made := await _insert_once(session, ctx, draft)) is not None:
        return made
    superseded = []
    if not newer:
        for old in pending:
            old.status = "superseded"
            old.version += 1
            superseded.append(old.id)
        await session.flush()
    await draft_event(
        session,
        ctx,
        draft,
        "support.draft.created",
        superseded=superseded,
        provider=draft.provider,
        model=draft.model,
        call_id=draft.call_id,
        source_count=len(draft.sources),
    )
    if draft.status == "pending":
        await _tell_agents(
            session,
            ctx,
            ticket,
            kind="support.draft.created",
            title=f"AI draft ready for {ticket.number}: {ticket.subject}"[:300],
            body=draft.body[:500],
            draft=draft,
        )
    log.info("support.draft.created", ticket_id=ticket_id, draft_id=draft.id, status=draft.status)
    return draft


async def record_failure(
    session: AsyncSession,
    ctx: Context,
    *,
    ticket_id: str,
    message_id: str,
    attempt: int,
    error: str,
) -> AiDraft:
    """Keep a failed draft with its error (older pending drafts stay usable), raise
    ``support.draft.failed`` and tell the agent. Idempotent like :func:`store_draft`."""
    ticket = await ticket_for(session, ctx, ticket_id, lock=True)
    made = await find_draft(session, ctx, message_id, attempt)
    if made is not None:
        return made
    draft = _new_draft(
        ctx,
        ticket_id,
        message_id,
        attempt,
        status="failed",
        body="",
        sources=[],
        provider="",
        model="",
        provenance={},
        error=error[:ERROR_CHARS],
    )
    if (made := await _insert_once(session, ctx, draft)) is not None:
        return made
    await draft_event(session, ctx, draft, "support.draft.failed", error=draft.error)
    await _tell_agents(
        session,
        ctx,
        ticket,
        kind="support.draft.failed",
        title=f"No AI draft for {ticket.number}: {ticket.subject}"[:300],
        body=f"The AI draft could not be written: {draft.error}. Reply yourself, or ask "
        "for a new draft later.",
        draft=draft,
    )
    log.warning("support.draft.failed", ticket_id=ticket_id, draft_id=draft.id)
    return draft


# --- helpers ----------------------------------------------------------------------------


async def _unanswered(session: AsyncSession, ctx: Context, ticket_id: str) -> list[TicketMessage]:
    """The customer's messages after our last reply, oldest first."""
    rows = list(
        await session.scalars(
            _messages(ctx, ticket_id, TicketMessage.direction.in_(("inbound", "outbound")))
            .order_by(TicketMessage.created_at.desc(), TicketMessage.id.desc())
            .limit(UNANSWERED_LIMIT)
        )
    )
    unanswered = []
    for row in rows:
        if row.direction == "outbound":
            break
        unanswered.append(row)
    return unanswered[::-1]


def _customer_text(messages: Sequence[TicketMessage]) -> str:
    """The unanswered messages as one text, the latest kept whole if it is too long."""
    text = "\n\n".join(m.body.strip() for m in messages if m.body.strip())
    return text if len(text) <= MESSAGE_CHARS else text[-MESSAGE_CHARS:]


async def find_draft(
    session: AsyncSession, ctx: Context, message_id: str, attempt: int
) -> AiDraft | None:
    query = _drafts(ctx, AiDraft.message_id == message_id, AiDraft.attempt == attempt)
    draft: AiDraft | None = await session.scalar(query)
    return draft


def _new_draft(
    ctx: Context, ticket_id: str, message_id: str, attempt: int, **fields: Any
) -> AiDraft:
    """Draft ``attempt`` of the answer to the ticket's message ``message_id``."""
    return AiDraft(
        tenant_id=ctx.require_tenant(),
        ticket_id=ticket_id,
        message_id=message_id,
        attempt=attempt,
        **fields,
    )


async def _insert_once(session: AsyncSession, ctx: Context, draft: AiDraft) -> AiDraft | None:
    """Insert the draft; when a concurrent run made this attempt's draft first, that one
    (and ``draft`` is not stored)."""
    try:
        async with session.begin_nested():
            session.add(draft)
            await session.flush()
    except IntegrityError:
        made = await find_draft(session, ctx, draft.message_id, draft.attempt)
        assert made is not None
        return made
    return None


async def _newer_messages(
    session: AsyncSession, ctx: Context, message_id: str, others: Sequence[str]
) -> bool:
    """Does any of ``others`` come after ``message_id`` in the conversation?"""
    if not others:
        return False
    rows = dict(
        (
            await session.execute(
                sa.select(TicketMessage.id, TicketMessage.created_at).where(
                    TicketMessage.tenant_id == ctx.require_tenant(),
                    TicketMessage.id.in_([message_id, *others]),
                )
            )
        ).all()
    )
    mine = rows.get(message_id)
    if mine is None:
        return False
    return any(
        other != message_id
        and rows.get(other) is not None
        and (rows[other], other) > (mine, message_id)
        for other in others
    )


async def draft_event(
    session: AsyncSession, ctx: Context, draft: AiDraft, type_: str, **extra: Any
) -> None:
    data = {"draft_id": draft.id, **payload(draft, "ticket_id", "message_id", "attempt", "status")}
    await append_row_event(session, ctx, type_, draft, aggregate_type="ai_draft", data=data | extra)


async def _tell_agents(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    *,
    kind: str,
    title: str,
    body: str,
    draft: AiDraft,
) -> None:
    """Notify the ticket's assignee, or the tenant's owners and admins if nobody is."""
    for user_id in await _agents(session, ctx, ticket):
        await notifications.notify(
            session,
            ctx,
            user_id=user_id,
            kind=kind,
            title=title,
            body=body,
            related_type="ticket",
            related_id=ticket.id,
            data={"draft_id": draft.id, "ticket_number": ticket.number},
        )


async def _agents(session: AsyncSession, ctx: Context, ticket: Ticket) -> list[str]:
    if ticket.assignee_id:
        return [ticket.assignee_id]
    users: list[str] = []
    for role in FALLBACK_ROLES:
        page = await identity.list_users(
            session, ctx, page=PageParams(limit=50), role=role, is_active=True
        )
        users.extend(u.id for u in page.items)
    return users


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)
