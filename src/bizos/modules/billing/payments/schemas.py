"""Payments and refunds at the edge.

Money is a decimal string (``"49.99"``) with an ISO 4217 ``currency``. A payment's
``status``: ``matched`` (booked on its invoice), ``unmatched`` (no invoice could be told
apart: a person assigns it with ``POST /billing/payments/{id}/match``), ``discrepancy``
(it names an invoice but does not fit it: over the balance, another currency, or a void
or settled invoice; the invoice is flagged too), ``partially_refunded`` / ``refunded``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bizos.core.fields import Moment
from bizos.modules.billing.invoices.schemas import Cents
from bizos.modules.crm.deals.schemas import Currency

PaymentStatus = Literal["matched", "unmatched", "discrepancy", "partially_refunded", "refunded"]
MatchMethod = Literal["metadata", "email_amount", "manual"]

PositiveAmount = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=36)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class PaymentFilters(BaseModel):
    """Which payments a list shows: every filter given applies."""

    status: PaymentStatus | None = None
    invoice_id: str | None = Field(default=None, max_length=36)
    provider: str | None = Field(default=None, max_length=20)


class ManualPaymentCreate(BaseModel):
    """Money received outside Stripe (a bank transfer, cash, a cheque) for one invoice."""

    model_config = ConfigDict(extra="forbid")
    amount: PositiveAmount
    currency: Currency
    reference: Reference | None = Field(
        default=None,
        description="The bank or cheque reference; a second payment with the same "
        "reference is the same payment (409 if it differs).",
    )
    received_at: Moment | None = Field(
        default=None, description="When it arrived, with its UTC offset; defaults to now."
    )
    note: Reason | None = None


class RefundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: PositiveAmount | None = Field(
        default=None, description="Defaults to what is left to refund."
    )
    reason: Reason | None = None


class PaymentMatch(BaseModel):
    """Assign an unmatched payment to the invoice it pays."""

    model_config = ConfigDict(extra="forbid")
    invoice_id: Id


class RefundRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    payment_id: str
    invoice_id: str | None
    amount: Cents
    currency: str
    external_id: str | None
    reason: str | None
    created_at: dt.datetime


class PaymentRead(BaseModel):
    id: str
    invoice_id: str | None
    invoice_number: str | None = None
    provider: str
    external_id: str | None
    charge_id: str | None
    amount: Decimal
    amount_refunded: Decimal
    currency: str
    status: PaymentStatus
    match_method: MatchMethod | None
    match_detail: str | None
    applied: bool = Field(description="Whether the amount was booked on the invoice.")
    customer_email: str | None
    customer_name: str | None
    metadata: dict[str, Any]
    received_at: dt.datetime
    refunds: list[RefundRead] = Field(default_factory=list)
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
