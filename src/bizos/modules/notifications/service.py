"""In-app notifications. The only writer of ``notifications``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.events import append_event
from bizos.core.ids import new_id
from bizos.modules.notifications.models import Notification


async def notify(
    session: AsyncSession,
    ctx: Context,
    *,
    user_id: str,
    kind: str,
    title: str,
    body: str | None = None,
    related_type: str | None = None,
    related_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> Notification:
    """Notify a user in the app (``notifications.notification.created``), in the
    caller's transaction."""
    row = Notification(
        id=new_id(),
        tenant_id=ctx.require_tenant(),
        user_id=user_id,
        kind=kind,
        title=title,
        body=body,
        related_type=related_type,
        related_id=related_id,
        data=data or {},
    )
    session.add(row)
    await session.flush()
    await append_event(
        session,
        ctx,
        "notifications.notification.created",
        aggregate_type="notification",
        aggregate_id=row.id,
        data={
            "user_id": user_id,
            "kind": kind,
            "title": title,
            "related": {"type": related_type, "id": related_id} if related_type else None,
        },
    )
    return row
