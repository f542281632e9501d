"""What the copilot (and MCP clients) may ask and do in work: read tools answer with their
query, filters and records; action tools propose a change and make it once confirmed."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Unprocessable, field_error
from bizos.core.fields import Day
from bizos.core.pagination import PageParams
from bizos.core.phrases import counted, listed
from bizos.core.ports import ports
from bizos.core.tools import (
    Figure,
    Proposal,
    Said,
    SourceRef,
    Tool,
    ToolResult,
    actions_for,
    tools_for,
    unfigured_numbers,
)
from bizos.modules.identity import service as identity_service
from bizos.modules.work import service
from bizos.modules.work.schemas import (
    OPEN_STATUSES,
    Description,
    Id,
    TaskRead,
    TaskRelated,
    Title,
)

# --- read tools -----------------------------------------------------------------------
# The caller's tasks and the overdue ones. Tasks serve sales and support alike and the
# API reads them with crm:read or support:read; a tool names one scope, so these take
# crm:read (every role that reads support reads the CRM too).

READ_SCOPE = "crm:read"
TaskStatus = Literal["open", "in_progress", "done", "cancelled"]


class TaskItem(BaseModel):
    id: str
    title: str
    status: str
    priority: str
    due_at: dt.datetime | None
    overdue: bool
    assignee_id: str | None
    assignee_name: str | None
    related_type: str | None
    related_id: str | None
    contact_id: str | None


class TasksValue(BaseModel):
    total: int = Field(description="Every task the filters keep (the list is capped).")
    overdue: int = Field(description="Of those, how many are open and past due.")
    tasks: list[TaskItem] = Field(description="Earliest due first; no due date last.")


async def _tasks_value(
    session: AsyncSession, ctx: Context, *, limit: int, filters: service.TaskQuery
) -> TasksValue:
    now = utcnow()
    page = PageParams(limit=limit, sort="due_at")
    found, _ = await service.list_tasks(session, ctx, page=page, now=now, **filters)
    total = await service.count_tasks(session, ctx, now=now, **filters)
    overdue_only: service.TaskQuery = {**filters, "overdue": True}
    overdue = (
        total
        if filters.get("overdue")
        else await service.count_tasks(session, ctx, now=now, **overdue_only)
    )
    names = await identity_service.user_names(session, ctx, [t.assignee_id for t in found])
    return TasksValue(total=total, overdue=overdue, tasks=[_item(t, names) for t in found])


def _item(task: TaskRead, names: dict[str, str]) -> TaskItem:
    return TaskItem(
        **task.model_dump(
            include={"id", "title", "status", "priority", "due_at", "overdue", "assignee_id"}
        ),
        assignee_name=names.get(task.assignee_id or ""),
        related_type=task.related_type,
        related_id=task.related_id,
        contact_id=task.contact_id,
    )


class MyTasksParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: TaskStatus | None = Field(
        default=None, description="Only this status; by default the open ones (open, in progress)."
    )
    limit: int = Field(default=10, ge=1, le=50, description="Tasks to list at most.")


async def my_tasks(session: AsyncSession, ctx: Context, params: MyTasksParams) -> ToolResult:
    """The tasks assigned to the signed-in caller."""
    if ctx.actor_type != "user" or ctx.actor_id is None:
        raise Unprocessable(
            "work.my_tasks needs a signed-in user",
            errors=[field_error(["params"], "an API key has no tasks of its own")],
        )
    statuses = [params.status] if params.status else list(OPEN_STATUSES)
    value = await _tasks_value(
        session, ctx, limit=params.limit, filters={"mine": True, "statuses": statuses}
    )
    return ToolResult(
        value=value,
        query="tasks assigned to the caller in these statuses, earliest due date first",
        filters={"assignee_id": ctx.actor_id, "statuses": statuses, "limit": params.limit},
        records=[t.id for t in value.tasks],
        records_total=value.total,
    )


class OverdueTasksParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mine: bool = Field(default=False, description="Only the caller's; by default everyone's.")
    limit: int = Field(default=10, ge=1, le=50, description="Tasks to list at most.")


async def overdue_tasks(
    session: AsyncSession, ctx: Context, params: OverdueTasksParams
) -> ToolResult:
    """Open tasks past their due time, the most overdue first."""
    value = await _tasks_value(
        session, ctx, limit=params.limit, filters={"overdue": True, "mine": params.mine}
    )
    return ToolResult(
        value=value,
        query=(
            "tasks still open or in progress whose due time has passed, the most overdue "
            "first" + ("; assigned to the caller" if params.mine else "")
        ),
        filters={
            "assignee_id": ctx.actor_id if params.mine else None,
            "statuses": list(OPEN_STATUSES),
            "overdue": True,
            "limit": params.limit,
        },
        records=[t.id for t in value.tasks],
        records_total=value.total,
    )


def _task_said(task: TaskItem, *, overdue_list: bool, with_assignee: bool) -> str:
    notes = [f"due {task.due_at.date().isoformat()}" if task.due_at else "no due date"]
    if task.overdue and not overdue_list:
        notes.append("overdue")
    if task.priority in ("high", "urgent"):
        notes.append(task.priority)
    if with_assignee:
        notes.append(task.assignee_name or "unassigned")
    return f"{task.title} ({', '.join(notes)})"


def _said(
    head: str, value: TasksValue, figures: list[Figure], *, overdue_list: bool, mine: bool
) -> Said:
    """``head`` then the tasks listed; ``; the first by due date:`` when not all fit."""
    sources = [SourceRef("task", t.id, t.title) for t in value.tasks]
    shown = listed(
        _task_said(t, overdue_list=overdue_list, with_assignee=not mine) for t in value.tasks
    )
    joint = ": " if len(value.tasks) == value.total else "; the first by due date: "
    return Said(f"{head}{joint}{shown}.", figures, sources)


def speak_my_tasks(params: MyTasksParams, result: ToolResult) -> Said:
    value: TasksValue = result.value
    kind = params.status.replace("_", " ") if params.status else "open"
    figures = [Figure(f"your {kind} tasks", value.total, unit="tasks")]
    if value.total == 0:
        return Said(f"You have no {kind} tasks.", figures)
    head = f"You have {counted(value.total, f'{kind} task')}"
    if value.overdue and kind not in ("done", "cancelled"):
        figures.append(Figure(f"your overdue {kind} tasks", value.overdue, unit="tasks"))
        head += f", {value.overdue} of them overdue"
    return _said(head, value, figures, overdue_list=False, mine=True)


def speak_overdue_tasks(params: OverdueTasksParams, result: ToolResult) -> Said:
    value: TasksValue = result.value
    label = "your overdue tasks" if params.mine else "overdue tasks"
    figures = [Figure(label, value.total, unit="tasks")]
    if value.total == 0:
        return Said("You have no overdue tasks." if params.mine else "No task is overdue.", figures)
    who = "You have" if params.mine else "There are" if value.total != 1 else "There is"
    head = f"{who} {counted(value.total, 'overdue task')}"
    return _said(head, value, figures, overdue_list=True, mine=params.mine)


READ_TOOLS: list[Tool] = tools_for(
    READ_SCOPE,
    (
        "work.my_tasks",
        "The signed-in user's own tasks (open ones by default, or one status), earliest due "
        "first, with how many are overdue.",
        MyTasksParams,
        my_tasks,
        speak_my_tasks,
    ),
    (
        "work.overdue_tasks",
        "Tasks past their due date and still open, the most overdue first; everyone's, or "
        "only the caller's (`mine`).",
        OverdueTasksParams,
        overdue_tasks,
        speak_overdue_tasks,
    ),
)

# --- action tools ---------------------------------------------------------------------

# Tasks are written with ``crm:write`` or ``support:write`` through the API; a tool holds
# one scope, and the copilot's task is a sales to-do first.
WRITE_SCOPE = "crm:write"
# A task due on a day is due at the end of its working day (UTC: a workspace keeps no
# time zone), so it turns overdue that evening, not at midnight before.
DUE_HOUR = dt.time(17, 0, tzinfo=dt.UTC)
COPILOT_ORIGIN = "copilot"


class CreateTaskParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Title
    due_on: Day | None = Field(default=None, description="The day it is due (17:00 UTC).")
    assignee_id: Id | None = Field(
        default=None, description="An active user of the workspace; default: the caller."
    )
    related_type: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{0,19}$")] | None = Field(
        default=None, description="What the task is about: contact, lead, deal, company…"
    )
    related_id: Id | None = None
    notes: Description | None = Field(default=None, description="The task's description.")

    @model_validator(mode="after")
    def _related_whole(self) -> Self:
        if (self.related_type is None) != (self.related_id is None):
            raise ValueError("related_type and related_id go together")
        return self


def _new_task(ctx: Context, params: CreateTaskParams) -> dict[str, Any]:
    """The fields of the task ``params`` describe, as the API's create decides them:
    without ``assignee_id`` the caller's own (an API key's stays unassigned)."""
    assignee = params.assignee_id
    if "assignee_id" not in params.model_fields_set and ctx.actor_type == "user":
        assignee = ctx.actor_id
    due = dt.datetime.combine(params.due_on, DUE_HOUR) if params.due_on else None
    related = (
        TaskRelated(type=params.related_type, id=params.related_id)
        if params.related_type and params.related_id
        else None
    )
    return {
        "title": params.title,
        "description": params.notes,
        "assignee_id": assignee,
        "due_at": due,
        "related": related,
    }


async def _checked(session: AsyncSession, ctx: Context, params: CreateTaskParams) -> dict[str, Any]:
    """The new task's fields, checked as the API checks them (422 naming the field): the
    assignee, the record it is about, its contact."""
    task = _new_task(ctx, params)
    related: TaskRelated | None = task["related"]
    await service.check_related(session, ctx, related)
    related_id, contact_id = await service.check_new_task(
        session,
        ctx,
        title=task["title"],
        assignee_id=task["assignee_id"],
        related_type=related.type if related else None,
        related_id=related.id if related else None,
    )
    if related is not None and related_id is not None:
        task["related"] = TaskRelated(type=related.type, id=related_id)
    return {**task, "contact_id": contact_id}


async def _assignee_text(session: AsyncSession, ctx: Context, assignee_id: str | None) -> str:
    if assignee_id is None:
        return "unassigned"
    if assignee_id == ctx.actor_id:
        return "for you"
    user = await service.active_user(session, ctx, assignee_id)
    return f"for {user.name}" if user is not None and _plain(user.name) else "for a teammate"


def _plain(text: str) -> bool:
    """Whether ``text`` may be written in a summary that has no figures: it holds no
    number (a date aside), so the summary keeps the rule that every number is a figure."""
    return not unfigured_numbers(Said(text))


async def _related_text(session: AsyncSession, ctx: Context, related: TaskRelated) -> str:
    """The record a task is about, named as its module names it (the record resolver
    port: a contact's, deal's or company's name, or else its email address); never by
    its id. A record of a type no module resolves, or whose name holds a number, is
    named by its type only."""
    resolve = ports.record_resolvers.get(related.type)
    record = await resolve(session, ctx, related.id) if resolve is not None else None
    for attribute in ("name", "title", "email"):
        title = getattr(record, attribute, None)
        if isinstance(title, str) and title.strip():
            return f'{related.type} "{title.strip()}"' if _plain(title) else f"the {related.type}"
    return f"a {related.type}"


async def propose_task(session: AsyncSession, ctx: Context, params: CreateTaskParams) -> Proposal:
    """The task that would be created (``before`` is None); refused as the API refuses.
    Its summary names the record the task is about and writes no number but dates (a
    title holding one is left to ``after``)."""
    task = await _checked(session, ctx, params)
    related: TaskRelated | None = task["related"]
    after = {
        **{k: task[k] for k in ("title", "description", "assignee_id", "contact_id")},
        "due_at": task["due_at"].isoformat() if task["due_at"] else None,
        "priority": "normal",
        "status": "open",
        "related": related.model_dump() if related else None,
    }
    due = f", due {params.due_on.isoformat()}" if params.due_on else ""
    about = f", about {await _related_text(session, ctx, related)}" if related else ""
    who = await _assignee_text(session, ctx, task["assignee_id"])
    title = f'task "{task["title"]}"' if _plain(task["title"]) else "a task (its title as shown)"
    return Proposal(summary=f"Create {title} {who}{due}{about}", before=None, after=after)


async def create_task(session: AsyncSession, ctx: Context, params: CreateTaskParams) -> ToolResult:
    """Create the task through the tasks service (``work.task.created``, audited)."""
    task = await _checked(session, ctx, params)
    related: TaskRelated | None = task["related"]
    created = await service.create_task(
        session,
        ctx,
        title=task["title"],
        description=task["description"],
        assignee_id=task["assignee_id"],
        due_at=task["due_at"],
        related_type=related.type if related else None,
        related_id=related.id if related else None,
        origin=COPILOT_ORIGIN,
    )
    return ToolResult(
        value=created,
        query=f'created task "{created.title}"',
        filters={"task_id": created.id},
        records=[created.id],
    )


ACTION_TOOLS: list[Tool] = actions_for(
    WRITE_SCOPE,
    (
        "work.create_task",
        "Create a task (a to-do), by default the caller's, optionally due on a day and "
        "about a contact, lead, deal or company.",
        CreateTaskParams,
        propose_task,
        create_task,
    ),
)

TOOLS: list[Tool] = [*READ_TOOLS, *ACTION_TOOLS]
