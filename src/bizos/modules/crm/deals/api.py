"""CRM deals and pipeline API.

Deals move through ``lead qualified proposal negotiation won lost``; the tenant's stage
rules (``GET/PUT /api/v1/crm/pipeline``) say what a deal needs before it enters a stage.
Won and lost deals are closed: changing their stage, amount, currency or close date
takes ``POST /api/v1/crm/deals/{id}/reopen`` first.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from bizos.api.deps import Ctx, DbSession
from bizos.api.lists import Filters
from bizos.core.auth import Admin, CrmRead, CrmWrite
from bizos.core.errors import Unprocessable, field_error
from bizos.core.fields import Day
from bizos.core.pagination import Page, PageParams
from bizos.core.versions import tagged
from bizos.modules.crm.deals import pipeline, service, velocity
from bizos.modules.crm.deals.schemas import (
    DealCreate,
    DealFilters,
    DealRead,
    DealReopen,
    DealUpdate,
    PipelineRead,
    PipelineSettings,
    StageChangeRead,
    VelocityReport,
)

router = APIRouter(tags=["crm"])

DealPages = Annotated[PageParams, Depends(service.DEAL_ORDER.dependency)]


@router.post("/api/v1/crm/deals", status_code=201, response_model=DealRead)
async def create_deal(
    body: DealCreate, _: CrmWrite, session: DbSession, ctx: Ctx, response: Response
) -> DealRead:
    deal = await service.create_deal(session, ctx, **body.model_dump())
    response.headers["Location"] = f"/api/v1/crm/deals/{deal.id}"
    return tagged(response, service.deal_read(deal))


@router.get("/api/v1/crm/deals", response_model=Page[DealRead])
async def list_deals(
    _: CrmRead, session: DbSession, ctx: Ctx, page: DealPages, filters: Filters[DealFilters]
) -> Page[DealRead]:
    deals = await service.list_deals(session, ctx, page=page, **filters.model_dump())
    return Page[DealRead].of(deals)


@router.get("/api/v1/crm/deals/{deal_id}", response_model=DealRead)
async def get_deal(
    deal_id: str, _: CrmRead, session: DbSession, ctx: Ctx, response: Response
) -> DealRead:
    return tagged(response, service.deal_read(await service.get_deal(session, ctx, deal_id)))


@router.patch("/api/v1/crm/deals/{deal_id}", response_model=DealRead)
async def update_deal(
    deal_id: str,
    body: DealUpdate,
    _: CrmWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> DealRead:
    """Change fields or move the stage; ``If-Match: <version>`` → 409 when stale."""
    changes = body.model_dump(exclude_unset=True)
    deal = await service.update_deal(session, ctx, deal_id, changes=changes, if_match=if_match)
    return tagged(response, service.deal_read(deal))


@router.post("/api/v1/crm/deals/{deal_id}/reopen", response_model=DealRead)
async def reopen_deal(
    deal_id: str,
    body: DealReopen,
    _: CrmWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> DealRead:
    """Take a won or lost deal back into an open stage (default: the one it closed from)."""
    deal = await service.reopen_deal(session, ctx, deal_id, body, if_match)
    return tagged(response, service.deal_read(deal))


@router.get("/api/v1/crm/deals/{deal_id}/history", response_model=Page[StageChangeRead])
async def deal_history(
    deal_id: str,
    _: CrmRead,
    session: DbSession,
    ctx: Ctx,
    page: Annotated[PageParams, Depends(service.STAGE_CHANGE_ORDER.dependency)],
) -> Page[StageChangeRead]:
    return Page[StageChangeRead].of(await service.deal_history(session, ctx, deal_id, page=page))


@router.get("/api/v1/crm/pipeline", response_model=PipelineRead)
async def get_pipeline(_: CrmRead, session: DbSession, ctx: Ctx) -> PipelineRead:
    return await pipeline.get_pipeline(session, ctx)


@router.put("/api/v1/crm/pipeline", response_model=PipelineRead)
async def put_pipeline(
    body: PipelineSettings, _: Admin, session: DbSession, ctx: Ctx
) -> PipelineRead:
    """Replace the stage rules, default probabilities and next-best-action thresholds."""
    return await pipeline.put_pipeline(session, ctx, body)


@router.get("/api/v1/crm/pipeline/velocity", response_model=VelocityReport)
async def pipeline_velocity(
    _: CrmRead,
    session: DbSession,
    ctx: Ctx,
    since: Day | None = None,
    until: Day | None = None,
    owner_id: Annotated[str | None, Query(max_length=36)] = None,
) -> VelocityReport:
    """Average days per stage, win rate and sales cycle (dates inclusive, UTC)."""
    if since is not None and until is not None and until < since:
        raise Unprocessable(
            "until is before since", errors=[field_error(["query", "until"], "before since")]
        )
    return await velocity.velocity_report(session, ctx, since=since, until=until, owner_id=owner_id)
