"""The personal data support holds about a contact: their tickets (with every message,
in and out, and attachment metadata) and the AI drafts written to answer them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.modules.support.drafts import service as drafts
from bizos.modules.support.tickets import service as tickets


async def export(
    session: AsyncSession, ctx: Context, contact_id: str
) -> dict[str, list[dict[str, Any]]]:
    """``tickets``: each ticket as the API shows it (messages and attachments inside);
    ``drafts``: every AI draft on those tickets, whatever became of it."""
    rows = await tickets.tickets_of_contact(session, ctx, contact_id)
    reads = await tickets.ticket_reads(session, ctx, rows, drafts=drafts.pending_drafts)
    written = [
        drafts.draft_read(draft)
        for ticket in rows
        for draft in reversed(await drafts.list_drafts(session, ctx, ticket.id))
    ]
    return {
        "tickets": [read.model_dump(mode="json") for read in reads],
        "drafts": [read.model_dump(mode="json") for read in written],
    }
