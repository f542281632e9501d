"""The demo year's spending: Northwind's expenses per category, and the monthly budgets
the owner set half a year ago — one of them (marketing) over its limit this month.

Part of the demo seeder: rows are written directly with finance's models (and the
shared story writer, :mod:`bizos.demo.story`), stamped with when they happened, next to
the events the finance service would have appended. A budget's period rows hold what
its category spent in that month, flagged (with its ``finance.budget.exceeded``) when
the expense that crossed the limit came in.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.events import payload
from bizos.core.money import cents, text
from bizos.demo.story import CURRENCY, Story, historical_id, load_team, stamped, write_story
from bizos.modules.finance.models import Budget, BudgetPeriod, Expense

log = structlog.get_logger("bizos.demo.finance")

MONTHS = 12
BUDGETS_SINCE_MONTHS = 6
OVER_THIS_MONTH = "marketing"
# category: (monthly budget, [(vendor, description, low, high, times a month)])
SPENDING: dict[str, tuple[str, list[tuple[str, str, str, str, int]]]] = {
    "green coffee": (
        "12000.00",
        [
            ("Royal Coffee", "Green coffee: Ethiopia and Kenya lots", "1800", "3200", 1),
            ("Cafe Imports", "Green coffee: Colombia and Guatemala", "1600", "2900", 1),
            ("Genuine Origin", "Green coffee: Brazil, Sumatra, decaf", "1400", "2600", 1),
        ],
    ),
    "packaging": (
        "1500.00",
        [
            ("Pacific Bag Co.", "Valve bags 250 g and 1 kg", "380", "720", 1),
            ("Sticker Mule", "Bag labels", "90", "240", 1),
        ],
    ),
    "shipping": (
        "2000.00",
        [("UPS", "Weekly carrier invoice", "260", "430", 4)],
    ),
    "marketing": (
        "2000.00",
        [
            ("Meta", "Instagram ads", "350", "800", 1),
            ("Google", "Search ads", "250", "600", 1),
            ("Local Print Shop", "Flyers and café table cards", "60", "220", 1),
        ],
    ),
    "rent": (
        "4500.00",
        [("Naito Warehouse LLC", "Roastery and warehouse rent", "4200", "4200", 1)],
    ),
    "software": (
        "400.00",
        [
            ("Shopify", "Shopify plan", "79", "79", 1),
            ("Google Workspace", "Workspace seats", "72", "72", 1),
            ("Cropster", "Roast profiling", "115", "115", 1),
        ],
    ),
}


def _month_start(day: dt.date, back: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - back
    return dt.date(index // 12, index % 12 + 1, 1)


def _moment(day: dt.date, now: dt.datetime, rng: random.Random) -> dt.datetime:
    at = dt.datetime(day.year, day.month, day.day, 9, tzinfo=dt.UTC)
    return min(at + dt.timedelta(minutes=rng.randint(0, 480)), now - dt.timedelta(minutes=5))


def _expenses(story: Story) -> list[Expense]:
    rng, now = story.rng, story.now
    today = now.date()
    out = []
    for back in range(MONTHS, -1, -1):
        start = _month_start(today, back)
        end = _month_start(today, back - 1)
        days = (min(end, today + dt.timedelta(days=1)) - start).days
        for category, (_, lines) in SPENDING.items():
            for vendor, description, low, high, times in lines:
                for n in range(times):
                    offset = 0 if category in ("rent", "software") else rng.randint(0, 27)
                    offset = offset if times == 1 else 7 * n + rng.randint(0, 3)
                    if offset >= days:
                        continue
                    day = start + dt.timedelta(days=offset)
                    amount = Decimal(rng.uniform(float(low), float(high))).quantize(Decimal("1"))
                    if category == "shipping" and day.month == 12:
                        amount = amount * Decimal("1.15")  # the holiday rush
                    out.append(_expense(story, category, vendor, description, day, amount))
    this_month = _month_start(today, 0)
    limit = Decimal(SPENDING[OVER_THIS_MONTH][0])
    spent = sum(
        (e.amount for e in out if e.category == OVER_THIS_MONTH and e.spent_on >= this_month),
        Decimal(0),
    )
    day = max(this_month, today - dt.timedelta(days=1))
    out.append(
        _expense(
            story,
            OVER_THIS_MONTH,
            "Coffee Fest",
            "Trade show booth and travel",
            day,
            max(limit - spent, Decimal(0)) + Decimal(rng.randint(250, 600)),
        )
    )
    return out


def _expense(
    story: Story, category: str, vendor: str, description: str, day: dt.date, amount: Decimal
) -> Expense:
    at = _moment(day, story.now, story.rng)
    recurring = category in ("rent", "software")
    return Expense(
        id=historical_id(at),
        category=category,
        amount=cents(amount),
        currency=CURRENCY,
        spent_on=day,
        description=description,
        vendor=vendor,
        source="import" if recurring else "manual",
        external_id=f"bank-{day.isoformat()}-{vendor.lower().replace(' ', '-')}"
        if recurring
        else None,
        properties={},
        **stamped(at),
    )


def _record(story: Story, expenses: list[Expense]) -> None:
    for expense in sorted(expenses, key=lambda e: e.created_at):
        story.add(
            expense,
            "finance.expense.recorded",
            "expense",
            expense.created_at,
            actor_id=story.team["owner"],
            expense_id=expense.id,
            category=expense.category,
            amount=str(expense.amount),
            currency=CURRENCY,
            spent_on=expense.spent_on.isoformat(),
            vendor=expense.vendor,
            source=expense.source,
            external_id=expense.external_id,
        )


def _budgets(story: Story, expenses: list[Expense]) -> None:
    """Monthly budgets since BUDGETS_SINCE_MONTHS ago, with each month's period row."""
    today = story.now.date()
    first = _month_start(today, BUDGETS_SINCE_MONTHS)
    created = dt.datetime(first.year, first.month, 1, 8, tzinfo=dt.UTC)
    owner = story.team["owner"]
    for n, (category, (limit_text, _)) in enumerate(SPENDING.items()):
        at = created + dt.timedelta(minutes=3 * n)
        budget = Budget(
            id=historical_id(at),
            name=f"{category.capitalize()} (monthly)",
            category=category,
            period="month",
            amount=Decimal(limit_text),
            currency=CURRENCY,
            active=True,
            owner_id=owner,
            **stamped(at),
        )
        story.add(
            budget,
            "finance.budget.created",
            "budget",
            at,
            actor_id=owner,
            version=1,
            budget_id=budget.id,
            **payload(budget, "name", "category", "period"),
            limit=str(budget.amount),
            **payload(budget, "currency", "owner_id"),
        )
        for back in range(BUDGETS_SINCE_MONTHS, -1, -1):
            _period(story, budget, expenses, back)


def _period(story: Story, budget: Budget, expenses: list[Expense], back: int) -> None:
    """The budget's period ``back`` months ago: what its category spent, and when the
    limit was crossed (its event and the owner's notification)."""
    today, limit = story.now.date(), Decimal(budget.amount)
    start, end = _month_start(today, back), _month_start(today, back - 1)
    spent, crossed = Decimal(0), None
    month = sorted(
        (e for e in expenses if e.category == budget.category and start <= e.spent_on < end),
        key=lambda e: e.created_at,
    )
    for expense in month:
        spent += expense.amount
        if crossed is None and spent > limit:
            crossed = expense
    story.rows.append(
        BudgetPeriod(
            id=historical_id(max(budget.created_at, _moment(start, story.now, story.rng))),
            budget_id=budget.id,
            period_start=start,
            period_end=end,
            spent=cents(spent),
            exceeded=crossed is not None,
            exceeded_at=crossed.created_at if crossed else None,
            times_exceeded=1 if crossed else 0,
        )
    )
    if crossed is None:
        return
    spent_then = sum((e.amount for e in month if e.created_at <= crossed.created_at), Decimal(0))
    data: dict[str, Any] = {
        "budget_id": budget.id,
        "name": budget.name,
        "category": budget.category,
        "period": "month",
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "limit": str(limit),
        "spent": text(spent_then),
        "over_by": text(spent_then - limit),
        "currency": CURRENCY,
    }
    story.event("finance.budget.exceeded", "budget", budget.id, crossed.created_at, **data)
    story.notify(
        user_id=story.team["owner"],
        kind="finance.budget_exceeded",
        title=f"Budget {budget.name} exceeded by {data['over_by']} {CURRENCY}",
        body=(
            f"{budget.category}: {data['spent']} spent of {data['limit']} {CURRENCY} "
            f"in the month starting {data['period_start']}."
        ),
        at=crossed.created_at + dt.timedelta(seconds=1),
        related=("budget", budget.id),
        data=data,
    )


async def seed_finance_history(
    session: AsyncSession, ctx: Context, rng: random.Random, *, now: dt.datetime | None = None
) -> None:
    """Write a year of Northwind's expenses and its monthly budgets into ``ctx``'s
    tenant."""
    now = now or utcnow()
    story = Story(rng, now, await load_team(session, ctx))
    expenses = _expenses(story)
    _record(story, expenses)
    _budgets(story, expenses)
    events = await write_story(session, ctx, story)
    log.info("finance.demo.seeded", expenses=len(expenses), events=events)
