"""Billing as a whole: figures about money owed and returned, and a contact's billing
history. Reads only; the parts (invoices, payments, refunds, credit notes) write.

Figures are computed by the database (DESIGN rule 8). Each returns a
:class:`~bizos.core.tools.ToolResult` with the figure(s), a sentence saying what was
computed, the filters, and the ids behind it.

* **Refunds**: the ``billing_refunds`` rows created within the range (inclusive UTC
  days), summed and counted per currency.
* **Overdue invoices**: the outstanding receivables (below) whose due date is before
  ``as_of``: exactly the invoices of the aging buckets ``1-30`` to ``90+``.
* **Outstanding receivables**: invoices whose status is ``open``, ``partially_paid`` or
  ``discrepancy`` and whose balance due — ``total - amount_paid + amount_refunded -
  amount_credited`` — is above zero, per currency, aged by their due date against
  ``as_of`` (default today, UTC): ``current`` (not yet due, or no due date), ``1-30``,
  ``31-60``, ``61-90`` and ``90+`` days overdue. Drafts, paid and void invoices owe nothing.

Money of different currencies is never added up.

The contact timeline (``billing_source``) shows invoices when issued (and voided), the
payments booked on them, refunds and credit notes. A payment, refund or credit note
belongs to the contact of the invoice it is booked on; a payment nobody has matched to
an invoice yet is on no one's timeline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.events import payload
from bizos.core.money import ZERO, cents
from bizos.core.timeline import TimelineEntry, newest_first
from bizos.core.tools import MAX_RECORDS, ToolResult
from bizos.modules.billing.models import CreditNote, Invoice, Payment, Refund
from bizos.modules.billing.schemas import (
    CurrencyOverdue,
    CurrencyReceivables,
    CurrencyRefunds,
    OverdueInvoice,
    OverdueInvoicesParams,
    OverdueInvoicesValue,
    ReceivablesParams,
    ReceivablesValue,
    RefundsParams,
    RefundsValue,
)
from bizos.modules.identity import service as identity_service
from bizos.modules.work import service as work_service

RECEIVABLE_STATUSES = ("open", "partially_paid", "discrepancy")
AGING_BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
INVOICES = "/api/v1/billing/invoices"
PAYMENTS = "/api/v1/billing/payments"


def money(value: Any) -> Decimal:
    """A sum the database gave back (None for no rows; a float on SQLite) in cents."""
    return ZERO if value is None else cents(value)


# --- who hears about billing trouble ----------------------------------------------------


async def escalate_to_owner(
    session: AsyncSession,
    ctx: Context,
    *,
    title: str,
    body: str,
    origin: str,
    related: tuple[str, str],
    kind: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """A high priority task for the tenant owner (and, with ``kind``, a notification)
    about billing trouble a person must settle: money that does not fit, a payment nobody
    could match, a Stripe webhook that failed. ``related`` is ``(type, id)``."""
    await work_service.escalate(
        session,
        ctx,
        assignee_id=await identity_service.tenant_owner_id(session, ctx),
        title=title,
        body=body,
        origin=origin,
        related_type=related[0],
        related_id=related[1],
        kind=kind,
        data=data,
    )


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
                outstanding=ZERO,
                invoices=0,
                aging={b: ZERO for b in AGING_BUCKETS},
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


async def overdue_invoices(
    session: AsyncSession, ctx: Context, params: OverdueInvoicesParams
) -> ToolResult:
    """Receivables past their due date on ``as_of``: balance due per currency, and the
    invoices the longest overdue first (the largest balance first among equals)."""
    as_of = params.as_of or dt.datetime.now(dt.UTC).date()
    balance = balance_due_expr()
    where = [
        Invoice.tenant_id == ctx.require_tenant(),
        Invoice.status.in_(RECEIVABLE_STATUSES),
        balance > 0,
        Invoice.due_date < as_of,
    ]
    if params.currency is not None:
        where.append(Invoice.currency == params.currency.upper())
    sums = await session.execute(
        sa.select(Invoice.currency, sa.func.sum(balance), sa.func.count())
        .where(*where)
        .group_by(Invoice.currency)
        .order_by(Invoice.currency)
    )
    by_currency = [
        CurrencyOverdue(currency=c, balance_due=money(total), invoices=int(n))
        for c, total, n in sums
    ]
    rows = await session.execute(
        sa.select(Invoice, balance)
        .where(*where)
        .order_by(Invoice.due_date, balance.desc(), Invoice.id)
        .limit(params.limit)
    )
    invoices = [_overdue(invoice, owed, as_of) for invoice, owed in rows]
    count = sum(c.invoices for c in by_currency)
    ids = await session.scalars(
        sa.select(Invoice.id)
        .where(*where)
        .order_by(Invoice.due_date, balance.desc(), Invoice.id)
        .limit(MAX_RECORDS)
    )
    return ToolResult(
        value=OverdueInvoicesValue(
            as_of=as_of, count=count, by_currency=by_currency, invoices=invoices
        ),
        query=(
            "open, partially paid and discrepancy invoices with a balance due (total - paid "
            "+ refunded - credited) whose due date is before as_of, the longest overdue "
            "first; balance due summed per currency"
        ),
        filters={
            "as_of": as_of.isoformat(),
            "currency": params.currency.upper() if params.currency else None,
            "statuses": list(RECEIVABLE_STATUSES),
            "limit": params.limit,
        },
        records=list(ids),
        records_total=count,
    )


def _overdue(invoice: Invoice, owed: Any, as_of: dt.date) -> OverdueInvoice:
    due = invoice.due_date or as_of  # never None: the query asks for one before as_of
    return OverdueInvoice(
        invoice_id=invoice.id,
        number=invoice.number,
        contact_id=invoice.contact_id,
        customer_name=invoice.customer_name,
        customer_email=invoice.customer_email,
        currency=invoice.currency,
        total=money(invoice.total),
        balance_due=money(owed),
        due_date=due,
        days_overdue=(as_of - due).days,
    )


# --- the contact timeline -------------------------------------------------------------

Entry = Callable[[Any, str | None], TimelineEntry]


def _invoice_entry(
    invoice: Invoice, number: str | None, *, at: dt.datetime | None, voided: bool
) -> TimelineEntry:
    assert at is not None
    due = f", due {invoice.due_date:%Y-%m-%d}" if invoice.due_date else ""
    return TimelineEntry(
        at=at,
        kind="invoice.voided" if voided else "invoice",
        title=f"Invoice {number} " + ("voided" if voided else "issued"),
        summary=(
            invoice.void_reason
            if voided
            else f"{invoice.total} {invoice.currency}{due}; now {invoice.status}"
        ),
        ref_type="invoice",
        ref_id=invoice.id,
        data=_invoice_data(invoice),
        link=f"{INVOICES}/{invoice.id}",
    )


def _invoice_issued(invoice: Invoice, number: str | None) -> TimelineEntry:
    return _invoice_entry(invoice, number, at=invoice.issued_at, voided=False)


def _invoice_voided(invoice: Invoice, number: str | None) -> TimelineEntry:
    return _invoice_entry(invoice, number, at=invoice.voided_at, voided=True)


def _invoice_data(invoice: Invoice) -> dict[str, Any]:
    shown = ("number", "order_id", "status", "total", "amount_paid", "currency", "due_date")
    return {"invoice_id": invoice.id, **payload(invoice, *shown)}


def _money_entry(
    kind: str,
    row: Payment | Refund | CreditNote,
    number: str | None,
    *,
    ref: dict[str, Any],
    extra: dict[str, Any] | None = None,
    **shown: Any,
) -> TimelineEntry:
    """Money moved on an invoice (``number``): its amount, currency and the ids in
    ``ref`` in the entry's data, then ``extra``; ``shown`` is when it happened, its title,
    summary and link."""
    money = {"invoice_number": number, **payload(row, "amount", "currency"), **(extra or {})}
    data = {f"{kind}_id": row.id, **ref, **money}
    return TimelineEntry(kind=kind, ref_type=kind, ref_id=row.id, data=data, **shown)


def _payment(payment: Payment, number: str | None) -> TimelineEntry:
    return _money_entry(
        "payment",
        payment,
        number,
        at=payment.received_at,
        title=f"Payment received: {payment.amount} {payment.currency}",
        summary=f"for {number} via {payment.provider}; {payment.status.replace('_', ' ')}",
        link=f"{PAYMENTS}/{payment.id}",
        ref={"invoice_id": payment.invoice_id},
        extra=payload(payment, "provider", "status"),
    )


def _refund(refund: Refund, number: str | None) -> TimelineEntry:
    return _money_entry(
        "refund",
        refund,
        number,
        at=refund.created_at,
        title=f"Refund: {refund.amount} {refund.currency}",
        summary=f"on {number}" + (f": {refund.reason}" if refund.reason else ""),
        link=f"{PAYMENTS}/{refund.payment_id}",
        ref={"payment_id": refund.payment_id},
    )


def _credit_note(note: CreditNote, number: str | None) -> TimelineEntry:
    return _money_entry(
        "credit_note",
        note,
        number,
        at=note.issued_at,
        title=f"Credit note {note.number}: {note.amount} {note.currency}",
        summary=f"on {number}: {note.reason}",
        link=f"{INVOICES}/{note.invoice_id}",
        ref={"invoice_id": note.invoice_id},
    )


def _timeline_queries(tenant_id: str) -> list[tuple[Any, Any, Entry]]:
    """Each kind of entry: its rows (with the number of the invoice they are on), the
    moment it shows at, and how it reads."""
    on_payment = Invoice.id == sa.func.coalesce(Refund.invoice_id, Payment.invoice_id)
    return [
        (sa.select(Invoice, Invoice.number), Invoice.issued_at, _invoice_issued),
        (sa.select(Invoice, Invoice.number), Invoice.voided_at, _invoice_voided),
        (
            sa.select(Payment, Invoice.number)
            .join(Invoice, Invoice.id == Payment.invoice_id)
            .where(Payment.tenant_id == tenant_id),
            Payment.received_at,
            _payment,
        ),
        (
            sa.select(Refund, Invoice.number)
            .join(Payment, Payment.id == Refund.payment_id)
            .join(Invoice, on_payment)
            .where(Refund.tenant_id == tenant_id, Payment.tenant_id == tenant_id),
            Refund.created_at,
            _refund,
        ),
        (
            sa.select(CreditNote, Invoice.number)
            .join(Invoice, Invoice.id == CreditNote.invoice_id)
            .where(CreditNote.tenant_id == tenant_id),
            CreditNote.issued_at,
            _credit_note,
        ),
    ]


async def billing_source(
    session: AsyncSession,
    ctx: Context,
    contact_ids: list[str],
    email: str | None,
    limit: int,
    *,
    before: dt.datetime | None = None,
) -> list[TimelineEntry]:
    """The contact's newest ``limit`` billing entries (see the module docstring)."""
    tenant_id = ctx.require_tenant()
    entries: list[TimelineEntry] = []
    for query, at, entry in _timeline_queries(tenant_id):
        query = query.where(Invoice.tenant_id == tenant_id, Invoice.contact_id.in_(contact_ids))
        rows = await session.execute(newest_first(query, at, limit=limit, before=before))
        entries.extend(entry(row, number) for row, number in rows)
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]
