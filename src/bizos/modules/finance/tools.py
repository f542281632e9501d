"""What the copilot may ask about spending: typed tools (scope ``billing:read``) whose
answers carry their query, filters and the records behind them."""

from __future__ import annotations

from bizos.core.tools import Tool
from bizos.modules.finance import service
from bizos.modules.finance.schemas import BudgetStatusParams, ExpenseTotalsParams

TOOLS: list[Tool] = [
    Tool(
        name="finance.expenses",
        description="What was spent per category and currency in a date range.",
        scope="billing:read",
        input_model=ExpenseTotalsParams,
        run=service.expense_totals,
    ),
    Tool(
        name="finance.budgets",
        description="Budgets with spent, remaining and utilization in the current period.",
        scope="billing:read",
        input_model=BudgetStatusParams,
        run=service.budget_status,
    ),
]
