"""What the copilot may ask about spending: typed tools (scope ``billing:read``) whose
answers carry their query, filters and the records behind them."""

from __future__ import annotations

from pydantic import BaseModel

from bizos.core.tools import Tool, ToolRun
from bizos.modules.finance import service
from bizos.modules.finance.schemas import BudgetStatusParams, ExpenseTotalsParams

_READ: list[tuple[str, str, type[BaseModel], ToolRun]] = [
    (
        "finance.expenses",
        "What was spent per category and currency in a date range.",
        ExpenseTotalsParams,
        service.expense_totals,
    ),
    (
        "finance.budgets",
        "Budgets with spent, remaining and utilization in the current period.",
        BudgetStatusParams,
        service.budget_status,
    ),
]

TOOLS: list[Tool] = [
    Tool(name=name, description=text, scope="billing:read", input_model=model, run=run)
    for name, text, model, run in _READ
]
