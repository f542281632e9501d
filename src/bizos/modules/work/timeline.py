"""The contact timeline's view of tasks: each task about the contact when it was made,
and again when it was done."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.timeline import TimelineEntry
from bizos.modules.work import service


async def tasks_source(
    session: AsyncSession,
    ctx: Context,
    contact_ids: list[str],
    email: str | None,
    limit: int,
    *,
    before: dt.datetime | None = None,
) -> list[TimelineEntry]:
    tasks = await service.tasks_for_contacts(session, ctx, contact_ids, limit=limit, before=before)
    entries = []
    for task in tasks:
        data = {
            "status": task.status,
            "priority": task.priority,
            "assignee_id": task.assignee_id,
            "due_at": task.due_at.isoformat() if task.due_at else None,
        }
        due = f", due {task.due_at:%Y-%m-%d %H:%M} UTC" if task.due_at else ""
        entries.append(
            TimelineEntry(
                at=task.created_at,
                kind="task",
                title=f"Task: {task.title}",
                summary=f"{task.priority} priority, {task.status.replace('_', ' ')}{due}",
                ref_type="task",
                ref_id=task.id,
                data=data,
            )
        )
        done_at = task.completed_at
        if task.status == "done" and done_at and (before is None or done_at <= before):
            entries.append(
                TimelineEntry(
                    at=done_at,
                    kind="task.completed",
                    title=f"Task done: {task.title}",
                    summary=None,
                    ref_type="task",
                    ref_id=task.id,
                    data=data,
                )
            )
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]
