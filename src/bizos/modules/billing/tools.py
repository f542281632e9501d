"""What the copilot may ask about money owed and returned: typed tools over billing's
figures (``service.py``, scope ``billing:read``); every answer carries its query and
records."""

from __future__ import annotations

from bizos.core.tools import Tool, tools_for
from bizos.modules.billing import service
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
