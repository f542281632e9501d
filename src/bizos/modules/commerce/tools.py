"""What the copilot may ask about sales and stock: typed tools over ``metrics/service.py``
(scope ``commerce:read``); every answer carries its query, filters and records."""

from __future__ import annotations

from pydantic import BaseModel

from bizos.core.tools import Tool, ToolRun
from bizos.modules.commerce.metrics import service as metrics
from bizos.modules.commerce.metrics.schemas import (
    OrdersParams,
    RevenueParams,
    StockValueParams,
    TopCustomersParams,
)


def _read_tool(name: str, description: str, params: type[BaseModel], run: ToolRun) -> Tool:
    return Tool(f"commerce.{name}", description, "commerce:read", params, run)


TOOLS: list[Tool] = [
    _read_tool(
        "revenue",
        "Revenue (order totals of orders not cancelled or failed, by placed date) per "
        "period (day, week or month), per product or per channel, per currency.",
        RevenueParams,
        metrics.revenue,
    ),
    _read_tool(
        "orders",
        "How many orders were placed, and the average order value per currency.",
        OrdersParams,
        metrics.orders_summary,
    ),
    _read_tool(
        "top_customers",
        "The customers who bought the most in a date range, per currency.",
        TopCustomersParams,
        metrics.top_customers,
    ),
    _read_tool(
        "stock_value",
        "What the stock on hand is worth at cost (price where cost is unknown).",
        StockValueParams,
        metrics.stock_value,
    ),
]
