"""Event subscribers of CRM scoring: a lead is re-scored when something that feeds its
score changes (tracked engagement of its contact, an edit of the lead itself)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.dispatcher import Dispatcher, EventRecord
from bizos.modules.crm.scoring import service


async def rescore_on_activity(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    """Tracked activity (aggregate: the contact id or email) moves engagement features."""
    keys = {event.aggregate_id}
    for name in ("contact_id", "email"):
        value = event.data.get(name)
        if isinstance(value, str):
            keys.add(value)
    leads = await service.open_leads_of_person(session, ctx, keys=keys)
    await service.score_leads(session, ctx, leads, reason=f"event:{event.type}", event_id=event.id)


async def rescore_on_lead_update(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    leads = await service.open_leads_by_id(session, ctx, lead_ids=[event.aggregate_id])
    await service.score_leads(session, ctx, leads, reason=f"event:{event.type}", event_id=event.id)


def register(dispatcher: Dispatcher) -> None:
    dispatcher.subscribe("crm.scoring.rescore_on_activity", "activity.*", rescore_on_activity)
    dispatcher.subscribe(
        "crm.scoring.rescore_on_lead_update", "crm.lead.updated", rescore_on_lead_update
    )
