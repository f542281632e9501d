"""The stock ledger under the inventory service: a product's two counters change only
here, one conditional ``UPDATE`` each whose ``WHERE`` is the invariant, with one
``StockMovement`` per change; and the low-stock alert that watches them.

Only ``inventory/service.py`` calls this file (it is the service's lower half, kept
apart so the service reads as its use cases).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.modules.commerce.models import Product, StockMovement
from bizos.modules.commerce.rows import emit, pick, tenant_row

log = structlog.get_logger("bizos.commerce.inventory")

Lines = Sequence[tuple[str, int]]


async def get_product(
    session: AsyncSession, ctx: Context, product_id: str, *, fresh: bool = False
) -> Product:
    """The product (404 for an unknown id or another tenant's). ``fresh`` re-reads the
    counters, which a conditional ``UPDATE`` changed behind the identity map."""
    return await tenant_row(session, ctx, Product, product_id, what="product", fresh=fresh)


def record(
    session: AsyncSession,
    ctx: Context,
    product: Product,
    kind: str,
    *,
    on_hand_delta: int = 0,
    allocated_delta: int = 0,
    order_id: str | None = None,
    reason: str | None,
) -> None:
    """One ledger row; ``product`` must carry the counters *after* the change."""
    session.add(
        StockMovement(
            tenant_id=product.tenant_id,
            product_id=product.id,
            kind=kind,
            on_hand_delta=on_hand_delta,
            allocated_delta=allocated_delta,
            on_hand_after=product.stock_on_hand,
            allocated_after=product.allocated,
            order_id=order_id,
            reason=reason,
            actor_id=ctx.actor_id,
        )
    )


async def change_counters(
    session: AsyncSession,
    ctx: Context,
    product_id: str,
    *,
    on_hand: int = 0,
    allocated: int = 0,
) -> bool:
    """Add the deltas to the counters iff the result keeps ``0 <= allocated <= on_hand``;
    whether it did. The ``WHERE`` is the whole guard: it is evaluated against the row as
    committed (SQLite serialises writers; PostgreSQL re-checks it after the row lock)."""
    new_on_hand = Product.stock_on_hand + on_hand
    new_allocated = Product.allocated + allocated
    result = await session.execute(
        sa.update(Product)
        .where(
            Product.tenant_id == ctx.require_tenant(),
            Product.id == product_id,
            new_allocated >= 0,
            new_on_hand - new_allocated >= 0,
        )
        .values(stock_on_hand=new_on_hand, allocated=new_allocated, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def merge(lines: Lines) -> list[tuple[str, int]]:
    """One line per product, in id order: concurrent multi-line allocations then lock
    rows in the same order and cannot deadlock each other on PostgreSQL."""
    totals: dict[str, int] = {}
    for product_id, quantity in lines:
        if quantity < 0:
            raise ValueError("a line quantity cannot be negative")
        totals[product_id] = totals.get(product_id, 0) + quantity
    return sorted((p, q) for p, q in totals.items() if q > 0)


async def held_by_order(
    session: AsyncSession, ctx: Context, order_id: str, product_ids: Collection[str]
) -> dict[str, tuple[int, int]]:
    """Per product: (units the order holds allocated, units shipped for it)."""
    rows = await session.execute(
        sa.select(
            StockMovement.product_id,
            sa.func.coalesce(sa.func.sum(StockMovement.allocated_delta), 0),
            sa.func.coalesce(
                sa.func.sum(
                    sa.case(
                        (StockMovement.kind == "shipment", -StockMovement.on_hand_delta),
                        else_=0,
                    )
                ),
                0,
            ),
        )
        .where(
            StockMovement.tenant_id == ctx.require_tenant(),
            StockMovement.order_id == order_id,
            StockMovement.product_id.in_(list(product_ids)),
        )
        .group_by(StockMovement.product_id)
    )
    return {pid: (int(held), int(shipped)) for pid, held, shipped in rows}


# --- the low-stock alert ----------------------------------------------------------------


async def check_reorder_point(session: AsyncSession, ctx: Context, product_id: str) -> None:
    """Arm or fire the low-stock alert: once available falls below the reorder point the
    flag is set and ``commerce.stock.reorder_needed`` emitted — once per crossing, since
    only the writer that flips the flag emits it; back at or above the point (or with no
    point) the flag clears and the next fall alerts again."""
    tenant_id = ctx.require_tenant()
    available = Product.stock_on_hand - Product.allocated
    fired = await session.execute(
        sa.update(Product)
        .where(
            Product.tenant_id == tenant_id,
            Product.id == product_id,
            Product.tracks_stock.is_(True),
            Product.below_reorder_point.is_(False),
            Product.reorder_point.is_not(None),
            available < Product.reorder_point,
        )
        .values(below_reorder_point=True)
        .execution_options(synchronize_session=False)
    )
    if fired.rowcount:  # type: ignore[attr-defined]
        product = await get_product(session, ctx, product_id, fresh=True)
        data = {
            "product_id": product.id,
            **pick(product, "sku", "name", "available", "reorder_point", "reorder_quantity"),
        }
        await emit(session, ctx, "commerce.stock.reorder_needed", product, "product", data)
        log.info("commerce.stock.reorder_needed", product_id=product.id)
        return
    await session.execute(
        sa.update(Product)
        .where(
            Product.tenant_id == tenant_id,
            Product.id == product_id,
            Product.below_reorder_point.is_(True),
            sa.or_(
                Product.reorder_point.is_(None),
                Product.tracks_stock.is_(False),
                available >= Product.reorder_point,
            ),
        )
        .values(below_reorder_point=False)
        .execution_options(synchronize_session=False)
    )
