"""Sales and stock figures at the edge: what is asked (a date range, a grouping, a
channel) and the figures answered. See ``metrics/service.py`` for what counts as revenue.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bizos.core.tools import MAX_RECORDS, CurrencyCode, DateRange

Interval = Literal["day", "week", "month"]
GroupBy = Literal["period", "product", "channel"]
Channel = Literal["shopify", "api", "deal"]
RankBy = Literal["revenue", "quantity"]
RecordId = Annotated[str, StringConstraints(min_length=1, max_length=36)]


# --- parameters -----------------------------------------------------------------------


class OrderFilters(DateRange):
    """Which counted orders a figure covers: a date range and currency, and optionally
    one channel, one product (orders with a line of it) or one customer (CRM contact)."""

    source: Channel | None = Field(default=None, description="Only orders from this channel.")
    product_id: RecordId | None = Field(
        default=None, description="Only orders with a line of this product."
    )
    contact_id: RecordId | None = Field(default=None, description="Only this customer's orders.")

    def described(self) -> dict[str, Any]:
        return {
            **super().described(),
            "source": self.source,
            "product_id": self.product_id,
            "contact_id": self.contact_id,
        }


class RevenueParams(OrderFilters):
    """With ``product_id`` the revenue is that product's line revenue (before tax)."""

    group_by: GroupBy = Field(default="period", description="period | product | channel")
    interval: Interval = Field(default="month", description="For group_by=period.")


OrderStatusName = Literal[
    "received",
    "allocated",
    "backordered",
    "invoiced",
    "shipped",
    "fulfilled",
    "cancelled",
    "failed",
]


class OrdersParams(OrderFilters):
    """Counted orders: how many, and their average value per currency. With ``status``,
    exactly the orders in that status (cancelled and failed included when asked for)."""

    status: OrderStatusName | None = Field(
        default=None, description="Only orders in this status (cancelled/failed too)."
    )

    def described(self) -> dict[str, Any]:
        return {**super().described(), "status": self.status}


class TopCustomersParams(DateRange):
    limit: int = Field(default=10, ge=1, le=100)


class TopProductsParams(DateRange):
    limit: int = Field(default=10, ge=1, le=100)
    by: RankBy = Field(default="revenue", description="Rank by line revenue or units sold.")


class LowStockParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=20, ge=1, le=100)


class StockValueParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    currency: CurrencyCode | None = None
    include_inactive: bool = Field(default=False, description="Count archived products too.")


# --- results --------------------------------------------------------------------------


class RevenueRow(BaseModel):
    key: str | None = Field(
        description="Period start (YYYY-MM-DD), product id or channel, per group_by."
    )
    label: str | None = Field(default=None, description="SKU and name for products.")
    currency: str
    revenue: Decimal
    net: Decimal | None = Field(default=None, description="Revenue without tax (orders).")
    orders: int
    quantity: int | None = Field(default=None, description="Units sold (products).")


class RevenueValue(BaseModel):
    group_by: GroupBy
    interval: Interval | None
    rows: list[RevenueRow]
    totals: dict[str, Decimal] = Field(description="Revenue per currency over the rows.")


class CurrencyOrders(BaseModel):
    currency: str
    orders: int
    revenue: Decimal
    average_order_value: Decimal


class OrdersValue(BaseModel):
    order_count: int = Field(description="All counted orders, whatever their currency.")
    by_currency: list[CurrencyOrders]


class CustomerRow(BaseModel):
    rank: int
    contact_id: str | None
    email: str | None
    customer_name: str | None
    currency: str
    revenue: Decimal
    orders: int


class TopCustomersValue(BaseModel):
    customers: list[CustomerRow]


class StockRow(BaseModel):
    product_id: str
    sku: str
    name: str
    stock_on_hand: int
    unit_value: Decimal
    basis: Literal["cost", "price"] = Field(description="price when the cost is unknown")
    value: Decimal
    currency: str


class CurrencyStock(BaseModel):
    currency: str
    value: Decimal
    value_at_cost: Decimal
    value_at_price: Decimal = Field(description="Part valued at price for want of a cost.")
    products: int
    products_at_price: int
    units: int


class StockValue(BaseModel):
    by_currency: list[CurrencyStock]
    products: list[StockRow] = Field(description=f"Highest value first, at most {MAX_RECORDS}.")


class ProductSales(BaseModel):
    rank: int
    product_id: str
    sku: str | None
    name: str | None
    currency: str
    revenue: Decimal = Field(description="Line revenue before tax (quantity x price - discount).")
    quantity: int
    orders: int


class TopProductsValue(BaseModel):
    by: RankBy
    products: list[ProductSales] = Field(description="Ranked within each currency.")


class LowStockRow(BaseModel):
    product_id: str
    sku: str
    name: str
    stock_on_hand: int
    allocated: int
    available: int
    reorder_point: int
    reorder_quantity: int | None
    short_by: int = Field(description="Reorder point minus available.")


class LowStockValue(BaseModel):
    count: int = Field(description="All products low on stock (the list may be shorter).")
    products: list[LowStockRow] = Field(description="Furthest below their reorder point first.")
