"""An order that needs a person: a high-priority task about it for the assignee and,
when there is one, the notification telling them (backorders and failed orders)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.modules.commerce.models import Order
from bizos.modules.notifications import service as notifications_service
from bizos.modules.work import service as work_service
from bizos.modules.work.schemas import TaskRead


async def alert(
    session: AsyncSession,
    ctx: Context,
    order: Order,
    assignee: str | None,
    *,
    kind: str,
    origin: str,
    title: str,
    description: str,
    data: dict[str, Any] | None = None,
) -> TaskRead:
    """The task (``origin``) and the notification (``kind``); with ``data`` the
    notification carries the task's id first, then ``data``."""
    about: dict[str, Any] = {"related_type": "order", "related_id": order.id}
    task = await work_service.create_task(
        session,
        ctx,
        title=title,
        description=description,
        assignee_id=assignee,
        priority="high",
        **about,
        contact_id=order.contact_id,
        origin=origin,
    )
    if assignee is not None:
        await notifications_service.notify(
            session,
            ctx,
            user_id=assignee,
            kind=kind,
            title=title,
            body=description,
            **about,
            data={"task_id": task.id, **data} if data is not None else None,
        )
    return task
