"""The demo year's billing: the invoice each order was issued, and what its customer
paid, when, and through which door.

Part of the demo seeder (:mod:`bizos.demo.commerce` drives it, order by order): it
writes billing rows directly with billing's models, stamped with when things happened,
next to the events the invoice and payment services would have appended.

* every order that got past allocation has an ``INV-`` invoice, numbered in the order
  invoices were issued; a cancelled order's invoice is void (its number stays taken);
* web shop invoices are paid by Stripe within a minute (matched by email and amount);
  wholesale and deal invoices by Stripe with the invoice number in the metadata or by
  bank transfer, mostly within the 14-day terms, some late, a few in two parts — so the
  last weeks hold open, overdue (dunning has them next) and partially paid invoices;
* one overpayment left an invoice in ``discrepancy`` with its task; three web shop
  orders damaged in transit were refunded in part and settled with a credit note; one
  wholesale invoice got a price adjustment credit note before it was paid.

An invoice's ``amount_paid`` is the sum of its payments, ``amount_refunded`` of its
refunds and ``amount_credited`` of its credit notes; its status is what those say.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bizos.core.events import payload
from bizos.core.money import ZERO, cents, text
from bizos.core.sequences import format_number
from bizos.demo.story import DAY, Story, copied, historical_id, stamped
from bizos.modules.billing.invoices.amounts import balance_due
from bizos.modules.billing.models import CreditNote, Invoice, Payment, Refund

if TYPE_CHECKING:
    from bizos.modules.commerce.models import Order, OrderLine

TERMS_DAYS = 14
# What an invoice takes over from its order as it is.
_ORDER_AMOUNTS = ("currency", "subtotal", "discount_total", "tax_total", "shipping_total", "total")


def _line_json(line: OrderLine) -> dict[str, Any]:
    """The line as the invoice snapshots it (billing's ``InvoiceLine`` fields)."""
    amount = Decimal(line.line_total)
    return {
        "description": line.name,
        "sku": line.sku,
        "product_id": line.product_id,
        "quantity": str(line.quantity),
        "unit_price": text(line.unit_price),
        "discount": text(line.discount),
        "tax_rate": str(line.tax_rate),
        "amount": text(amount),
        "tax_amount": text(line.tax_amount),
        "total": text(amount + Decimal(line.tax_amount)),
    }


@dataclass(slots=True)
class Action:
    """Money moving on an invoice at a moment, applied in time order."""

    at: dt.datetime
    invoice: Invoice
    run: Callable[[dt.datetime, Invoice], None]


class Billing:
    def __init__(self, story: Story) -> None:
        self.story = story
        self.invoice_numbers = 0
        self.credit_numbers = 0
        self.invoices: dict[str, Invoice] = {}  # by order id
        self.sources: dict[str, str] = {}  # order source by invoice id
        self.payments: dict[str, list[Payment]] = {}  # by invoice id

    # --- invoices ----------------------------------------------------------------------

    def _event(self, type_: str, invoice: Invoice, at: dt.datetime, **extra: Any) -> None:
        self.story.event(
            type_,
            "invoice",
            invoice.id,
            at,
            version=invoice.version,
            invoice_id=invoice.id,
            **payload(invoice, "number", "order_id", "contact_id", "status", "currency"),
            total=text(invoice.total),
            amount_paid=text(invoice.amount_paid),
            balance_due=text(balance_due(invoice)),
            **extra,
        )

    def issue(self, order: Order, lines: list[OrderLine], at: dt.datetime) -> Invoice:
        """The order's invoice, issued as order-to-cash does: numbered and open."""
        self.invoice_numbers += 1
        invoice = Invoice(
            id=historical_id(at),
            number=format_number("INV", self.invoice_numbers),
            order_id=order.id,
            customer_email=order.email.lower() if order.email else None,
            billing_address=order.billing_address or order.shipping_address,
            status="open",
            **copied(order, "contact_id", "customer_name", *_ORDER_AMOUNTS),
            amount_paid=ZERO,
            amount_refunded=ZERO,
            amount_credited=ZERO,
            lines=[_line_json(line) for line in lines],
            issued_at=at,
            due_date=at.date() + dt.timedelta(days=TERMS_DAYS),
            reminders_sent=0,
            **stamped(at),
        )
        self.story.rows.append(invoice)
        self.invoices[order.id] = invoice
        self.sources[invoice.id] = order.source
        assert invoice.due_date is not None
        self._event(
            "billing.invoice.issued",
            invoice,
            at,
            customer_email=invoice.customer_email,
            due_date=invoice.due_date.isoformat(),
            subtotal=text(invoice.subtotal),
            tax_total=text(invoice.tax_total),
        )
        return invoice

    def void(self, order: Order, at: dt.datetime, reason: str) -> None:
        invoice = self.invoices.pop(order.id)
        invoice.status, invoice.voided_at, invoice.void_reason = "void", at, reason
        invoice.version += 1
        invoice.updated_at = at
        self._event("billing.invoice.voided", invoice, at, reason=reason)

    def _settled(self, invoice: Invoice, at: dt.datetime, **extra: Any) -> None:
        """Status from the amounts, and its event (as the invoice service does)."""
        if invoice.status != "discrepancy":
            net_paid = Decimal(invoice.amount_paid) - Decimal(invoice.amount_refunded)
            if balance_due(invoice) <= 0:
                invoice.status = "paid"
            elif net_paid > 0:
                invoice.status = "partially_paid"
            else:
                invoice.status = "open"
        invoice.paid_at = (invoice.paid_at or at) if invoice.status == "paid" else None
        invoice.version += 1
        invoice.updated_at = at
        if invoice.status == "paid":
            self._event("billing.invoice.paid", invoice, at, **extra)
        elif invoice.status == "partially_paid":
            self._event("billing.invoice.partially_paid", invoice, at, **extra)

    # --- money -------------------------------------------------------------------------

    def _payment(self, invoice: Invoice, at: dt.datetime, amount: Decimal, *, by: str) -> Payment:
        """A payment received: ``by`` is "shop" (Stripe, matched on email and amount),
        "stripe" (invoice number in the metadata) or "bank" (entered by hand)."""
        story = self.story
        number = invoice.number or ""
        email = invoice.customer_email
        payment = Payment(
            id=historical_id(at),
            invoice_id=invoice.id,
            provider="manual" if by == "bank" else "stripe",
            amount=cents(amount),
            currency=invoice.currency,
            amount_refunded=ZERO,
            customer_email=email,
            customer_name=invoice.customer_name,
            status="matched",
            applied=True,
            received_at=at,
            **stamped(at),
        )
        if by == "bank":
            payment.match_method = "manual"
            payment.match_detail = "entered against the invoice"
            payment.metadata_ = {"reference": f"Bank transfer {number}"}
        else:
            payment.external_id = story.token("pi_3")
            payment.charge_id = story.token("ch_3")
            payment.source_event_id = story.token("evt_3")
            if by == "stripe":
                payment.match_method = "metadata"
                payment.match_detail = f"metadata names {number}"
                payment.metadata_ = {"invoice_number": number}
            else:
                payment.match_method = "email_amount"
                payment.match_detail = (
                    f"the only open invoice of {email} with a balance of "
                    f"{cents(amount)} {invoice.currency}"
                )
                payment.metadata_ = {"source": "shopify"}
        self.payments.setdefault(invoice.id, []).append(payment)
        story.add(
            payment,
            "billing.payment.received",
            "payment",
            at,
            actor_id=story.team["owner"] if by == "bank" else None,
            payment_id=payment.id,
            **payload(payment, "provider", "external_id", "amount", "currency", "customer_email"),
        )
        return payment

    def pay(self, invoice: Invoice, at: dt.datetime, amount: Decimal, by: str) -> None:
        payment = self._payment(invoice, at, amount, by=by)
        invoice.amount_paid = cents(Decimal(invoice.amount_paid) + payment.amount)
        self._settled(invoice, at, payment_id=payment.id, payment_amount=str(payment.amount))

    def overpay(self, invoice: Invoice, at: dt.datetime, extra: Decimal) -> None:
        """Paid more than was due: booked, and the invoice is flagged for a person."""
        story = self.story
        expected = balance_due(invoice)
        payment = self._payment(invoice, at, expected + extra, by="stripe")
        reason = f"overpayment: {invoice.number} has {expected} due, received {payment.amount}"
        payment.status = "discrepancy"
        payment.match_detail = f"{payment.match_detail}; {reason}"
        invoice.amount_paid = cents(Decimal(invoice.amount_paid) + payment.amount)
        self._settled(invoice, at, payment_id=payment.id, payment_amount=str(payment.amount))
        invoice.status, invoice.discrepancy_reason = "discrepancy", reason
        invoice.version += 1
        data = {
            "invoice_id": invoice.id,
            "number": invoice.number,
            "payment_id": payment.id,
            "expected": str(expected),
            "received": str(payment.amount),
            "currency": invoice.currency,
            "reason": reason,
        }
        story.event(
            "billing.payment.discrepancy_detected",
            "invoice",
            invoice.id,
            at,
            version=invoice.version,
            **data,
        )
        title = f"Payment discrepancy on invoice {invoice.number}"
        body = (
            f"Invoice {invoice.number} expected {expected} {invoice.currency}; received "
            f"{payment.amount} {invoice.currency}.\nReason: {reason}"
        )
        story.escalate(
            "owner",
            title=title,
            body=body,
            at=at + dt.timedelta(seconds=1),
            related=("invoice", invoice.id),
            origin="billing.payment.discrepancy_detected",
            kind="billing.payment_discrepancy",
            contact_id=invoice.contact_id,
            data=data,
        )

    def refund(self, invoice: Invoice, at: dt.datetime, amount: Decimal, reason: str) -> None:
        """Part of a Stripe payment given back (``billing.payment.refunded``)."""
        story = self.story
        payment = self.payments[invoice.id][-1]
        refund = Refund(
            id=historical_id(at),
            payment_id=payment.id,
            invoice_id=invoice.id,
            amount=cents(amount),
            currency=payment.currency,
            external_id=story.token("re_3"),
            reason=reason,
            actor_id=story.team["owner"],
            created_at=at,
        )
        story.rows.append(refund)
        payment.amount_refunded = cents(Decimal(payment.amount_refunded) + refund.amount)
        payment.status = (
            "refunded" if payment.amount_refunded >= payment.amount else "partially_refunded"
        )
        payment.version += 1
        payment.updated_at = at
        invoice.amount_refunded = cents(Decimal(invoice.amount_refunded) + refund.amount)
        story.event(
            "billing.payment.refunded",
            "payment",
            payment.id,
            at,
            actor_id=story.team["owner"],
            version=payment.version,
            payment_id=payment.id,
            refund_id=refund.id,
            **payload(refund, "invoice_id", "amount", "currency"),
            **payload(payment, "amount_refunded", "status"),
            external_id=refund.external_id,
        )
        # As the invoice service does: an overpayment is given back first; the rest of the
        # money given back is matched by a credit note, so the customer owes nothing more.
        credited = min(refund.amount, balance_due(invoice))
        if credited > 0:
            self.credit(invoice, at, credited, f"Refund {refund.external_id}")
        else:
            self._settled(invoice, at, payment_id=payment.id, refund_amount=str(refund.amount))

    def credit(self, invoice: Invoice, at: dt.datetime, amount: Decimal, reason: str) -> None:
        """A credit note (``CN-``) for part of what is due."""
        story = self.story
        assert cents(amount) <= balance_due(invoice)
        self.credit_numbers += 1
        note = CreditNote(
            id=historical_id(at),
            number=format_number("CN", self.credit_numbers),
            invoice_id=invoice.id,
            amount=cents(amount),
            currency=invoice.currency,
            reason=reason,
            lines=[],
            issued_at=at,
            actor_id=story.team["owner"],
            **stamped(at),
        )
        invoice.amount_credited = cents(Decimal(invoice.amount_credited) + note.amount)
        story.add(
            note,
            "billing.credit_note.issued",
            "credit_note",
            at,
            actor_id=story.team["owner"],
            credit_note_id=note.id,
            **payload(note, "number", "invoice_id"),
            invoice_number=invoice.number,
            **payload(note, "amount", "currency", "reason"),
        )
        self._settled(invoice, at, credit_note_id=note.id)

    # --- the year's payments -------------------------------------------------------------

    def settle(self, orders: list[Order]) -> None:
        """Decide what each live invoice's customer paid, then apply it in time order."""
        live = [self.invoices[o.id] for o in orders if o.id in self.invoices]
        odd = self._exceptions(live)
        payments = _Payments(self.story.now)
        for invoice in live:
            if self.sources[invoice.id] == "shopify":
                self._shop_pays(payments, invoice, odd)
            else:
                self._account_pays(payments, invoice, odd)
        payments.apply()

    def _exceptions(self, live: list[Invoice]) -> _Exceptions:
        """The invoices whose year went otherwise, drawn before any payment."""
        rng, now = self.story.rng, self.story.now

        def issued(invoices: list[Invoice], newer: int, older: int) -> list[Invoice]:
            """Those issued between ``newer`` and ``older`` days ago (exclusive)."""
            after, before = now - dt.timedelta(days=older), now - dt.timedelta(days=newer)
            return [i for i in invoices if i.issued_at and after < i.issued_at < before]

        shop = [i for i in live if self.sources[i.id] == "shopify"]
        trade = [i for i in live if self.sources[i.id] != "shopify"]
        settled_trade = issued(trade, 60, 100 * 365)
        odd = rng.sample(settled_trade, 2) if len(settled_trade) >= 2 else []
        paid_shop = issued(shop, 10, 100 * 365)
        damaged = {i.id for i in rng.sample(paid_shop, min(3, len(paid_shop)))}
        recent_trade = issued(trade, 8, 40)
        overpaid = rng.choice(recent_trade) if recent_trade else None
        # Dunning has work: two invoices well past due, nothing paid; one paid in part.
        past_due = [i for i in issued(trade, 17, 45) if i is not overpaid]
        unpaid = {i.id for i in rng.sample(past_due, min(2, len(past_due)))}
        fresh = issued(trade, 3, 12)
        part_paid = {i.id for i in rng.sample(fresh, min(1, len(fresh)))}
        return _Exceptions(odd[0] if odd else None, damaged, overpaid, unpaid, part_paid)

    def _shop_pays(self, payments: _Payments, invoice: Invoice, odd: _Exceptions) -> None:
        """Stripe pays a web shop invoice within a minute; a damaged parcel is refunded
        in part days later (the refund comes with its credit note, see ``refund``)."""
        rng = self.story.rng
        assert invoice.issued_at is not None
        paid = invoice.issued_at + dt.timedelta(seconds=rng.randint(20, 90))
        payments.at(paid, invoice, lambda t, i: self.pay(i, t, Decimal(i.total), "shop"))
        if invoice.id in odd.damaged:
            part = cents(Decimal(invoice.total) * Decimal(rng.choice(("0.25", "0.4", "0.5"))))
            back = paid + dt.timedelta(days=rng.uniform(3, 8))
            why = "bag damaged in transit"
            payments.at(back, invoice, lambda t, i: self.refund(i, t, part, why))

    def _account_pays(self, payments: _Payments, invoice: Invoice, odd: _Exceptions) -> None:
        """A wholesale or deal invoice: paid by bank or Stripe, mostly within terms,
        unless it is one of the year's exceptions."""
        rng = self.story.rng
        issued = invoice.issued_at
        assert issued is not None
        total = Decimal(invoice.total)
        by = "bank" if rng.random() < 0.35 else "stripe"
        late = rng.random() < 0.22
        delay = rng.uniform(15, 38) if late else rng.uniform(2, 13)
        paid = issued + dt.timedelta(days=delay)
        if invoice.id in odd.unpaid:
            return
        if invoice.id in odd.part_paid:
            first = cents(total * Decimal("0.4"))
            payments.at(issued + DAY * 2, invoice, lambda t, i: self.pay(i, t, first, by))
            return
        if invoice is odd.overpaid:
            extra = Decimal(rng.choice(("48.00", "57.50", "96.00")))
            paid = issued + dt.timedelta(days=rng.uniform(3, 7))
            payments.at(paid, invoice, lambda t, i: self.overpay(i, t, extra))
        elif invoice is odd.price_adjusted:  # a price adjustment before payment
            credit = cents(total * Decimal("0.10"))
            why = "price adjustment: delivery arrived late"
            payments.at(issued + DAY, invoice, lambda t, i: self.credit(i, t, credit, why))
            payments.at(paid + DAY, invoice, lambda t, i: self.pay(i, t, balance_due(i), by))
        elif rng.random() < 0.1:  # in two parts
            first = cents(total * Decimal(rng.choice(("0.3", "0.5", "0.6"))))
            rest = paid + dt.timedelta(days=rng.uniform(8, 25))
            payments.at(paid, invoice, lambda t, i: self.pay(i, t, first, by))
            payments.at(rest, invoice, lambda t, i: self.pay(i, t, balance_due(i), by))
        else:
            payments.at(paid, invoice, lambda t, i: self.pay(i, t, Decimal(i.total), by))


@dataclass(frozen=True, slots=True)
class _Exceptions:
    """The invoices whose year went otherwise."""

    price_adjusted: Invoice | None  # a credit note before it was paid
    damaged: set[str]  # web shop invoices refunded in part
    overpaid: Invoice | None  # paid too much: a discrepancy for a person
    unpaid: set[str]  # well past due, nothing paid (dunning has them)
    part_paid: set[str]  # paid in part, the rest still due


class _Payments:
    """Money moves decided invoice by invoice, applied in time order (only those that
    have happened by now)."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.actions: list[Action] = []

    def at(self, when: dt.datetime, invoice: Invoice, run: Callable[..., None]) -> None:
        if when < self.now:
            self.actions.append(Action(when, invoice, run))

    def apply(self) -> None:
        self.actions.sort(key=lambda a: a.at)
        for action in self.actions:
            action.run(action.at, action.invoice)
