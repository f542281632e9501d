"""Receivables and refunds figures: /api/v1/billing/metrics/*.

Each answer carries the figure(s), the query in words, the filters and the ids of the
records behind them (see ``billing/service.py``). Malformed query parameters → 422.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.api.deps import Ctx, DbSession
from bizos.api.guards import strict_days
from bizos.core.auth import BillingRead
from bizos.core.context import Context
from bizos.core.tools import MetricRead, ToolResult
from bizos.modules.billing import service
from bizos.modules.billing.schemas import (
    OverdueInvoicesParams,
    OverdueInvoicesValue,
    ReceivablesParams,
    ReceivablesValue,
    RefundsParams,
    RefundsValue,
)

Figure = Callable[[AsyncSession, Context, Any], Awaitable[ToolResult]]

router = APIRouter(tags=["billing"], dependencies=[Depends(strict_days)])
PREFIX = "/api/v1/billing/metrics"


def _metric(
    name: str, params_model: type[BaseModel], value: type[BaseModel], figure: Figure, doc: str
) -> None:
    """``GET {PREFIX}/<name>``: ``figure`` for the query parameters of ``params_model``,
    answered as a ``MetricRead[value]`` (operation ``name``, description ``doc``)."""
    read: Any = MetricRead[value]  # type: ignore[valid-type]

    async def metric(params: Any, _: BillingRead, session: DbSession, ctx: Ctx) -> Any:
        return read.of(await figure(session, ctx, params))

    metric.__annotations__["params"] = Annotated[params_model, Query()]
    metric.__doc__ = doc
    router.add_api_route(
        f"{PREFIX}/{name}", metric, methods=["GET"], name=name, response_model=read
    )


for _entry in (
    (
        "receivables",
        ReceivablesParams,
        ReceivablesValue,
        service.receivables,
        "Outstanding balance due per currency, aged current/1-30/31-60/61-90/90+ days.",
    ),
    (
        "overdue-invoices",
        OverdueInvoicesParams,
        OverdueInvoicesValue,
        service.overdue_invoices,
        "Invoices past their due date with a balance due: per currency, the longest overdue first.",
    ),
    (
        "refunds",
        RefundsParams,
        RefundsValue,
        service.refunds,
        "Sum and count of refunds in the range, per currency.",
    ),
):
    _metric(*_entry)
