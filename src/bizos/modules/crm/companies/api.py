"""CRM companies API: list, create, read and edit companies. Reading needs ``crm:read``,
writing ``crm:write``. A company's contacts and notes are served by the contacts API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from bizos.api.deps import Ctx, DbSession
from bizos.api.lists import Filters
from bizos.core.auth import CrmRead, CrmWrite
from bizos.core.pagination import Page, PageParams
from bizos.core.versions import tagged
from bizos.modules.crm.companies import service
from bizos.modules.crm.companies.schemas import (
    CompanyCreate,
    CompanyFilters,
    CompanyRead,
    CompanyUpdate,
)

router = APIRouter(tags=["crm"])

BASE = "/api/v1/crm"
IfMatch = Annotated[str | None, Header(description="The `version` you read (409 if stale).")]

CompanyPages = Annotated[PageParams, Depends(service.COMPANY_ORDER.dependency)]


@router.get(f"{BASE}/companies", response_model=Page[CompanyRead])
async def list_companies(
    _: CrmRead, session: DbSession, ctx: Ctx, page: CompanyPages, filters: Filters[CompanyFilters]
) -> Page[CompanyRead]:
    rows, cursor = await service.list_companies(session, ctx, page=page, filters=filters)
    return Page[CompanyRead](items=[service.company_read(r) for r in rows], next_cursor=cursor)


@router.post(f"{BASE}/companies", status_code=201, response_model=CompanyRead)
async def create_company(
    body: CompanyCreate, _: CrmWrite, session: DbSession, ctx: Ctx, response: Response
) -> CompanyRead:
    """Create a company. The domain (or the website's) is normalised; a domain a live
    company already has → 409 with `existing_id`."""
    row = await service.create_company(session, ctx, body)
    response.headers["Location"] = f"{BASE}/companies/{row.id}"
    return tagged(response, service.company_read(row))


@router.get(f"{BASE}/companies/{{company_id}}", response_model=CompanyRead)
async def get_company(
    company_id: str, _: CrmRead, session: DbSession, ctx: Ctx, response: Response
) -> CompanyRead:
    return tagged(
        response, service.company_read(await service.get_company(session, ctx, company_id))
    )


@router.patch(f"{BASE}/companies/{{company_id}}", response_model=CompanyRead)
async def update_company(
    company_id: str,
    body: CompanyUpdate,
    _: CrmWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    if_match: IfMatch = None,
) -> CompanyRead:
    row = await service.update_company(session, ctx, company_id, body, if_match=if_match)
    return tagged(response, service.company_read(row))
