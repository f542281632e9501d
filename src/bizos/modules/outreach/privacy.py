"""The personal data outreach holds about a contact: the messages sent about them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.modules.outreach.models import Message
from bizos.modules.outreach.service import message_read


async def export(
    session: AsyncSession, ctx: Context, contact_id: str
) -> dict[str, list[dict[str, Any]]]:
    """Every message about the contact, oldest first, each as the API shows it."""
    rows = await session.scalars(
        sa.select(Message)
        .where(
            Message.tenant_id == ctx.require_tenant(),
            Message.related_type == "contact",
            Message.related_id == contact_id,
        )
        .order_by(Message.created_at, Message.id)
    )
    return {"messages": [message_read(r).model_dump(mode="json") for r in rows]}
