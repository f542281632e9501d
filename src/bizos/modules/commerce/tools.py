"""What the copilot may ask about sales and stock: typed tools over ``metrics/service.py``
(scope ``commerce:read``); every answer carries its query, filters and records."""

from __future__ import annotations

from bizos.core.tools import Tool, tools_for
from bizos.modules.commerce.metrics import service as metrics
from bizos.modules.commerce.metrics.schemas import (
    OrdersParams,
    RevenueParams,
    StockValueParams,
    TopCustomersParams,
)

TOOLS: list[Tool] = tools_for(
    "commerce:read",
    (
        "commerce.revenue",
        "Revenue (order totals of orders not cancelled or failed, by placed date) per "
        "period (day, week or month), per product or per channel, per currency.",
        RevenueParams,
        metrics.revenue,
    ),
    (
        "commerce.orders",
        "How many orders were placed, and the average order value per currency.",
        OrdersParams,
        metrics.orders_summary,
    ),
    (
        "commerce.top_customers",
        "The customers who bought the most in a date range, per currency.",
        TopCustomersParams,
        metrics.top_customers,
    ),
    (
        "commerce.stock_value",
        "What the stock on hand is worth at cost (price where cost is unknown).",
        StockValueParams,
        metrics.stock_value,
    ),
)
