"""What billing's figures take and answer: receivables and refunds (``service.py``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from bizos.core.fields import Day
from bizos.core.tools import CurrencyCode, DateRange

# --- parameters -----------------------------------------------------------------------


class RefundsParams(DateRange):
    """Refunds made from ``from`` to ``to`` (inclusive UTC days; default the last 30)."""


class ReceivablesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of: Day | None = Field(default=None, description="Age against this day (UTC).")
    currency: CurrencyCode | None = None


class OverdueInvoicesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of: Day | None = Field(default=None, description="Overdue on this day (UTC; default today).")
    currency: CurrencyCode | None = None
    limit: int = Field(default=10, ge=1, le=100, description="How many invoices to list.")


# --- results --------------------------------------------------------------------------


class CurrencyRefunds(BaseModel):
    currency: str
    amount: Decimal
    count: int


class RefundsValue(BaseModel):
    count: int = Field(description="All refunds in the range, whatever their currency.")
    by_currency: list[CurrencyRefunds]


class CurrencyReceivables(BaseModel):
    currency: str
    outstanding: Decimal
    invoices: int
    aging: dict[str, Decimal] = Field(description="Balance due per aging bucket.")
    aging_counts: dict[str, int]


class ReceivablesValue(BaseModel):
    as_of: dt.date
    by_currency: list[CurrencyReceivables]


class OverdueInvoice(BaseModel):
    invoice_id: str
    number: str | None
    contact_id: str | None
    customer_name: str | None
    customer_email: str | None
    currency: str
    total: Decimal
    balance_due: Decimal
    due_date: dt.date
    days_overdue: int


class CurrencyOverdue(BaseModel):
    currency: str
    balance_due: Decimal
    invoices: int


class OverdueInvoicesValue(BaseModel):
    as_of: dt.date
    count: int = Field(description="All overdue invoices, whatever their currency.")
    by_currency: list[CurrencyOverdue]
    invoices: list[OverdueInvoice] = Field(description="The longest overdue first, up to limit.")
