"""What the copilot may ask about sales and stock: typed tools over ``metrics/service.py``
and ``metrics/products.py`` (scope ``commerce:read``); every answer carries its query,
filters and records, and says itself in words (``speak``): every number it writes is
one of its figures, money per currency, never added across currencies."""

from __future__ import annotations

import datetime as dt

from bizos.core.money import ZERO, spoken
from bizos.core.phrases import between_text, counted, period_text
from bizos.core.tools import Figure, Said, SourceRef, Tool, ToolResult, tools_for
from bizos.modules.commerce.metrics import products
from bizos.modules.commerce.metrics import service as metrics
from bizos.modules.commerce.metrics.schemas import (
    LowStockParams,
    LowStockValue,
    OrderFilters,
    OrdersParams,
    OrdersValue,
    RevenueParams,
    RevenueRow,
    RevenueValue,
    StockValue,
    StockValueParams,
    TopCustomersParams,
    TopCustomersValue,
    TopProductsParams,
    TopProductsValue,
)

Period = tuple[dt.date, dt.date]
# How many groups, customers or products an answer names at most.
FEW = 3
LISTED = 10
_CHANNELS = {"shopify": "Shopify", "api": "API", "deal": "deal"}


def _whose(params: OrderFilters) -> str:
    """The narrowing of the counted orders in words: `` from Shopify orders``."""
    parts = []
    if params.source is not None:
        parts.append(f"from {_CHANNELS[params.source]} orders")
    if params.contact_id is not None:
        parts.append("from this customer")
    status = getattr(params, "status", None)
    if status is not None:
        parts.append(f"with status {status}")
    return "".join(f" {p}" for p in parts)


def _containing(params: OrderFilters) -> str:
    return " containing this product" if params.product_id is not None else ""


def _product_name(label: str | None) -> str:
    return label or "products without a catalogue entry"


def _named(sku: str | None, name: str | None) -> str:
    if name and sku:
        return f"{name} ({sku})"
    return name or sku or "a product"


def _bucket(key: str | None, interval: str | None) -> str:
    """A period group's start day in words: ``Nov 2026``, ``week of 5 Jan 2026``."""
    if key is None:
        return "no period"
    day = dt.date.fromisoformat(key)
    if interval == "month":
        return period_text(day, day).split(" ", 1)[1]
    return f"week of {period_text(day, day)}" if interval == "week" else period_text(day, day)


def _bucket_days(key: str | None, interval: str | None, period: Period) -> Period:
    """The days a period group covers within the asked range (the range for other groups)."""
    if key is None or interval is None:
        return period
    start = dt.date.fromisoformat(key)
    if interval == "month":
        after = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    else:
        after = start + dt.timedelta(days=7 if interval == "week" else 1)
    return max(start, period[0]), min(after - dt.timedelta(days=1), period[1])


def _group_name(row: RevenueRow, value: RevenueValue) -> str:
    if value.group_by == "product":
        return _product_name(row.label)
    if value.group_by == "period":
        return _bucket(row.key, value.interval)
    return f"{_CHANNELS.get(row.key or '', row.key or 'no channel')} orders"


# --- commerce.revenue -------------------------------------------------------------------


def speak_revenue(params: RevenueParams, result: ToolResult) -> Said:
    """``Revenue for 1 Nov - 30 Nov 2026 was $24,580.00 from 212 orders.``, per currency,
    then the top few groups of each currency."""
    value: RevenueValue = result.value
    period = params.bounds()
    lines = params.group_by == "product" or params.product_id is not None
    what = "Product line revenue" if params.group_by == "product" else "Revenue"
    if params.product_id is not None:
        what = f"Revenue from {_product_name(value.rows[0].label if value.rows else None)}"
    if not value.totals:
        return _no_revenue(params, period)
    figures: list[Figure] = []
    parts = []
    for currency, total in value.totals.items():
        rows = [r for r in value.rows if r.currency == currency]
        figures.append(Figure(f"{what} ({currency})", total, currency, period=period))
        part = spoken(total, currency)
        if params.group_by != "product":
            n = sum(r.orders for r in rows)
            figures.append(Figure(f"Orders ({currency})", n, unit="orders", period=period))
            part += f" from {counted(n, 'order')}"
        parts.append(part)
    text = f"{what}{_whose(params)} for {period_text(*period)} was {' and '.join(parts)}"
    text += " (before tax; shipping and order discounts left out)." if lines else "."
    groups = _top_groups(value, period, figures)
    return Said(text + groups, figures, _product_sources(params, value))


def _top_groups(value: RevenueValue, period: Period, figures: list[Figure]) -> str:
    """`` Top months: Nov 2026 $1.00; …`` for each currency with more than one group."""
    noun = {"product": "products", "channel": "channels"}.get(
        value.group_by, f"{value.interval or 'period'}s"
    )
    said = []
    for currency in value.totals:
        mine = [r for r in value.rows if r.currency == currency]
        if len(mine) < 2:
            continue
        named = []
        for row in sorted(mine, key=lambda r: (-r.revenue, r.key or ""))[:FEW]:
            name = _group_name(row, value)
            days = _bucket_days(row.key, value.interval, period) if value.interval else period
            figures.append(
                Figure(f"Revenue of {name} ({currency})", row.revenue, currency, period=days)
            )
            named.append(f"{name} {spoken(row.revenue, currency)}")
        lead = f"in {currency}, " if len(value.totals) > 1 else ""
        said.append(lead + "; ".join(named))
    return f" Top {noun}: {'; '.join(said)}." if said else ""


def _product_sources(params: RevenueParams, value: RevenueValue) -> list[SourceRef]:
    if params.group_by != "product" and params.product_id is None:
        return []
    return [
        SourceRef("product", row.key, _product_name(row.label))
        for row in value.rows
        if row.key is not None
    ][:LISTED]


def _no_revenue(params: RevenueParams, period: Period) -> Said:
    text = f"No orders{_containing(params)}{_whose(params)} were placed {between_text(*period)}"
    if params.currency is None:
        figure = Figure("Orders", 0, unit="orders", period=period)
        return Said(f"{text}, so there was no revenue.", [figure])
    figure = Figure(f"Revenue ({params.currency})", ZERO, params.currency, period=period)
    return Said(f"{text}: revenue was {spoken(ZERO, params.currency)}.", [figure])


# --- commerce.orders --------------------------------------------------------------------


def speak_orders(params: OrdersParams, result: ToolResult) -> Said:
    """``3 orders were placed between …, worth €200.00; the average order value was €66.67.``"""
    value: OrdersValue = result.value
    period = params.bounds()
    whose = _containing(params) + _whose(params)
    count = Figure("Orders", value.order_count, unit="orders", period=period)
    if not value.by_currency:
        return Said(f"No orders{whose} were placed {between_text(*period)}.", [count])
    figures = [count]
    parts = []
    for c in value.by_currency:
        figures += [
            Figure(f"Orders ({c.currency})", c.orders, unit="orders", period=period),
            Figure(f"Order value ({c.currency})", c.revenue, c.currency, period=period),
            Figure(
                f"Average order value ({c.currency})",
                c.average_order_value,
                c.currency,
                period=period,
            ),
        ]
        parts.append(
            f"{counted(c.orders, 'order')} worth {spoken(c.revenue, c.currency)}, "
            f"averaging {spoken(c.average_order_value, c.currency)}"
        )
    verb = "was" if value.order_count == 1 else "were"
    head = f"{counted(value.order_count, 'order')}{whose} {verb} placed {between_text(*period)}"
    if len(parts) == 1:
        c = value.by_currency[0]
        return Said(
            f"{head}, worth {spoken(c.revenue, c.currency)} in all; the average order value "
            f"was {spoken(c.average_order_value, c.currency)}.",
            figures,
        )
    return Said(f"{head}: {'; '.join(parts)}.", figures)


# --- commerce.top_customers -------------------------------------------------------------


def speak_top_customers(params: TopCustomersParams, result: ToolResult) -> Said:
    """``Top customers between …: in EUR, Ada €140.00 (2 orders); Bob €60.00 (1 order).``"""
    value: TopCustomersValue = result.value
    period = params.bounds()
    if not value.customers:
        figure = Figure("Customers", 0, unit="customers", period=period)
        return Said(f"No customer placed an order {between_text(*period)}.", [figure])
    figures: list[Figure] = []
    sources: list[SourceRef] = []
    said = []
    currencies = sorted({c.currency for c in value.customers})
    for currency in currencies:
        named = []
        for c in [c for c in value.customers if c.currency == currency][:LISTED]:
            who = c.customer_name or c.email or "a customer without a name"
            figures += [
                Figure(f"Revenue from {who} ({currency})", c.revenue, currency, period=period),
                Figure(f"Orders from {who} ({currency})", c.orders, unit="orders", period=period),
            ]
            if c.contact_id is not None:
                sources.append(SourceRef("contact", c.contact_id, who))
            named.append(f"{who} {spoken(c.revenue, currency)} ({counted(c.orders, 'order')})")
        lead = f"in {currency}, " if len(currencies) > 1 else ""
        said.append(lead + "; ".join(named))
    text = f"Top customers {between_text(*period)}: {'; '.join(said)}."
    return Said(text, figures, sources)


# --- commerce.top_products --------------------------------------------------------------


def speak_top_products(params: TopProductsParams, result: ToolResult) -> Said:
    """``Top products by revenue between …: Widget (WIDGET) €120.00, 6 units; …``"""
    value: TopProductsValue = result.value
    period = params.bounds()
    if not value.products:
        figure = Figure("Products sold", 0, unit="products", period=period)
        return Said(f"No products were sold {between_text(*period)}.", [figure])
    figures: list[Figure] = []
    sources: list[SourceRef] = []
    said = []
    currencies = sorted({p.currency for p in value.products})
    for currency in currencies:
        named = []
        for p in [p for p in value.products if p.currency == currency][:LISTED]:
            name = _named(p.sku, p.name)
            figures += [
                Figure(f"Revenue of {name} ({currency})", p.revenue, currency, period=period),
                Figure(f"Units of {name} sold", p.quantity, unit="units", period=period),
            ]
            sources.append(SourceRef("product", p.product_id, name))
            money, units = spoken(p.revenue, currency), counted(p.quantity, "unit")
            first, then = (units, money) if value.by == "quantity" else (money, units)
            named.append(f"{name} {first} ({then})")
        lead = f"in {currency}, " if len(currencies) > 1 else ""
        said.append(lead + "; ".join(named))
    by = "units sold" if value.by == "quantity" else "revenue before tax"
    text = f"Top products by {by} {between_text(*period)}: {'; '.join(said)}."
    return Said(text, figures, sources)


# --- commerce.low_stock -----------------------------------------------------------------


def speak_low_stock(params: LowStockParams, result: ToolResult) -> Said:
    """``2 products are low on stock: Gadget (GADGET) 1 available, reorder point 5; …``"""
    value: LowStockValue = result.value
    count = Figure("Products low on stock", value.count, unit="products")
    if not value.products:
        text = "No product is low on stock: none has fewer units available than its reorder point."
        return Said(text, [count])
    figures = [count]
    named = []
    for p in value.products[:LISTED]:
        name = _named(p.sku, p.name)
        figures += [
            Figure(f"Available units of {name}", p.available, unit="units"),
            Figure(f"Reorder point of {name}", p.reorder_point, unit="units"),
        ]
        named.append(f"{name} has {p.available} available (reorder point {p.reorder_point})")
    verb = "is" if value.count == 1 else "are"
    head = f"{counted(value.count, 'product')} {verb} low on stock"
    sources = [SourceRef("product", p.product_id, _named(p.sku, p.name)) for p in value.products]
    return Said(f"{head}: {'; '.join(named)}.", figures, sources[:LISTED])


# --- commerce.stock_value ---------------------------------------------------------------


def speak_stock_value(params: StockValueParams, result: ToolResult) -> Said:
    """``Stock on hand is worth €230.00 at cost (13 units of 2 products; €150.00 of it at
    selling price, the cost being unknown).`` per currency, then the most valuable products."""
    value: StockValue = result.value
    if not value.by_currency:
        figure = Figure("Units on hand", 0, unit="units")
        return Said("No stock is on hand, so it is worth nothing.", [figure])
    figures: list[Figure] = []
    parts = []
    for c in value.by_currency:
        figures += [
            Figure(f"Stock value ({c.currency})", c.value, c.currency),
            Figure(f"Units on hand ({c.currency})", c.units, unit="units"),
            Figure(f"Products with stock ({c.currency})", c.products, unit="products"),
        ]
        part = (
            f"{spoken(c.value, c.currency)} at cost ({counted(c.units, 'unit')} of "
            f"{counted(c.products, 'product')}"
        )
        if c.value_at_price > 0:
            figures.append(Figure(f"Valued at price ({c.currency})", c.value_at_price, c.currency))
            part += (
                f"; {spoken(c.value_at_price, c.currency)} of it at selling price, "
                "the cost being unknown"
            )
        parts.append(part + ")")
    text = f"Stock on hand is worth {' and '.join(parts)}."
    best = value.products[:FEW]
    for p in best:
        figures.append(Figure(f"Stock value of {_named(p.sku, p.name)}", p.value, p.currency))
    if len(best) > 1:
        named = "; ".join(f"{_named(p.sku, p.name)} {spoken(p.value, p.currency)}" for p in best)
        text += f" Most valuable: {named}."
    sources = [SourceRef("product", p.product_id, _named(p.sku, p.name)) for p in best]
    return Said(text, figures, sources)


TOOLS: list[Tool] = tools_for(
    "commerce:read",
    (
        "commerce.revenue",
        "Revenue (order totals of orders not cancelled or failed, by placed date) per "
        "period (day, week or month), per product or per channel, per currency; for one "
        "customer (contact_id), or one product's line revenue (product_id).",
        RevenueParams,
        metrics.revenue,
        speak_revenue,
    ),
    (
        "commerce.orders",
        "How many orders were placed, and the average order value per currency; for one "
        "customer (contact_id) or the orders containing one product (product_id).",
        OrdersParams,
        metrics.orders_summary,
        speak_orders,
    ),
    (
        "commerce.top_customers",
        "The customers who bought the most in a date range, per currency.",
        TopCustomersParams,
        metrics.top_customers,
        speak_top_customers,
    ),
    (
        "commerce.top_products",
        "The best-selling products in a date range by line revenue or units sold, per currency.",
        TopProductsParams,
        products.top_products,
        speak_top_products,
    ),
    (
        "commerce.low_stock",
        "Products low on stock: available units below their reorder point.",
        LowStockParams,
        products.low_stock,
        speak_low_stock,
    ),
    (
        "commerce.stock_value",
        "What the stock on hand is worth at cost (price where cost is unknown).",
        StockValueParams,
        metrics.stock_value,
        speak_stock_value,
    ),
)
