"""Lead assignment API: the tenant's rules and its sales reps. (Re)assigning a lead is
``POST /leads/{id}/assign`` in the leads API, which runs these rules."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import Admin, CrmRead
from bizos.core.pagination import Page, PageParams, fixed_order
from bizos.modules.crm.assignment import service
from bizos.modules.crm.assignment.schemas import AssignmentConfig, RepRead, RepUpdate

router = APIRouter(tags=["crm"])
RepPages = Annotated[PageParams, Depends(fixed_order("id", "by user id: the team, not records"))]


@router.get("/api/v1/crm/assignment-rules", response_model=AssignmentConfig)
async def get_assignment_rules(_: Admin, session: DbSession, ctx: Ctx) -> AssignmentConfig:
    return await service.get_rules(session, ctx)


@router.put("/api/v1/crm/assignment-rules", response_model=AssignmentConfig)
async def put_assignment_rules(
    body: AssignmentConfig, _: Admin, session: DbSession, ctx: Ctx
) -> AssignmentConfig:
    """Replace how new leads find an owner. Every user named must be an active owner,
    admin or member (422 with the path of each one that is not)."""
    return await service.update_rules(session, ctx, body=body)


@router.get("/api/v1/crm/reps", response_model=Page[RepRead])
async def list_reps(_: CrmRead, session: DbSession, ctx: Ctx, page: RepPages) -> Page[RepRead]:
    """The team that takes leads, with availability, capacity and open leads."""
    return Page[RepRead].of(await service.list_reps(session, ctx, page=page))


@router.put("/api/v1/crm/reps/{user_id}", response_model=RepRead)
async def put_rep(
    user_id: str, body: RepUpdate, _: Admin, session: DbSession, ctx: Ctx, request: Request
) -> RepRead:
    """Set how a user takes leads; honours `If-Match` with the rep's `version`."""
    return await service.update_rep(
        session, ctx, user_id=user_id, body=body, if_match=request.headers.get("if-match")
    )
