"""Tasks: create, assign, remind, escalate, complete. The only writer of ``tasks`` and
``task_templates``.

Reminders and escalations are scheduled jobs (``work.jobs``) that call
:func:`send_due_reminders` and :func:`escalate_overdue_tasks` with the job's ``now``.
Each claims its task with a conditional ``UPDATE`` (``reminded_at IS NULL`` /
``escalated_at IS NULL``) in the same transaction as the notification and the email, so
a task is reminded or escalated exactly once even when two workers race.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, cast

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context, system_context
from bizos.core.db import Database, utcnow
from bizos.core.errors import NotFound, Unprocessable, field_error
from bizos.core.events import append_event
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, PageParams
from bizos.core.ports import ports
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
    TaskTemplateCreate,
    TaskTemplateRead,
    TaskTemplateUpdate,
    TaskUpdate,
)

log = structlog.get_logger("bizos.work")

ESCALATING_PRIORITIES = ("high", "urgent")
# Tasks one pass of the reminder or escalation job takes on; the rest wait a minute.
JOB_BATCH = 500
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def template_triggers() -> tuple[str, ...]:
    """What fires templates (``create_tasks_from_templates`` callers), as the modules
    declare it in their manifests (the CRM: a deal entering a stage). A template for any
    other trigger would never make a task, so it is refused."""
    return tuple(ports.task_triggers)


# --- reading ------------------------------------------------------------------------------


def is_overdue(task: Task, now: dt.datetime | None = None) -> bool:
    return (
        task.status in OPEN_STATUSES and task.due_at is not None and task.due_at < (now or utcnow())
    )


def task_read(task: Task, now: dt.datetime | None = None) -> TaskRead:
    return TaskRead(
        id=task.id,
        title=task.title,
        description=task.description,
        assignee_id=task.assignee_id,
        created_by=task.created_by,
        priority=task.priority,
        status=task.status,
        due_at=task.due_at,
        remind_at=task.remind_at,
        reminded_at=task.reminded_at,
        overdue=is_overdue(task, now),
        escalated_at=task.escalated_at,
        escalated_to=task.escalated_to,
        completed_at=task.completed_at,
        related=TaskRelated(type=task.related_type, id=task.related_id)
        if task.related_type and task.related_id
        else None,
        contact_id=task.contact_id,
        template_id=task.template_id,
        origin=task.origin,
        version=task.version,
        created_at=task.created_at,
        updated_at=task.updated_at,
    )


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


async def _active_user(session: AsyncSession, ctx: Context, user_id: str) -> UserRead | None:
    try:
        user = await identity.get_user(session, ctx, user_id=user_id)
    except NotFound:
        return None
    return user if user.is_active else None


async def _check_assignee(
    session: AsyncSession, ctx: Context, user_id: str, loc: Sequence[str]
) -> None:
    if await _active_user(session, ctx, user_id) is None:
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


async def _task_row(session: AsyncSession, ctx: Context, task_id: str) -> Task:
    task = await session.scalar(
        sa.select(Task).where(Task.tenant_id == ctx.require_tenant(), Task.id == task_id)
    )
    if task is None:
        raise NotFound("task not found")
    return task


async def get_task(session: AsyncSession, ctx: Context, task_id: str) -> TaskRead:
    return task_read(await _task_row(session, ctx, task_id))


TASK_ORDER = ListOrder("tasks", Task.id, [Task.created_at, Task.updated_at, Task.due_at])
TEMPLATE_ORDER = ListOrder(
    "task_templates", TaskTemplate.id, [TaskTemplate.created_at, TaskTemplate.updated_at]
)


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
    rows = list(await session.scalars(TASK_ORDER.apply(query, page)))
    items, cursor = TASK_ORDER.take_page(rows, page)
    return [task_read(r, now) for r in items], cursor


async def tasks_for_contacts(
    session: AsyncSession,
    ctx: Context,
    contact_ids: Sequence[str],
    *,
    limit: int,
    before: dt.datetime | None = None,
) -> list[TaskRead]:
    """The newest tasks about any of ``contact_ids`` (by ``contact_id`` or ``related``),
    created at or before ``before`` when given."""
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
    errors = []
    if not title or len(title) > 300:
        errors.append(field_error(["body", "title"], "1 to 300 characters"))
    if priority not in PRIORITIES:
        errors.append(field_error(["body", "priority"], f"one of {', '.join(PRIORITIES)}"))
    if (related_type is None) != (related_id is None):
        errors.append(field_error(["body", "related"], "needs both type and id"))
    if errors:
        raise Unprocessable("the task is not valid", errors=errors)
    if assignee_id is not None:
        await _check_assignee(session, ctx, assignee_id, ["body", "assignee_id"])
    if related_type == "contact" and related_id is not None:
        related_id = await _resolve_contact(session, ctx, related_id, ["body", "related", "id"])
        contact_id = contact_id or related_id
    if contact_id is not None:
        contact_id = await _resolve_contact(session, ctx, contact_id, ["body", "contact_id"])
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
            "due_at": _jsonable(due_at),
            "remind_at": _jsonable(task.remind_at),
            "related": {"type": related_type, "id": related_id} if related_type else None,
            "contact_id": contact_id,
            "origin": origin,
            "template_id": template_id,
        },
    )
    if assignee_id is not None:
        await _assigned(session, ctx, task, previous=None)
    return task_read(task)


async def _assigned(
    session: AsyncSession, ctx: Context, task: Task, *, previous: str | None
) -> None:
    await append_event(
        session,
        ctx,
        "work.task.assigned",
        aggregate_type="task",
        aggregate_id=task.id,
        version=task.version,
        data={"assignee_id": task.assignee_id, "previous_assignee_id": previous},
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
    now: dt.datetime | None = None,
) -> TaskRead:
    """Apply a partial update (``work.task.updated``; ``work.task.assigned`` when the
    assignee changes, ``work.task.completed`` when it is done)."""
    now = now or utcnow()
    # Row lock: two updates against the same version cannot both pass the check.
    task = await session.scalar(
        sa.select(Task)
        .where(Task.tenant_id == ctx.require_tenant(), Task.id == task_id)
        .with_for_update()
    )
    if task is None:
        raise NotFound("task not found")
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
        await _check_assignee(session, ctx, changed["assignee_id"], ["body", "assignee_id"])
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
    task.version += 1
    await session.flush()
    await append_event(
        session,
        ctx,
        "work.task.updated",
        aggregate_type="task",
        aggregate_id=task.id,
        version=task.version,
        data={"changes": {k: _jsonable(v) for k, v in changed.items()}},
    )
    if "assignee_id" in changed:
        await _assigned(session, ctx, task, previous=previous_assignee)
    if task.status == "done" and previous_status != "done":
        await append_event(
            session,
            ctx,
            "work.task.completed",
            aggregate_type="task",
            aggregate_id=task.id,
            version=task.version,
            data={
                "completed_at": _jsonable(task.completed_at),
                "related": {"type": task.related_type, "id": task.related_id}
                if task.related_type
                else None,
                "contact_id": task.contact_id,
                "origin": task.origin,
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
        task.version += 1
        await session.flush()
        await append_event(
            session,
            ctx,
            "work.task.updated",
            aggregate_type="task",
            aggregate_id=task.id,
            version=task.version,
            data={"changes": changed, "reason": "contact_merged", "merged_id": merged_id},
        )
    return len(tasks)


# --- templates ----------------------------------------------------------------------------


def template_read(row: TaskTemplate) -> TaskTemplateRead:
    return TaskTemplateRead(
        id=row.id,
        trigger=row.trigger,
        title=row.title,
        description=row.description,
        priority=row.priority,
        due_in_hours=row.due_in_hours,
        assign_to=row.assign_to,
        active=row.active,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _check_assign_to(session: AsyncSession, ctx: Context, assign_to: str) -> None:
    if assign_to != "owner":
        await _check_assignee(session, ctx, assign_to, ["body", "assign_to"])


def _check_trigger(trigger: str) -> None:
    triggers = template_triggers()
    if trigger not in triggers:
        raise Unprocessable(
            f"no task is ever created for trigger {trigger!r}",
            errors=[
                field_error(["body", "trigger"], f"unknown trigger; one of {', '.join(triggers)}")
            ],
        )


async def create_template(
    session: AsyncSession, ctx: Context, body: TaskTemplateCreate
) -> TaskTemplateRead:
    _check_trigger(body.trigger)
    await _check_assign_to(session, ctx, body.assign_to)
    row = TaskTemplate(id=new_id(), tenant_id=ctx.require_tenant(), **body.model_dump())
    session.add(row)
    await session.flush()
    await append_event(
        session,
        ctx,
        "work.task_template.created",
        aggregate_type="task_template",
        aggregate_id=row.id,
        data=body.model_dump(),
    )
    return template_read(row)


async def _template_row(session: AsyncSession, ctx: Context, template_id: str) -> TaskTemplate:
    row = await session.scalar(
        sa.select(TaskTemplate).where(
            TaskTemplate.tenant_id == ctx.require_tenant(), TaskTemplate.id == template_id
        )
    )
    if row is None:
        raise NotFound("task template not found")
    return row


async def get_template(session: AsyncSession, ctx: Context, template_id: str) -> TaskTemplateRead:
    return template_read(await _template_row(session, ctx, template_id))


async def list_templates(
    session: AsyncSession,
    ctx: Context,
    *,
    page: PageParams,
    trigger: str | None = None,
    active: bool | None = None,
) -> tuple[list[TaskTemplateRead], str | None]:
    query = sa.select(TaskTemplate).where(TaskTemplate.tenant_id == ctx.require_tenant())
    if trigger:
        query = query.where(TaskTemplate.trigger == trigger)
    if active is not None:
        query = query.where(TaskTemplate.active.is_(active))
    rows = list(await session.scalars(TEMPLATE_ORDER.apply(query, page)))
    items, cursor = TEMPLATE_ORDER.take_page(rows, page)
    return [template_read(r) for r in items], cursor


async def update_template(
    session: AsyncSession,
    ctx: Context,
    template_id: str,
    changes: TaskTemplateUpdate,
    *,
    if_match: str | None = None,
) -> TaskTemplateRead:
    row = await session.scalar(
        sa.select(TaskTemplate)
        .where(TaskTemplate.tenant_id == ctx.require_tenant(), TaskTemplate.id == template_id)
        .with_for_update()
    )
    if row is None:
        raise NotFound("task template not found")
    check_version(if_match, row.version)
    changed = {
        k: v for k, v in changes.model_dump(exclude_unset=True).items() if getattr(row, k) != v
    }
    if not changed:
        return template_read(row)
    if "trigger" in changed:
        _check_trigger(changed["trigger"])
    if "assign_to" in changed:
        await _check_assign_to(session, ctx, changed["assign_to"])
    for field, value in changed.items():
        setattr(row, field, value)
    row.version += 1
    await session.flush()
    await append_event(
        session,
        ctx,
        "work.task_template.updated",
        aggregate_type="task_template",
        aggregate_id=row.id,
        version=row.version,
        data={"changes": changed},
    )
    return template_read(row)


async def delete_template(
    session: AsyncSession, ctx: Context, template_id: str, *, if_match: str | None = None
) -> None:
    """Remove a template; tasks it made stay (their ``template_id`` keeps the history)."""
    row = await _template_row(session, ctx, template_id)
    check_version(if_match, row.version)
    await session.delete(row)
    await session.flush()
    await append_event(
        session,
        ctx,
        "work.task_template.deleted",
        aggregate_type="task_template",
        aggregate_id=template_id,
        version=row.version + 1,
        data={"trigger": row.trigger},
    )


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
) -> TaskRead:
    """Hand trouble to a person: a task for ``assignee_id`` (or nobody's, to be picked
    up), and, with ``kind``, an in-app notification telling them why, both in the
    caller's transaction. ``origin`` names the event that raised it."""
    task = await create_task(
        session,
        ctx,
        title=title,
        description=body,
        assignee_id=assignee_id,
        priority=priority,
        related_type=related_type,
        related_id=related_id,
        origin=origin,
    )
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
    templates = list(
        await session.scalars(
            sa.select(TaskTemplate)
            .where(
                TaskTemplate.tenant_id == ctx.require_tenant(),
                TaskTemplate.trigger == trigger,
                TaskTemplate.active.is_(True),
            )
            .order_by(TaskTemplate.id)
        )
    )
    owner = owner_id if owner_id and await _active_user(session, ctx, owner_id) else None
    tasks = []
    for template in templates:
        assignee = owner if template.assign_to == "owner" else template.assign_to
        if (
            assignee is not None
            and assignee != owner
            and await _active_user(session, ctx, assignee) is None
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


# --- reminders and escalations (run by the scheduled jobs) ----------------------------------


async def _due_tasks(db: Database, where: Sequence[sa.ColumnElement[bool]]) -> list[Any]:
    # The scan spans tenants (like the dispatcher's): a system session, ids only.
    async with db.unit_of_work(system=True, readonly=True) as session:
        rows = await session.execute(
            sa.select(Task.id, Task.tenant_id).where(*where).order_by(Task.id).limit(JOB_BATCH)
        )
        return list(rows.all())


async def send_due_reminders(db: Database, now: dt.datetime) -> int:
    """Remind the assignee of every open task whose ``remind_at`` has come, once each:
    an in-app ``task.reminder`` and an email. Returns how many were sent."""
    due = await _due_tasks(
        db,
        [
            Task.status.in_(OPEN_STATUSES),
            Task.remind_at <= now,
            Task.reminded_at.is_(None),
            Task.assignee_id.is_not(None),
        ],
    )
    sent = 0
    for row in due:
        try:
            async with db.unit_of_work(tenant_id=row.tenant_id) as session:
                sent += await _remind(session, system_context(row.tenant_id), row.id, now)
        except Exception:  # one task's trouble must not hold back the others
            log.exception("work.reminder_failed", task_id=row.id, tenant_id=row.tenant_id)
    return sent


async def _claim(
    session: AsyncSession, task_id: str, where: Sequence[sa.ColumnElement[bool]], **values: Any
) -> Task | None:
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


async def _remind(session: AsyncSession, ctx: Context, task_id: str, now: dt.datetime) -> int:
    task = await _claim(
        session,
        task_id,
        [
            Task.status.in_(OPEN_STATUSES),
            Task.remind_at <= now,
            Task.reminded_at.is_(None),
            Task.assignee_id.is_not(None),
        ],
        reminded_at=now,
    )
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
        data={"due_at": _jsonable(task.due_at), "priority": task.priority},
        email=True,
    )
    await append_event(
        session,
        ctx,
        "work.task.reminded",
        aggregate_type="task",
        aggregate_id=task.id,
        version=task.version,
        data={
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
    where = _escalation_due(now, grace)
    escalated = 0
    for row in await _due_tasks(db, where):
        try:
            async with db.unit_of_work(tenant_id=row.tenant_id) as session:
                escalated += await _escalate(
                    session, system_context(row.tenant_id), row.id, now, where
                )
        except Exception:
            log.exception("work.escalation_failed", task_id=row.id, tenant_id=row.tenant_id)
    return escalated


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
    assignee = await _active_user(session, ctx, assignee_id) if assignee_id else None
    if assignee is None and assignee_id:
        try:
            assignee = await identity.get_user(session, ctx, user_id=assignee_id)
        except NotFound:
            assignee = None
    if assignee is not None and assignee.manager_id:
        manager = await _active_user(session, ctx, assignee.manager_id)
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
    session: AsyncSession,
    ctx: Context,
    task_id: str,
    now: dt.datetime,
    where: Sequence[sa.ColumnElement[bool]],
) -> int:
    current = await _task_row(session, ctx, task_id)
    target, reason = await escalation_target(session, ctx, current.assignee_id)
    if target is None:
        log.warning("work.escalation_without_target", task_id=task_id)
        return 0
    task = await _claim(session, task_id, where, escalated_at=now, escalated_to=target)
    if task is None:
        return 0
    assignee = await _active_user(session, ctx, task.assignee_id) if task.assignee_id else None
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
    await append_event(
        session,
        ctx,
        "work.task.escalated",
        aggregate_type="task",
        aggregate_id=task.id,
        version=task.version,
        data={
            "escalated_to": target,
            "reason": reason,
            "assignee_id": task.assignee_id,
            "due_at": _jsonable(task.due_at),
            "priority": task.priority,
        },
    )
    log.info("work.task_escalated", task_id=task.id, reason=reason)
    return 1
