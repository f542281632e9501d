"""Products and stock at the edge: what callers send and what they get back.

Money is a decimal string (``"19.90"``) with an ISO 4217 ``currency``; tax rates are
fractions (``0.2`` = 20%). Stock is whole units: ``available = stock_on_hand -
allocated``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from bizos.modules.commerce.rows import Cents, JsonObject
from bizos.modules.crm.deals.schemas import Currency
from bizos.modules.crm.schemas import check_properties

StockKind = Literal["receipt", "adjustment", "return"]
MovementKind = Literal[
    "initial", "receipt", "adjustment", "allocation", "release", "shipment", "return"
]

Sku = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^\S+$"),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Price = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
TaxRate = Annotated[Decimal, Field(ge=0, le=1, max_digits=6, decimal_places=4)]
Units = Annotated[StrictInt, Field(ge=0, le=1_000_000_000)]
Properties = Annotated[dict[str, Any], AfterValidator(check_properties)]


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Sku
    name: Name
    price: Price
    currency: Currency
    stock_on_hand: Units = 0
    reorder_point: Units | None = Field(
        default=None, description="Alert (a purchasing task) when available falls below it."
    )
    reorder_quantity: Annotated[StrictInt, Field(ge=1, le=1_000_000_000)] | None = None
    description: str | None = Field(default=None, max_length=20_000)
    category: Label | None = None
    cost: Price | None = Field(default=None, description="Unit cost, for stock value.")
    tax_rate: TaxRate = Decimal("0")
    tracks_stock: bool = Field(
        default=True, description="False for a service: no stock, nothing ships."
    )
    weight_grams: Units | None = None
    active: bool = True
    properties: Properties = Field(default_factory=dict)


class ProductUpdate(BaseModel):
    """Only the fields sent change; ``null`` clears an optional field. Stock changes go
    through ``POST /products/{id}/stock`` so that each one is in the ledger."""

    model_config = ConfigDict(extra="forbid")
    sku: Sku | SkipJsonSchema[None] = None
    name: Name | SkipJsonSchema[None] = None
    price: Price | SkipJsonSchema[None] = None
    currency: Currency | SkipJsonSchema[None] = None
    reorder_point: Units | None = None
    reorder_quantity: Annotated[StrictInt, Field(ge=1, le=1_000_000_000)] | None = None
    description: str | None = Field(default=None, max_length=20_000)
    category: Label | None = None
    cost: Price | None = None
    tax_rate: TaxRate | SkipJsonSchema[None] = None
    tracks_stock: bool | SkipJsonSchema[None] = None
    weight_grams: Units | None = None
    active: bool | SkipJsonSchema[None] = None
    properties: Properties | SkipJsonSchema[None] = None


class ProductFilters(BaseModel):
    """Which products a list shows: every filter given applies."""

    q: str | None = Field(default=None, max_length=200, description="Name or SKU contains.")
    sku: str | None = Field(default=None, max_length=64)
    low_stock: bool | None = Field(default=None, description="Available below the reorder point.")
    active: bool | None = None


class StockChange(BaseModel):
    """``receipt`` and ``return`` add ``quantity`` units; ``adjustment`` adds a signed
    delta (a count correction, breakage: negative)."""

    model_config = ConfigDict(extra="forbid")
    quantity: Annotated[StrictInt, Field(ge=-1_000_000_000, le=1_000_000_000)]
    kind: StockKind = "receipt"
    reason: Reason | None = None


class ProductRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    sku: str
    name: str
    description: str | None
    category: str | None
    price: Cents
    currency: str
    cost: Cents | None
    tax_rate: Decimal
    tracks_stock: bool
    stock_on_hand: int
    allocated: int
    available: int
    reorder_point: int | None
    reorder_quantity: int | None
    below_reorder_point: bool
    weight_grams: int | None
    active: bool
    properties: JsonObject
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class MovementRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    product_id: str
    kind: MovementKind
    on_hand_delta: int
    allocated_delta: int
    on_hand_after: int
    allocated_after: int
    order_id: str | None
    reason: str | None
    actor_id: str | None
    created_at: dt.datetime
