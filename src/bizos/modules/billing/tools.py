"""What the copilot may ask about money owed and returned: typed tools over billing's
figures (``service.py``, scope ``billing:read``); every answer carries its query and
records. And what it may do once the user confirms (scope ``billing:write``): send an
overdue invoice's next dunning reminder."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import NotFound
from bizos.core.money import spoken
from bizos.core.tools import Proposal, Tool, ToolResult, actions_for, tools_for
from bizos.modules.billing import service
from bizos.modules.billing.dunning import service as dunning
from bizos.modules.billing.invoices import service as invoices
from bizos.modules.billing.invoices.schemas import InvoiceRead
from bizos.modules.billing.schemas import ReceivablesParams, RefundsParams

TOOLS: list[Tool] = tools_for(
    "billing:read",
    (
        "billing.receivables",
        "Outstanding receivables: balance due of open, partially paid and discrepancy "
        "invoices per currency, aged current, 1-30, 31-60, 61-90 and 90+ days overdue.",
        ReceivablesParams,
        service.receivables,
    ),
    (
        "billing.refunds",
        "Sum and count of refunds made in a date range, per currency.",
        RefundsParams,
        service.refunds,
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
    summary = (
        f"Send reminder {plan.level} of {len(dunning.REMINDER_DAYS)} for invoice "
        f"{invoice.number} ({spoken(invoice.balance_due, invoice.currency)} due, "
        f"{plan.days_overdue} days overdue) to {plan.to}"
    )
    return Proposal(summary=summary, before=before, after=after)


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
