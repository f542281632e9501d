"""Business figures about money owed and money returned, computed by the database
(DESIGN rule 8). Each function returns a :class:`~bizos.core.tools.ToolResult` with the
figure(s), a sentence saying what was computed, the filters, and the ids behind it.

* **Refunds**: the ``billing_refunds`` rows created within the range (inclusive UTC
  days), summed and counted per currency.
* **Outstanding receivables**: invoices whose status is ``open``, ``partially_paid`` or
  ``discrepancy`` and whose balance due — ``total - amount_paid + amount_refunded -
  amount_credited`` — is above zero, per currency, aged by their due date against
  ``as_of`` (default today, UTC): ``current`` (not yet due, or no due date), ``1-30``,
  ``31-60``, ``61-90`` and ``90+`` days overdue. Drafts, paid and void invoices owe nothing.

Money of different currencies is never added up.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.fields import Day
from bizos.core.tools import MAX_RECORDS, CurrencyCode, DateRange, ToolResult
from bizos.modules.billing.models import Invoice, Refund

CENT = Decimal("0.01")
RECEIVABLE_STATUSES = ("open", "partially_paid", "discrepancy")
AGING_BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")


def money(value: Any) -> Decimal:
    if value is None:
        return Decimal("0.00")
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


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


# --- refunds --------------------------------------------------------------------------


async def refunds(session: AsyncSession, ctx: Context, params: RefundsParams) -> ToolResult:
    """Sum and count of refunds created within the range, per currency."""
    start, end = params.window()
    where = [
        Refund.tenant_id == ctx.require_tenant(),
        Refund.created_at >= start,
        Refund.created_at < end,
    ]
    if params.currency is not None:
        where.append(Refund.currency == params.currency)
    rows = await session.execute(
        sa.select(Refund.currency, sa.func.sum(Refund.amount), sa.func.count())
        .where(*where)
        .group_by(Refund.currency)
        .order_by(Refund.currency)
    )
    by_currency = [
        CurrencyRefunds(currency=c, amount=money(total), count=int(n)) for c, total, n in rows
    ]
    count = sum(r.count for r in by_currency)
    ids = await session.scalars(
        sa.select(Refund.id).where(*where).order_by(Refund.created_at, Refund.id).limit(MAX_RECORDS)
    )
    return ToolResult(
        value=RefundsValue(count=count, by_currency=by_currency),
        query="sum and count of refunds created within the range (UTC), per currency",
        filters=params.described(),
        records=list(ids),
        records_total=count,
    )


# --- receivables ----------------------------------------------------------------------


def balance_due_expr() -> sa.ColumnElement[Decimal]:
    return Invoice.total - Invoice.amount_paid + Invoice.amount_refunded - Invoice.amount_credited


def _aging_bucket(as_of: dt.date) -> sa.ColumnElement[str]:
    """The bucket of ``due_date`` against ``as_of``, as plain date comparisons (portable)."""

    def days_ago(n: int) -> dt.date:
        return as_of - dt.timedelta(days=n)

    return sa.case(
        (Invoice.due_date.is_(None), "current"),
        (Invoice.due_date >= as_of, "current"),
        (Invoice.due_date >= days_ago(30), "1-30"),
        (Invoice.due_date >= days_ago(60), "31-60"),
        (Invoice.due_date >= days_ago(90), "61-90"),
        else_="90+",
    )


async def receivables(session: AsyncSession, ctx: Context, params: ReceivablesParams) -> ToolResult:
    """Outstanding balance due per currency with aging buckets (see the module docstring)."""
    as_of = params.as_of or dt.datetime.now(dt.UTC).date()
    balance = balance_due_expr()
    where = [
        Invoice.tenant_id == ctx.require_tenant(),
        Invoice.status.in_(RECEIVABLE_STATUSES),
        balance > 0,
    ]
    if params.currency is not None:
        where.append(Invoice.currency == params.currency.upper())
    bucket = _aging_bucket(as_of).label("bucket")
    rows = await session.execute(
        sa.select(Invoice.currency, bucket, sa.func.sum(balance), sa.func.count())
        .where(*where)
        .group_by(Invoice.currency, bucket)
    )
    by: dict[str, CurrencyReceivables] = {}
    for currency, name, total, n in rows:
        row = by.setdefault(
            currency,
            CurrencyReceivables(
                currency=currency,
                outstanding=Decimal("0.00"),
                invoices=0,
                aging={b: Decimal("0.00") for b in AGING_BUCKETS},
                aging_counts=dict.fromkeys(AGING_BUCKETS, 0),
            ),
        )
        row.outstanding += money(total)
        row.invoices += int(n)
        row.aging[name] += money(total)
        row.aging_counts[name] += int(n)
    ids = await session.scalars(
        sa.select(Invoice.id)
        .where(*where)
        .order_by(Invoice.due_date.is_(None), Invoice.due_date, Invoice.id)
        .limit(MAX_RECORDS)
    )
    return ToolResult(
        value=ReceivablesValue(as_of=as_of, by_currency=[by[c] for c in sorted(by)]),
        query=(
            "sum of balance due (total - paid + refunded - credited) of open, partially "
            "paid and discrepancy invoices, per currency, aged by days past the due date"
        ),
        filters={
            "as_of": as_of.isoformat(),
            "currency": params.currency.upper() if params.currency else None,
            "statuses": list(RECEIVABLE_STATUSES),
        },
        records=list(ids),
        records_total=sum(r.invoices for r in by.values()),
    )
