"""CRM forecast and next best action API.

``GET /api/v1/crm/forecast`` stores the forecast it answers (when its figures changed
since the last one for that month and currency) so ``GET /api/v1/crm/forecasts`` can
report its accuracy after the month: the GET is safe to repeat, but it writes, so it
runs in a writing unit of work of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.api.deps import Ctx, DbSession
from bizos.api.lists import Filters
from bizos.core.auth import CrmRead
from bizos.core.context import use_context
from bizos.core.db import get_database
from bizos.core.pagination import Page, PageParams
from bizos.modules.crm.forecast import service
from bizos.modules.crm.forecast.schemas import (
    CURRENCY_DESCRIPTION,
    MONTH_DESCRIPTION,
    PERIOD_PATTERN,
    ForecastFilters,
    ForecastRead,
)

router = APIRouter(tags=["crm"])

ForecastPages = Annotated[PageParams, Depends(service.FORECAST_ORDER.dependency)]

# No length limit on a period: Pydantic's "at most 7 characters" would pre-empt the
# service's plain "written YYYY-MM" (the OpenAPI document still states the pattern).
Period = Annotated[
    str,
    Query(
        description=MONTH_DESCRIPTION,
        json_schema_extra={"pattern": PERIOD_PATTERN, "examples": ["2026-12"]},
    ),
]
CurrencyQuery = Annotated[str | None, Query(max_length=3, description=CURRENCY_DESCRIPTION)]


async def _writing_session(ctx: Ctx) -> AsyncIterator[AsyncSession]:
    async with get_database().unit_of_work(tenant_id=ctx.require_tenant()) as session:
        session.info["ctx"] = ctx
        with use_context(ctx):
            yield session


WritingSession = Annotated[AsyncSession, Depends(_writing_session, scope="function")]


@router.get("/api/v1/crm/forecast", response_model=ForecastRead)
async def get_forecast(
    _: CrmRead, session: WritingSession, ctx: Ctx, period: Period, currency: CurrencyQuery = None
) -> ForecastRead:
    """Weighted pipeline, commit, best case and a 10-90% interval for the month."""
    return await service.compute_forecast(session, ctx, period=period, currency=currency)


@router.get("/api/v1/crm/forecasts", response_model=Page[ForecastRead])
async def list_forecasts(
    _: CrmRead, session: DbSession, ctx: Ctx, page: ForecastPages, filters: Filters[ForecastFilters]
) -> Page[ForecastRead]:
    """Stored forecasts, newest first (see `sort`), with ``accuracy`` once their month
    is over."""
    return Page[ForecastRead].of(
        await service.list_forecasts(session, ctx, page=page, filters=filters)
    )
