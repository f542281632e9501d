"""What the copilot may ask about money owed and returned: typed tools over billing's
figures (``service.py``, scope ``billing:read``); every answer carries its query and
records."""

from __future__ import annotations

from bizos.core.tools import Tool
from bizos.modules.billing import service
from bizos.modules.billing.schemas import ReceivablesParams, RefundsParams

TOOLS: list[Tool] = [
    Tool(
        name="billing.receivables",
        description=(
            "Outstanding receivables: balance due of open, partially paid and discrepancy "
            "invoices per currency, aged current, 1-30, 31-60, 61-90 and 90+ days overdue."
        ),
        scope="billing:read",
        input_model=ReceivablesParams,
        run=service.receivables,
    ),
    Tool(
        name="billing.refunds",
        description="Sum and count of refunds made in a date range, per currency.",
        scope="billing:read",
        input_model=RefundsParams,
        run=service.refunds,
    ),
]
