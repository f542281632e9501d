"""Sales and stock figures: /api/v1/commerce/metrics/*.

Each answer carries the figure(s), the query that produced them in words, the filters
and the ids of the records behind them (see ``metrics/service.py`` for what counts as
revenue). Unknown or malformed query parameters are a 422 problem.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from bizos.api.deps import Ctx, DbSession
from bizos.api.guards import strict_days
from bizos.core.auth import CommerceRead
from bizos.core.tools import MetricRead
from bizos.modules.commerce.metrics import products
from bizos.modules.commerce.metrics import service as metrics
from bizos.modules.commerce.metrics.schemas import (
    LowStockParams,
    LowStockValue,
    OrdersParams,
    OrdersValue,
    RevenueParams,
    RevenueValue,
    StockValue,
    StockValueParams,
    TopCustomersParams,
    TopCustomersValue,
    TopProductsParams,
    TopProductsValue,
)

router = APIRouter(tags=["commerce"], dependencies=[Depends(strict_days)])
PREFIX = "/api/v1/commerce/metrics"


@router.get(f"{PREFIX}/revenue", response_model=MetricRead[RevenueValue])
async def revenue(
    params: Annotated[RevenueParams, Query()], _: CommerceRead, session: DbSession, ctx: Ctx
) -> MetricRead[RevenueValue]:
    """Revenue per period (day|week|month), product or channel, per currency."""
    return MetricRead[RevenueValue].of(await metrics.revenue(session, ctx, params))


@router.get(f"{PREFIX}/orders", response_model=MetricRead[OrdersValue])
async def orders(
    params: Annotated[OrdersParams, Query()], _: CommerceRead, session: DbSession, ctx: Ctx
) -> MetricRead[OrdersValue]:
    """Order count and average order value per currency."""
    return MetricRead[OrdersValue].of(await metrics.orders_summary(session, ctx, params))


@router.get(f"{PREFIX}/top-customers", response_model=MetricRead[TopCustomersValue])
async def top_customers(
    params: Annotated[TopCustomersParams, Query()],
    _: CommerceRead,
    session: DbSession,
    ctx: Ctx,
) -> MetricRead[TopCustomersValue]:
    """The customers with the most revenue, ranked within each currency."""
    return MetricRead[TopCustomersValue].of(await metrics.top_customers(session, ctx, params))


@router.get(f"{PREFIX}/stock-value", response_model=MetricRead[StockValue])
async def stock_value(
    params: Annotated[StockValueParams, Query()], _: CommerceRead, session: DbSession, ctx: Ctx
) -> MetricRead[StockValue]:
    """Stock on hand valued at cost (price where the cost is unknown), per currency."""
    return MetricRead[StockValue].of(await metrics.stock_value(session, ctx, params))


@router.get(f"{PREFIX}/top-products", response_model=MetricRead[TopProductsValue])
async def top_products(
    params: Annotated[TopProductsParams, Query()], _: CommerceRead, session: DbSession, ctx: Ctx
) -> MetricRead[TopProductsValue]:
    """The best-selling products by line revenue or units sold, ranked within each currency."""
    return MetricRead[TopProductsValue].of(await products.top_products(session, ctx, params))


@router.get(f"{PREFIX}/low-stock", response_model=MetricRead[LowStockValue])
async def low_stock(
    params: Annotated[LowStockParams, Query()], _: CommerceRead, session: DbSession, ctx: Ctx
) -> MetricRead[LowStockValue]:
    """Active products whose available units are below their reorder point."""
    return MetricRead[LowStockValue].of(await products.low_stock(session, ctx, params))
