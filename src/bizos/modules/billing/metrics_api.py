"""Receivables and refunds figures: /api/v1/billing/metrics/*.

Each answer carries the figure(s), the query in words, the filters and the ids of the
records behind them (see ``billing/metrics.py``). Malformed query parameters → 422.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import BillingRead
from bizos.core.errors import Unprocessable, field_error
from bizos.core.tools import MetricRead
from bizos.modules.billing import metrics
from bizos.modules.billing.metrics import (
    ReceivablesParams,
    ReceivablesValue,
    RefundsParams,
    RefundsValue,
)

DATE_PARAMS = ("from", "to", "as_of")
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


async def strict_days(request: Request) -> None:
    """Days are ``YYYY-MM-DD``: a number (``0``) or a timestamp is a 422, not 1970-01-01."""
    bad = [
        name
        for name in DATE_PARAMS
        for value in request.query_params.getlist(name)
        if not ISO_DAY.fullmatch(value)
    ]
    if bad:
        raise Unprocessable(
            "dates are YYYY-MM-DD",
            errors=[field_error(["query", name], "a day as YYYY-MM-DD") for name in bad],
        )


router = APIRouter(tags=["billing"], dependencies=[Depends(strict_days)])
PREFIX = "/api/v1/billing/metrics"


@router.get(f"{PREFIX}/receivables", response_model=MetricRead[ReceivablesValue])
async def receivables(
    params: Annotated[ReceivablesParams, Query()], _: BillingRead, session: DbSession, ctx: Ctx
) -> MetricRead[ReceivablesValue]:
    """Outstanding balance due per currency, aged current/1-30/31-60/61-90/90+ days."""
    return MetricRead[ReceivablesValue].of(await metrics.receivables(session, ctx, params))


@router.get(f"{PREFIX}/refunds", response_model=MetricRead[RefundsValue])
async def refunds(
    params: Annotated[RefundsParams, Query()], _: BillingRead, session: DbSession, ctx: Ctx
) -> MetricRead[RefundsValue]:
    """Sum and count of refunds in the range, per currency."""
    return MetricRead[RefundsValue].of(await metrics.refunds(session, ctx, params))
