"""Commerce reads for other modules that need the tenant's names and money (the
copilot's vocabulary): plain values, never rows. The use cases themselves live in the
sub-packages' services."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.modules.commerce.models import Order, Product

MAX_PRODUCTS = 5000


async def product_names(
    session: AsyncSession, ctx: Context, *, limit: int = MAX_PRODUCTS
) -> list[tuple[str, str, str]]:
    """``(id, name, sku)`` of the tenant's products, active ones first."""
    rows = await session.execute(
        sa.select(Product.id, Product.name, Product.sku)
        .order_by(Product.active.desc(), Product.name)
        .limit(limit)
    )
    return [(i, n, s) for i, n, s in rows]


async def currencies_in_use(session: AsyncSession, ctx: Context) -> list[str]:
    """The currencies the tenant sells in, the most used first (by orders, then by the
    products' price lists); empty for a tenant that has neither yet."""
    by_orders = await session.execute(
        sa.select(Order.currency, sa.func.count())
        .group_by(Order.currency)
        .order_by(sa.func.count().desc(), Order.currency)
    )
    found = [c.upper() for c, _ in by_orders if c]
    by_products = await session.execute(
        sa.select(Product.currency, sa.func.count())
        .group_by(Product.currency)
        .order_by(sa.func.count().desc(), Product.currency)
    )
    found += [c.upper() for c, _ in by_products if c and c.upper() not in found]
    return found
