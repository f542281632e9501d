"""Tasks: create, assign, complete. The only writer of ``tasks`` and ``task_templates``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.events import append_event
from bizos.core.ids import new_id
from bizos.modules.work.models import Task


async def create_task(
    session: AsyncSession,
    ctx: Context,
    *,
    title: str,
    assignee_id: str | None,
    due_at: dt.datetime | None = None,
    priority: str = "normal",
    description: str | None = None,
    related_type: str | None = None,
    related_id: str | None = None,
    contact_id: str | None = None,
    origin: str | None = None,
    template_id: str | None = None,
) -> Task:
    """A new open task (``work.task.created``) in the caller's transaction."""
    task = Task(
        id=new_id(),
        tenant_id=ctx.require_tenant(),
        title=title,
        description=description,
        assignee_id=assignee_id,
        created_by=ctx.actor_id if ctx.actor_type == "user" else None,
        priority=priority,
        status="open",
        due_at=due_at,
        remind_at=due_at,
        related_type=related_type,
        related_id=related_id,
        contact_id=contact_id,
        origin=origin,
        template_id=template_id,
    )
    session.add(task)
    await session.flush()
    await append_event(
        session,
        ctx,
        "work.task.created",
        aggregate_type="task",
        aggregate_id=task.id,
        data={
            "title": title,
            "assignee_id": assignee_id,
            "priority": priority,
            "due_at": due_at.isoformat() if due_at else None,
            "related": {"type": related_type, "id": related_id} if related_type else None,
            "contact_id": contact_id,
            "origin": origin,
        },
    )
    return task
