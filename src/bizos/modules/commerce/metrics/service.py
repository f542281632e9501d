"""Business figures about sales and stock, computed by the database (DESIGN rule 8).

Every function returns a :class:`~bizos.core.tools.ToolResult`: the figure(s) as a
Pydantic model, a sentence saying what was computed, the filters applied, and the ids of
the rows behind it (at most ``MAX_RECORDS``; ``records_total`` counts them all).

What counts as revenue, everywhere in this file:

* an order counts when its status is anything but ``cancelled`` or ``failed`` — booked
  sales, whether or not they have been invoiced, shipped or paid yet;
* it counts on the day it was **placed** (``placed_at``, UTC), not when it shipped;
* its revenue is the order ``total``: lines after discounts, plus tax, plus shipping,
  minus order discounts (what the customer was asked to pay); ``net`` is that total
  minus tax;
* money of different currencies is never added up: every figure is per currency.

A date range is ``from``/``to``, both **inclusive** calendar days in UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.money import ZERO, cents
from bizos.core.tools import MAX_RECORDS, DateRange, ToolResult
from bizos.modules.commerce.metrics.schemas import (
    CurrencyOrders,
    CurrencyStock,
    CustomerRow,
    Interval,
    OrdersParams,
    OrdersValue,
    RevenueParams,
    RevenueRow,
    RevenueValue,
    StockRow,
    StockValue,
    StockValueParams,
    TopCustomersParams,
    TopCustomersValue,
)
from bizos.modules.commerce.models import Order, OrderLine, Product

# Orders that are not sales: never counted in any figure here.
EXCLUDED_STATUSES = ("cancelled", "failed")


def money(value: Any) -> Decimal:
    """A database sum as cents (SQLite sums numerics as floats; this rounds them back)."""
    return ZERO if value is None else cents(value)


# --- shared pieces --------------------------------------------------------------------


def counted_orders(ctx: Context, params: DateRange) -> list[sa.ColumnElement[bool]]:
    """The revenue rule's orders in the range, narrowed by whichever of ``currency``,
    ``source``, ``product_id`` (orders with a line of it) and ``contact_id`` are set; a
    ``status`` (orders only) counts exactly that status, cancelled and failed included."""
    tenant_id = ctx.require_tenant()
    start, end = params.window()
    status = getattr(params, "status", None)
    where = [
        Order.tenant_id == tenant_id,
        Order.status == status if status is not None else Order.status.not_in(EXCLUDED_STATUSES),
        Order.placed_at >= start,
        Order.placed_at < end,
    ]
    if params.currency is not None:
        where.append(Order.currency == params.currency)
    source = getattr(params, "source", None)
    if source is not None:
        where.append(Order.source == source)
    contact_id = getattr(params, "contact_id", None)
    if contact_id is not None:
        where.append(Order.contact_id == contact_id)
    product_id = getattr(params, "product_id", None)
    if product_id is not None:
        with_product = sa.select(OrderLine.order_id).where(
            OrderLine.tenant_id == tenant_id, OrderLine.product_id == product_id
        )
        where.append(Order.id.in_(with_product))
    return where


async def _order_ids(
    session: AsyncSession, where: Sequence[sa.ColumnElement[bool]]
) -> tuple[list[str], int]:
    """The ids of the counted orders (oldest first, capped) and how many there are."""
    total = await session.scalar(sa.select(sa.func.count()).select_from(Order).where(*where))
    ids = await session.scalars(
        sa.select(Order.id).where(*where).order_by(Order.placed_at, Order.id).limit(MAX_RECORDS)
    )
    return list(ids), int(total or 0)


async def over_orders(
    session: AsyncSession,
    where: Sequence[sa.ColumnElement[bool]],
    params: DateRange,
    value: Any,
    query: str,
    **filters: Any,
) -> ToolResult:
    """``value`` over the counted orders ``where``, which are its records; its filters
    are the date range's, then ``filters``, then the statuses left out."""
    ids, count = await _order_ids(session, where)
    return ToolResult(
        value=value,
        query=query,
        filters={**params.described(), **filters, "excluded_statuses": list(EXCLUDED_STATUSES)},
        records=ids,
        records_total=count,
    )


def _bucket(session: AsyncSession, interval: Interval) -> sa.ColumnElement[str]:
    """The start of the UTC day/week (Monday)/month of ``placed_at``, as YYYY-MM-DD."""
    if session.get_bind().dialect.name == "postgresql":
        utc = sa.func.timezone("UTC", Order.placed_at)
        return sa.func.to_char(sa.func.date_trunc(interval, utc), "YYYY-MM-DD")
    # SQLite keeps UTC datetimes as text; 'weekday 0' is the next Sunday (or today).
    if interval == "day":
        return sa.func.strftime("%Y-%m-%d", Order.placed_at)
    if interval == "month":
        return sa.func.strftime("%Y-%m-01", Order.placed_at)
    return sa.func.date(Order.placed_at, "weekday 0", "-6 days")


def _totals(rows: Sequence[RevenueRow]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for row in rows:
        out[row.currency] = out.get(row.currency, Decimal("0.00")) + row.revenue
    return dict(sorted(out.items()))


REVENUE_RULE = (
    "orders not cancelled or failed, placed (placed_at, UTC) within the range, "
    "never adding different currencies"
)


# --- revenue --------------------------------------------------------------------------


async def revenue(session: AsyncSession, ctx: Context, params: RevenueParams) -> ToolResult:
    """Revenue per period, product or channel (see the module docstring for the rule)."""
    if params.group_by == "product" or params.product_id is not None:
        return await _line_revenue(session, ctx, params)
    where = counted_orders(ctx, params)
    grouping: sa.ColumnElement[str] | sa.orm.InstrumentedAttribute[str] = (
        _bucket(session, params.interval) if params.group_by == "period" else Order.source
    )
    key = grouping.label("key")
    rows = await session.execute(
        sa.select(
            key,
            Order.currency,
            sa.func.sum(Order.total),
            sa.func.sum(Order.tax_total),
            sa.func.count(),
        )
        .where(*where)
        .group_by(key, Order.currency)
        .order_by(key, Order.currency)
    )
    items = [
        RevenueRow(
            key=str(k) if k is not None else None,
            currency=currency,
            revenue=money(total),
            net=money(total) - money(tax),
            orders=int(n),
        )
        for k, currency, total, tax, n in rows
    ]
    by = f"per {params.interval} (UTC)" if params.group_by == "period" else "per channel"
    grouped: dict[str, Any] = {
        "group_by": params.group_by,
        "interval": params.interval if params.group_by == "period" else None,
    }
    return await over_orders(
        session,
        where,
        params,
        RevenueValue(**grouped, rows=items, totals=_totals(items)),
        f"sum of order totals {by} and currency over {REVENUE_RULE}",
        **grouped,
    )


def _line_key(
    session: AsyncSession, params: RevenueParams
) -> sa.ColumnElement[Any] | sa.orm.InstrumentedAttribute[Any]:
    if params.group_by == "product":
        return OrderLine.product_id
    if params.group_by == "period":
        return _bucket(session, params.interval)
    return Order.source


async def _line_revenue(session: AsyncSession, ctx: Context, params: RevenueParams) -> ToolResult:
    """Line revenue: ``quantity x unit price - line discount`` before tax, per product
    (``group_by=product``), or of one product (``product_id``) per period or channel.
    Order-level shipping and discounts belong to no product and are left out, so these
    rows add up to less than the order totals. Lines without a product (free-text
    service lines) form one row with a null key."""
    where = counted_orders(ctx, params)
    orders = sa.select(Order.id).where(*where).scalar_subquery()
    line_where = [OrderLine.tenant_id == ctx.require_tenant(), OrderLine.order_id.in_(orders)]
    if params.product_id is not None:
        line_where.append(OrderLine.product_id == params.product_id)
    key = _line_key(session, params).label("key")
    rows = await session.execute(
        sa.select(
            key,
            Order.currency,
            sa.func.max(OrderLine.sku),
            sa.func.max(OrderLine.name),
            sa.func.sum(OrderLine.line_total),
            sa.func.sum(OrderLine.quantity),
            sa.func.count(sa.distinct(OrderLine.order_id)),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(*line_where)
        .group_by(key, Order.currency)
    )
    named = params.group_by == "product" or params.product_id is not None
    items = [
        RevenueRow(
            key=str(k) if k is not None else None,
            label=(" ".join(p for p in (sku, name) if p) or None) if named else None,
            currency=currency,
            revenue=money(total),
            orders=int(n),
            quantity=int(qty or 0),
        )
        for k, currency, sku, name, total, qty, n in rows
    ]
    if params.group_by == "product":
        items.sort(key=lambda r: (r.currency, -r.revenue, r.key or ""))
    else:
        items.sort(key=lambda r: (r.key or "", r.currency))
    by = {"product": "per product", "period": f"per {params.interval} (UTC)"}.get(
        params.group_by, "per channel"
    )
    grouped: dict[str, Any] = {
        "group_by": params.group_by,
        "interval": params.interval if params.group_by == "period" else None,
    }
    return await over_orders(
        session,
        where,
        params,
        RevenueValue(**grouped, rows=items, totals=_totals(items)),
        (
            "sum of order line totals (quantity x unit price - line discount, before tax; "
            f"order shipping and discounts excluded) {by} and currency over {REVENUE_RULE}"
        ),
        **grouped,
    )


# --- orders ---------------------------------------------------------------------------


async def orders_summary(session: AsyncSession, ctx: Context, params: OrdersParams) -> ToolResult:
    """How many orders were placed, and the average order value (revenue / orders) per
    currency, under the revenue rule of this module."""
    where = counted_orders(ctx, params)
    rows = await session.execute(
        sa.select(Order.currency, sa.func.count(), sa.func.sum(Order.total))
        .where(*where)
        .group_by(Order.currency)
        .order_by(Order.currency)
    )
    by_currency = []
    for currency, n, total in rows:
        revenue_sum = money(total)
        by_currency.append(
            CurrencyOrders(
                currency=currency,
                orders=int(n),
                revenue=revenue_sum,
                average_order_value=cents(revenue_sum / int(n)),
            )
        )
    ids, count = await _order_ids(session, where)
    return ToolResult(
        value=OrdersValue(order_count=count, by_currency=by_currency),
        query=(
            "count of orders and average order value (sum of totals / count) per currency "
            + (
                f"over orders with status {params.status}, placed (placed_at, UTC) within the range"
                if params.status
                else f"over {REVENUE_RULE}"
            )
        ),
        filters={
            **params.described(),
            "excluded_statuses": [] if params.status else list(EXCLUDED_STATUSES),
        },
        records=ids,
        records_total=count,
    )


# --- customers ------------------------------------------------------------------------


async def top_customers(
    session: AsyncSession, ctx: Context, params: TopCustomersParams
) -> ToolResult:
    """The customers who bought the most, ranked by revenue within each currency. A
    customer is the order's CRM contact, or its e-mail address (lower-case) when it has
    none; orders with neither are left out."""
    where = [
        *counted_orders(ctx, params),
        sa.or_(Order.contact_id.is_not(None), Order.email.is_not(None)),
    ]
    customer = sa.func.coalesce(Order.contact_id, sa.func.lower(Order.email)).label("customer")
    total = sa.func.sum(Order.total).label("revenue")
    rows = await session.execute(
        sa.select(
            customer,
            Order.currency,
            sa.func.max(Order.contact_id),
            sa.func.max(sa.func.lower(Order.email)),
            sa.func.max(Order.customer_name),
            total,
            sa.func.count(),
        )
        .where(*where)
        .group_by(customer, Order.currency)
    )
    ranked: dict[str, list[CustomerRow]] = {}
    for _key, currency, contact_id, email, name, revenue_sum, n in rows:
        ranked.setdefault(currency, []).append(
            CustomerRow(
                rank=0,
                contact_id=contact_id,
                email=email,
                customer_name=name,
                currency=currency,
                revenue=money(revenue_sum),
                orders=int(n),
            )
        )
    customers: list[CustomerRow] = []
    for currency in sorted(ranked):
        best = sorted(ranked[currency], key=lambda c: (-c.revenue, c.contact_id or c.email or ""))
        for rank, row in enumerate(best[: params.limit], start=1):
            customers.append(row.model_copy(update={"rank": rank}))
    return await over_orders(
        session,
        where,
        params,
        TopCustomersValue(customers=customers),
        (
            "sum of order totals per customer (contact, else lower-case e-mail) and "
            f"currency, highest first, top {params.limit} per currency, over {REVENUE_RULE}"
        ),
        limit=params.limit,
    )


# --- stock ----------------------------------------------------------------------------


async def stock_value(session: AsyncSession, ctx: Context, params: StockValueParams) -> ToolResult:
    """What the stock on hand is worth: ``stock_on_hand x cost`` per product, falling
    back to the selling price when the cost is unknown (each row says which basis it
    used). Stock-tracked products only (service products hold no stock); active ones
    unless ``include_inactive``; per the product's currency."""
    where = [
        Product.tenant_id == ctx.require_tenant(),
        Product.tracks_stock.is_(True),
        Product.stock_on_hand > 0,
    ]
    if not params.include_inactive:
        where.append(Product.active.is_(True))
    if params.currency is not None:
        where.append(Product.currency == params.currency.upper())
    by = await _stock_by_currency(session, where)
    rows = await _most_valuable_stock(session, where)
    count = sum(c.products for c in by.values())
    return ToolResult(
        value=StockValue(by_currency=[by[c] for c in sorted(by)], products=rows),
        query=(
            "sum of stock_on_hand x unit cost (selling price where the cost is unknown) "
            "per currency over stock-tracked products with stock on hand"
        ),
        filters={
            "currency": params.currency.upper() if params.currency else None,
            "include_inactive": params.include_inactive,
        },
        records=[r.product_id for r in rows],
        records_total=count,
    )


# A product's unit value: its cost, else (``at_price``) its selling price.
_AT_PRICE = Product.cost.is_(None)
_UNIT = sa.func.coalesce(Product.cost, Product.price)
_VALUE = (Product.stock_on_hand * _UNIT).label("value")


async def _stock_by_currency(
    session: AsyncSession, where: Sequence[sa.ColumnElement[bool]]
) -> dict[str, CurrencyStock]:
    sums = await session.execute(
        sa.select(
            Product.currency,
            _AT_PRICE.label("at_price"),
            sa.func.sum(_VALUE),
            sa.func.count(),
            sa.func.sum(Product.stock_on_hand),
        )
        .where(*where)
        .group_by(Product.currency, _AT_PRICE)
    )
    by: dict[str, CurrencyStock] = {}
    for currency, is_price, total, n, units in sums:
        row = by.setdefault(
            currency,
            CurrencyStock(
                currency=currency,
                value=Decimal("0.00"),
                value_at_cost=Decimal("0.00"),
                value_at_price=Decimal("0.00"),
                products=0,
                products_at_price=0,
                units=0,
            ),
        )
        row.value += money(total)
        row.products += int(n)
        row.units += int(units or 0)
        if is_price:
            row.value_at_price += money(total)
            row.products_at_price += int(n)
        else:
            row.value_at_cost += money(total)
    return by


async def _most_valuable_stock(
    session: AsyncSession, where: Sequence[sa.ColumnElement[bool]]
) -> list[StockRow]:
    products = await session.execute(
        sa.select(
            Product.id,
            Product.sku,
            Product.name,
            Product.stock_on_hand,
            _UNIT,
            _AT_PRICE,
            _VALUE,
            Product.currency,
        )
        .where(*where)
        .order_by(_VALUE.desc(), Product.sku)
        .limit(MAX_RECORDS)
    )
    return [
        StockRow(
            product_id=pid,
            sku=sku,
            name=name,
            stock_on_hand=on_hand,
            unit_value=money(unit_value),
            basis="price" if is_price else "cost",
            value=money(unit_value) * on_hand,
            currency=currency,
        )
        for pid, sku, name, on_hand, unit_value, is_price, _v, currency in products
    ]
