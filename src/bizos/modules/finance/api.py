"""Expenses: /api/v1/finance/expenses (budgets: ``budgets/api.py``).

Reading takes ``billing:read``, writing ``billing:write``. An expense counts towards
every budget of its category and currency; a budget answers with what it has spent,
has left and uses in its current calendar period (UTC), and alerts once per crossing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import BillingRead, BillingWrite
from bizos.core.errors import Unprocessable, field_error
from bizos.core.fields import Day
from bizos.core.pagination import Page, PageParams
from bizos.modules.finance import service
from bizos.modules.finance.schemas import ExpenseCreate, ExpenseRead

router = APIRouter(tags=["finance"])

EXPENSES = "/api/v1/finance/expenses"
CategoryQuery = Annotated[str | None, Query(min_length=1, max_length=60)]
CurrencyQuery = Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")]


@router.post(EXPENSES, status_code=201, response_model=ExpenseRead)
async def record_expense(
    body: ExpenseCreate, _: BillingWrite, session: DbSession, ctx: Ctx, response: Response
) -> ExpenseRead:
    """Record an expense (negative amount: a refund). A repeated ``source`` +
    ``external_id`` answers 200 with the expense already recorded."""
    expense, created = await service.record_expense_once(session, ctx, **body.model_dump())
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"{EXPENSES}/{expense.id}"
    return service.expense_read(expense)


@router.get(EXPENSES, response_model=Page[ExpenseRead])
async def list_expenses(
    _: BillingRead,
    session: DbSession,
    ctx: Ctx,
    page: Annotated[PageParams, Depends(service.EXPENSE_ORDER.dependency)],
    category: CategoryQuery = None,
    currency: CurrencyQuery = None,
    from_: Annotated[Day | None, Query(alias="from")] = None,
    to: Day | None = None,
    include_deleted: bool = False,
) -> Page[ExpenseRead]:
    """Expenses, the latest recorded first (see `sort`); ``from``/``to`` are inclusive
    days."""
    if from_ is not None and to is not None and to < from_:
        raise Unprocessable(
            "'to' is before 'from'", errors=[field_error(["query", "to"], "before from")]
        )
    items, cursor = await service.list_expenses(
        session,
        ctx,
        page=page,
        category=category,
        currency=currency,
        from_=from_,
        to=to,
        include_deleted=include_deleted,
    )
    return Page[ExpenseRead](items=items, next_cursor=cursor)


@router.get(f"{EXPENSES}/{{expense_id}}", response_model=ExpenseRead)
async def get_expense(expense_id: str, _: BillingRead, session: DbSession, ctx: Ctx) -> ExpenseRead:
    return service.expense_read(await service.get_expense(session, ctx, expense_id))


@router.delete(f"{EXPENSES}/{{expense_id}}", status_code=204)
async def delete_expense(expense_id: str, _: BillingWrite, session: DbSession, ctx: Ctx) -> None:
    """Take the expense out of its budgets (soft delete; it stays readable)."""
    await service.delete_expense(session, ctx, expense_id)
