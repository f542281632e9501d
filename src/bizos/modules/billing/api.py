"""Receivables and refunds figures: /api/v1/billing/metrics/*.

Each answer carries the figure(s), the query in words, the filters and the ids of the
records behind them (see ``billing/service.py``). Malformed query parameters → 422.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from bizos.api.deps import Ctx, DbSession
from bizos.api.guards import strict_days
from bizos.core.auth import BillingRead
from bizos.core.tools import MetricRead
from bizos.modules.billing import service
from bizos.modules.billing.schemas import (
    ReceivablesParams,
    ReceivablesValue,
    RefundsParams,
    RefundsValue,
)

router = APIRouter(tags=["billing"], dependencies=[Depends(strict_days)])
PREFIX = "/api/v1/billing/metrics"


@router.get(f"{PREFIX}/receivables", response_model=MetricRead[ReceivablesValue])
async def receivables(
    params: Annotated[ReceivablesParams, Query()], _: BillingRead, session: DbSession, ctx: Ctx
) -> MetricRead[ReceivablesValue]:
    """Outstanding balance due per currency, aged current/1-30/31-60/61-90/90+ days."""
    return MetricRead[ReceivablesValue].of(await service.receivables(session, ctx, params))


@router.get(f"{PREFIX}/refunds", response_model=MetricRead[RefundsValue])
async def refunds(
    params: Annotated[RefundsParams, Query()], _: BillingRead, session: DbSession, ctx: Ctx
) -> MetricRead[RefundsValue]:
    """Sum and count of refunds in the range, per currency."""
    return MetricRead[RefundsValue].of(await service.refunds(session, ctx, params))
