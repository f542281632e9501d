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
