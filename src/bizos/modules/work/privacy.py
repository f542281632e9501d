"""The personal data work holds about a contact: the tasks about them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.modules.work import service


async def export(
    session: AsyncSession, ctx: Context, contact_id: str
) -> dict[str, list[dict[str, Any]]]:
    """The tasks about the contact (by ``contact_id`` or ``related``), newest first."""
    tasks = await service.tasks_for_contacts(session, ctx, [contact_id], limit=None)
    return {"tasks": [t.model_dump(mode="json") for t in tasks]}
