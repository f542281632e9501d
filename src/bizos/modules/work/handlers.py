"""Event subscribers of work."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.dispatcher import Dispatcher, EventRecord
from bizos.modules.work import service


async def repoint_merged_contact(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    survivor_id = event.data.get("survivor_id")
    merged_id = event.data.get("merged_id")
    if not survivor_id or not merged_id or survivor_id == merged_id:
        return
    await service.repoint_contact(session, ctx, survivor_id=survivor_id, merged_id=merged_id)


def register(dispatcher: Dispatcher) -> None:
    dispatcher.subscribe(
        "work.repoint_merged_contact", "crm.contact.merged", repoint_merged_contact
    )
