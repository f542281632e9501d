"""Reading orders: one, a page of them, their lines, the backorders stock can fill,
and orders in the API's shape (:class:`OrderRead`).

Lines and shipments of several orders load in two queries (a list page is three).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.money import cents
from bizos.core.pagination import ListOrder, PageParams
from bizos.modules.commerce.inventory import service as inventory
from bizos.modules.commerce.models import Order, OrderLine, Shipment
from bizos.modules.commerce.orders.schemas import OrderFilters, OrderRead
from bizos.modules.commerce.rows import columns, page_of, tenant_row, where_equal


async def order_lines(session: AsyncSession, ctx: Context, order_id: str) -> list[OrderLine]:
    rows = await session.scalars(
        sa.select(OrderLine)
        .where(OrderLine.tenant_id == ctx.require_tenant(), OrderLine.order_id == order_id)
        .order_by(OrderLine.position)
    )
    return list(rows)


async def get_order(session: AsyncSession, ctx: Context, order_id: str) -> Order:
    return await tenant_row(session, ctx, Order, order_id, what="order")


async def find_order(
    session: AsyncSession, ctx: Context, *, source: str, external_id: str
) -> Order | None:
    """The order a door already made for this outside id, if any."""
    wanted = {"tenant_id": ctx.require_tenant(), "source": source, "external_id": external_id}
    row: Order | None = await session.scalar(where_equal(sa.select(Order), Order, wanted))
    return row


ORDERS_ORDER = ListOrder(
    "orders", Order.id, [Order.created_at, Order.updated_at, Order.placed_at, Order.total]
)


async def list_orders(
    session: AsyncSession, ctx: Context, *, page: PageParams, filters: OrderFilters
) -> tuple[list[OrderRead], str | None]:
    """The tenant's orders in ``page``'s order (newest first by default), filtered."""
    query = sa.select(Order).where(Order.tenant_id == ctx.require_tenant())
    query = where_equal(query, Order, filters.model_dump())
    items, cursor = await page_of(session, ORDERS_ORDER, query, page)
    return await order_reads(session, items), cursor


class _StockLine(Protocol):
    @property
    def product_id(self) -> str | None: ...
    @property
    def quantity(self) -> int: ...
    @property
    def tracks_stock(self) -> bool: ...


def fulfillable_lines(order: OrderRead | Iterable[_StockLine]) -> list[tuple[str, int]]:
    """``(product_id, quantity)`` of the stock-tracked lines: what allocation and
    shipping move. Takes an :class:`OrderRead` or its lines (read or stored)."""
    lines: Iterable[_StockLine] = order.lines if isinstance(order, OrderRead) else order
    return [(ln.product_id, ln.quantity) for ln in lines if ln.tracks_stock and ln.product_id]


def customer_order_name(order: Order) -> str:
    """The order as its customer knows it: the shop's name for it (Shopify's ``#9001``)
    when it came from one, else our ``SO-`` number. Everything sent to the customer
    quotes this; our own screens and tasks may show both."""
    return (order.external_name or "").strip() or order.number


def prices_include_tax(order: Order) -> bool:
    """Whether the order's prices already hold its tax (Shopify ``taxes_included``):
    ``create_order`` then leaves the tax out of the total it adds up."""
    added_up = order.subtotal - order.discount_total + order.shipping_total
    return order.tax_total > 0 and cents(order.total) == cents(added_up)


def shipping_tax(order: Order, lines: Iterable[OrderLine]) -> Decimal:
    """The tax on the order's shipping: its tax beyond what its lines carry."""
    return cents(order.tax_total - sum((ln.tax_amount for ln in lines), Decimal("0")))


def _read(row: Order, lines: list[OrderLine], shipment: Shipment | None) -> OrderRead:
    return OrderRead.model_validate(
        {
            **columns(row),
            "lines": sorted(lines, key=lambda ln: ln.position),
            "prices_include_tax": prices_include_tax(row),
            "shipment": shipment,
        }
    )


async def order_reads(session: AsyncSession, orders: Sequence[Order]) -> list[OrderRead]:
    """The API shape of several orders, their lines and shipments loaded in two queries."""
    if not orders:
        return []
    ids = [o.id for o in orders]
    lines: dict[str, list[OrderLine]] = {i: [] for i in ids}
    for line in await session.scalars(sa.select(OrderLine).where(OrderLine.order_id.in_(ids))):
        lines[line.order_id].append(line)
    shipment_ids = [o.shipment_id for o in orders if o.shipment_id]
    shipments: dict[str, Shipment] = {}
    if shipment_ids:
        rows = await session.scalars(sa.select(Shipment).where(Shipment.id.in_(shipment_ids)))
        shipments = {s.id: s for s in rows}
    return [
        _read(o, lines[o.id], shipments.get(o.shipment_id) if o.shipment_id else None)
        for o in orders
    ]


async def contact_orders(session: AsyncSession, ctx: Context, contact_id: str) -> list[OrderRead]:
    """Every order of the contact, oldest first (what a personal-data export hands over)."""
    rows = await session.scalars(
        sa.select(Order)
        .where(Order.tenant_id == ctx.require_tenant(), Order.contact_id == contact_id)
        .order_by(Order.placed_at, Order.id)
    )
    return await order_reads(session, list(rows))


async def fillable_backorders(session: AsyncSession, ctx: Context, *, limit: int) -> list[Order]:
    """The backordered orders (at most ``limit``, oldest first) that the stock available
    now can fill, each taking its units before a younger one is considered: an order
    that cannot be filled waits, and an older one may still take what it needs."""
    backordered = list(
        await session.scalars(
            sa.select(Order)
            .where(Order.tenant_id == ctx.require_tenant(), Order.status == "backordered")
            .order_by(Order.placed_at, Order.created_at, Order.id)
            .limit(limit)
        )
    )
    if not backordered:
        return []
    by_order: dict[str, list[OrderLine]] = {order.id: [] for order in backordered}
    for line in await session.scalars(
        sa.select(OrderLine)
        .where(
            OrderLine.tenant_id == ctx.require_tenant(),
            OrderLine.order_id.in_(list(by_order)),
        )
        .order_by(OrderLine.order_id, OrderLine.position)
    ):
        by_order[line.order_id].append(line)
    wanted = {order_id: fulfillable_lines(lines) for order_id, lines in by_order.items()}
    available = await inventory.available_units(
        session, ctx, {product_id for lines in wanted.values() for product_id, _ in lines}
    )
    fillable = []
    for order in backordered:
        lines = wanted[order.id]
        if not all(available.get(product_id, 0) >= qty for product_id, qty in lines):
            continue
        for product_id, qty in lines:
            available[product_id] -= qty
        fillable.append(order)
    return fillable


async def order_read(session: AsyncSession, order: Order) -> OrderRead:
    return (await order_reads(session, [order]))[0]
