"""Event subscribers of CRM contacts: engagement moves a contact's activity times.

* ``activity.*`` (``POST /api/v1/track``; aggregate = contact id or email) →
  ``last_activity_at``, and ``last_replied_at`` for reply-like types.
* ``outreach.message.sent`` about a contact (or one of its leads) → ``last_contacted_at``.
* ``billing.invoice.paid`` for a contact → lifecycle ``customer`` from that moment
  (``became_customer_at``; once, never a step back). A won deal does the same inside
  the deal's own change. The CRM reads the event, not billing: billing stays above it.

Activity about an address no contact has is ignored: tracking does not create contacts.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.dispatcher import Dispatcher, EventRecord
from bizos.core.errors import NotFound
from bizos.modules.crm.contacts import service
from bizos.modules.crm.models import Lead
from bizos.modules.crm.normalize import InvalidEmail

REPLY_WORDS = ("repl", "responded", "answered")


def is_reply(activity_type: str) -> bool:
    kind = activity_type.removeprefix("activity.").lower()
    return any(word in kind for word in REPLY_WORDS)


async def _contact_id_for(session: AsyncSession, ctx: Context, key: str) -> str | None:
    if "@" in key:
        try:
            found = await service.find_contact_by_email(session, ctx, key)
        except InvalidEmail:
            return None
        return found.id if found else None
    try:
        return (await service.get_contact(session, ctx, key)).id
    except NotFound:
        return None


async def on_activity(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    key = event.data.get("contact_id") or event.aggregate_id or event.data.get("email")
    if not isinstance(key, str) or not key:
        return
    contact_id = await _contact_id_for(session, ctx, key)
    if contact_id is None and event.data.get("email") and key != event.data["email"]:
        contact_id = await _contact_id_for(session, ctx, str(event.data["email"]))
    if contact_id is None:
        return
    kind = "replied" if is_reply(event.type) else "activity"
    await service.record_activity(session, ctx, contact_id, at=event.occurred_at, kind=kind)


async def on_message_sent(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    related = event.data.get("related") or {}
    related_type, related_id = related.get("type"), related.get("id")
    if not related_id:
        return
    contact_id: str | None = None
    if related_type == "contact":
        contact_id = related_id
    elif related_type == "lead":
        contact_id = await session.scalar(
            sa.select(Lead.contact_id).where(
                Lead.tenant_id == ctx.require_tenant(), Lead.id == related_id
            )
        )
    if contact_id is None:
        return
    try:
        await service.record_activity(
            session, ctx, contact_id, at=event.occurred_at, kind="contacted"
        )
    except NotFound:
        return


async def on_invoice_paid(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    """A paid invoice (an order's, a won deal's, or one made by hand) is a purchase."""
    contact_id = event.data.get("contact_id")
    if not isinstance(contact_id, str) or not contact_id:
        return
    order_id, invoice_id = event.data.get("order_id"), event.data.get("invoice_id")
    try:
        await service.mark_customer(
            session,
            ctx,
            contact_id,
            order_id=order_id if isinstance(order_id, str) else None,
            invoice_id=invoice_id if isinstance(invoice_id, str) else event.aggregate_id,
            at=event.occurred_at,
        )
    except NotFound:  # the contact was erased since: nobody to promote
        return


def register(dispatcher: Dispatcher) -> None:
    dispatcher.subscribe("crm.contacts.activity", "activity.*", on_activity)
    dispatcher.subscribe("crm.contacts.message_sent", "outreach.message.sent", on_message_sent)
    dispatcher.subscribe(
        "crm.contacts.customer_on_payment", "billing.invoice.paid", on_invoice_paid
    )
