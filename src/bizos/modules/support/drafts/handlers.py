"""Starting the draft workflow, and keeping the precedent index of resolved tickets.

A new ticket, a reopened one, another customer message on an open ticket and an
agent's request for a new draft all start ``support.ai_draft`` for one inbound message
and attempt. The run id names the message and attempt (not the event), so the several
events one email raises (``ticket.created`` and ``message.received``, or
``ticket.reopened`` and ``message.received``) start one run, and a redelivered event
finds its run already there. Where workflows are switched off nothing is drafted; where
they should run but are not up yet, the handler fails so the dispatcher retries it.
"""

from __future__ import annotations

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.config import get_settings
from bizos.core.context import Context
from bizos.core.dispatcher import Dispatcher, EventRecord
from bizos.core.workflows import WorkflowsNotRunning, start_workflow
from bizos.modules.support.drafts import retrieval
from bizos.modules.support.drafts import service as drafts
from bizos.modules.support.drafts.workflows import ai_draft
from bizos.modules.support.tickets.models import TicketMessage

log = structlog.get_logger("bizos.support.drafts")

STARTS_A_DRAFT = (
    "support.ticket.created",
    "support.ticket.reopened",
    "support.message.received",
    "support.draft.requested",
)
RESOLVED_EVENTS = ("support.ticket.resolved", "support.ticket.closed")


async def start_draft(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    ticket_id = str(event.data.get("ticket_id") or event.aggregate_id)
    message_id = event.data.get("message_id")
    attempt = int(event.data.get("attempt") or 1)
    if message_id:
        message = await session.scalar(
            sa.select(TicketMessage).where(
                TicketMessage.tenant_id == event.tenant_id, TicketMessage.id == str(message_id)
            )
        )
    else:  # a ticket made without a message id in its event: its latest customer message
        message = await drafts.latest_inbound(session, ctx, ticket_id)
    if message is None or message.direction != "inbound" or message.ticket_id != ticket_id:
        return
    await start(event.tenant_id, ticket_id, message.id, attempt)


async def start(tenant_id: str, ticket_id: str, message_id: str, attempt: int) -> None:
    try:
        await start_workflow(
            ai_draft,
            tenant_id,
            ticket_id,
            message_id,
            attempt,
            workflow_id=drafts.draft_workflow_id(message_id, attempt),
        )
    except WorkflowsNotRunning:
        if get_settings().workflows_enabled:
            raise
        log.info("support.ai_draft.not_started", ticket_id=ticket_id, reason="disabled")


async def index_resolved(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    """A resolved ticket becomes precedent for later drafts."""
    ticket_id = str(event.data.get("ticket_id") or event.aggregate_id)
    await retrieval.index_tickets(session, ctx, [ticket_id])


def register(dispatcher: Dispatcher) -> None:
    dispatcher.subscribe("support.drafts.start_draft", STARTS_A_DRAFT, start_draft)
    dispatcher.subscribe("support.drafts.index_resolved", RESOLVED_EVENTS, index_resolved)
