"""Invoices: draft, issue, void, take payments. The only writer of
``billing_invoices`` (credit notes, refunds and discrepancies are their own parts:
``billing/credit_notes``, ``billing/refunds``, ``billing/discrepancies``; reminders
are ``billing/dunning``).

Numbers are gapless per tenant (``INV-000001``) from ``core.sequences``: a number is
taken inside the transaction that issues the invoice, so a rolled-back issue gives it
back. Drafts have no number. The arithmetic (lines, totals, balance) is ``amounts.py``.

States: ``draft → open → partially_paid → paid``; ``void`` from draft/open (a paid or
partially paid invoice must be refunded first: 409); ``discrepancy`` is set by payments
(``discrepancies.flag_discrepancy``) and left only by ``resolve_discrepancy``. Payments
applied while in discrepancy still count, but the status stays until someone resolves it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ParamSpec

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Conflict, Unprocessable, field_error
from bizos.core.events import append_event, payload
from bizos.core.money import CENT, ZERO, cents, text
from bizos.core.pagination import ListOrder, PageParams, read_page, where_given
from bizos.core.reads import one_or_404, read_of
from bizos.core.sequences import format_number, next_value
from bizos.core.versions import check_version
from bizos.modules.billing.invoices.amounts import (
    INVOICE_MONEY,
    PAYMENT_MONEY,
    balance_due,
    cents_of,
    is_overdue,
    net_paid,
    set_amounts,
    settled_status,
)
from bizos.modules.billing.invoices.schemas import (
    OPEN_STATUSES,
    CreditNoteRead,
    InvoiceLine,
    InvoiceLineInput,
    InvoicePaymentRead,
    InvoiceRead,
)
from bizos.modules.billing.models import CreditNote, Invoice, Payment
from bizos.modules.crm.contacts import service as contacts_service
from bizos.modules.crm.deals.schemas import iso_currency

log = structlog.get_logger("bizos.billing.invoices")
P = ParamSpec("P")

DEFAULT_PAYMENT_TERMS_DAYS = 14
INVOICE_SERIES = "invoice"
# Statuses whose money may still move (payments, refunds, credit notes).
BILLED = ("open", "partially_paid", "paid", "discrepancy")


# --- reads -----------------------------------------------------------------------------


def credit_note_read(row: CreditNote) -> CreditNoteRead:
    return CreditNoteRead.model_validate(row)


def invoice_summary(
    row: Invoice,
    *,
    credit_notes: Sequence[CreditNote] = (),
    payments: Sequence[Payment] = (),
    today: dt.date | None = None,
) -> InvoiceRead:
    """The API shape of an invoice from what is already loaded (no queries)."""
    return read_of(
        InvoiceRead,
        row,
        **cents_of(row, INVOICE_MONEY),
        balance_due=balance_due(row),
        lines=[InvoiceLine.model_validate(line) for line in row.lines or []],
        overdue=is_overdue(row, today),
        credit_notes=[credit_note_read(c) for c in credit_notes],
        payments=[read_of(InvoicePaymentRead, p, **cents_of(p, PAYMENT_MONEY)) for p in payments],
    )


async def invoice_read(session: AsyncSession, ctx: Context, invoice: Invoice) -> InvoiceRead:
    """The full API shape: with its credit notes and the payments applied to it."""
    tenant_id = ctx.require_tenant()
    notes = await session.scalars(
        sa.select(CreditNote)
        .where(CreditNote.tenant_id == tenant_id, CreditNote.invoice_id == invoice.id)
        .order_by(CreditNote.id)
    )
    payments = await session.scalars(
        sa.select(Payment)
        .where(Payment.tenant_id == tenant_id, Payment.invoice_id == invoice.id)
        .order_by(Payment.id)
    )
    return invoice_summary(invoice, credit_notes=list(notes), payments=list(payments))


async def _one(session: AsyncSession, query: Any) -> Invoice:
    row: Invoice = await one_or_404(session, query, "invoice")
    return row


def _of_tenant(ctx: Context, *where: sa.ColumnElement[bool]) -> Any:
    return sa.select(Invoice).where(Invoice.tenant_id == ctx.require_tenant(), *where)


async def get_invoice(session: AsyncSession, ctx: Context, invoice_id: str) -> Invoice:
    return await _one(session, _of_tenant(ctx, Invoice.id == invoice_id))


async def get_invoice_by_number(session: AsyncSession, ctx: Context, number: str) -> Invoice:
    """The invoice numbered ``number`` (``INV-000042``; case and spaces forgiven)."""
    return await _one(session, _of_tenant(ctx, Invoice.number == number.strip().upper()))


async def lock_invoice(session: AsyncSession, ctx: Context, invoice_id: str) -> Invoice:
    """The invoice, row-locked and freshly read, for a change of its money or state."""
    query = _of_tenant(ctx, Invoice.id == invoice_id).with_for_update()
    return await _one(session, query.execution_options(populate_existing=True))


INVOICE_ORDER = ListOrder(
    "invoices",
    Invoice.id,
    [Invoice.created_at, Invoice.updated_at, Invoice.due_date, Invoice.total],
)


async def list_invoices(
    session: AsyncSession,
    ctx: Context,
    *,
    page: PageParams,
    order_id: str | None = None,
    status: str | None = None,
    contact_id: str | None = None,
    customer_email: str | None = None,
    overdue: bool | None = None,
    today: dt.date | None = None,
) -> tuple[list[InvoiceRead], str | None]:
    """The tenant's invoices in ``page``'s order (newest first by default), filtered.
    ``overdue=true``: open or partially paid and past the due date; ``overdue=false``:
    everything else."""
    today = today or utcnow().date()
    email = customer_email.strip().lower() if customer_email else None
    query = where_given(
        _of_tenant(ctx),
        (Invoice.order_id, order_id),
        (Invoice.status, status),
        (Invoice.contact_id, contact_id),
        (Invoice.customer_email, email),
    )
    overdue_clause = sa.and_(Invoice.status.in_(OPEN_STATUSES), Invoice.due_date < today)
    if overdue is True:
        query = query.where(overdue_clause)
    elif overdue is False:
        query = query.where(sa.not_(overdue_clause))
    return await read_page(
        session, INVOICE_ORDER, query, page, lambda row: invoice_summary(row, today=today)
    )


async def find_open_invoices(
    session: AsyncSession, ctx: Context, *, email: str, currency: str | None = None
) -> list[Invoice]:
    """Open and partially paid invoices billed to ``email`` (oldest first), in
    ``currency`` when given: the candidates a payment without an invoice number may be for."""
    query = where_given(
        _of_tenant(
            ctx, Invoice.customer_email == email.strip().lower(), Invoice.status.in_(OPEN_STATUSES)
        ),
        (Invoice.currency, currency.strip().upper() if currency is not None else None),
    )
    return list(await session.scalars(query.order_by(Invoice.issued_at, Invoice.id)))


# --- drafting, issuing and voiding -------------------------------------------------


def _check_currency(currency: str) -> str:
    try:
        return iso_currency(currency)
    except ValueError as exc:
        raise Unprocessable(
            "invalid currency", errors=[field_error(["body", "currency"], str(exc))]
        ) from None


def _draft(ctx: Context, *, currency: str, customer_email: str | None, **fields: Any) -> Invoice:
    """A draft invoice row: nothing paid, refunded, credited or reminded yet."""
    return Invoice(
        tenant_id=ctx.require_tenant(),
        status="draft",
        currency=_check_currency(currency),
        customer_email=customer_email.strip().lower() if customer_email else None,
        amount_paid=ZERO,
        amount_refunded=ZERO,
        amount_credited=ZERO,
        reminders_sent=0,
        **fields,
    )


async def billing_event(
    session: AsyncSession,
    ctx: Context,
    type_: str,
    kind: str,
    row: Invoice | Payment | CreditNote,
    data: dict[str, Any],
    *,
    version: int = 1,
) -> dict[str, Any]:
    """``type_`` on the stream of ``row`` (an ``invoice``, ``payment`` or
    ``credit_note``); its data names the row (``<kind>_id``), then ``data``. Returns
    that data."""
    data = {f"{kind}_id": row.id, **data}
    await append_event(
        session, ctx, type_, aggregate_type=kind, aggregate_id=row.id, version=version, data=data
    )
    return data


async def payment_event(
    session: AsyncSession,
    ctx: Context,
    type_: str,
    payment: Payment,
    *,
    version: int = 1,
    **data: Any,
) -> None:
    """``type_`` on the payment's stream; its data names the payment, then ``data``."""
    await billing_event(session, ctx, type_, "payment", payment, data, version=version)


async def invoice_event(
    session: AsyncSession, ctx: Context, type_: str, invoice: Invoice, **extra: Any
) -> None:
    """``type_`` on the invoice's stream: its number, links, status and money, then
    ``extra``."""
    data = {
        **payload(invoice, "number", "order_id", "contact_id", "status", "currency"),
        "total": text(invoice.total),
        "amount_paid": text(invoice.amount_paid),
        "balance_due": text(balance_due(invoice)),
        **extra,
    }
    await billing_event(session, ctx, type_, "invoice", invoice, data, version=invoice.version)


async def _issue(
    session: AsyncSession, ctx: Context, invoice: Invoice, *, terms_days: int
) -> Invoice:
    """Number the invoice, open it and start its payment terms today (returns it)."""
    now = utcnow()
    value = await next_value(session, ctx.require_tenant(), INVOICE_SERIES)
    invoice.number = format_number("INV", value)
    invoice.status = "open"
    invoice.issued_at = now
    invoice.due_date = now.date() + dt.timedelta(days=terms_days)
    await session.flush()
    await invoice_event(
        session,
        ctx,
        "billing.invoice.issued",
        invoice,
        customer_email=invoice.customer_email,
        due_date=invoice.due_date.isoformat(),
        subtotal=text(invoice.subtotal),
        tax_total=text(invoice.tax_total),
    )
    log.info("billing.invoice.issued", invoice_id=invoice.id, number=invoice.number)
    return invoice


async def _live_order_invoice(session: AsyncSession, ctx: Context, order_id: str) -> Invoice | None:
    return await session.scalar(
        sa.select(Invoice)
        .where(
            Invoice.tenant_id == ctx.require_tenant(),
            Invoice.order_id == order_id,
            Invoice.status != "void",
        )
        .order_by(Invoice.id)
        .limit(1)
    )


async def create_invoice_for_order(
    session: AsyncSession,
    ctx: Context,
    *,
    order_id: str,
    currency: str,
    lines: Sequence[InvoiceLineInput | Mapping[str, Any]],
    contact_id: str | None = None,
    customer_email: str | None = None,
    customer_name: str | None = None,
    shipping_total: Decimal = ZERO,
    discount_total: Decimal = ZERO,
    billing_address: dict[str, Any] | None = None,
    due_days: int | None = None,
    shipping_tax: Decimal = ZERO,
    prices_include_tax: bool = False,
) -> Invoice:
    """The order's invoice, issued at once (``billing.invoice.issued``). Idempotent per
    order: while the order has an invoice that is not void, that invoice is returned
    unchanged. ``due_days`` defaults to 14.

    So that the invoice bills exactly the order's total, the order passes its own per-line
    ``tax_amount``, the tax on its shipping, and ``prices_include_tax`` when its prices
    already hold the tax (then the tax is shown, not added)."""
    existing = await _live_order_invoice(session, ctx, order_id)
    if existing is not None:
        return existing
    if not lines:
        raise Unprocessable(
            "an invoice needs a line", errors=[field_error(["body", "lines"], "empty")]
        )
    invoice = _draft(
        ctx,
        currency=currency,
        customer_email=customer_email,
        order_id=order_id,
        contact_id=contact_id,
        customer_name=customer_name,
        billing_address=billing_address,
    )
    set_amounts(
        invoice,
        lines,
        shipping_total=Decimal(shipping_total),
        discount_total=Decimal(discount_total),
        shipping_tax=Decimal(shipping_tax),
        prices_include_tax=prices_include_tax,
    )
    try:
        # A racing call for the same order may commit first: the unique index on live
        # order invoices refuses ours, and the savepoint lets us return theirs.
        async with session.begin_nested():
            session.add(invoice)
            await session.flush()
    except IntegrityError:
        existing = await _live_order_invoice(session, ctx, order_id)
        if existing is None:
            raise
        return existing
    terms = DEFAULT_PAYMENT_TERMS_DAYS if due_days is None else due_days
    return await _issue(session, ctx, invoice, terms_days=terms)


async def create_invoice(
    session: AsyncSession,
    ctx: Context,
    *,
    currency: str,
    lines: Sequence[InvoiceLineInput | Mapping[str, Any]],
    contact_id: str | None = None,
    customer_email: str | None = None,
    customer_name: str | None = None,
    billing_address: dict[str, Any] | None = None,
    shipping_total: Decimal = ZERO,
    discount_total: Decimal = ZERO,
    due_days: int | None = None,
    notes: str | None = None,
    order_id: str | None = None,
) -> Invoice:
    """A manual invoice as a draft (no number yet; ``issue_invoice`` numbers it).

    The contact, when given, must be the tenant's (422 otherwise); its email and name fill
    in what the caller left out. The payment terms are kept as the draft's due date
    relative to the day it was drafted and restart from the day it is issued."""
    if contact_id is not None:
        contact = await contacts_service.given_contact(session, ctx, contact_id)
        contact_id = contact.id
        customer_email = customer_email or contact.email
        customer_name = customer_name or contact.name
    now = utcnow()
    terms = DEFAULT_PAYMENT_TERMS_DAYS if due_days is None else due_days
    invoice = _draft(
        ctx,
        currency=currency,
        customer_email=customer_email,
        order_id=order_id,
        contact_id=contact_id,
        customer_name=customer_name,
        billing_address=billing_address,
        notes=notes,
        created_at=now,
        updated_at=now,
        due_date=now.date() + dt.timedelta(days=terms),
    )
    set_amounts(
        invoice,
        lines,
        shipping_total=Decimal(shipping_total),
        discount_total=Decimal(discount_total),
    )
    session.add(invoice)
    await session.flush()
    await invoice_event(session, ctx, "billing.invoice.drafted", invoice)
    return invoice


async def issue_invoice(
    session: AsyncSession, ctx: Context, invoice_id: str, *, if_match: str | None = None
) -> Invoice:
    """Number and open a draft. Issuing an issued invoice is a no-op; a void one 409."""
    invoice = await lock_invoice(session, ctx, invoice_id)
    check_version(if_match, invoice.version)
    if invoice.status == "void":
        raise Conflict("the invoice is void; it cannot be issued")
    if invoice.status != "draft":
        return invoice
    terms = DEFAULT_PAYMENT_TERMS_DAYS
    if invoice.due_date is not None:
        terms = max(0, (invoice.due_date - invoice.created_at.date()).days)
    invoice.version += 1
    return await _issue(session, ctx, invoice, terms_days=terms)


async def void_invoice(
    session: AsyncSession,
    ctx: Context,
    invoice_id: str,
    *,
    reason: str,
    if_match: str | None = None,
) -> Invoice:
    """Void a draft or unpaid invoice (``billing.invoice.voided``); its number stays
    used (gapless means no number is reissued, not that voids disappear). Money received
    and not refunded → 409 (refund first). Already void → no-op."""
    invoice = await lock_invoice(session, ctx, invoice_id)
    check_version(if_match, invoice.version)
    if invoice.status == "void":
        return invoice
    if net_paid(invoice) > 0:
        raise Conflict(
            f"the invoice has {text(net_paid(invoice))} {invoice.currency} paid; "
            "refund the payment before voiding it"
        )
    invoice.status = "void"
    invoice.voided_at = utcnow()
    invoice.void_reason = reason[:500]
    invoice.version += 1
    await session.flush()
    await invoice_event(session, ctx, "billing.invoice.voided", invoice, reason=invoice.void_reason)
    log.info("billing.invoice.voided", invoice_id=invoice.id, number=invoice.number)
    return invoice


# --- for other modules: ids and values, never the row -------------------------------------


def _id_of(make: Callable[P, Awaitable[Invoice]]) -> Callable[P, Awaitable[str]]:
    async def made(*args: P.args, **kwargs: P.kwargs) -> str:
        return (await make(*args, **kwargs)).id

    return made


issue_order_invoice = _id_of(create_invoice_for_order)
"""The id of the order's invoice, as :func:`create_invoice_for_order` issues it."""


async def void_order_invoice(
    session: AsyncSession, ctx: Context, invoice_id: str, *, reason: str
) -> None:
    """Void ``invoice_id`` as :func:`void_invoice` does (409 while money received stands)."""
    await void_invoice(session, ctx, invoice_id, reason=reason)


async def invoice_number(session: AsyncSession, ctx: Context, invoice_id: str) -> str | None:
    """The invoice's number (``None`` while it is a draft); 404 for another tenant's."""
    return (await get_invoice(session, ctx, invoice_id)).number


# --- money moved ---------------------------------------------------------------------


def positive_amount(amount: Decimal, field: str = "amount") -> Decimal:
    amount = Decimal(amount)
    if amount <= 0 or amount != amount.quantize(CENT):
        raise Unprocessable(
            "an amount above zero with at most 2 decimals",
            errors=[field_error(["body", field], "must be > 0 with 2 decimals")],
        )
    return cents(amount)


async def after_money_moved(
    session: AsyncSession, ctx: Context, invoice: Invoice, previous: str, **extra: Any
) -> None:
    """Settle the status from the amounts (unless in discrepancy) and announce it."""
    if invoice.status != "discrepancy":
        invoice.status = settled_status(invoice)
    if invoice.status == "paid" and previous != "paid":
        invoice.paid_at = utcnow()
    elif invoice.status != "paid":
        invoice.paid_at = None
    invoice.version += 1
    await session.flush()
    if invoice.status != previous or extra.get("payment_amount"):
        if invoice.status == "paid":
            await invoice_event(session, ctx, "billing.invoice.paid", invoice, **extra)
        elif invoice.status == "partially_paid":
            await invoice_event(session, ctx, "billing.invoice.partially_paid", invoice, **extra)
        elif invoice.status != previous:
            await invoice_event(session, ctx, "billing.invoice.reopened", invoice, **extra)


async def apply_payment(
    session: AsyncSession,
    ctx: Context,
    invoice_id: str,
    *,
    amount: Decimal,
    currency: str,
    payment_id: str | None = None,
) -> Invoice:
    """Add ``amount`` to what was paid; the invoice becomes ``paid`` or
    ``partially_paid`` (``billing.invoice.paid`` / ``.partially_paid``).

    The amount is applied as given, even beyond the balance (the balance goes negative):
    whether an overpayment or a wrong amount is a discrepancy is the payments module's
    decision, which then calls :func:`flag_discrepancy`. An invoice in discrepancy keeps
    that status. A draft or void invoice, or another currency → 409."""
    amount = positive_amount(amount)
    invoice = await lock_invoice(session, ctx, invoice_id)
    if invoice.status not in BILLED:
        raise Conflict(f"the invoice is {invoice.status}; it takes no payments")
    if currency.strip().upper() != invoice.currency:
        raise Conflict(
            f"the invoice is in {invoice.currency}; a payment in {currency} cannot be applied"
        )
    previous = invoice.status
    invoice.amount_paid = cents(Decimal(invoice.amount_paid) + amount)
    await after_money_moved(
        session, ctx, invoice, previous, payment_id=payment_id, payment_amount=text(amount)
    )
    log.info("billing.invoice.payment_applied", invoice_id=invoice.id, status=invoice.status)
    return invoice
