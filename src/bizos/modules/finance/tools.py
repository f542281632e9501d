"""What the copilot may ask about spending and profit: typed tools (scope
``billing:read``; gross profit also needs ``commerce:read``, since it states revenue)
whose answers carry their query, filters and the records behind them, and say
themselves in words (``speak``), every number written one of their figures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import Forbidden
from bizos.core.money import ZERO, spoken
from bizos.core.tools import (
    Figure,
    Said,
    Tool,
    ToolResult,
    between_text,
    counted,
    tools_for,
)
from bizos.modules.finance import service
from bizos.modules.finance.schemas import (
    BudgetRead,
    BudgetStatusParams,
    CategoryTotal,
    ExpenseTotalsParams,
    GrossProfitParams,
    GrossProfitValue,
)

# How many categories or budgets an answer names at most.
FEW = 3
LISTED = 5
_PERIOD_WORDS = {"month": "this month", "quarter": "this quarter", "year": "this year"}


# --- finance.expenses -------------------------------------------------------------------


def speak_expenses(params: ExpenseTotalsParams, result: ToolResult) -> Said:
    """``Expenses between 1 Jan and 31 Jan 2026 came to €80.00 over 1 expense (marketing
    €80.00).``, per currency, naming the largest few categories."""
    totals: list[CategoryTotal] = result.value
    period = params.bounds()
    what = f"{params.category.strip().capitalize()} expenses" if params.category else "Expenses"
    when = between_text(*period)
    if not totals:
        if params.currency is None:
            figure = Figure("Expenses", 0, unit="expenses", period=period)
            return Said(f"No {what.lower()} were recorded {when}.", [figure])
        figure = Figure(f"Spent ({params.currency})", ZERO, params.currency, period=period)
        spent = spoken(ZERO, params.currency)
        return Said(f"No {what.lower()} were recorded {when}: {spent} spent.", [figure])
    figures: list[Figure] = []
    parts = []
    for currency in sorted({t.currency for t in totals}):
        mine = [t for t in totals if t.currency == currency]
        amount = sum((t.amount for t in mine), ZERO)
        n = sum(t.count for t in mine)
        figures += [
            Figure(f"Spent ({currency})", amount, currency, period=period),
            Figure(f"Expenses ({currency})", n, unit="expenses", period=period),
        ]
        part = f"{spoken(amount, currency)} over {counted(n, 'expense')}"
        if params.category is None:
            largest = sorted(mine, key=lambda t: (-t.amount, t.category))[:FEW]
            for t in largest:
                figures.append(Figure(f"Spent on {t.category} ({currency})", t.amount, currency))
            part += " (" + "; ".join(f"{t.category} {spoken(t.amount, currency)}" for t in largest)
            part += ")"
        parts.append(part)
    return Said(f"{what} {when} came to {' and '.join(parts)}.", figures)


# --- finance.budgets --------------------------------------------------------------------


def speak_budgets(params: BudgetStatusParams, result: ToolResult) -> Said:
    """``Ads has spent €80.00 of €100.00 this month (80.0%), €20.00 left.`` for the
    fullest few budgets, and how many are over their limit."""
    budgets: list[BudgetRead] = result.value
    count = Figure("Budgets", len(budgets), unit="budgets")
    if not budgets:
        return Said("No budgets are set up.", [count])
    figures = [count]
    over = [b for b in budgets if b.exceeded or b.current_period.over_by > 0]
    fullest = sorted(budgets, key=lambda b: (-b.utilization, b.name))[:LISTED]
    named = []
    for b in fullest:
        p = b.current_period
        period = (p.period_start, p.period_end - dt.timedelta(days=1))
        pct = Decimal(str(round(b.utilization * 100, 1)))
        figures += [
            Figure(f"Spent of {b.name}", p.spent, b.currency, period=period),
            Figure(f"Limit of {b.name}", p.limit, b.currency, period=period),
            Figure(f"Used of {b.name}", pct, unit="%", period=period),
        ]
        said = (
            f"{b.name} has spent {spoken(p.spent, b.currency)} of "
            f"{spoken(p.limit, b.currency)} {_PERIOD_WORDS.get(b.period, 'this period')} "
            f"({pct:.1f}%), "
        )
        if p.over_by > 0:
            figures.append(Figure(f"Over the limit of {b.name}", p.over_by, b.currency))
            said += f"over by {spoken(p.over_by, b.currency)}"
        else:
            figures.append(Figure(f"Left of {b.name}", p.remaining, b.currency))
            said += f"{spoken(p.remaining, b.currency)} left"
        named.append(said)
    figures.append(Figure("Budgets over their limit", len(over), unit="budgets"))
    head = f"{counted(len(budgets), 'budget')}, {len(over)} over the limit"
    return Said(f"{head}. {'; '.join(named)}.", figures)


# --- finance.gross_profit ---------------------------------------------------------------


async def gross_profit(
    session: AsyncSession, ctx: Context, params: GrossProfitParams
) -> ToolResult:
    """The tool's run: revenue is commerce's figure, so the caller needs its scope too."""
    if "commerce:read" not in ctx.scopes:
        raise Forbidden("missing scope: commerce:read (gross profit states revenue)")
    return await service.gross_profit(session, ctx, params)


def speak_gross_profit(params: GrossProfitParams, result: ToolResult) -> Said:
    """``Gross profit (revenue less expenses) between … was €60.00: revenue €140.00 (net
    of tax) less expenses €80.00.``, per currency."""
    value: GrossProfitValue = result.value
    period = params.bounds()
    when = between_text(*period)
    lead = f"Gross profit (revenue net of tax less expenses) {when}"
    if not value.by_currency:
        if params.currency is None:
            figure = Figure("Orders and expenses", 0, unit="records", period=period)
            return Said(f"{lead}: nothing to count, no orders and no expenses.", [figure])
        figure = Figure(f"Gross profit ({params.currency})", ZERO, params.currency, period=period)
        zero = spoken(ZERO, params.currency)
        return Said(f"{lead} was {zero}: no orders and no expenses.", [figure])
    figures: list[Figure] = []
    parts = []
    for c in value.by_currency:
        cur = c.currency
        figures += [
            Figure(f"Gross profit ({cur})", c.gross_profit, cur, period=period),
            Figure(f"Revenue net of tax ({cur})", c.revenue, cur, period=period),
            Figure(f"Expenses ({cur})", c.expenses, cur, period=period),
        ]
        parts.append(
            f"{spoken(c.gross_profit, cur)} (revenue {spoken(c.revenue, cur)} less expenses "
            f"{spoken(c.expenses, cur)})"
        )
    return Said(f"{lead} was {' and '.join(parts)}.", figures)


TOOLS: list[Tool] = tools_for(
    "billing:read",
    (
        "finance.expenses",
        "What was spent per category and currency in a date range.",
        ExpenseTotalsParams,
        service.expense_totals,
        speak_expenses,
    ),
    (
        "finance.budgets",
        "Budgets with spent, remaining and utilization in the current period.",
        BudgetStatusParams,
        service.budget_status,
        speak_budgets,
    ),
    (
        "finance.gross_profit",
        "Gross profit per currency in a date range: revenue net of tax (commerce's orders) "
        "less expenses. Needs commerce:read too.",
        GrossProfitParams,
        gross_profit,
        speak_gross_profit,
    ),
)
