"""A contact's lifecycle and activity as business happens: becoming a customer when a
deal is won, and the times of the last activity, outreach and reply.

Called by other parts (deals, lead replies), the contact handlers and, through
:mod:`bizos.modules.crm.contacts.service`, by other modules.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.events import NewEvent, append_events
from bizos.modules.crm.contacts.lookups import get_contact, locked_contact
from bizos.modules.crm.models import Contact


async def mark_customer(
    session: AsyncSession,
    ctx: Context,
    contact_id: str,
    *,
    deal_id: str | None = None,
    order_id: str | None = None,
    invoice_id: str | None = None,
    at: dt.datetime | None = None,
) -> bool:
    """The contact (or the one it was merged into) bought: lifecycle ``customer`` from
    the first won deal or paid invoice, with ``crm.contact.became_customer``.

    Idempotent and never a step back: a contact already a customer stays one and gets
    no second event; ``became_customer_at`` keeps the earliest purchase (a purchase
    handled late moves it back, never forward). A churned contact buying again is a
    customer again. Returns whether the contact became a customer now."""
    contact = await get_contact(session, ctx, contact_id)
    contact = await locked_contact(session, ctx, contact.id)
    at = at or utcnow()
    first = contact.became_customer_at
    if contact.lifecycle_stage == "customer" and first is not None:
        if at < first:  # an earlier purchase handled after a later one
            contact.became_customer_at = at
            await session.flush()
        return False
    previous = contact.lifecycle_stage
    contact.lifecycle_stage = "customer"
    contact.became_customer_at = min(first, at) if first else at
    contact.version += 1
    await session.flush()
    await append_events(
        session,
        ctx,
        [
            NewEvent(
                type="crm.contact.became_customer",
                aggregate_type="contact",
                aggregate_id=contact.id,
                version=contact.version,
                data={
                    "deal_id": deal_id,
                    "order_id": order_id,
                    "invoice_id": invoice_id,
                    "previous_stage": previous,
                    "became_customer_at": contact.became_customer_at.isoformat(),
                },
                occurred_at=at,
            )
        ],
    )
    return True


ACTIVITY_COLUMNS: dict[str, tuple[str, ...]] = {
    "contacted": ("last_activity_at", "last_contacted_at"),
    "replied": ("last_activity_at", "last_replied_at"),
}


async def record_activity(
    session: AsyncSession,
    ctx: Context,
    contact_id: str,
    *,
    at: dt.datetime,
    kind: str = "activity",
) -> None:
    """Move ``last_activity_at`` (and ``last_contacted_at`` for ``kind="contacted"``,
    ``last_replied_at`` for ``"replied"``) forward to ``at``; never backwards, so events
    handled out of order leave the latest time. Not a user edit: ``version`` stays."""
    contact = await get_contact(session, ctx, contact_id)
    row = await session.scalar(
        sa.select(Contact)
        .where(Contact.id == contact.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    moved = False
    for column in ACTIVITY_COLUMNS.get(kind, ("last_activity_at",)):
        current = getattr(row, column)
        if current is None or current < at:
            setattr(row, column, at)
            moved = True
    if moved:
        await session.flush()
