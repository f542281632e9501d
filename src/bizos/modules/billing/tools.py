"""What the copilot may ask about money owed and returned: typed tools over billing's
figures (``service.py``, scope ``billing:read``); every answer carries its query and
records."""

from __future__ import annotations

from pydantic import BaseModel

from bizos.core.tools import Tool, ToolRun
from bizos.modules.billing import service
from bizos.modules.billing.schemas import ReceivablesParams, RefundsParams

_READ: list[tuple[str, str, type[BaseModel], ToolRun]] = [
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
]

TOOLS: list[Tool] = [
    Tool(name=name, description=text, scope="billing:read", input_model=model, run=run)
    for name, text, model, run in _READ
]
