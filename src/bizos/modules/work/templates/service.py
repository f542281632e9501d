"""Task templates: what task to create, for whom and when, each time a trigger fires
(``work.service.create_tasks_from_templates`` makes the tasks). The writer of
``task_templates``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import Unprocessable, field_error
from bizos.core.events import append_event, append_row_event
from bizos.core.fields import from_row
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, PageParams, read_page
from bizos.core.ports import ports
from bizos.core.reads import one_or_404
from bizos.core.versions import check_version
from bizos.modules.work.models import TaskTemplate
from bizos.modules.work.schemas import (
    TaskTemplateCreate,
    TaskTemplateFilter,
    TaskTemplateRead,
    TaskTemplateUpdate,
)
from bizos.modules.work.service import check_assignee

TEMPLATE_ORDER = ListOrder(
    "task_templates", TaskTemplate.id, [TaskTemplate.created_at, TaskTemplate.updated_at]
)


def template_triggers() -> tuple[str, ...]:
    """What fires templates (``create_tasks_from_templates`` callers), as the modules
    declare it in their manifests (the CRM: a deal entering a stage). A template for any
    other trigger would never make a task, so it is refused."""
    return tuple(ports.task_triggers)


def template_read(row: TaskTemplate) -> TaskTemplateRead:
    return from_row(TaskTemplateRead, row)


async def _check_assign_to(session: AsyncSession, ctx: Context, assign_to: str) -> None:
    if assign_to != "owner":
        await check_assignee(session, ctx, assign_to, ["body", "assign_to"])


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
    await append_row_event(
        session,
        ctx,
        "work.task_template.created",
        row,
        aggregate_type="task_template",
        data=body.model_dump(),
    )
    return template_read(row)


async def _template_row(
    session: AsyncSession, ctx: Context, template_id: str, *, lock: bool = False
) -> TaskTemplate:
    query = sa.select(TaskTemplate).filter_by(tenant_id=ctx.require_tenant(), id=template_id)
    return await one_or_404(session, query.with_for_update() if lock else query, "task template")


async def get_template(session: AsyncSession, ctx: Context, template_id: str) -> TaskTemplateRead:
    return template_read(await _template_row(session, ctx, template_id))


async def list_templates(
    session: AsyncSession, ctx: Context, *, page: PageParams, filters: TaskTemplateFilter
) -> tuple[list[TaskTemplateRead], str | None]:
    query = sa.select(TaskTemplate).where(TaskTemplate.tenant_id == ctx.require_tenant())
    if filters.trigger:
        query = query.where(TaskTemplate.trigger == filters.trigger)
    if filters.active is not None:
        query = query.where(TaskTemplate.active.is_(filters.active))
    return await read_page(session, TEMPLATE_ORDER, query, page, template_read)


async def update_template(
    session: AsyncSession,
    ctx: Context,
    template_id: str,
    changes: TaskTemplateUpdate,
    *,
    if_match: str | None = None,
) -> TaskTemplateRead:
    row = await _template_row(session, ctx, template_id, lock=True)
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
    await append_row_event(
        session,
        ctx,
        "work.task_template.updated",
        row,
        aggregate_type="task_template",
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
