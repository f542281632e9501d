"""Who bought: the demo's paid invoices make their contacts customers, as they would live.

Runs after the commerce and billing history. Live, the CRM's ``billing.invoice.paid``
subscriber promotes the payer; the history's events are recorded as handled before any
subscriber sees them, so this step hands each paid invoice of the year to the same
service, at the moment it was paid: web shop buyers and wholesale accounts become
customers from their first paid order (those who came through a won deal already are,
from the day it was won). The ``crm.contact.became_customer`` events it appends are
recorded as handled in turn, like the rest of the history.
"""

from __future__ import annotations

import random

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.events import Event
from bizos.demo.story import mark_handled
from bizos.modules.crm.contacts import service as contacts

log = structlog.get_logger("bizos.demo.crm")


async def seed_customers(session: AsyncSession, ctx: Context, rng: random.Random) -> None:
    """Promote every contact with a paid invoice in the history (``rng`` is unused: the
    seeder's signature)."""
    tenant_id = ctx.require_tenant()
    last = (
        await session.scalar(
            sa.select(sa.func.max(Event.sequence)).where(Event.tenant_id == tenant_id)
        )
        or 0
    )
    paid = await session.execute(
        sa.select(Event.aggregate_id, Event.data, Event.occurred_at)
        .where(Event.tenant_id == tenant_id, Event.type == "billing.invoice.paid")
        .order_by(Event.occurred_at, Event.sequence)
    )
    promoted = 0
    for invoice_id, data, at in paid:
        contact_id = (data or {}).get("contact_id")
        if not contact_id:
            continue
        became = await contacts.mark_customer(
            session, ctx, contact_id, order_id=data.get("order_id"), invoice_id=invoice_id, at=at
        )
        promoted += int(became)
    appended = await session.execute(
        sa.select(Event.id, Event.type).where(Event.tenant_id == tenant_id, Event.sequence > last)
    )
    handled = await mark_handled(session, ctx, [(i, t) for i, t in appended])
    log.info("crm.demo.customers", promoted=promoted, handled=handled)
