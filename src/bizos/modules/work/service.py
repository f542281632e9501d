"""Tasks: create, assign, escalate, complete, and the tasks templates make. The writer of
``tasks``; templates themselves are managed by ``work.templates.service``, reminders and
escalations of overdue tasks run in ``work.jobs``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, cast

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import NotFound, Unprocessable, field_error
from bizos.core.events import append_row_event, payload
from bizos.core.fields import from_row
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, PageParams, read_page
from bizos.core.ports import ports
from bizos.core.reads import one_or_404
from bizos.core.versions import check_version
from bizos.modules.identity import service as identity
from bizos.modules.identity.schemas import UserRead
from bizos.modules.notifications import service as notifications
from bizos.modules.work.models import Task, TaskTemplate
from bizos.modules.work.schemas import (
    OPEN_STATUSES,
    PRIORITIES,
    TaskRead,
    TaskRelated,
    TaskUpdate,
)

log = structlog.get_logger("bizos.work")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


# --- reading ------------------------------------------------------------------------------


def is_overdue(task: Task, now: dt.datetime | None = None) -> bool:
    return (
        task.status in OPEN_STATUSES and task.due_at is not None and task.due_at < (now or utcnow())
    )


def task_read(task: Task, now: dt.datetime | None = None) -> TaskRead:
    related = (
        TaskRelated(type=task.related_type, id=task.related_id)
        if task.related_type and task.related_id
        else None
    )
    return from_row(TaskRead, task, overdue=is_overdue(task, now), related=related)


def jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


async def active_user(session: AsyncSession, ctx: Context, user_id: str) -> UserRead | None:
    try:
        user = await identity.get_user(session, ctx, user_id=user_id)
    except NotFound:
        return None
    return user if user.is_active else None


async def check_assignee(
    session: AsyncSession, ctx: Context, user_id: str, loc: Sequence[str]
) -> None:
    if await active_user(session, ctx, user_id) is None:
        raise Unprocessable(
            "the assignee must be an active user of this workspace",
            errors=[field_error(loc, "no such active user")],
        )


class _Record(Protocol):
    id: str


async def _resolve_contact(
    session: AsyncSession, ctx: Context, contact_id: str, loc: Sequence[str]
) -> str:
    """The id of the contact (its survivor, if it was merged), through the record
    resolver the CRM declares; 422 if there is none."""
    resolve = ports.record_resolvers.get("contact")
    try:
        if resolve is None:
            raise NotFound("no module keeps contacts")
        contact = cast(_Record, await resolve(session, ctx, contact_id))
    except NotFound:
        raise Unprocessable(
            "no such contact in this workspace", errors=[field_error(loc, "no such contact")]
        ) from None
    return contact.id


async def check_related(session: AsyncSession, ctx: Context, related: TaskRelated | None) -> None:
    """422 when a task sent through the API names a record the tenant does not have
    (another tenant's included), for every record type a module resolves (the record
    resolver port: the CRM resolves leads, deals and companies). Contacts are resolved by
    ``create_task``; other record types are taken as given."""
    if related is None:
        return
    resolve = ports.record_resolvers.get(related.type)
    if resolve is None or related.type == "contact":
        return
    try:
        await resolve(session, ctx, related.id)
    except NotFound:
        raise Unprocessable(
            f"no such {related.type} in this workspace",
            errors=[field_error(["body", "related", "id"], f"no such {related.type}")],
        ) from None


async def task_row(session: AsyncSession, ctx: Context, task_id: str) -> Task:
    task = await session.scalar(
        sa.select(Task).where(Task.tenant_id == ctx.require_tenant(), Task.id == task_id)
    )
    if task is None:
        raise NotFound("task not found")
    return task


async def get_task(session: AsyncSession, ctx: Context, task_id: str) -> TaskRead:
    return task_read(await task_row(session, ctx, task_id))


TASK_ORDER = ListOrder("tasks", Task.id, [Task.created_at, Task.updated_at, Task.due_at])


async def list_tasks(
    session: AsyncSession,
    ctx: Context,
    *,
    page: PageParams,
    assignee_id: str | None = None,
    statuses: Sequence[str] = (),
    priorities: Sequence[str] = (),
    related_type: str | None = None,
    related_id: str | None = None,
    contact_id: str | None = None,
    due_before: dt.datetime | None = None,
    overdue: bool | None = None,
    mine: bool = False,
    now: dt.datetime | None = None,
) -> tuple[list[TaskRead], str | None]:
    """The tenant's tasks in ``page``'s order (newest first by default), filtered."""
    now = now or utcnow()
    query = sa.select(Task).where(Task.tenant_id == ctx.require_tenant())
    if mine:
        if ctx.actor_type != "user" or ctx.actor_id is None:
            raise Unprocessable(
                "mine=true needs a signed-in user",
                errors=[field_error(["query", "mine"], "an API key has no tasks of its own")],
            )
        query = query.where(Task.assignee_id == ctx.actor_id)
    if assignee_id:
        query = query.where(Task.assignee_id == assignee_id)
    if statuses:
        query = query.where(Task.status.in_(list(statuses)))
    if priorities:
        query = query.where(Task.priority.in_(list(priorities)))
    if related_type:
        query = query.where(Task.related_type == related_type)
    if related_id:
        query = query.where(Task.related_id == related_id)
    if contact_id:
        query = query.where(Task.contact_id == contact_id)
    if due_before is not None:
        query = query.where(Task.due_at < due_before)
    if overdue is True:
        query = query.where(Task.status.in_(OPEN_STATUSES), Task.due_at < now)
    elif overdue is False:
        query = query.where(
            sa.or_(Task.status.not_in(OPEN_STATUSES), Task.due_at.is_(None), Task.due_at >= now)
        )
    return await read_page(session, TASK_ORDER, query, page, lambda r: task_read(r, now))


async def tasks_for_contacts(
    session: AsyncSession,
    ctx: Context,
    contact_ids: Sequence[str],
    *,
    limit: int | None,
    before: dt.datetime | None = None,
) -> list[TaskRead]:
    """The newest tasks about any of ``contact_ids`` (by ``contact_id`` or ``related``),
    created at or before ``before`` when given; all of them with ``limit=None``."""
    if not contact_ids:
        return []
    ids = list(contact_ids)
    query = sa.select(Task).where(
        Task.tenant_id == ctx.require_tenant(),
        sa.or_(
            Task.contact_id.in_(ids),
            sa.and_(Task.related_type == "contact", Task.related_id.in_(ids)),
        ),
    )
    if before is not None:
        query = query.where(Task.created_at <= before)
    rows = await session.scalars(query.order_by(Task.created_at.desc()).limit(limit))
    return [task_read(r) for r in rows]


# --- writing ------------------------------------------------------------------------------


async def check_new_task(
    session: AsyncSession,
    ctx: Context,
    *,
    title: str,
    assignee_id: str | None,
    priority: str = "normal",
    related_type: str | None = None,
    related_id: str | None = None,
    contact_id: str | None = None,
) -> tuple[str | None, str | None]:
    """What :func:`create_task` checks of a new task, changing nothing (422 naming the
    field): the title, the priority, the assignee (an active user), the contact. Returns
    ``(related_id, contact_id)`` as the task would keep them: a merged contact answers its
    survivor, and a task about a contact is that contact's unless another is given."""
    errors = []
    if not title.strip() or len(title.strip()) > 300:
        errors.append(field_error(["body", "title"], "1 to 300 characters"))
    if priority not in PRIORITIES:
        errors.append(field_error(["body", "priority"], f"one of {', '.join(PRIORITIES)}"))
    if (related_type is None) != (related_id is None):
        errors.append(field_error(["body", "related"], "needs both type and id"))
    if errors:
        raise Unprocessable("the task is not valid", errors=errors)
    if assignee_id is not None:
        await check_assignee(session, ctx, assignee_id, ["body", "assignee_id"])
    if related_type == "contact" and related_id is not None:
        related_id = await _resolve_contact(session, ctx, related_id, ["body", "related", "id"])
        contact_id = contact_id or related_id
    if contact_id is not None:
        contact_id = await _resolve_contact(session, ctx, contact_id, ["body", "contact_id"])
    return related_id, contact_id


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
    remind_at: dt.datetime | None = None,
    reminder: bool = True,
) -> TaskRead:
    """A new open task (``work.task.created``, and ``work.task.assigned`` with an
    assignee, who is notified in the app unless they made it) in the caller's transaction.

    The reminder goes out at ``remind_at``, by default at ``due_at``; ``reminder=False``
    sets none. The assignee must be an active user of the tenant (422 otherwise).
    """
    title = title.strip()
    related_id, contact_id = await check_new_task(
        session,
        ctx,
        title=title,
        assignee_id=assignee_id,
        priority=priority,
        related_type=related_type,
        related_id=related_id,
        contact_id=contact_id,
    )
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
        remind_at=(remind_at or due_at) if reminder else None,
        related_type=related_type,
        related_id=related_id,
        contact_id=contact_id,
        origin=origin,
        template_id=template_id,
    )
    session.add(task)
    await session.flush()
    await task_event(
        session,
        ctx,
        "work.task.created",
        task,
        {
            **payload(task, "title", "assignee_id", "priority", "due_at", "remind_at"),
            "related": _related(task),
            **payload(task, "contact_id", "origin", "template_id"),
        },
    )
    if assignee_id is not None:
        await _assigned(session, ctx, task, previous=None)
    return task_read(task)


def _related(task: Task) -> dict[str, str | None] | None:
    """The record a task is about, as its events name it."""
    return {"type": task.related_type, "id": task.related_id} if task.related_type else None


async def task_event(
    session: AsyncSession, ctx: Context, event_type: str, task: Task, data: dict[str, Any]
) -> None:
    """``event_type`` about ``task`` at its current version, in the caller's transaction."""
    await append_row_event(session, ctx, event_type, task, aggregate_type="task", data=data)


async def _assigned(
    session: AsyncSession, ctx: Context, task: Task, *, previous: str | None
) -> None:
    await task_event(
        session,
        ctx,
        "work.task.assigned",
        task,
        {"assignee_id": task.assignee_id, "previous_assignee_id": previous},
    )
    if task.assignee_id is not None and task.assignee_id != ctx.actor_id:
        due = f"Due {task.due_at:%Y-%m-%d %H:%M} UTC." if task.due_at else None
        await notifications.notify(
            session,
            ctx,
            user_id=task.assignee_id,
            kind="task.assigned",
            title=f"New task for you: {task.title}",
            body=due,
            related_type="task",
            related_id=task.id,
            data={"priority": task.priority},
        )


async def update_task(
    session: AsyncSession,
    ctx: Context,
    task_id: str,
    changes: TaskUpdate,
    *,
    if_match: str | None = None,
) -> TaskRead:
    """Apply a partial update (``work.task.updated``; ``work.task.assigned`` when the
    assignee changes, ``work.task.completed`` when it is done)."""
    now = utcnow()
    # Row lock: two updates against the same version cannot both pass the check.
    query = sa.select(Task).where(Task.tenant_id == ctx.require_tenant(), Task.id == task_id)
    task = await one_or_404(session, query.with_for_update(), "task")
    check_version(if_match, task.version)
    sent = changes.model_dump(exclude_unset=True, exclude={"related"})
    if "related" in changes.model_fields_set:
        related = changes.related
        sent["related_type"] = related.type if related else None
        sent["related_id"] = related.id if related else None
    changed = {k: v for k, v in sent.items() if getattr(task, k) != v}
    if not changed:
        return task_read(task, now)
    if changed.get("assignee_id") is not None:
        await check_assignee(session, ctx, changed["assignee_id"], ["body", "assignee_id"])
    if changed.get("contact_id") is not None:
        changed["contact_id"] = await _resolve_contact(
            session, ctx, changed["contact_id"], ["body", "contact_id"]
        )
    if "related_type" in sent and sent["related_type"] == "contact" and sent["related_id"]:
        changed["related_id"] = await _resolve_contact(
            session, ctx, sent["related_id"], ["body", "related", "id"]
        )
        if changed["related_id"] == task.related_id:
            del changed["related_id"]
    if not changed:
        return task_read(task, now)
    previous_assignee, previous_status = task.assignee_id, task.status
    if "due_at" in changed and "remind_at" not in sent and task.remind_at == task.due_at:
        changed["remind_at"] = changed["due_at"]  # the default reminder follows the due time
    for field, value in changed.items():
        setattr(task, field, value)
    if "remind_at" in changed:
        task.reminded_at = None  # a new reminder time is a new reminder
    if "due_at" in changed:
        task.escalated_at = None  # so is a new due time for escalation
        task.escalated_to = None
    if "status" in changed:
        task.completed_at = now if task.status == "done" else None
    await _updated(session, ctx, task, {"changes": {k: jsonable(v) for k, v in changed.items()}})
    if "assignee_id" in changed:
        await _assigned(session, ctx, task, previous=previous_assignee)
    if task.status == "done" and previous_status != "done":
        await task_event(
            session,
            ctx,
            "work.task.completed",
            task,
            {
                **payload(task, "completed_at"),
                "related": _related(task),
                **payload(task, "contact_id", "origin"),
            },
        )
    return task_read(task, now)


async def repoint_contact(
    session: AsyncSession, ctx: Context, *, survivor_id: str, merged_id: str
) -> int:
    """Move the tasks of a contact merged into another onto the survivor."""
    tasks = list(
        await session.scalars(
            sa.select(Task)
            .where(
                Task.tenant_id == ctx.require_tenant(),
                sa.or_(
                    Task.contact_id == merged_id,
                    sa.and_(Task.related_type == "contact", Task.related_id == merged_id),
                ),
            )
            .with_for_update()
        )
    )
    for task in tasks:
        changed: dict[str, str] = {}
        if task.contact_id == merged_id:
            task.contact_id = changed["contact_id"] = survivor_id
        if task.related_type == "contact" and task.related_id == merged_id:
            task.related_id = changed["related_id"] = survivor_id
        reason = {"reason": "contact_merged", "merged_id": merged_id}
        await _updated(session, ctx, task, {"changes": changed, **reason})
    return len(tasks)


async def _updated(session: AsyncSession, ctx: Context, task: Task, data: dict[str, Any]) -> None:
    """Write ``task``'s changes as its next version, and ``work.task.updated`` with ``data``."""
    task.version += 1
    await session.flush()
    await task_event(session, ctx, "work.task.updated", task, data)


def fill_placeholders(text: str, values: Mapping[str, Any] | None) -> str:
    """``{name}`` → ``values["name"]``; unknown placeholders stay as written."""
    if not values:
        return text

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        return str(values[key]) if key in values and values[key] is not None else match.group(0)

    return _PLACEHOLDER.sub(replace, text)


async def escalate(
    session: AsyncSession,
    ctx: Context,
    *,
    assignee_id: str | None,
    title: str,
    body: str,
    origin: str,
    related_type: str,
    related_id: str,
    kind: str | None = None,
    data: dict[str, Any] | None = None,
    priority: str = "high",
    contact_id: str | None = None,
    names_task: bool = False,
) -> TaskRead:
    """Hand trouble to a person: a task for ``assignee_id`` (or nobody's, to be picked
    up), and, with ``kind``, an in-app notification telling them why, both in the
    caller's transaction. ``origin`` names the event that raised it; ``contact_id`` puts
    the task on that contact's timeline. The notification carries ``data``, with the
    task's id first when ``names_task``."""
    task = await create_task(
        session,
        ctx,
        title=title,
        description=body,
        assignee_id=assignee_id,
        priority=priority,
        related_type=related_type,
        related_id=related_id,
        contact_id=contact_id,
        origin=origin,
    )
    if names_task:
        data = {"task_id": task.id, **(data or {})}
    if kind is not None and assignee_id is not None:
        await notifications.notify(
            session,
            ctx,
            user_id=assignee_id,
            kind=kind,
            title=title,
            body=body,
            related_type=related_type,
            related_id=related_id,
            data=data,
        )
    return task


async def create_tasks_from_templates(
    session: AsyncSession,
    ctx: Context,
    *,
    trigger: str,
    owner_id: str | None,
    related_type: str | None,
    related_id: str | None,
    contact_id: str | None = None,
    values: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> list[TaskRead]:
    """One task per active template of ``trigger`` (e.g. ``"deal.stage:proposal"``).

    ``assign_to="owner"`` gives it to ``owner_id``; a template naming a user who is no
    longer active falls back to ``owner_id`` (else the task is unassigned). Due
    ``due_in_hours`` from ``now``; ``{placeholders}`` in the title and description are
    filled from ``values``.
    """
    now = now or utcnow()
    mine = sa.select(TaskTemplate).where(TaskTemplate.tenant_id == ctx.require_tenant())
    query = mine.where(TaskTemplate.trigger == trigger, TaskTemplate.active.is_(True))
    templates = list(await session.scalars(query.order_by(TaskTemplate.id)))
    owner = owner_id if owner_id and await active_user(session, ctx, owner_id) else None
    tasks = []
    for template in templates:
        assignee = owner if template.assign_to == "owner" else template.assign_to
        if (
            assignee is not None
            and assignee != owner
            and await active_user(session, ctx, assignee) is None
        ):
            assignee = owner
        tasks.append(
            await create_task(
                session,
                ctx,
                title=fill_placeholders(template.title, values)[:300],
                description=fill_placeholders(template.description, values)
                if template.description
                else None,
                assignee_id=assignee,
                due_at=now + dt.timedelta(hours=template.due_in_hours),
                priority=template.priority,
                related_type=related_type if related_id else None,
                related_id=related_id if related_type else None,
                contact_id=contact_id,
                origin=trigger,
                template_id=template.id,
            )
        )
    return tasks
