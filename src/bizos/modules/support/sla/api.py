"""SLA policies: /api/v1/support/sla-policies.

Reading needs ``support:read``; creating, changing and deleting a policy needs
``admin`` (a policy is the tenant's promise to its customers, not day-to-day ticket
work). PATCH and DELETE take ``If-Match: <version>`` (409 when stale).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import Admin, SupportRead
from bizos.core.pagination import Page, PageParams
from bizos.core.versions import tagged
from bizos.modules.support.sla import service
from bizos.modules.support.sla.models import SlaPolicy
from bizos.modules.support.sla.schemas import SlaPolicyCreate, SlaPolicyRead, SlaPolicyUpdate

router = APIRouter(tags=["support"])

BASE = "/api/v1/support/sla-policies"
IfMatch = Annotated[str | None, Header(description="The `version` you read (409 if stale).")]
PolicyPage = Annotated[PageParams, Depends(service.POLICY_ORDER.dependency)]


def _tagged(response: Response, row: SlaPolicy) -> SlaPolicyRead:
    """The policy as read, its version in the ``ETag``."""
    return tagged(response, service.policy_read(row))


@router.get(BASE, response_model=Page[SlaPolicyRead])
async def list_sla_policies(
    _: SupportRead, session: DbSession, ctx: Ctx, page: PolicyPage
) -> Page[SlaPolicyRead]:
    """The tenant's policies, newest first (see `sort`; one of them is the default)."""
    rows, cursor = await service.list_policies(session, ctx, page=page)
    return Page[SlaPolicyRead](items=[service.policy_read(r) for r in rows], next_cursor=cursor)


@router.post(BASE, status_code=201, response_model=SlaPolicyRead)
async def create_sla_policy(
    body: SlaPolicyCreate, _: Admin, session: DbSession, ctx: Ctx, response: Response
) -> SlaPolicyRead:
    """A policy; a name already used → 409. ``is_default: true`` moves the default."""
    row = await service.create_policy(session, ctx, body)
    response.headers["Location"] = f"{BASE}/{row.id}"
    return _tagged(response, row)


@router.get(f"{BASE}/{{policy_id}}", response_model=SlaPolicyRead)
async def get_sla_policy(
    policy_id: str, _: SupportRead, session: DbSession, ctx: Ctx, response: Response
) -> SlaPolicyRead:
    return _tagged(response, await service.get_policy(session, ctx, policy_id))


@router.patch(f"{BASE}/{{policy_id}}", response_model=SlaPolicyRead)
async def update_sla_policy(
    policy_id: str,
    body: SlaPolicyUpdate,
    _: Admin,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    if_match: IfMatch = None,
) -> SlaPolicyRead:
    """Change a policy. Open tickets keep their due times until their SLA is next
    applied (a priority change); new tickets use the change at once."""
    row = await service.update_policy(session, ctx, policy_id, body, if_match=if_match)
    return _tagged(response, row)


@router.delete(f"{BASE}/{{policy_id}}", status_code=204)
async def delete_sla_policy(
    policy_id: str, _: Admin, session: DbSession, ctx: Ctx, if_match: IfMatch = None
) -> Response:
    """Delete a policy (the default → 409: make another one the default first)."""
    await service.delete_policy(session, ctx, policy_id, if_match=if_match)
    return Response(status_code=204)
