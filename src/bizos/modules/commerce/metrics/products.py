"""Figures about products: the best sellers of a date range and the products low on
stock. Computed by the database like every figure in ``metrics/service.py``, whose
revenue rule they keep (orders not cancelled or failed, by the day placed, currencies
apart); a product's revenue is its line revenue before tax, as ``group_by=product`` has it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.tools import MAX_RECORDS, ToolResult
from bizos.modules.commerce.inventory.service import low_on_stock
from bizos.modules.commerce.metrics.schemas import (
    LowStockParams,
    LowStockRow,
    LowStockValue,
    ProductSales,
    TopProductsParams,
    TopProductsValue,
)
from bizos.modules.commerce.metrics.service import (
    REVENUE_RULE,
    counted_orders,
    money,
    over_orders,
)
from bizos.modules.commerce.models import Order, OrderLine, Product


async def top_products(
    session: AsyncSession, ctx: Context, params: TopProductsParams
) -> ToolResult:
    """The products that sold the most, by line revenue or by units, ranked within each
    currency (ties by SKU). Lines without a product (free-text service lines) are no
    product and are left out."""
    where = counted_orders(ctx, params)
    orders = sa.select(Order.id).where(*where).scalar_subquery()
    rows = await session.execute(
        sa.select(
            OrderLine.product_id,
            Order.currency,
            sa.func.max(OrderLine.sku),
            sa.func.max(OrderLine.name),
            sa.func.sum(OrderLine.line_total),
            sa.func.sum(OrderLine.quantity),
            sa.func.count(sa.distinct(OrderLine.order_id)),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            OrderLine.tenant_id == ctx.require_tenant(),
            OrderLine.order_id.in_(orders),
            OrderLine.product_id.is_not(None),
        )
        .group_by(OrderLine.product_id, Order.currency)
    )
    sales = [
        ProductSales(
            rank=0,
            product_id=pid,
            sku=sku,
            name=name,
            currency=currency,
            revenue=money(total),
            quantity=int(qty or 0),
            orders=int(n),
        )
        for pid, currency, sku, name, total, qty, n in rows
    ]
    ranked: list[ProductSales] = []
    for currency in sorted({s.currency for s in sales}):
        mine = [s for s in sales if s.currency == currency]
        if params.by == "revenue":
            mine.sort(key=lambda s: (-s.revenue, -s.quantity, s.sku or "", s.product_id))
        else:
            mine.sort(key=lambda s: (-s.quantity, -s.revenue, s.sku or "", s.product_id))
        ranked += [s.model_copy(update={"rank": i}) for i, s in enumerate(mine[: params.limit], 1)]
    measure = "units sold" if params.by == "quantity" else "line revenue before tax"
    return await over_orders(
        session,
        where,
        params,
        TopProductsValue(by=params.by, products=ranked),
        (
            f"products ranked by {measure} (sum of order line quantities and of quantity x "
            "unit price - line discount) per currency, top "
            f"{params.limit} per currency, over {REVENUE_RULE}"
        ),
        limit=params.limit,
        by=params.by,
    )


async def low_stock(session: AsyncSession, ctx: Context, params: LowStockParams) -> ToolResult:
    """Active products low on stock (inventory's rule: available below the reorder
    point), furthest below it first; ``count`` says how many there are in all."""
    where = [Product.tenant_id == ctx.require_tenant(), Product.active.is_(True), low_on_stock()]
    available = Product.stock_on_hand - Product.allocated
    short_by = Product.reorder_point - available
    count = await session.scalar(sa.select(sa.func.count()).select_from(Product).where(*where))
    rows = await session.execute(
        sa.select(
            Product.id,
            Product.sku,
            Product.name,
            Product.stock_on_hand,
            Product.allocated,
            Product.reorder_point,
            Product.reorder_quantity,
        )
        .where(*where)
        .order_by(short_by.desc(), Product.sku)
        .limit(min(params.limit, MAX_RECORDS))
    )
    products = [
        LowStockRow(
            product_id=pid,
            sku=sku,
            name=name,
            stock_on_hand=on_hand,
            allocated=allocated,
            available=on_hand - allocated,
            reorder_point=point or 0,
            reorder_quantity=quantity,
            short_by=(point or 0) - (on_hand - allocated),
        )
        for pid, sku, name, on_hand, allocated, point, quantity in rows
    ]
    return ToolResult(
        value=LowStockValue(count=int(count or 0), products=products),
        query=(
            "active stock-tracked products whose available units (on hand - allocated) "
            "are below their reorder point, furthest below first"
        ),
        filters={"limit": params.limit},
        records=[p.product_id for p in products],
        records_total=int(count or 0),
    )
