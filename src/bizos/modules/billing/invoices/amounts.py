"""Invoice arithmetic: a line's amount and tax, an invoice's totals and balance.

Pure functions over the values (and the invoice row they fill in); no queries. Each
line's ``amount`` is ``quantity * unit_price - discount`` rounded half-up to the cent, its
``tax_amount`` is ``amount * tax_rate`` rounded half-up to the cent (per line, never on
the sum). The invoice keeps

    subtotal - discount_total + tax_total + shipping_total == total

where ``subtotal`` is the sum of ``quantity * unit_price``, ``discount_total`` the line
discounts plus any invoice-level discount (which does not reduce tax), and
``balance_due = total - amount_paid + amount_refunded - amount_credited``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from bizos.core.db import utcnow
from bizos.core.errors import Unprocessable, field_error
from bizos.core.money import ZERO, cents
from bizos.core.reads import read_of
from bizos.modules.billing.invoices.schemas import OPEN_STATUSES, InvoiceLine, InvoiceLineInput
from bizos.modules.billing.models import Invoice

INVOICE_MONEY = (
    "subtotal",
    "discount_total",
    "tax_total",
    "shipping_total",
    "total",
    "amount_paid",
    "amount_refunded",
    "amount_credited",
)

PAYMENT_MONEY = ("amount", "amount_refunded")


def cents_of(row: object, names: Sequence[str]) -> dict[str, Decimal]:
    """``row``'s money attributes ``names``, each rounded to the cent, by name."""
    return {name: cents(getattr(row, name)) for name in names}


# The largest amount a money column (14 digits, 2 after the point) holds.
MAX_AMOUNT = Decimal("999999999999.99")


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
    money = {"discount": discount, "amount": amount, "tax_amount": tax, "total": total}
    return read_of(
        InvoiceLine, line, unit_price=cents(line.unit_price), tax_included=tax_included, **money
    )


def line_json(line: InvoiceLine) -> dict[str, Any]:
    # ``tax_included`` is stored only when set (it reads back as False when absent).
    exclude = None if line.tax_included else {"tax_included"}
    return {
        k: (str(v) if isinstance(v, Decimal) else v)
        for k, v in line.model_dump(exclude=exclude).items()
    }


def set_amounts(
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
    invoice.lines = [line_json(p) for p in priced]
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


def settled_status(invoice: Invoice) -> str:
    """The status the amounts say, for an issued invoice outside discrepancy."""
    if balance_due(invoice) <= 0:
        return "paid"
    if net_paid(invoice) > 0:
        return "partially_paid"
    return "open"
