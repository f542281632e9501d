"""What the copilot (and MCP clients) may ask and do in work: read tools answer with their
query, filters and records; action tools propose a change and make it once confirmed."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.fields import Day
from bizos.core.tools import Proposal, Tool, ToolResult, actions_for
from bizos.modules.work import service
from bizos.modules.work.schemas import Description, Id, TaskRelated, Title

# --- read tools -----------------------------------------------------------------------

READ_TOOLS: list[Tool] = []

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
    return f"for {user.name}" if user is not None else "assigned"


async def propose_task(session: AsyncSession, ctx: Context, params: CreateTaskParams) -> Proposal:
    """The task that would be created (``before`` is None); refused as the API refuses."""
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
    about = f", about {related.type} {related.id}" if related else ""
    who = await _assignee_text(session, ctx, task["assignee_id"])
    return Proposal(
        summary=f'Create task "{task["title"]}" {who}{due}{about}', before=None, after=after
    )


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
