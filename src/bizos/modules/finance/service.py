"""Expenses: money spent (negative: refunded). The only writer of ``finance_expenses``.

Each expense counts towards the budgets of its category and currency
(``finance/budgets``); deleting one gives the amount back. The figures the copilot asks
for (what was spent, how budgets stand) are at the end.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.events import append_row_event, payload
from bizos.core.money import CENT, ZERO, cents, text
from bizos.core.pagination import ListOrder, PageParams
from bizos.core.reads import one_or_404
from bizos.core.tools import MAX_RECORDS, ToolResult
from bizos.modules.commerce.metrics import service as commerce_metrics
from bizos.modules.commerce.metrics.schemas import RevenueParams, RevenueValue
from bizos.modules.finance.budgets.service import count_spending, list_budgets
from bizos.modules.finance.models import Expense
from bizos.modules.finance.schemas import (
    BudgetStatusParams,
    CategoryTotal,
    CurrencyGrossProfit,
    ExpenseRead,
    ExpenseTotalsParams,
    GrossProfitParams,
    GrossProfitValue,
    category_slug,
    checked_money,
)

log = structlog.get_logger("bizos.finance")

EXPENSE_ORDER = ListOrder(
    "expenses", Expense.id, [Expense.created_at, Expense.spent_on, Expense.amount]
)


def expense_read(row: Expense) -> ExpenseRead:
    return ExpenseRead.model_validate(row)


def _expenses(ctx: Context, *where: sa.ColumnElement[bool]) -> sa.Select[Expense]:
    """The tenant's expenses that match ``where``."""
    return sa.select(Expense).where(Expense.tenant_id == ctx.require_tenant(), *where)


async def get_expense(session: AsyncSession, ctx: Context, expense_id: str) -> Expense:
    return await one_or_404(session, _expenses(ctx, Expense.id == expense_id), "expense")


async def _by_external_id(
    session: AsyncSession, ctx: Context, source: str, external_id: str
) -> Expense | None:
    query = _expenses(ctx, Expense.source == source, Expense.external_id == external_id)
    row: Expense | None = await session.scalar(query)
    return row


async def _expense_event(
    session: AsyncSession, ctx: Context, type_: str, expense: Expense, **extra: Any
) -> None:
    """``type_`` on the expense's stream: what was spent, in what and when, then
    ``extra``."""
    data = {
        "expense_id": expense.id,
        "category": expense.category,
        "amount": text(expense.amount),
        **payload(expense, "currency", "spent_on"),
        **extra,
    }
    await append_row_event(session, ctx, type_, expense, aggregate_type="expense", data=data)


async def record_expense(session: AsyncSession, ctx: Context, **fields: Any) -> Expense:
    """Record money spent (negative: refunded) and count it towards the matching
    budgets (``finance.expense.recorded``); ``fields`` are
    :func:`record_expense_once`'s. A repeated ``(source, external_id)`` returns the
    expense already recorded and counts nothing again."""
    expense, _created = await record_expense_once(session, ctx, **fields)
    return expense


async def record_expense_once(
    session: AsyncSession,
    ctx: Context,
    *,
    category: str,
    amount: Decimal,
    currency: str,
    spent_on: dt.date,
    description: str = "",
    vendor: str | None = None,
    source: str = "manual",
    external_id: str | None = None,
    properties: dict[str, Any] | None = None,
) -> tuple[Expense, bool]:
    """Record an expense (see :func:`record_expense`) and say whether it is new."""
    category, amount, currency = checked_money(
        category=category, amount=amount, currency=currency, source=source
    )
    if external_id is not None:
        existing = await _by_external_id(session, ctx, source, external_id)
        if existing is not None:
            return existing, False
    expense = Expense(
        tenant_id=ctx.require_tenant(),
        category=category,
        amount=amount,
        currency=currency,
        spent_on=spent_on,
        description=description,
        vendor=vendor,
        source=source,
        external_id=external_id,
        properties=properties or {},
    )
    try:
        async with session.begin_nested():
            session.add(expense)
    except IntegrityError:  # the same outside id arrived concurrently: take that one
        if external_id is None:
            raise
        found = await _by_external_id(session, ctx, source, external_id)
        if found is None:
            raise
        return found, False
    await _expense_event(
        session,
        ctx,
        "finance.expense.recorded",
        expense,
        **payload(expense, "vendor", "source", "external_id"),
    )
    await count_spending(session, ctx, expense, amount, new=True)
    log.info("finance.expense.recorded", expense_id=expense.id, category=category)
    return expense, True


async def list_expenses(
    session: AsyncSession,
    ctx: Context,
    *,
    page: PageParams,
    category: str | None = None,
    currency: str | None = None,
    from_: dt.date | None = None,
    to: dt.date | None = None,
    include_deleted: bool = False,
) -> tuple[list[ExpenseRead], str | None]:
    """Expenses in ``page``'s order (the latest recorded first by default);
    ``from``/``to`` are inclusive days."""
    query = _expenses(ctx)
    if category is not None:
        query = query.where(Expense.category == category_slug(category))
    if currency is not None:
        query = query.where(Expense.currency == currency.upper())
    if from_ is not None:
        query = query.where(Expense.spent_on >= from_)
    if to is not None:
        query = query.where(Expense.spent_on <= to)
    if not include_deleted:
        query = query.where(Expense.deleted_at.is_(None))
    rows = list(await session.scalars(EXPENSE_ORDER.apply(query, page)))
    items, cursor = EXPENSE_ORDER.take_page(rows, page)
    return [expense_read(r) for r in items], cursor


async def delete_expense(session: AsyncSession, ctx: Context, expense_id: str) -> None:
    """Take an expense back out (soft delete, ``finance.expense.deleted``): the budgets
    it counted towards give the amount back, which re-arms an exceeded alert when spent
    is within the limit again. Deleting a deleted expense changes nothing."""
    expense = await get_expense(session, ctx, expense_id)
    if expense.deleted_at is not None:
        return
    done = await session.execute(
        sa.update(Expense)
        .where(
            Expense.tenant_id == ctx.require_tenant(),
            Expense.id == expense.id,
            Expense.deleted_at.is_(None),
        )
        .values(deleted_at=utcnow(), version=Expense.version + 1)
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 0) != 1:
        return  # deleted concurrently: that transaction gave the amount back
    await session.refresh(expense)
    # The event first: every writer takes the tenant's event counter before any budget
    # period row, so concurrent writers queue in one order and never deadlock.
    await _expense_event(session, ctx, "finance.expense.deleted", expense)
    await count_spending(session, ctx, expense, -cents(expense.amount))


# --- figures for the copilot ----------------------------------------------------------


async def expense_totals(
    session: AsyncSession, ctx: Context, params: ExpenseTotalsParams
) -> ToolResult:
    """What was spent per category and currency from ``from`` to ``to`` (inclusive days
    of ``spent_on``): expenses not deleted, refunds (negative amounts) netted in."""
    start, end = params.bounds()
    where = [
        Expense.tenant_id == ctx.require_tenant(),
        Expense.deleted_at.is_(None),
        Expense.spent_on >= start,
        Expense.spent_on <= end,
    ]
    if params.currency is not None:
        where.append(Expense.currency == params.currency)
    if params.category is not None:
        where.append(Expense.category == category_slug(params.category))
    in_cents = sa.cast(sa.func.round(Expense.amount * 100), sa.BigInteger)
    rows = await session.execute(
        sa.select(Expense.category, Expense.currency, sa.func.sum(in_cents), sa.func.count())
        .where(*where)
        .group_by(Expense.category, Expense.currency)
        .order_by(Expense.currency, Expense.category)
    )
    totals = [
        CategoryTotal(
            category=category,
            currency=currency,
            amount=(Decimal(int(total or 0)) / 100).quantize(CENT),
            count=int(n),
        )
        for category, currency, total, n in rows
    ]
    ids = await session.scalars(
        sa.select(Expense.id).where(*where).order_by(Expense.spent_on, Expense.id).limit(100)
    )
    return ToolResult(
        value=totals,
        query=(
            "sum of expense amounts (refunds negative) per category and currency, "
            "deleted expenses excluded, by the day spent (UTC)"
        ),
        filters={**params.described(), "category": params.category},
        records=list(ids),
        records_total=sum(t.count for t in totals),
    )


async def budget_status(
    session: AsyncSession, ctx: Context, params: BudgetStatusParams
) -> ToolResult:
    """Each budget with what it has spent, has left and uses in its current period."""
    items, _cursor = await list_budgets(session, ctx, page=PageParams(limit=200), params=params)
    return ToolResult(
        value=items,
        query=(
            "budgets with spent (sum of expenses of their category and currency in the "
            "current calendar period, UTC), remaining and utilization"
        ),
        filters={"category": params.category, "active": params.active},
        records=[b.id for b in items],
    )


async def gross_profit(
    session: AsyncSession, ctx: Context, params: GrossProfitParams
) -> ToolResult:
    """Revenue less expenses per currency from ``from`` to ``to``. Revenue is commerce's
    (orders not cancelled or failed, by the day placed), **net of tax**: order totals
    less their tax, since tax collected is owed on, not earned. Expenses are
    :func:`expense_totals` over every category. Records: the orders, then the expenses."""
    days = {"from": params.from_, "to": params.to, "currency": params.currency}
    sales = await commerce_metrics.revenue(
        session, ctx, RevenueParams.model_validate({**days, "group_by": "channel"})
    )
    spent = await expense_totals(session, ctx, ExpenseTotalsParams.model_validate(days))
    by: dict[str, CurrencyGrossProfit] = {}

    def line(currency: str) -> CurrencyGrossProfit:
        return by.setdefault(
            currency,
            CurrencyGrossProfit(
                currency=currency,
                revenue=ZERO,
                orders=0,
                expenses=ZERO,
                expense_count=0,
                gross_profit=ZERO,
            ),
        )

    revenue_value: RevenueValue = sales.value
    for row in revenue_value.rows:
        item = line(row.currency)
        item.revenue += row.net if row.net is not None else row.revenue
        item.orders += row.orders
    for total in spent.value:
        item = line(total.currency)
        item.expenses += total.amount
        item.expense_count += total.count
    for item in by.values():
        item.gross_profit = cents(item.revenue - item.expenses)
    return ToolResult(
        value=GrossProfitValue(by_currency=[by[c] for c in sorted(by)]),
        query=(
            "per currency: revenue net of tax (sum of order totals less tax over orders not "
            "cancelled or failed, placed within the range, UTC) less expenses (sum of "
            "expense amounts spent within the range, refunds negative, deleted excluded); "
            "records: the orders, then the expenses"
        ),
        filters={**params.described(), "revenue_basis": "net_of_tax"},
        records=[*sales.records, *spent.records][:MAX_RECORDS],
        records_total=(sales.records_total or 0) + (spent.records_total or 0),
    )


async def expense_categories(session: AsyncSession, ctx: Context) -> list[str]:
    """The categories the tenant has spent in (slugs, alphabetical): what a question may
    name ("marketing", "rent"), for the copilot's vocabulary."""
    rows = await session.scalars(sa.select(Expense.category).distinct().order_by(Expense.category))
    return [c for c in rows if c]
