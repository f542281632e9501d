"""Budgets: /api/v1/finance/budgets.

Reading takes ``billing:read``, writing ``billing:write``. A budget answers with what it
has spent, has left and uses in its current calendar period (UTC), and alerts once per
crossing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import BillingRead, BillingWrite
from bizos.core.errors import Unprocessable, field_error
from bizos.core.pagination import Page, PageParams, fixed_order
from bizos.core.versions import IfMatch, tagged
from bizos.modules.finance.budgets import service
from bizos.modules.finance.schemas import (
    BudgetCreate,
    BudgetRead,
    BudgetStatusParams,
    BudgetUpdate,
    PeriodRead,
)

router = APIRouter(tags=["finance"])

BUDGETS = "/api/v1/finance/budgets"
CategoryQuery = Annotated[str | None, Query(min_length=1, max_length=60)]
_NOT_NULL = ("name", "amount", "active")


@router.post(BUDGETS, status_code=201, response_model=BudgetRead)
async def create_budget(
    body: BudgetCreate, _: BillingWrite, session: DbSession, ctx: Ctx, response: Response
) -> BudgetRead:
    budget = await service.create_budget(session, ctx, **body.model_dump())
    response.headers["Location"] = f"{BUDGETS}/{budget.id}"
    return tagged(response, await service.budget_read(session, ctx, budget))


@router.get(BUDGETS, response_model=Page[BudgetRead])
async def list_budgets(
    _: BillingRead,
    session: DbSession,
    ctx: Ctx,
    page: Annotated[PageParams, Depends(service.BUDGET_ORDER.dependency)],
    category: CategoryQuery = None,
    active: bool | None = None,
) -> Page[BudgetRead]:
    params = BudgetStatusParams(category=category, active=active)
    items, cursor = await service.list_budgets(session, ctx, page=page, params=params)
    return Page[BudgetRead](items=items, next_cursor=cursor)


@router.get(f"{BUDGETS}/{{budget_id}}", response_model=BudgetRead)
async def get_budget(
    budget_id: str, _: BillingRead, session: DbSession, ctx: Ctx, response: Response
) -> BudgetRead:
    budget = await service.get_budget(session, ctx, budget_id)
    return tagged(response, await service.budget_read(session, ctx, budget))


@router.patch(f"{BUDGETS}/{{budget_id}}", response_model=BudgetRead)
async def update_budget(
    budget_id: str,
    body: BudgetUpdate,
    _: BillingWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    if_match: IfMatch = None,
) -> BudgetRead:
    """Change the name, limit, owner or active flag; ``If-Match: <version>`` → 409 when
    stale. ``owner_id: null`` hands the alerts back to the tenant owner."""
    changes = body.model_dump(exclude_unset=True)
    nulls = [k for k in _NOT_NULL if k in changes and changes[k] is None]
    if nulls:
        raise Unprocessable(
            "these fields cannot be cleared",
            errors=[field_error(["body", k], "may not be null") for k in nulls],
        )
    budget = await service.update_budget(
        session, ctx, budget_id, changes=changes, if_match=if_match
    )
    return tagged(response, await service.budget_read(session, ctx, budget))


@router.get(f"{BUDGETS}/{{budget_id}}/periods", response_model=Page[PeriodRead])
async def list_periods(
    budget_id: str,
    _: BillingRead,
    session: DbSession,
    ctx: Ctx,
    page: Annotated[PageParams, Depends(fixed_order("-period_start", "the latest period first"))],
) -> Page[PeriodRead]:
    """The periods that saw spending, newest first, each with spent vs the limit."""
    items, cursor = await service.list_periods(session, ctx, budget_id, page=page)
    return Page[PeriodRead](items=items, next_cursor=cursor)
