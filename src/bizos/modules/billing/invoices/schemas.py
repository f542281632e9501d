"""Invoices and credit notes at the edge: what callers send and what they get back.

Money is a decimal string (``"49.99"``) with an ISO 4217 ``currency``; tax rates are
fractions (``"0.2"`` = 20 %). Line tax is rounded half-up to the cent per line, and the
invoice keeps ``subtotal - discount_total + tax_total + shipping_total == total`` (an
order's invoice whose prices include tax keeps it without ``tax_total``: the lines say
``tax_included``).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
)

from bizos.core.money import cents
from bizos.modules.crm.deals.schemas import Currency

# An amount read back, to the cent as the API writes it ("12.50").
Cents = Annotated[Decimal, AfterValidator(cents)]


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

InvoiceStatus = Literal["draft", "open", "paid", "partially_paid", "void", "discrepancy"]
INVOICE_STATUSES: tuple[InvoiceStatus, ...] = (
    "draft",
    "open",
    "paid",
    "partially_paid",
    "void",
    "discrepancy",
)
# Issued and not settled: what dunning chases and payments may be matched to.
OPEN_STATUSES: tuple[InvoiceStatus, ...] = ("open", "partially_paid")

PositiveAmount = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]
Quantity = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=3)]
TaxRate = Annotated[Decimal, Field(ge=0, le=1, max_digits=6, decimal_places=4)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=36)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320, pattern=r".+@.+")
]


class InvoiceLineInput(BaseModel):
    """One billed line. ``discount`` is taken off this line before its tax."""

    model_config = ConfigDict(extra="forbid")
    description: Text
    quantity: Quantity = Decimal("1")
    unit_price: Amount
    discount: Amount = Decimal("0")
    tax_rate: TaxRate = Decimal("0")
    tax_amount: Amount | None = Field(
        default=None,
        description="The line's tax as already computed (an order's, e.g. Shopify's); "
        "else amount * tax_rate.",
    )
    sku: Annotated[str, StringConstraints(max_length=64)] | None = None
    product_id: Id | None = None


class InvoiceLine(BaseModel):
    """A line as billed (a snapshot: later price changes do not touch it)."""

    description: str
    sku: str | None = None
    product_id: str | None = None
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal
    tax_rate: Decimal
    amount: Decimal = Field(description="quantity * unit_price - discount, before tax.")
    tax_amount: Decimal
    tax_included: bool = Field(
        default=False, description="The amount already holds the tax (prices include tax)."
    )
    total: Decimal = Field(description="amount + tax_amount (amount when tax is included).")


class InvoiceCreate(BaseModel):
    """A manual invoice; it stays a draft (no number) until issued."""

    model_config = ConfigDict(extra="forbid")
    currency: Currency
    lines: list[InvoiceLineInput] = Field(min_length=1, max_length=500)
    contact_id: Id | None = None
    customer_email: Email | None = Field(
        default=None, description="Defaults to the contact's email."
    )
    customer_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    billing_address: dict[str, Any] | None = None
    shipping_total: Amount = Decimal("0")
    discount_total: Amount = Field(
        default=Decimal("0"),
        description="An invoice-level discount on top of line discounts (not taxed away).",
    )
    due_days: Annotated[StrictInt, Field(ge=0, le=365)] | None = Field(
        default=None, description="Payment terms counted from the day it is issued (14)."
    )
    notes: Annotated[str, StringConstraints(max_length=5000)] | None = None


class InvoiceFilters(BaseModel):
    """Which invoices a list shows: every filter given applies (``overdue=true``: open
    or partially paid and past due)."""

    order_id: str | None = Field(default=None, max_length=36)
    status: InvoiceStatus | None = None
    contact_id: str | None = Field(default=None, max_length=36)
    customer_email: str | None = Field(default=None, max_length=320)
    overdue: bool | None = None


class InvoiceVoid(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason


class DiscrepancyResolve(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["open", "paid", "partially_paid"] | None = Field(
        default=None, description="Defaults to what the amounts paid and due say."
    )
    note: Reason | None = None


class CreditNoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: PositiveAmount
    reason: Reason
    lines: list[InvoiceLineInput] | None = Field(
        default=None, max_length=500, description="What is credited, for the record."
    )


class CreditNoteRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    number: str
    invoice_id: str
    amount: Cents
    currency: str
    reason: str
    lines: list[dict[str, Any]]
    issued_at: dt.datetime


class InvoicePaymentRead(BaseModel):
    id: str
    provider: str
    amount: Decimal
    amount_refunded: Decimal
    currency: str
    status: str
    received_at: dt.datetime


class InvoiceRead(BaseModel):
    id: str
    number: str | None
    order_id: str | None
    contact_id: str | None
    customer_email: str | None
    customer_name: str | None
    billing_address: dict[str, Any] | None
    status: InvoiceStatus
    currency: str
    subtotal: Decimal
    discount_total: Decimal
    tax_total: Decimal
    shipping_total: Decimal
    total: Decimal
    amount_paid: Decimal
    amount_refunded: Decimal
    amount_credited: Decimal
    balance_due: Decimal
    lines: list[InvoiceLine]
    issued_at: dt.datetime | None
    due_date: dt.date | None
    overdue: bool
    paid_at: dt.datetime | None
    voided_at: dt.datetime | None
    void_reason: str | None
    discrepancy_reason: str | None
    reminders_sent: int
    last_reminder_at: dt.datetime | None
    notes: str | None
    credit_notes: list[CreditNoteRead] = Field(default_factory=list)
    payments: list[InvoicePaymentRead] = Field(default_factory=list)
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
