"""What the copilot may ask about sales and stock: typed tools over ``metrics/service.py``
(scope ``commerce:read``); every answer carries its query, filters and records."""

from __future__ import annotations

from bizos.core.tools import Tool
from bizos.modules.commerce.metrics import service as metrics
from bizos.modules.commerce.metrics.schemas import (
    OrdersParams,
    RevenueParams,
    StockValueParams,
    TopCustomersParams,
)

TOOLS: list[Tool] = [
    Tool(
        name="commerce.revenue",
        description=(
            "Revenue (order totals of orders not cancelled or failed, by placed date) per "
            "period (day, week or month), per product or per channel, per currency."
        ),
        scope="commerce:read",
        input_model=RevenueParams,
        run=metrics.revenue,
    ),
    Tool(
        name="commerce.orders",
        description="How many orders were placed, and the average order value per currency.",
        scope="commerce:read",
        input_model=OrdersParams,
        run=metrics.orders_summary,
    ),
    Tool(
        name="commerce.top_customers",
        description="The customers who bought the most in a date range, per currency.",
        scope="commerce:read",
        input_model=TopCustomersParams,
        run=metrics.top_customers,
    ),
    Tool(
        name="commerce.stock_value",
        description="What the stock on hand is worth at cost (price where cost is unknown).",
        scope="commerce:read",
        input_model=StockValueParams,
        run=metrics.stock_value,
    ),
]
