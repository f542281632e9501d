"""Tasks API.

Tasks serve sales and support alike: reading needs ``crm:read`` or ``support:read``,
writing ``crm:write`` or ``support:write``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from bizos.api.deps import Ctx, DbSession, require_any
from bizos.core.pagination import Page, PageParams
from bizos.core.versions import version_etag
from bizos.modules.work import service
from bizos.modules.work.schemas import TaskCreate, TaskFilter, TaskRead, TaskUpdate

router = APIRouter(tags=["work"])

WorkRead = Annotated[object, require_any("crm:read", "support:read")]
WorkWrite = Annotated[object, require_any("crm:write", "support:write")]
IfMatch = Annotated[str | None, Header(description="The `version` last read; 409 if stale.")]


def etag(response: Response, version: int) -> None:
    response.headers["ETag"] = version_etag(version)


@router.post("/api/v1/tasks", status_code=201, response_model=TaskRead)
async def create_task(
    body: TaskCreate, _: WorkWrite, session: DbSession, ctx: Ctx, response: Response
) -> TaskRead:
    """Create a task. Without ``assignee_id`` it is the caller's (an API key's task stays
    unassigned); the reminder defaults to ``due_at``."""
    assignee = body.assignee_id
    if "assignee_id" not in body.model_fields_set and ctx.actor_type == "user":
        assignee = ctx.actor_id
    await service.check_related(session, ctx, body.related)
    # The fields the service takes as they are; the rest it takes as decided here.
    given = body.model_dump(exclude={"assignee_id", "related"})
    task = await service.create_task(
        session,
        ctx,
        assignee_id=assignee,
        reminder="remind_at" not in body.model_fields_set or body.remind_at is not None,
        related_type=body.related.type if body.related else None,
        related_id=body.related.id if body.related else None,
        **given,
    )
    etag(response, task.version)
    return task


TaskPages = Annotated[PageParams, Depends(service.TASK_ORDER.dependency)]
TaskFilters = Annotated[TaskFilter, Query()]


@router.get("/api/v1/tasks", response_model=Page[TaskRead])
async def list_tasks(
    _: WorkRead, session: DbSession, ctx: Ctx, page: TaskPages, filters: TaskFilters
) -> Page[TaskRead]:
    """The workspace's tasks, newest first (see `sort`). ``overdue=true``: open and past due;
    ``mine=true``: assigned to the caller."""
    # The service takes the repeated parameters as ``statuses`` and ``priorities``.
    given = filters.model_dump(exclude={"status", "priority"})
    statuses, priorities = filters.status or (), filters.priority or ()
    tasks = await service.list_tasks(
        session, ctx, page=page, statuses=statuses, priorities=priorities, **given
    )
    return Page[TaskRead].of(tasks)


@router.get("/api/v1/tasks/{task_id}", response_model=TaskRead)
async def get_task(
    task_id: str, _: WorkRead, session: DbSession, ctx: Ctx, response: Response
) -> TaskRead:
    task = await service.get_task(session, ctx, task_id)
    etag(response, task.version)
    return task


@router.patch("/api/v1/tasks/{task_id}", response_model=TaskRead)
async def update_task(
    task_id: str,
    body: TaskUpdate,
    _: WorkWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    if_match: IfMatch = None,
) -> TaskRead:
    """Change a task: status ``open in_progress done cancelled`` (done sets
    ``completed_at``), assignee, due and reminder times, priority, what it is about."""
    await service.check_related(session, ctx, body.related)
    task = await service.update_task(session, ctx, task_id, body, if_match=if_match)
    etag(response, task.version)
    return task
