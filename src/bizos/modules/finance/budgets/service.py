"""Budgets: a limit per category and currency per calendar period, and what has been
spent against it. The only writer of ``finance_budgets`` and ``finance_budget_periods``.

An expense counts towards every budget of the same category and currency, in the
budget's calendar period (month, quarter or year, UTC) that contains the day it was
spent (``finance.service`` calls :func:`count_spending`). What a budget has spent per
period lives in a ``BudgetPeriod`` row that is only ever changed by SQL increments
(``spent = spent + :amount``), so concurrent expenses never lose an update: the row lock
orders them and each sees the total after its own.

The ``exceeded`` flag of a period is the armed/disarmed state of the alert. When spent
goes from within the limit to above it (an expense, a lowered limit, a budget switched
back on), the flag is set by a conditional update (``WHERE NOT exceeded``) and exactly
one ``finance.budget.exceeded`` is emitted, with a notification to the budget's owner
(or the tenant owner). Further expenses while over change nothing. When spent drops back
within the limit (a deleted expense, a refund, a raised limit) the flag is cleared: the
next crossing alerts again. An inactive budget keeps counting but never alerts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Unprocessable, field_error
from bizos.core.events import append_row_event, payload
from bizos.core.ids import new_id
from bizos.core.money import CENT, ZERO, cents, text
from bizos.core.pagination import ListOrder, PageParams, encode_cursor
from bizos.core.reads import one_or_404, read_of
from bizos.core.versions import check_version
from bizos.modules.finance.models import BUDGET_PERIODS, Budget, BudgetPeriod, Expense
from bizos.modules.finance.schemas import (
    BudgetRead,
    BudgetStatusParams,
    PeriodRead,
    category_slug,
    checked_money,
)
from bizos.modules.identity import service as identity
from bizos.modules.notifications import service as notifications

log = structlog.get_logger("bizos.finance")

BUDGET_ORDER = ListOrder("budgets", Budget.id, [Budget.created_at, Budget.updated_at, Budget.name])


# --- periods --------------------------------------------------------------------------


Bounds = tuple[dt.date, dt.date]  # a period's first day and the first day after it


def period_bounds(period: str, day: dt.date) -> Bounds:
    """The calendar period containing ``day``: its first day and the first day after it."""
    if period == "month":
        start = day.replace(day=1)
        months = 1
    elif period == "quarter":
        start = dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        months = 3
    elif period == "year":
        start = dt.date(day.year, 1, 1)
        months = 12
    else:
        raise ValueError(f"unknown budget period {period!r}")
    index = start.month - 1 + months
    return start, dt.date(start.year + index // 12, index % 12 + 1, 1)


def today() -> dt.date:
    return utcnow().date()


def period_read(
    budget: Budget,
    start: dt.date,
    end: dt.date,
    spent: Decimal,
    row: BudgetPeriod | None = None,
) -> PeriodRead:
    limit = cents(budget.amount)
    spent = cents(spent)
    return PeriodRead(
        period_start=start,
        period_end=end,
        limit=limit,
        spent=spent,
        remaining=max(limit - spent, ZERO),
        over_by=max(spent - limit, ZERO),
        utilization=round(float(spent / limit), 4) if limit else 0.0,
        exceeded=bool(row and row.exceeded),
        exceeded_at=row.exceeded_at if row else None,
        times_exceeded=row.times_exceeded if row else 0,
    )


# --- spending -------------------------------------------------------------------------


async def count_spending(
    session: AsyncSession, ctx: Context, expense: Expense, amount: Decimal, *, new: bool = False
) -> None:
    """Add ``amount`` to every budget of the expense's category and currency, in its
    period containing the day it was spent, and settle the alerts. ``new``: the expense
    is being counted now, so a period row made now is summed without it, then it is
    added. Otherwise (an expense taken out), a row made now is summed from what remains
    and needs no change."""
    for budget in await _budgets_for(session, ctx, expense.category, expense.currency):
        bounds = period_bounds(budget.period, expense.spent_on)
        without = expense.id if new else None
        period_id, created = await ensure_period(session, ctx, budget, bounds, without=without)
        delta = ZERO if created and not new else amount
        await add_spending(session, ctx, budget, period_id, delta)


async def _budgets_for(
    session: AsyncSession, ctx: Context, category: str, currency: str
) -> list[Budget]:
    return list(
        await session.scalars(
            sa.select(Budget)
            .where(
                Budget.tenant_id == ctx.require_tenant(),
                Budget.category == category,
                Budget.currency == currency,
            )
            .order_by(Budget.id)
        )
    )


async def _sum_expenses(
    session: AsyncSession, ctx: Context, budget: Budget, bounds: Bounds, without: str | None = None
) -> Decimal:
    """What the expenses of the budget's category and currency add up to in a period
    (cents summed as integers so the database adds exactly)."""
    start, end = bounds
    in_cents = sa.cast(sa.func.round(Expense.amount * 100), sa.BigInteger)
    query = sa.select(sa.func.coalesce(sa.func.sum(in_cents), 0)).where(
        Expense.tenant_id == ctx.require_tenant(),
        Expense.category == budget.category,
        Expense.currency == budget.currency,
        Expense.spent_on >= start,
        Expense.spent_on < end,
        Expense.deleted_at.is_(None),
    )
    if without is not None:
        query = query.where(Expense.id != without)
    total = await session.scalar(query)
    return (Decimal(int(total or 0)) / 100).quantize(CENT)


async def ensure_period(
    session: AsyncSession, ctx: Context, budget: Budget, bounds: Bounds, without: str | None = None
) -> tuple[str, bool]:
    """The id of the budget's period row starting at ``start``, and whether it was made
    now. A new row starts from the sum of the period's expenses other than ``without``
    (the one the caller is about to count); a concurrent creator wins the unique key."""
    tenant_id, (start, end) = ctx.require_tenant(), bounds
    this_period = sa.select(BudgetPeriod.id).where(
        BudgetPeriod.tenant_id == tenant_id,
        BudgetPeriod.budget_id == budget.id,
        BudgetPeriod.period_start == start,
    )
    existing = await session.scalar(this_period)
    if existing is not None:
        return existing, False
    spent = await _sum_expenses(session, ctx, budget, bounds, without)
    values = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "budget_id": budget.id,
        "period_start": start,
        "period_end": end,
        "spent": spent,
        "exceeded": False,
        "times_exceeded": 0,
    }
    table = cast(sa.Table, BudgetPeriod.__table__)
    insert = (
        postgresql.insert(table)
        if session.get_bind().dialect.name == "postgresql"
        else sqlite.insert(table)
    )
    done = await session.execute(
        insert.values(**values).on_conflict_do_nothing(
            index_elements=["tenant_id", "budget_id", "period_start"]
        )
    )
    if getattr(done, "rowcount", 0) == 1:
        return str(values["id"]), True
    found = await session.scalar(this_period)
    assert found is not None
    return found, False


async def add_spending(
    session: AsyncSession, ctx: Context, budget: Budget, period_id: str, delta: Decimal
) -> None:
    """``spent += delta`` in SQL (no lost update), then settle the alert state."""
    await _update_period(session, ctx, period_id, spent=BudgetPeriod.spent + delta)
    await _settle(session, ctx, budget, period_id)


async def _update_period(
    session: AsyncSession,
    ctx: Context,
    period_id: str,
    *where: sa.ColumnElement[bool],
    **values: Any,
) -> bool:
    """Set ``values`` on the period row in SQL, if ``where`` still holds; whether it did."""
    done = await session.execute(
        sa.update(BudgetPeriod)
        .where(BudgetPeriod.tenant_id == ctx.require_tenant(), BudgetPeriod.id == period_id, *where)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(done, "rowcount", 0) == 1)


async def _load_period(session: AsyncSession, ctx: Context, period_id: str) -> BudgetPeriod:
    row = await session.scalar(
        sa.select(BudgetPeriod)
        .where(BudgetPeriod.tenant_id == ctx.require_tenant(), BudgetPeriod.id == period_id)
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def _settle(
    session: AsyncSession,
    ctx: Context,
    budget: Budget,
    period_id: str,
    *,
    notify_past: bool = True,
) -> None:
    """Bring a period's ``exceeded`` flag in line with spent vs the limit: a crossing
    over the limit alerts once; a return within it re-arms. ``notify_past=False`` keeps
    the crossing of an ended period on the log without paging anyone."""
    row = await _load_period(session, ctx, period_id)
    spent, limit = cents(row.spent), cents(budget.amount)
    if spent > limit and not row.exceeded and budget.active:
        crossed = await _update_period(
            session,
            ctx,
            period_id,
            BudgetPeriod.exceeded.is_(False),
            exceeded=True,
            exceeded_at=utcnow(),
            times_exceeded=BudgetPeriod.times_exceeded + 1,
        )
        if crossed:
            await _announce(session, ctx, budget, row, spent, notify_past=notify_past)
    elif spent <= limit and row.exceeded:
        await _update_period(
            session, ctx, period_id, BudgetPeriod.exceeded.is_(True), exceeded=False
        )
        log.info("finance.budget.rearmed", budget_id=budget.id, period_start=str(row.period_start))


async def _budget_event(
    session: AsyncSession,
    ctx: Context,
    type: str,
    budget: Budget,
    data: dict[str, Any],
    *,
    identity: bool = True,
) -> dict[str, Any]:
    """Append a budget's event; its data is ``budget_id`` (with ``identity``: its name,
    category and period too) and then ``data``. Returns that data."""
    described = ("name", "category", "period") if identity else ()
    data = {"budget_id": budget.id, **payload(budget, *described), **data}
    await append_row_event(session, ctx, type, budget, aggregate_type="budget", data=data)
    return data


async def _announce(
    session: AsyncSession,
    ctx: Context,
    budget: Budget,
    row: BudgetPeriod,
    spent: Decimal,
    *,
    notify_past: bool,
) -> None:
    limit = cents(budget.amount)
    data = {
        **payload(row, "period_start", "period_end"),
        "limit": text(limit),
        "spent": text(spent),
        "over_by": text(spent - limit),
        "currency": budget.currency,
    }
    data = await _budget_event(session, ctx, "finance.budget.exceeded", budget, data)
    log.info("finance.budget.exceeded", budget_id=budget.id, period_start=data["period_start"])
    if not notify_past and row.period_end <= today():
        return  # a past period re-evaluated by a new limit: on the log, nobody paged
    recipient = budget.owner_id or await identity.tenant_owner_id(session, ctx)
    if recipient is None:
        log.warning("finance.budget.exceeded_without_recipient", budget_id=budget.id)
        return
    await notifications.notify(
        session,
        ctx,
        user_id=recipient,
        kind="finance.budget_exceeded",
        title=f"Budget {budget.name} exceeded by {data['over_by']} {budget.currency}",
        body=(
            f"{budget.category}: {data['spent']} spent of {data['limit']} {budget.currency} "
            f"in the {budget.period} starting {data['period_start']}."
        ),
        related_type="budget",
        related_id=budget.id,
        data=data,
    )


# --- reads ----------------------------------------------------------------------------


async def get_budget(
    session: AsyncSession, ctx: Context, budget_id: str, *, for_update: bool = False
) -> Budget:
    """The budget (404 when the tenant has none); ``for_update``: row-locked and read
    afresh, for a change."""
    query = sa.select(Budget).where(
        Budget.tenant_id == ctx.require_tenant(), Budget.id == budget_id
    )
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await one_or_404(session, query, "budget")


async def _current_periods(
    session: AsyncSession, ctx: Context, budgets: Sequence[Budget], today: dt.date
) -> dict[str, PeriodRead]:
    """Each budget's current period, in one query for the rows that exist."""
    if not budgets:
        return {}
    starts = {period_bounds(p, today)[0] for p in BUDGET_PERIODS}
    rows = {
        (r.budget_id, r.period_start): r
        for r in await session.scalars(
            sa.select(BudgetPeriod)
            .where(
                BudgetPeriod.tenant_id == ctx.require_tenant(),
                BudgetPeriod.budget_id.in_([b.id for b in budgets]),
                BudgetPeriod.period_start.in_(starts),
            )
            .execution_options(populate_existing=True)
        )
    }
    out = {}
    for budget in budgets:
        bounds = start, end = period_bounds(budget.period, today)
        row = rows.get((budget.id, start))
        # No row yet: nothing was recorded since the period began (or before the budget
        # existed); the expenses themselves tell what has been spent.
        spent = row.spent if row else await _sum_expenses(session, ctx, budget, bounds)
        out[budget.id] = period_read(budget, start, end, spent, row)
    return out


def _budget_read(budget: Budget, current: PeriodRead) -> BudgetRead:
    now = current.model_dump(include={"spent", "remaining", "utilization", "exceeded"})
    return read_of(BudgetRead, budget, **now, amount=cents(budget.amount), current_period=current)


async def budget_read(session: AsyncSession, ctx: Context, budget: Budget) -> BudgetRead:
    """The budget with what it has spent, has left and uses in the current period."""
    current = await _current_periods(session, ctx, [budget], today())
    return _budget_read(budget, current[budget.id])


async def list_budgets(
    session: AsyncSession, ctx: Context, *, page: PageParams, params: BudgetStatusParams
) -> tuple[list[BudgetRead], str | None]:
    """The budgets of ``params.category`` (any when None) that are ``params.active``
    (either when None), each with its current period."""
    query = sa.select(Budget).where(Budget.tenant_id == ctx.require_tenant())
    if params.category is not None:
        query = query.where(Budget.category == category_slug(params.category))
    if params.active is not None:
        query = query.where(Budget.active.is_(params.active))
    rows = list(await session.scalars(BUDGET_ORDER.apply(query, page)))
    items, cursor = BUDGET_ORDER.take_page(rows, page)
    current = await _current_periods(session, ctx, items, today())
    return [_budget_read(b, current[b.id]) for b in items], cursor


async def list_periods(
    session: AsyncSession, ctx: Context, budget_id: str, *, page: PageParams
) -> tuple[list[PeriodRead], str | None]:
    """The budget's periods that have seen spending, newest first."""
    budget = await get_budget(session, ctx, budget_id)
    query = sa.select(BudgetPeriod).where(
        BudgetPeriod.tenant_id == ctx.require_tenant(), BudgetPeriod.budget_id == budget.id
    )
    if page.after:
        try:
            after = dt.date.fromisoformat(page.after)
        except ValueError:
            raise Unprocessable(
                "the cursor is not valid",
                errors=[field_error(["query", "cursor"], "invalid cursor")],
            ) from None
        query = query.where(BudgetPeriod.period_start < after)
    rows = list(
        await session.scalars(
            query.order_by(BudgetPeriod.period_start.desc())
            .limit(page.limit + 1)
            .execution_options(populate_existing=True)
        )
    )
    items = rows[: page.limit]
    cursor = (
        encode_cursor(items[-1].period_start.isoformat())
        if len(rows) > page.limit and items
        else None
    )
    return [period_read(budget, r.period_start, r.period_end, r.spent, r) for r in items], cursor


# --- writes ---------------------------------------------------------------------------


async def create_budget(
    session: AsyncSession,
    ctx: Context,
    *,
    name: str,
    category: str,
    amount: Decimal,
    currency: str,
    period: str = "month",
    owner_id: str | None = None,
    active: bool = True,
) -> Budget:
    """A budget (``finance.budget.created``) starting from what its category has already
    spent this period; if that is already over the limit, it alerts at once."""
    errors = []
    if period not in BUDGET_PERIODS:
        errors.append(field_error(["body", "period"], "month, quarter or year"))
    amount = Decimal(amount)
    if amount <= 0 or amount != amount.quantize(CENT):
        errors.append(field_error(["body", "amount"], "a positive amount with 2 decimals"))
    if errors:
        raise Unprocessable("invalid budget", errors=errors)
    category, _, currency = checked_money(
        category=category, amount=Decimal("1"), currency=currency, source="manual"
    )
    if owner_id is not None:
        owner_id = (await identity.require_active_user(session, ctx, owner_id)).id
    budget = Budget(
        tenant_id=ctx.require_tenant(),
        name=name,
        category=category,
        period=period,
        amount=amount,
        currency=currency,
        owner_id=owner_id,
        active=active,
    )
    session.add(budget)
    await session.flush()
    data = {"limit": text(amount), **payload(budget, "currency", "owner_id")}
    await _budget_event(session, ctx, "finance.budget.created", budget, data)
    period_id, _ = await ensure_period(session, ctx, budget, period_bounds(period, today()))
    await _settle(session, ctx, budget, period_id)
    return budget


async def update_budget(
    session: AsyncSession,
    ctx: Context,
    budget_id: str,
    *,
    changes: dict[str, Any],
    if_match: str | None = None,
) -> Budget:
    """Rename, change the limit, the owner or switch it on/off (``If-Match`` guards the
    version). A new limit re-settles every period of the budget: a raised one re-arms,
    a lowered one under what was spent alerts."""
    budget = await get_budget(session, ctx, budget_id, for_update=True)
    check_version(if_match, budget.version)
    if changes.get("owner_id") is not None:
        owner = await identity.require_active_user(session, ctx, changes["owner_id"])
        changes["owner_id"] = owner.id
    if "amount" in changes:
        changes["amount"] = cents(changes["amount"])
    changes = {k: v for k, v in changes.items() if getattr(budget, k) != v}
    if not changes:
        return budget
    for key, value in changes.items():
        setattr(budget, key, value)
    budget.version += 1
    budget.updated_at = utcnow()
    await session.flush()
    data = {"changed": sorted(changes), "limit": text(budget.amount), "active": budget.active}
    await _budget_event(session, ctx, "finance.budget.updated", budget, data, identity=False)
    if "amount" in changes or changes.get("active") is True:
        await ensure_period(session, ctx, budget, period_bounds(budget.period, today()))
        for period_id in await _period_ids(session, ctx, budget.id):
            await _settle(session, ctx, budget, period_id, notify_past=False)
    return budget


async def _period_ids(session: AsyncSession, ctx: Context, budget_id: str) -> Iterable[str]:
    return list(
        await session.scalars(
            sa.select(BudgetPeriod.id)
            .where(
                BudgetPeriod.tenant_id == ctx.require_tenant(),
                BudgetPeriod.budget_id == budget_id,
            )
            .order_by(BudgetPeriod.period_start)
        )
    )
