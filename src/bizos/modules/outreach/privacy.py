"""The personal data outreach holds about a contact: the messages sent to them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.modules.outreach import service
from bizos.modules.outreach.schemas import Related


async def export(
    session: AsyncSession, ctx: Context, contact_id: str
) -> dict[str, list[dict[str, Any]]]:
    """The messages about the contact, each as the API shows it."""
    messages = await service.messages_about(session, ctx, Related(type="contact", id=contact_id))
    return {"messages": [m.model_dump(mode="json") for m in messages]}
