"""Sales orders at the edge: what callers send and what they get back.

Money is a decimal string (``"49.90"``) with an ISO 4217 ``currency``; amounts carry at
most two decimal places and are never negative. Tax rates are fractions (0.2 = 20%).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from bizos.modules.commerce.rows import Cents, JsonObject
from bizos.modules.crm.deals.schemas import Currency


def _decimal_string(value: Any) -> Any:
    """A string amount must read as digits with an optional fraction ("49.90")."""
    if isinstance(value, str) and not re.fullmatch(DECIMAL_PATTERN, value):
        raise ValueError('a decimal string such as "49.90"')
    return value


DECIMAL_PATTERN = r"^\d+(\.\d+)?$"
Amount = Annotated[
    Decimal,
    BeforeValidator(_decimal_string),
    Field(ge=0, max_digits=14, decimal_places=2),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": DECIMAL_PATTERN},
            ]
        }
    ),
]

OrderStatus = Literal[
    "received",
    "allocated",
    "backordered",
    "invoiced",
    "shipped",
    "fulfilled",
    "cancelled",
    "failed",
]
OrderSource = Literal["shopify", "api", "deal"]
TaxRate = Annotated[Decimal, Field(ge=0, lt=1, max_digits=6, decimal_places=4)]
Sku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=36)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
MAX_LINES = 500
# What a line that cannot be sold does: a 422 naming it (the API), or it fails the order
# with the reason (the doors fed by outside systems, which must not lose an order).
UnknownSku = Literal["reject", "fail"]


class OrderLineInput(BaseModel):
    """One line as a door hands it to ``create_order``.

    ``sku`` names a catalogue product; a line without one is a non-stock line (a service,
    a fee) and needs ``name`` and ``unit_price``. ``unit_price`` defaults to the product's
    price, ``tax_rate`` to the product's (else the tenant's default); ``tax_amount``
    overrides the computed tax (an outside system that already computed it)."""

    model_config = ConfigDict(extra="forbid")
    sku: str | None = None
    quantity: int = Field(gt=0, le=1_000_000)
    unit_price: Decimal | None = None
    name: str | None = None
    discount: Decimal = Decimal("0")
    tax_rate: Decimal | None = None
    tax_amount: Decimal | None = None
    external_id: str | None = None
    # A line without a SKU that must still ship (a Shopify custom item): fails the order.
    requires_shipping: bool = False


class OrderDraft(BaseModel):
    """An order as a door hands it to ``place_order``: the channel (``source``) and, for
    an outside system, its id for the order; the customer (a contact, else an email that
    finds or makes one); the lines; and the amounts the door already knows (shipping, its
    tax, an order-level discount, whether prices include tax). See ``orders/service.py``
    for how the totals are added up."""

    model_config = ConfigDict(extra="forbid")
    source: str
    currency: str
    lines: list[OrderLineInput]
    contact_id: str | None = None
    email: str | None = None
    customer_name: str | None = None
    phone: str | None = None
    external_id: str | None = None
    external_name: str | None = None
    deal_id: str | None = None
    shipping_address: dict[str, Any] | None = None
    billing_address: dict[str, Any] | None = None
    shipping_total: Decimal = Decimal("0")
    shipping_tax: Decimal = Decimal("0")
    discount_total: Decimal = Decimal("0")
    prices_include_tax: bool = False
    placed_at: dt.datetime | None = None
    properties: dict[str, Any] | None = None
    unknown_sku: UnknownSku = "reject"


class OrderLineCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Sku
    quantity: StrictInt = Field(gt=0, le=1_000_000)
    unit_price: Amount | None = Field(default=None, description="Defaults to the product's price.")
    discount: Amount = Decimal("0")


class OrderCreate(BaseModel):
    """A manual sales order: a known contact or an email (a contact is found or created)."""

    model_config = ConfigDict(extra="forbid")
    contact_id: Id | None = None
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)] | None = None
    customer_name: Text200 | None = None
    currency: Currency
    lines: list[OrderLineCreate] = Field(min_length=1, max_length=MAX_LINES)
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = Field(
        default=None,
        description="Your reference; a second order with the same one returns the first.",
    )
    shipping_address: dict[str, Any] | None = None
    billing_address: dict[str, Any] | None = None
    shipping_total: Amount = Decimal("0")
    discount_total: Amount = Field(
        default=Decimal("0"), description="An order-level discount on top of line discounts."
    )

    @model_validator(mode="after")
    def _a_customer(self) -> OrderCreate:
        if self.contact_id is None and not self.email:
            raise ValueError("name the customer: contact_id or email")
        return self


class OrderFilters(BaseModel):
    """Which orders a list shows: every filter given applies."""

    external_id: str | None = Field(default=None, max_length=100)
    status: OrderStatus | None = None
    contact_id: str | None = Field(default=None, max_length=36)
    source: OrderSource | None = None


class OrderCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class OrderLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    position: int
    product_id: str | None
    sku: str | None
    name: str
    quantity: int
    unit_price: Cents
    discount: Cents
    tax_rate: Decimal
    tax_amount: Cents
    line_total: Cents
    tracks_stock: bool


class ShipmentSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    provider: str = Field(description="Who sold the label: sandbox or shippo.")
    carrier: str
    tracking_number: str
    label_url: str
    status: str | None = None
    service: str | None = None
    request: JsonObject = Field(
        default_factory=dict,
        description="What was sent to the provider for the label (the sandbox's record of "
        "what it would send): reference, addresses, parcels.",
    )


class OrderRead(BaseModel):
    id: str
    number: str
    source: OrderSource
    external_id: str | None
    external_name: str | None
    status: OrderStatus
    contact_id: str | None
    email: str | None
    customer_name: str | None
    deal_id: str | None
    currency: str
    lines: list[OrderLineRead]
    subtotal: Cents
    discount_total: Cents
    tax_total: Cents
    shipping_total: Cents
    total: Cents
    prices_include_tax: bool = Field(
        description="The prices already hold the tax (tax_total is shown, not added)."
    )
    invoice_id: str | None
    shipment: ShipmentSummary | None
    shipping_address: dict[str, Any] | None
    billing_address: dict[str, Any] | None
    failure_reason: str | None
    cancel_reason: str | None
    placed_at: dt.datetime
    allocated_at: dt.datetime | None
    invoiced_at: dt.datetime | None
    shipped_at: dt.datetime | None
    fulfilled_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    failed_at: dt.datetime | None
    properties: JsonObject
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
