"""Invoices and credit notes: draft, issue, pay, refund, credit, void. The only writer
of ``billing_invoices`` and ``billing_credit_notes``.

Numbers are gapless per tenant (``INV-000001``, ``CN-000001``) from
``core.sequences``: a number is taken inside the transaction that issues the invoice,
so a rolled-back issue gives it back. Drafts have no number.

Amounts: each line's ``amount`` is ``quantity * unit_price - discount`` rounded half-up to
the cent, its ``tax_amount`` is ``amount * tax_rate`` rounded half-up to the cent (per
line, never on the sum). The invoice keeps

    subtotal - discount_total + tax_total + shipping_total == total

where ``subtotal`` is the sum of ``quantity * unit_price``, ``discount_total`` the line
discounts plus any invoice-level discount (which does not reduce tax), and
``balance_due = total - amount_paid + amount_refunded - amount_credited``.

A refund does not reopen the balance: the part of it that was money for the invoice is
matched by a credit note (``apply_refund``), so the customer owes what they owed before;
only the refund of an overpayment (a negative balance) comes without one.

States: ``draft → open → partially_paid → paid``; ``void`` from draft/open (a paid or
partially paid invoice must be refunded first: 409); ``discrepancy`` is set by payments
(``flag_discrepancy``) and left only by ``resolve_discrepancy``. Payments applied while
in discrepancy still count, but the status stays until someone resolves it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Conflict, NotFound, Unprocessable, field_error
from bizos.core.events import append_event
from bizos.core.pagination import ListOrder, PageParams
from bizos.core.sequences import format_number, next_value
from bizos.core.versions import check_version
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
from bizos.modules.identity import service as identity_service
from bizos.modules.notifications import service as notifications_service
from bizos.modules.work import service as work_service

log = structlog.get_logger("bizos.billing.invoices")

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# The largest amount a money column (14 digits, 2 after the point) holds.
MAX_AMOUNT = Decimal("999999999999.99")
DEFAULT_PAYMENT_TERMS_DAYS = 14
INVOICE_SERIES = "invoice"
CREDIT_NOTE_SERIES = "credit_note"
# Statuses whose money may still move (payments, refunds, credit notes).
_BILLED = ("open", "partially_paid", "paid", "discrepancy")


def cents(value: Decimal | int | str) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _money(value: Decimal) -> str:
    return str(cents(value))


# --- amounts ---------------------------------------------------------------------------


def _line_error(index: int, field: str, message: str) -> Unprocessable:
    return Unprocessable(message, errors=[field_error(["body", "lines", index, field], message)])


def price_line(
    line: InvoiceLineInput, *, tax_included: bool = False, index: int = 0
) -> InvoiceLine:
    """One line with its amount and tax, each rounded half-up to the cent. A line's given
    ``tax_amount`` is kept as it is; ``tax_included``: the amount already holds the tax.
    A line too large to store is a 422 naming it (``index``: its place in the body)."""
    gross = cents(line.quantity * line.unit_price)
    if gross > MAX_AMOUNT:
        raise _line_error(index, "quantity", f"the line amount exceeds {MAX_AMOUNT}")
    discount = cents(line.discount)
    if discount > gross:
        raise _line_error(index, "discount", "more than quantity * price")
    amount = gross - discount
    tax = cents(line.tax_amount if line.tax_amount is not None else amount * line.tax_rate)
    total = amount if tax_included else amount + tax
    if total > MAX_AMOUNT:
        field = "tax_amount" if line.tax_amount is not None else "tax_rate"
        raise _line_error(index, field, f"the line total exceeds {MAX_AMOUNT}")
    return InvoiceLine(
        description=line.description,
        sku=line.sku,
        product_id=line.product_id,
        quantity=line.quantity,
        unit_price=cents(line.unit_price),
        discount=discount,
        tax_rate=line.tax_rate,
        amount=amount,
        tax_amount=tax,
        tax_included=tax_included,
        total=total,
    )


def _line_json(line: InvoiceLine) -> dict[str, Any]:
    # ``tax_included`` is stored only when set (it reads back as False when absent).
    exclude = None if line.tax_included else {"tax_included"}
    return {
        k: (str(v) if isinstance(v, Decimal) else v)
        for k, v in line.model_dump(exclude=exclude).items()
    }


def _set_amounts(
    invoice: Invoice,
    lines: Sequence[InvoiceLineInput | Mapping[str, Any]],
    *,
    shipping_total: Decimal,
    discount_total: Decimal,
    shipping_tax: Decimal = ZERO,
    prices_include_tax: bool = False,
) -> None:
    priced = [
        price_line(InvoiceLineInput.model_validate(line), tax_included=prices_include_tax, index=i)
        for i, line in enumerate(lines)
    ]
    subtotal = sum((cents(p.quantity * p.unit_price) for p in priced), ZERO)
    line_discounts = sum((p.discount for p in priced), ZERO)
    tax_total = sum((p.tax_amount for p in priced), ZERO) + cents(shipping_tax)
    shipping, extra_discount = cents(shipping_total), cents(discount_total)
    if shipping < 0 or extra_discount < 0 or shipping_tax < 0:
        raise Unprocessable(
            "shipping and discount are never negative",
            errors=[field_error(["body", "discount_total"], "must be >= 0")],
        )
    total = subtotal - line_discounts - extra_discount + shipping
    if not prices_include_tax:
        total += tax_total
    if total < 0:
        raise Unprocessable(
            "the discount exceeds the invoice",
            errors=[field_error(["body", "discount_total"], "more than the invoice total")],
        )
    if max(subtotal, tax_total, shipping, total) > MAX_AMOUNT:
        message = f"the invoice amount exceeds {MAX_AMOUNT}"
        raise Unprocessable(message, errors=[field_error(["body", "lines"], message)])
    invoice.lines = [_line_json(p) for p in priced]
    invoice.subtotal = subtotal
    invoice.discount_total = line_discounts + extra_discount
    invoice.tax_total = tax_total
    invoice.shipping_total = shipping
    invoice.total = total


def balance_due(invoice: Invoice) -> Decimal:
    """What the customer still owes (negative when overpaid); zero for drafts and voids."""
    if invoice.status in ("draft", "void"):
        return ZERO
    return cents(
        Decimal(invoice.total)
        - Decimal(invoice.amount_paid)
        + Decimal(invoice.amount_refunded)
        - Decimal(invoice.amount_credited)
    )


def net_paid(invoice: Invoice) -> Decimal:
    return cents(Decimal(invoice.amount_paid) - Decimal(invoice.amount_refunded))


def is_overdue(invoice: Invoice, today: dt.date | None = None) -> bool:
    return (
        invoice.status in OPEN_STATUSES
        and invoice.due_date is not None
        and invoice.due_date < (today or utcnow().date())
    )


def _settled_status(invoice: Invoice) -> str:
    """The status the amounts say, for an issued invoice outside discrepancy."""
    if balance_due(invoice) <= 0:
        return "paid"
    if net_paid(invoice) > 0:
        return "partially_paid"
    return "open"


# --- reads -----------------------------------------------------------------------------


def credit_note_read(row: CreditNote) -> CreditNoteRead:
    return CreditNoteRead(
        id=row.id,
        number=row.number,
        invoice_id=row.invoice_id,
        amount=cents(row.amount),
        currency=row.currency,
        reason=row.reason,
        lines=list(row.lines or []),
        issued_at=row.issued_at,
    )


def invoice_summary(
    row: Invoice,
    *,
    credit_notes: Sequence[CreditNote] = (),
    payments: Sequence[Payment] = (),
    today: dt.date | None = None,
) -> InvoiceRead:
    """The API shape of an invoice from what is already loaded (no queries)."""
    return InvoiceRead(
        id=row.id,
        number=row.number,
        order_id=row.order_id,
        contact_id=row.contact_id,
        customer_email=row.customer_email,
        customer_name=row.customer_name,
        billing_address=row.billing_address,
        status=row.status,
        currency=row.currency,
        subtotal=cents(row.subtotal),
        discount_total=cents(row.discount_total),
        tax_total=cents(row.tax_total),
        shipping_total=cents(row.shipping_total),
        total=cents(row.total),
        amount_paid=cents(row.amount_paid),
        amount_refunded=cents(row.amount_refunded),
        amount_credited=cents(row.amount_credited),
        balance_due=balance_due(row),
        lines=[InvoiceLine.model_validate(line) for line in row.lines or []],
        issued_at=row.issued_at,
        due_date=row.due_date,
        overdue=is_overdue(row, today),
        paid_at=row.paid_at,
        voided_at=row.voided_at,
        void_reason=row.void_reason,
        discrepancy_reason=row.discrepancy_reason,
        reminders_sent=row.reminders_sent,
        last_reminder_at=row.last_reminder_at,
        notes=row.notes,
        credit_notes=[credit_note_read(c) for c in credit_notes],
        payments=[
            InvoicePaymentRead(
                id=p.id,
                provider=p.provider,
                amount=cents(p.amount),
                amount_refunded=cents(p.amount_refunded),
                currency=p.currency,
                status=p.status,
                received_at=p.received_at,
            )
            for p in payments
        ],
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
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


async def get_invoice(session: AsyncSession, ctx: Context, invoice_id: str) -> Invoice:
    row = await session.scalar(
        sa.select(Invoice).where(
            Invoice.tenant_id == ctx.require_tenant(), Invoice.id == invoice_id
        )
    )
    if row is None:
        raise NotFound("invoice not found")
    return row


async def get_invoice_by_number(session: AsyncSession, ctx: Context, number: str) -> Invoice:
    """The invoice numbered ``number`` (``INV-000042``; case and spaces forgiven)."""
    row = await session.scalar(
        sa.select(Invoice).where(
            Invoice.tenant_id == ctx.require_tenant(), Invoice.number == number.strip().upper()
        )
    )
    if row is None:
        raise NotFound("invoice not found")
    return row


async def _locked(session: AsyncSession, ctx: Context, invoice_id: str) -> Invoice:
    row = await session.scalar(
        sa.select(Invoice)
        .where(Invoice.tenant_id == ctx.require_tenant(), Invoice.id == invoice_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound("invoice not found")
    return row


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
    query = sa.select(Invoice).where(Invoice.tenant_id == ctx.require_tenant())
    for column, value in (
        (Invoice.order_id, order_id),
        (Invoice.status, status),
        (Invoice.contact_id, contact_id),
        (Invoice.customer_email, customer_email.strip().lower() if customer_email else None),
    ):
        if value is not None:
            query = query.where(column == value)
    overdue_clause = sa.and_(Invoice.status.in_(OPEN_STATUSES), Invoice.due_date < today)
    if overdue is True:
        query = query.where(overdue_clause)
    elif overdue is False:
        query = query.where(sa.not_(overdue_clause))
    rows = list(await session.scalars(INVOICE_ORDER.apply(query, page)))
    items, cursor = INVOICE_ORDER.take_page(rows, page)
    return [invoice_summary(r, today=today) for r in items], cursor


async def find_open_invoices(
    session: AsyncSession, ctx: Context, *, email: str, currency: str | None = None
) -> list[Invoice]:
    """Open and partially paid invoices billed to ``email`` (oldest first), in
    ``currency`` when given: the candidates a payment without an invoice number may be for."""
    query = sa.select(Invoice).where(
        Invoice.tenant_id == ctx.require_tenant(),
        Invoice.customer_email == email.strip().lower(),
        Invoice.status.in_(OPEN_STATUSES),
    )
    if currency is not None:
        query = query.where(Invoice.currency == currency.strip().upper())
    return list(await session.scalars(query.order_by(Invoice.issued_at, Invoice.id)))


async def list_credit_notes(
    session: AsyncSession, ctx: Context, invoice_id: str
) -> list[CreditNoteRead]:
    await get_invoice(session, ctx, invoice_id)
    rows = await session.scalars(
        sa.select(CreditNote)
        .where(CreditNote.tenant_id == ctx.require_tenant(), CreditNote.invoice_id == invoice_id)
        .order_by(CreditNote.id)
    )
    return [credit_note_read(r) for r in rows]


# --- writes: creating and issuing ------------------------------------------------------


def _check_currency(currency: str) -> str:
    try:
        return iso_currency(currency)
    except ValueError as exc:
        raise Unprocessable(
            "invalid currency", errors=[field_error(["body", "currency"], str(exc))]
        ) from None


async def _event(
    session: AsyncSession, ctx: Context, type_: str, invoice: Invoice, **extra: Any
) -> None:
    data: dict[str, Any] = {
        "invoice_id": invoice.id,
        "number": invoice.number,
        "order_id": invoice.order_id,
        "contact_id": invoice.contact_id,
        "status": invoice.status,
        "currency": invoice.currency,
        "total": _money(invoice.total),
        "amount_paid": _money(invoice.amount_paid),
        "balance_due": _money(balance_due(invoice)),
    }
    data.update(extra)
    await append_event(
        session,
        ctx,
        type_,
        aggregate_type="invoice",
        aggregate_id=invoice.id,
        version=invoice.version,
        data=data,
    )


async def _issue(session: AsyncSession, ctx: Context, invoice: Invoice, *, terms_days: int) -> None:
    """Number the invoice, open it and start its payment terms today."""
    now = utcnow()
    value = await next_value(session, ctx.require_tenant(), INVOICE_SERIES)
    invoice.number = format_number("INV", value)
    invoice.status = "open"
    invoice.issued_at = now
    invoice.due_date = now.date() + dt.timedelta(days=terms_days)
    await session.flush()
    await _event(
        session,
        ctx,
        "billing.invoice.issued",
        invoice,
        customer_email=invoice.customer_email,
        due_date=invoice.due_date.isoformat(),
        subtotal=_money(invoice.subtotal),
        tax_total=_money(invoice.tax_total),
    )
    log.info("billing.invoice.issued", invoice_id=invoice.id, number=invoice.number)


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
    invoice = Invoice(
        tenant_id=ctx.require_tenant(),
        order_id=order_id,
        contact_id=contact_id,
        customer_email=customer_email.strip().lower() if customer_email else None,
        customer_name=customer_name,
        billing_address=billing_address,
        status="draft",
        currency=_check_currency(currency),
        amount_paid=ZERO,
        amount_refunded=ZERO,
        amount_credited=ZERO,
        reminders_sent=0,
    )
    _set_amounts(
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
    await _issue(session, ctx, invoice, terms_days=terms)
    return invoice


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
        try:
            contact = await contacts_service.get_contact(session, ctx, contact_id)
        except NotFound:
            raise Unprocessable(
                "no such contact", errors=[field_error(["body", "contact_id"], "no such contact")]
            ) from None
        contact_id = contact.id
        customer_email = customer_email or contact.email
        customer_name = customer_name or contact.name
    now = utcnow()
    terms = DEFAULT_PAYMENT_TERMS_DAYS if due_days is None else due_days
    invoice = Invoice(
        tenant_id=ctx.require_tenant(),
        order_id=order_id,
        contact_id=contact_id,
        customer_email=customer_email.strip().lower() if customer_email else None,
        customer_name=customer_name,
        billing_address=billing_address,
        status="draft",
        currency=_check_currency(currency),
        amount_paid=ZERO,
        amount_refunded=ZERO,
        amount_credited=ZERO,
        reminders_sent=0,
        notes=notes,
        created_at=now,
        updated_at=now,
        due_date=now.date() + dt.timedelta(days=terms),
    )
    _set_amounts(
        invoice,
        lines,
        shipping_total=Decimal(shipping_total),
        discount_total=Decimal(discount_total),
    )
    session.add(invoice)
    await session.flush()
    await _event(session, ctx, "billing.invoice.drafted", invoice)
    return invoice


async def issue_invoice(
    session: AsyncSession, ctx: Context, invoice_id: str, *, if_match: str | None = None
) -> Invoice:
    """Number and open a draft. Issuing an issued invoice is a no-op; a void one 409."""
    invoice = await _locked(session, ctx, invoice_id)
    check_version(if_match, invoice.version)
    if invoice.status == "void":
        raise Conflict("the invoice is void; it cannot be issued")
    if invoice.status != "draft":
        return invoice
    terms = DEFAULT_PAYMENT_TERMS_DAYS
    if invoice.due_date is not None:
        terms = max(0, (invoice.due_date - invoice.created_at.date()).days)
    invoice.version += 1
    await _issue(session, ctx, invoice, terms_days=terms)
    return invoice


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
    invoice = await _locked(session, ctx, invoice_id)
    check_version(if_match, invoice.version)
    if invoice.status == "void":
        return invoice
    if net_paid(invoice) > 0:
        raise Conflict(
            f"the invoice has {_money(net_paid(invoice))} {invoice.currency} paid; "
            "refund the payment before voiding it"
        )
    invoice.status = "void"
    invoice.voided_at = utcnow()
    invoice.void_reason = reason[:500]
    invoice.version += 1
    await session.flush()
    await _event(session, ctx, "billing.invoice.voided", invoice, reason=invoice.void_reason)
    log.info("billing.invoice.voided", invoice_id=invoice.id, number=invoice.number)
    return invoice


# --- writes: money ---------------------------------------------------------------------


def _check_positive(amount: Decimal, field: str = "amount") -> Decimal:
    amount = Decimal(amount)
    if amount <= 0 or amount != amount.quantize(CENT):
        raise Unprocessable(
            "an amount above zero with at most 2 decimals",
            errors=[field_error(["body", field], "must be > 0 with 2 decimals")],
        )
    return cents(amount)


async def _after_money_moved(
    session: AsyncSession, ctx: Context, invoice: Invoice, previous: str, **extra: Any
) -> None:
    """Settle the status from the amounts (unless in discrepancy) and announce it."""
    if invoice.status != "discrepancy":
        invoice.status = _settled_status(invoice)
    if invoice.status == "paid" and previous != "paid":
        invoice.paid_at = utcnow()
    elif invoice.status != "paid":
        invoice.paid_at = None
    invoice.version += 1
    await session.flush()
    if invoice.status != previous or extra.get("payment_amount"):
        if invoice.status == "paid":
            await _event(session, ctx, "billing.invoice.paid", invoice, **extra)
        elif invoice.status == "partially_paid":
            await _event(session, ctx, "billing.invoice.partially_paid", invoice, **extra)
        elif invoice.status != previous:
            await _event(session, ctx, "billing.invoice.reopened", invoice, **extra)


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
    amount = _check_positive(amount)
    invoice = await _locked(session, ctx, invoice_id)
    if invoice.status not in _BILLED:
        raise Conflict(f"the invoice is {invoice.status}; it takes no payments")
    if currency.strip().upper() != invoice.currency:
        raise Conflict(
            f"the invoice is in {invoice.currency}; a payment in {currency} cannot be applied"
        )
    previous = invoice.status
    invoice.amount_paid = cents(Decimal(invoice.amount_paid) + amount)
    await _after_money_moved(
        session, ctx, invoice, previous, payment_id=payment_id, payment_amount=_money(amount)
    )
    log.info("billing.invoice.payment_applied", invoice_id=invoice.id, status=invoice.status)
    return invoice


async def apply_refund(
    session: AsyncSession,
    ctx: Context,
    invoice_id: str,
    *,
    amount: Decimal,
    payment_id: str | None = None,
    refund_ref: str | None = None,
) -> Invoice:
    """Give back ``amount`` of what was paid, matched by a credit note so the customer
    owes no more than before: the balance stays, a paid invoice stays paid.

    What the customer overpaid (a negative balance) is given back first and needs no
    credit note: the refund alone brings that balance back towards zero. Only the part
    beyond the overpayment was money for the invoice, and a credit note for that part
    (reason ``Refund <refund_ref>``, ``billing.credit_note.issued``) is issued in the
    same transaction. More than was paid and not yet refunded → 422."""
    amount = _check_positive(amount)
    invoice = await _locked(session, ctx, invoice_id)
    if amount > net_paid(invoice):
        raise Unprocessable(
            f"only {_money(net_paid(invoice))} {invoice.currency} was paid and not refunded",
            errors=[field_error(["body", "amount"], "more than was paid")],
        )
    previous = invoice.status
    overpaid = max(-balance_due(invoice), ZERO)
    invoice.amount_refunded = cents(Decimal(invoice.amount_refunded) + amount)
    credit = amount - min(amount, overpaid)
    extra: dict[str, Any] = {"payment_id": payment_id, "refund_amount": _money(amount)}
    if credit > 0:
        # The refund has raised the balance by ``amount``; ``credit`` takes back at most
        # that rise, so the note never exceeds the balance due (nor the invoice total).
        reason = f"Refund {refund_ref}" if refund_ref else "Refund"
        note = await _add_credit_note(session, ctx, invoice, amount=credit, reason=reason)
        extra["credit_note_id"] = note.id
    await _after_money_moved(session, ctx, invoice, previous, **extra)
    return invoice


async def _add_credit_note(
    session: AsyncSession,
    ctx: Context,
    invoice: Invoice,
    *,
    amount: Decimal,
    reason: str,
    lines: Sequence[InvoiceLineInput | Mapping[str, Any]] | None = None,
) -> CreditNote:
    """Number and store a credit note on the (locked) invoice, count it as credited and
    announce it; the caller checked the amount and settles the status."""
    value = await next_value(session, ctx.require_tenant(), CREDIT_NOTE_SERIES)
    note = CreditNote(
        tenant_id=ctx.require_tenant(),
        number=format_number("CN", value),
        invoice_id=invoice.id,
        amount=amount,
        currency=invoice.currency,
        reason=reason[:500],
        lines=[
            _line_json(price_line(InvoiceLineInput.model_validate(line), index=i))
            for i, line in enumerate(lines or ())
        ],
        issued_at=utcnow(),
        actor_id=ctx.actor_id,
    )
    session.add(note)
    invoice.amount_credited = cents(Decimal(invoice.amount_credited) + amount)
    await session.flush()
    await append_event(
        session,
        ctx,
        "billing.credit_note.issued",
        aggregate_type="credit_note",
        aggregate_id=note.id,
        data={
            "credit_note_id": note.id,
            "number": note.number,
            "invoice_id": invoice.id,
            "invoice_number": invoice.number,
            "amount": _money(amount),
            "currency": invoice.currency,
            "reason": note.reason,
        },
    )
    return note


async def issue_credit_note(
    session: AsyncSession,
    ctx: Context,
    invoice_id: str,
    *,
    amount: Decimal,
    reason: str,
    lines: Sequence[InvoiceLineInput | Mapping[str, Any]] | None = None,
    if_match: str | None = None,
) -> CreditNote:
    """Credit part or all of what is still due (``CN-000001``, gapless per tenant;
    ``billing.credit_note.issued``). It cannot exceed the balance due (422), and only an
    issued, not void invoice takes one (409). Crediting the whole balance settles it.
    (A refund issues its own credit note: :func:`apply_refund`.)"""
    amount = _check_positive(amount)
    invoice = await _locked(session, ctx, invoice_id)
    check_version(if_match, invoice.version)
    if invoice.status not in _BILLED:
        raise Conflict(f"the invoice is {invoice.status}; only an issued invoice takes credit")
    due = balance_due(invoice)
    if amount > due:
        raise Unprocessable(
            f"a credit note cannot exceed the balance due ({_money(max(due, ZERO))} "
            f"{invoice.currency})",
            errors=[field_error(["body", "amount"], "more than the balance due")],
        )
    previous = invoice.status
    note = await _add_credit_note(session, ctx, invoice, amount=amount, reason=reason, lines=lines)
    await _after_money_moved(session, ctx, invoice, previous, credit_note_id=note.id)
    return note


# --- writes: discrepancies ---------------------------------------------------------------


async def _owner_id(session: AsyncSession, ctx: Context) -> str | None:
    """The tenant's first active owner (who hears about billing trouble)."""
    users = await identity_service.list_users(
        session, ctx, page=PageParams(limit=1), role="owner", is_active=True
    )
    return users.items[0].id if users.items else None


async def flag_discrepancy(
    session: AsyncSession,
    ctx: Context,
    invoice_id: str,
    *,
    reason: str,
    payment_id: str | None = None,
    received: Decimal | None = None,
    expected: Decimal | None = None,
    currency: str | None = None,
) -> Invoice:
    """Mark the invoice ``discrepancy``: ``billing.payment.discrepancy_detected``
    {invoice_id, number, payment_id, expected, received, currency, reason}, a high
    priority task and a notification for the tenant owner. ``expected`` defaults to the
    balance due before the payment. Works from any issued status; a draft or void
    invoice → 409."""
    invoice = await _locked(session, ctx, invoice_id)
    if invoice.status not in _BILLED:
        raise Conflict(f"the invoice is {invoice.status}; it cannot be in discrepancy")
    expected = cents(expected) if expected is not None else balance_due(invoice)
    invoice.status = "discrepancy"
    invoice.discrepancy_reason = reason
    invoice.version += 1
    await session.flush()
    data = {
        "invoice_id": invoice.id,
        "number": invoice.number,
        "payment_id": payment_id,
        "expected": _money(expected),
        "received": _money(received) if received is not None else None,
        "currency": (currency or invoice.currency).upper(),
        "reason": reason,
    }
    await append_event(
        session,
        ctx,
        "billing.payment.discrepancy_detected",
        aggregate_type="invoice",
        aggregate_id=invoice.id,
        version=invoice.version,
        data=data,
    )
    owner = await _owner_id(session, ctx)
    title = f"Payment discrepancy on invoice {invoice.number}"
    body = (
        f"Invoice {invoice.number} expected {data['expected']} {invoice.currency}; "
        f"received {data['received'] or 'an unexpected payment'} {data['currency']}.\n"
        f"Reason: {reason}"
    )
    await work_service.create_task(
        session,
        ctx,
        title=title,
        description=body,
        assignee_id=owner,
        priority="high",
        related_type="invoice",
        related_id=invoice.id,
        origin="billing.payment.discrepancy_detected",
    )
    if owner is not None:
        await notifications_service.notify(
            session,
            ctx,
            user_id=owner,
            kind="billing.payment_discrepancy",
            title=title,
            body=body,
            related_type="invoice",
            related_id=invoice.id,
            data=data,
        )
    log.warning("billing.payment.discrepancy_detected", invoice_id=invoice.id)
    return invoice


async def resolve_discrepancy(
    session: AsyncSession,
    ctx: Context,
    invoice_id: str,
    *,
    status: str | None = None,
    note: str | None = None,
    if_match: str | None = None,
) -> Invoice:
    """Leave ``discrepancy`` for ``status`` (default: what the amounts say). An invoice
    not in discrepancy → 409."""
    invoice = await _locked(session, ctx, invoice_id)
    check_version(if_match, invoice.version)
    if invoice.status != "discrepancy":
        raise Conflict(f"the invoice is {invoice.status}, not in discrepancy")
    if status is not None and status not in ("open", "paid", "partially_paid"):
        raise Unprocessable(
            "unknown status", errors=[field_error(["body", "status"], "open|paid|partially_paid")]
        )
    invoice.status = status or _settled_status(invoice)
    if invoice.status == "paid" and invoice.paid_at is None:
        invoice.paid_at = utcnow()
    invoice.version += 1
    await session.flush()
    await _event(session, ctx, "billing.invoice.discrepancy_resolved", invoice, note=note)
    return invoice
