"""The work module's scheduled jobs: task reminders and escalations, every minute.

Each job claims its task with a conditional ``UPDATE`` (``reminded_at IS NULL`` /
``escalated_at IS NULL``) in the same transaction as the notification and the email, so
a task is reminded or escalated exactly once even when two workers race.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.config import get_settings
from bizos.core.context import Context, system_context
from bizos.core.db import Database
from bizos.core.errors import NotFound
from bizos.core.pagination import PageParams
from bizos.core.scheduler import scheduled
from bizos.modules.identity import service as identity
from bizos.modules.notifications import service as notifications
from bizos.modules.work import service
from bizos.modules.work.models import Task
from bizos.modules.work.schemas import OPEN_STATUSES

log = structlog.get_logger("bizos.work")

ESCALATING_PRIORITIES = ("high", "urgent")
# Tasks one pass of the reminder or escalation job takes on; the rest wait a minute.
JOB_BATCH = 500

REMINDERS_JOB = "work.task_reminders"
ESCALATIONS_JOB = "work.task_escalations"


@scheduled(REMINDERS_JOB, every=dt.timedelta(minutes=1))
async def task_reminders(db: Database, now: dt.datetime) -> None:
    await send_due_reminders(db, now)


@scheduled(ESCALATIONS_JOB, every=dt.timedelta(minutes=1))
async def task_escalations(db: Database, now: dt.datetime) -> None:
    grace = dt.timedelta(minutes=get_settings().task_escalation_grace_minutes)
    await escalate_overdue_tasks(db, now, grace=grace)


# The conditions a due task still meets when a job acts on it.
Where = Sequence[sa.ColumnElement[bool]]
# ``(session, ctx, task_id, where) -> 1 if it acted on the task, else 0``
TaskAction = Callable[[AsyncSession, Context, str, Where], Awaitable[int]]


async def _act_on_due(db: Database, where: Where, act: TaskAction, failure: str) -> int:
    """``act`` on each task ``where`` holds for, each in its tenant's own unit of work;
    returns how many it acted on. The scan spans tenants (like the dispatcher's): a
    system session, ids only."""
    async with db.unit_of_work(system=True, readonly=True) as scan:
        due = (
            await scan.execute(
                sa.select(Task.id, Task.tenant_id).where(*where).order_by(Task.id).limit(JOB_BATCH)
            )
        ).all()
    done = 0
    for row in due:
        try:
            async with db.unit_of_work(tenant_id=row.tenant_id) as session:
                done += await act(session, system_context(row.tenant_id), row.id, where)
        except Exception:  # one task's trouble must not hold back the others
            log.exception(failure, task_id=row.id, tenant_id=row.tenant_id)
    return done


async def send_due_reminders(db: Database, now: dt.datetime) -> int:
    """Remind the assignee of every open task whose ``remind_at`` has come, once each:
    an in-app ``task.reminder`` and an email. Returns how many were sent."""
    where = [
        Task.status.in_(OPEN_STATUSES),
        Task.remind_at <= now,
        Task.reminded_at.is_(None),
        Task.assignee_id.is_not(None),
    ]
    return await _act_on_due(db, where, partial(_remind, now=now), "work.reminder_failed")


async def _claim(session: AsyncSession, task_id: str, where: Where, **values: Any) -> Task | None:
    """Set ``values`` on the task if ``where`` still holds: the conditional update is the
    lock that makes a reminder or escalation happen once."""
    result = await session.execute(
        sa.update(Task)
        .where(Task.id == task_id, *where)
        .values(version=Task.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    return await session.scalar(
        sa.select(Task).where(Task.id == task_id).execution_options(populate_existing=True)
    )


async def _remind(
    session: AsyncSession, ctx: Context, task_id: str, where: Where, *, now: dt.datetime
) -> int:
    task = await _claim(session, task_id, where, reminded_at=now)
    if task is None or task.assignee_id is None:
        return 0  # another worker did it, or the task changed meanwhile
    lines = [f"Task: {task.title}", f"Priority: {task.priority}"]
    if task.due_at:
        lines.append(f"Due: {task.due_at:%Y-%m-%d %H:%M} UTC")
    if task.description:
        lines += ["", task.description]
    notification = await notifications.notify(
        session,
        ctx,
        user_id=task.assignee_id,
        kind="task.reminder",
        title=f"Reminder: {task.title}",
        body="\n".join(lines),
        related_type="task",
        related_id=task.id,
        data={"due_at": service.jsonable(task.due_at), "priority": task.priority},
        email=True,
    )
    await service.task_event(
        session,
        ctx,
        "work.task.reminded",
        task,
        {
            "assignee_id": task.assignee_id,
            "notification_id": notification.id,
            "email_message_id": notification.email_message_id,
        },
    )
    log.info("work.task_reminded", task_id=task.id)
    return 1


async def escalate_overdue_tasks(db: Database, now: dt.datetime, *, grace: dt.timedelta) -> int:
    """Escalate every open high or urgent task more than ``grace`` past due, once each,
    to the assignee's manager (the workspace owner when there is none): an in-app
    ``task.escalated`` notification and an email. Returns how many escalated."""
    escalate = partial(_escalate, now=now)
    return await _act_on_due(db, _escalation_due(now, grace), escalate, "work.escalation_failed")


def _escalation_due(now: dt.datetime, grace: dt.timedelta) -> list[sa.ColumnElement[bool]]:
    return [
        Task.status.in_(OPEN_STATUSES),
        Task.priority.in_(ESCALATING_PRIORITIES),
        Task.due_at <= now - grace,
        Task.escalated_at.is_(None),
    ]


async def escalation_target(
    session: AsyncSession, ctx: Context, assignee_id: str | None
) -> tuple[str | None, str]:
    """Whom an overdue task of ``assignee_id`` escalates to, and why: their active
    manager, else an active owner of the workspace (another one than the assignee if
    there is one)."""
    assignee = await service.active_user(session, ctx, assignee_id) if assignee_id else None
    if assignee is None and assignee_id:
        try:
            assignee = await identity.get_user(session, ctx, user_id=assignee_id)
        except NotFound:
            assignee = None
    if assignee is not None and assignee.manager_id:
        manager = await service.active_user(session, ctx, assignee.manager_id)
        if manager is not None:
            return manager.id, "manager"
    owners = await identity.list_users(
        session, ctx, page=PageParams(limit=50), role="owner", is_active=True
    )
    others = [u for u in owners.items if u.id != assignee_id] or owners.items
    if others:
        return others[0].id, "owner"
    return None, "none"


async def _escalate(
    session: AsyncSession, ctx: Context, task_id: str, where: Where, *, now: dt.datetime
) -> int:
    current = await service.task_row(session, ctx, task_id)
    target, reason = await escalation_target(session, ctx, current.assignee_id)
    if target is None:
        log.warning("work.escalation_without_target", task_id=task_id)
        return 0
    task = await _claim(session, task_id, where, escalated_at=now, escalated_to=target)
    if task is None:
        return 0
    assignee = (
        await service.active_user(session, ctx, task.assignee_id) if task.assignee_id else None
    )
    who = assignee.name if assignee else "nobody"
    lines = [
        f"Task: {task.title}",
        f"Priority: {task.priority}",
        f"Assigned to: {who}",
        f"Was due: {task.due_at:%Y-%m-%d %H:%M} UTC" if task.due_at else "",
    ]
    await notifications.notify(
        session,
        ctx,
        user_id=target,
        kind="task.escalated",
        title=f"Overdue {task.priority} task: {task.title}",
        body="\n".join(line for line in lines if line),
        related_type="task",
        related_id=task.id,
        data={"assignee_id": task.assignee_id, "reason": reason},
        email=True,
    )
    await service.task_event(
        session,
        ctx,
        "work.task.escalated",
        task,
        {
            "escalated_to": target,
            "reason": reason,
            "assignee_id": task.assignee_id,
            "due_at": service.jsonable(task.due_at),
            "priority": task.priority,
        },
    )
    log.info("work.task_escalated", task_id=task.id, reason=reason)
    return 1
