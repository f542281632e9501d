"""What the copilot may ask about money owed and returned: typed tools over billing's
figures (``service.py``, scope ``billing:read``); every answer carries its query and
records, and says itself in words (``speak``), every number written one of its figures.
And what it may do once the user confirms (scope ``billing:write``): send an overdue
invoice's next dunning reminder."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import NotFound
from bizos.core.money import ZERO, spoken
from bizos.core.phrases import between_text, counted, period_text
from bizos.core.tools import (
    Figure,
    Proposal,
    Said,
    SourceRef,
    Tool,
    ToolResult,
    actions_for,
    tools_for,
    unfigured_numbers,
)
from bizos.modules.billing import service
from bizos.modules.billing.dunning import service as dunning
from bizos.modules.billing.invoices import service as invoices
from bizos.modules.billing.invoices.schemas import InvoiceRead
from bizos.modules.billing.schemas import (
    CurrencyReceivables,
    OverdueInvoice,
    OverdueInvoicesParams,
    OverdueInvoicesValue,
    ReceivablesParams,
    ReceivablesValue,
    RefundsParams,
    RefundsValue,
)

# How many overdue invoices an answer names at most.
LISTED = 5
_BUCKETS = {
    "current": "not yet due",
    "1-30": "1-30 days overdue",
    "31-60": "31-60 days overdue",
    "61-90": "61-90 days overdue",
    "90+": "over 90 days overdue",
}


# --- billing.receivables ----------------------------------------------------------------


def speak_receivables(params: ReceivablesParams, result: ToolResult) -> Said:
    """``As of 31 Mar 2026, €335.00 is outstanding on 5 invoices: €150.00 not yet due;
    €150.00 1-30 days overdue; …``, per currency, naming only the buckets that hold money."""
    value: ReceivablesValue = result.value
    day = (value.as_of, value.as_of)
    when = f"As of {period_text(*day)}"
    if not value.by_currency:
        if params.currency is None:
            figure = Figure("Invoices with a balance due", 0, unit="invoices", period=day)
            return Said(f"{when}, nothing is outstanding: no invoice has a balance due.", [figure])
        figure = Figure(f"Outstanding ({params.currency})", ZERO, params.currency, period=day)
        owed = spoken(ZERO, params.currency)
        return Said(f"{when}, {owed} is outstanding: no invoice has a balance due.", [figure])
    figures: list[Figure] = []
    parts = [_currency_receivables(c, day, figures) for c in value.by_currency]
    return Said(f"{when}, {' '.join(parts)}", figures)


def _currency_receivables(
    c: CurrencyReceivables, day: tuple[dt.date, dt.date], figures: list[Figure]
) -> str:
    cur = c.currency
    figures += [
        Figure(f"Outstanding ({cur})", c.outstanding, cur, period=day),
        Figure(f"Invoices with a balance due ({cur})", c.invoices, unit="invoices", period=day),
    ]
    buckets = []
    for name, words in _BUCKETS.items():
        amount = c.aging.get(name, ZERO)
        if amount:
            figures.append(Figure(f"Outstanding {words} ({cur})", amount, cur, period=day))
            buckets.append(f"{spoken(amount, cur)} {words}")
    head = f"{spoken(c.outstanding, cur)} is outstanding on {counted(c.invoices, 'invoice')}"
    return f"{head}: {'; '.join(buckets)}."


# --- billing.overdue_invoices -----------------------------------------------------------


def speak_overdue_invoices(params: OverdueInvoicesParams, result: ToolResult) -> Said:
    """``As of 31 Mar 2026, 4 invoices are overdue: €185.00 on 3 invoices and $400.00 on
    1 invoice. The longest overdue: INV-6 (Cy) $400.00, 120 days late; …``"""
    value: OverdueInvoicesValue = result.value
    day = (value.as_of, value.as_of)
    count = Figure("Overdue invoices", value.count, unit="invoices", period=day)
    when = f"As of {period_text(*day)}"
    if not value.invoices:
        return Said(f"{when}, no invoice is overdue.", [count])
    figures = [count]
    sums = []
    for c in value.by_currency:
        figures += [
            Figure(f"Overdue ({c.currency})", c.balance_due, c.currency, period=day),
            Figure(f"Overdue invoices ({c.currency})", c.invoices, unit="invoices", period=day),
        ]
        sums.append((spoken(c.balance_due, c.currency), counted(c.invoices, "invoice")))
    sources = [_invoice_source(i) for i in value.invoices[:LISTED]]
    named = []
    for invoice, source in zip(value.invoices[:LISTED], sources, strict=True):
        figures += [
            Figure(f"Balance due on {source.title}", invoice.balance_due, invoice.currency),
            Figure(f"Days overdue of {source.title}", invoice.days_overdue, unit="days"),
        ]
        named.append(
            f"{source.title} {spoken(invoice.balance_due, invoice.currency)}, "
            f"{counted(invoice.days_overdue, 'day')} late"
        )
    if value.count == 1:
        return Said(f"{when}, 1 invoice is overdue: {named[0]}.", figures, sources)
    text = f"{when}, {counted(value.count, 'invoice')} are overdue"
    if len(sums) == 1:
        text += f", {sums[0][0]} in all."
    else:
        text += ": " + " and ".join(f"{owed} on {n}" for owed, n in sums) + "."
    return Said(f"{text} The longest overdue: {'; '.join(named)}.", figures, sources)


def _invoice_source(invoice: OverdueInvoice) -> SourceRef:
    """An invoice as the answer names it: its number, and its customer in brackets."""
    who = invoice.customer_name or invoice.customer_email
    number = invoice.number or "a draft invoice"
    title = f"{number} ({who})" if who else number
    return SourceRef("invoice", invoice.invoice_id, title)


# --- billing.refunds --------------------------------------------------------------------


def speak_refunds(params: RefundsParams, result: ToolResult) -> Said:
    """``€15.50 was refunded in 2 refunds between 1 Mar and 31 Mar 2026.``, per currency."""
    value: RefundsValue = result.value
    period = params.bounds()
    when = between_text(*period)
    if not value.by_currency:
        figure = Figure("Refunds", 0, unit="refunds", period=period)
        return Said(f"No refunds were made {when}.", [figure])
    figures: list[Figure] = []
    parts = []
    for c in value.by_currency:
        figures += [
            Figure(f"Refunded ({c.currency})", c.amount, c.currency, period=period),
            Figure(f"Refunds ({c.currency})", c.count, unit="refunds", period=period),
        ]
        parts.append((spoken(c.amount, c.currency), counted(c.count, "refund")))
    if len(parts) == 1:
        money, n = parts[0]
        return Said(f"{money} was refunded in {n} {when}.", figures)
    listed = " and ".join(f"{money} in {n}" for money, n in parts)
    return Said(f"Refunds {when}: {listed}.", figures)


TOOLS: list[Tool] = tools_for(
    "billing:read",
    (
        "billing.receivables",
        "Outstanding receivables: balance due of open, partially paid and discrepancy "
        "invoices per currency, aged current, 1-30, 31-60, 61-90 and 90+ days overdue.",
        ReceivablesParams,
        service.receivables,
        speak_receivables,
    ),
    (
        "billing.overdue_invoices",
        "Invoices past their due date with a balance due: totals per currency and the "
        "longest overdue invoices.",
        OverdueInvoicesParams,
        service.overdue_invoices,
        speak_overdue_invoices,
    ),
    (
        "billing.refunds",
        "Sum and count of refunds made in a date range, per currency.",
        RefundsParams,
        service.refunds,
        speak_refunds,
    ),
)

# --- action tools ---------------------------------------------------------------------

_INVOICE_NUMBER = re.compile(r"^\s*INV-?\d+\s*$", re.IGNORECASE)
_REMINDER_FIELDS = (
    "id",
    "number",
    "status",
    "customer_email",
    "currency",
    "balance_due",
    "due_date",
    "overdue",
    "reminders_sent",
    "last_reminder_at",
)


class DunningReminderParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    invoice_id: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=36)
    ] = Field(description="The invoice's id, or its number (INV-000042).")


async def _invoice_id(session: AsyncSession, ctx: Context, given: str) -> str:
    """The id of the invoice ``given`` names (by id, or by number); 404 if none."""
    if _INVOICE_NUMBER.match(given):
        try:
            return (await invoices.get_invoice_by_number(session, ctx, given)).id
        except NotFound:
            pass  # an id may look like a number too
    return given


def _reminder_view(invoice: InvoiceRead) -> dict[str, Any]:
    return invoice.model_dump(mode="json", include=set(_REMINDER_FIELDS))


async def propose_dunning_reminder(
    session: AsyncSession, ctx: Context, params: DunningReminderParams
) -> Proposal:
    """The reminder that would go out now, and the invoice before and after it; 404 for
    an invoice the tenant lacks, 422 when none can go (paid, void, not overdue…)."""
    now = utcnow()
    invoice_id = await _invoice_id(session, ctx, params.invoice_id)
    plan = await dunning.next_reminder(session, ctx, invoice_id, now)
    before = _reminder_view(plan.invoice)
    after = {
        **before,
        "reminders_sent": plan.level,
        "last_reminder_at": now.isoformat(),
        "reminder": {"level": plan.level, "to": plan.to, "subject": plan.subject},
    }
    invoice = plan.invoice
    levels = len(dunning.REMINDER_DAYS)
    figures = [
        Figure(f"reminder level for invoice {invoice.number}", plan.level, unit="reminder"),
        Figure("reminder levels", levels, unit="reminders"),
        Figure(
            f"balance due on invoice {invoice.number}",
            invoice.balance_due,
            currency=invoice.currency,
        ),
        Figure(f"days invoice {invoice.number} is overdue", plan.days_overdue, unit="days"),
    ]
    to = plan.to if not unfigured_numbers(Said(plan.to)) else "the customer (address as shown)"
    summary = (
        f"Send reminder {plan.level} of {levels} for invoice "
        f"{invoice.number} ({spoken(invoice.balance_due, invoice.currency)} due, "
        f"{plan.days_overdue} days overdue) to {to}"
    )
    return Proposal(summary=summary, before=before, after=after, figures=figures)


async def send_dunning_reminder(
    session: AsyncSession, ctx: Context, params: DunningReminderParams
) -> ToolResult:
    """Send the invoice's next reminder through dunning (email queued, event appended)."""
    invoice_id = await _invoice_id(session, ctx, params.invoice_id)
    invoice = await dunning.send_next_reminder(session, ctx, invoice_id, utcnow())
    return ToolResult(
        value=invoice,
        query=f"sent dunning reminder {invoice.reminders_sent} for invoice {invoice.number}",
        filters={"invoice_id": invoice.id},
        records=[invoice.id],
    )


ACTION_TOOLS: list[Tool] = actions_for(
    "billing:write",
    (
        "billing.send_dunning_reminder",
        "Send an overdue invoice's next payment reminder to its customer now (by email, "
        "through dunning): refused for paid, void, draft or not yet overdue invoices.",
        DunningReminderParams,
        propose_dunning_reminder,
        send_dunning_reminder,
    ),
)

TOOLS += ACTION_TOOLS
