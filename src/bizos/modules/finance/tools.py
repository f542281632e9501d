"""What the copilot may ask about spending: typed tools (scope ``billing:read``) whose
answers carry their query, filters and the records behind them."""

from __future__ import annotations

from bizos.core.tools import Tool, tools_for
from bizos.modules.finance import service
from bizos.modules.finance.schemas import BudgetStatusParams, ExpenseTotalsParams

TOOLS: list[Tool] = tools_for(
    "billing:read",
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
)
