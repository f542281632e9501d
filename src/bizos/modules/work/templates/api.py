"""Task templates API: templates decide what work the pipeline hands people, so changing
them needs the tasks' write scopes (a viewer cannot)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from bizos.api.deps import Ctx, DbSession
from bizos.core.pagination import Page, PageParams
from bizos.modules.work.api import IfMatch, WorkRead, WorkWrite, etag
from bizos.modules.work.schemas import (
    TaskTemplateCreate,
    TaskTemplateFilter,
    TaskTemplateRead,
    TaskTemplateUpdate,
)
from bizos.modules.work.templates import service

router = APIRouter(tags=["work"])
TemplatePages = Annotated[PageParams, Depends(service.TEMPLATE_ORDER.dependency)]
TemplateFilters = Annotated[TaskTemplateFilter, Query()]


@router.post("/api/v1/task-templates", status_code=201, response_model=TaskTemplateRead)
async def create_template(
    body: TaskTemplateCreate, _: WorkWrite, session: DbSession, ctx: Ctx, response: Response
) -> TaskTemplateRead:
    """A task to create whenever ``trigger`` happens (e.g. ``deal.stage:proposal``: a deal
    enters the proposal stage)."""
    row = await service.create_template(session, ctx, body)
    etag(response, row.version)
    return row


@router.get("/api/v1/task-templates", response_model=Page[TaskTemplateRead])
async def list_templates(
    _: WorkRead, session: DbSession, ctx: Ctx, page: TemplatePages, filters: TemplateFilters
) -> Page[TaskTemplateRead]:
    templates = await service.list_templates(session, ctx, page=page, filters=filters)
    return Page[TaskTemplateRead].of(templates)


@router.get("/api/v1/task-templates/{template_id}", response_model=TaskTemplateRead)
async def get_template(
    template_id: str, _: WorkRead, session: DbSession, ctx: Ctx, response: Response
) -> TaskTemplateRead:
    row = await service.get_template(session, ctx, template_id)
    etag(response, row.version)
    return row


@router.patch("/api/v1/task-templates/{template_id}", response_model=TaskTemplateRead)
async def update_template(
    template_id: str,
    body: TaskTemplateUpdate,
    _: WorkWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    if_match: IfMatch = None,
) -> TaskTemplateRead:
    row = await service.update_template(session, ctx, template_id, body, if_match=if_match)
    etag(response, row.version)
    return row


@router.delete("/api/v1/task-templates/{template_id}", status_code=204)
async def delete_template(
    template_id: str, _: WorkWrite, session: DbSession, ctx: Ctx, if_match: IfMatch = None
) -> Response:
    await service.delete_template(session, ctx, template_id, if_match=if_match)
    return Response(status_code=204)
