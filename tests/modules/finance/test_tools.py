"""The copilot's finance tools as the copilot calls them and as they say their answer:
what was spent, how budgets stand, and gross profit (commerce's revenue net of tax less
expenses). Each figure is checked against a sum the test asks the database for itself,
every number in the words is one of the figures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.errors import Forbidden, Unprocessable
from bizos.core.money import cents
from bizos.core.tools import Figure, Said, ToolRegistry, ToolResult, unfigured_numbers
from bizos.modules.commerce.models import Order
from bizos.modules.finance import service as finance
from bizos.modules.finance.budgets import service as budgets
from bizos.modules.finance.models import Expense
from bizos.modules.finance.tools import TOOLS
from tests.conftest import TenantLogin
from tests.modules.commerce.test_metrics import seed_other_shop, seed_shop

D = Decimal
JAN = {"from": "2026-01-01", "to": "2026-01-31"}
JAN_START, FEB_START = (dt.datetime(2026, m, 1, tzinfo=dt.UTC) for m in (1, 2))
FINANCE = ToolRegistry(TOOLS)
BOTH = ("billing:read", "commerce:read")


def reader(tenant: TenantLogin, *scopes: str) -> Context:
    return Context(tenant_id=tenant.tenant_id, actor_type="user", scopes=frozenset(scopes or BOTH))


async def ask(
    db: Database, tenant: TenantLogin, name: str, params: dict[str, Any]
) -> tuple[ToolResult, Said]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        result = await FINANCE.call(s, reader(tenant), name, params)
    speak = FINANCE.get(name).speak
    assert speak is not None
    said = speak(FINANCE.validated(name, params), result)
    assert unfigured_numbers(said) == [], said.text
    return result, said


async def sql(db: Database, tenant: TenantLogin, query: sa.Select[Any]) -> list[Any]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        return list((await s.execute(query)).all())


def figure(said: Said, label: str) -> Figure:
    [found] = [f for f in said.figures if f.label == label]
    return found


async def spend_in(
    db: Database, tenant: TenantLogin, *expenses: tuple[str, str, str, dt.date]
) -> list[str]:
    """Record ``(category, amount, currency, day)`` expenses; their ids."""
    ids = []
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        for category, amount, currency, day in expenses:
            expense = await finance.record_expense(
                s,
                reader(tenant),
                category=category,
                amount=D(amount),
                currency=currency,
                spent_on=day,
                description=category,
            )
            ids.append(expense.id)
    return ids


@pytest.fixture
async def books(db: Database, tenant: TenantLogin, other_tenant: TenantLogin) -> dict[str, str]:
    """The commerce fixture's orders, and January's expenses (see each comment)."""
    await seed_shop(db, tenant.tenant_id)
    await seed_other_shop(db, other_tenant.tenant_id)
    jan = dt.date(2026, 1, 15)
    ads, rent, back, tools, feb, gone = await spend_in(
        db,
        tenant,
        ("marketing", "80.00", "EUR", jan),
        ("rent", "30.50", "EUR", jan),
        ("marketing", "-10.00", "EUR", dt.date(2026, 1, 31)),  # a refund, netted in
        ("software", "50.00", "USD", jan),
        ("rent", "20.00", "EUR", dt.date(2026, 2, 1)),  # after January
        ("rent", "999.00", "EUR", jan),  # deleted below
    )
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        await finance.delete_expense(s, reader(tenant), gone)
    await spend_in(db, other_tenant, ("marketing", "5000.00", "EUR", jan))
    return {"ads": ads, "rent": rent, "back": back, "tools": tools, "feb": feb}


async def spent_in_january(db: Database, tenant: TenantLogin) -> dict[str, Decimal]:
    rows = await sql(
        db,
        tenant,
        sa.select(Expense.currency, sa.func.sum(Expense.amount))
        .where(
            Expense.tenant_id == tenant.tenant_id,
            Expense.deleted_at.is_(None),
            Expense.spent_on >= dt.date(2026, 1, 1),
            Expense.spent_on <= dt.date(2026, 1, 31),
        )
        .group_by(Expense.currency),
    )
    return {currency: cents(total) for currency, total in rows}


async def test_expenses_say_each_currency_and_the_largest_categories(
    db: Database, tenant: TenantLogin, books: dict[str, str]
) -> None:
    spent = await spent_in_january(db, tenant)
    assert spent == {"EUR": D("100.50"), "USD": D("50.00")}  # 80 + 30.50 - 10; 50
    result, said = await ask(db, tenant, "finance.expenses", JAN)
    for currency, total in spent.items():
        assert figure(said, f"Spent ({currency})").value == total
    assert said.text == (
        "Expenses between 1 Jan and 31 Jan 2026 came to €100.50 over 3 expenses (marketing "
        "€70.00; rent €30.50) and $50.00 over 1 expense (software $50.00)."
    )
    assert set(result.records) == {books[k] for k in ("ads", "rent", "back", "tools")}
    _r, said = await ask(db, tenant, "finance.expenses", {**JAN, "category": "Marketing"})
    assert said.text == (
        "Marketing expenses between 1 Jan and 31 Jan 2026 came to €70.00 over 2 expenses."
    )


async def test_gross_profit_is_revenue_net_of_tax_less_expenses(
    db: Database, tenant: TenantLogin, books: dict[str, str]
) -> None:
    sold = await sql(
        db,
        tenant,
        sa.select(Order.currency, sa.func.sum(Order.total - Order.tax_total))
        .where(
            Order.tenant_id == tenant.tenant_id,
            Order.status.not_in(["cancelled", "failed"]),
            Order.placed_at >= JAN_START,
            Order.placed_at < FEB_START,
        )
        .group_by(Order.currency),
    )
    revenue = {currency: cents(net) for currency, net in sold}
    # EUR: SO-1 100 - 20 tax + SO-2 60; USD: SO-5 300.
    assert revenue == {"EUR": D("140.00"), "USD": D("300.00")}
    spent = await spent_in_january(db, tenant)
    result, said = await ask(db, tenant, "finance.gross_profit", JAN)
    for currency in ("EUR", "USD"):
        profit = figure(said, f"Gross profit ({currency})")
        assert profit.value == revenue[currency] - spent[currency]
        assert figure(said, f"Revenue net of tax ({currency})").value == revenue[currency]
        assert figure(said, f"Expenses ({currency})").value == spent[currency]
    assert said.text == (
        "Gross profit (revenue net of tax less expenses) between 1 Jan and 31 Jan 2026 was "
        "€39.50 (revenue €140.00 less expenses €100.50) and $250.00 (revenue $300.00 less "
        "expenses $50.00)."
    )
    assert result.filters["revenue_basis"] == "net_of_tax"
    assert books["ads"] in result.records and result.records_total == 3 + 4


async def test_a_loss_is_said_with_its_sign(
    db: Database, tenant: TenantLogin, books: dict[str, str]
) -> None:
    await spend_in(db, tenant, ("rent", "500.00", "EUR", dt.date(2026, 2, 2)))
    _r, said = await ask(
        db, tenant, "finance.gross_profit", {"from": "2026-02-01", "to": "2026-02-28"}
    )
    # February: SO-6 40 EUR against 20 + 500 of rent.
    assert figure(said, "Gross profit (EUR)").value == D("-480.00")
    assert "was -€480.00 (revenue €40.00 less expenses €520.00)" in said.text


async def test_gross_profit_needs_commerce_read_as_well(
    db: Database, tenant: TenantLogin, books: dict[str, str]
) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        with pytest.raises(Forbidden):
            await FINANCE.call(s, reader(tenant, "billing:read"), "finance.gross_profit", JAN)
        with pytest.raises(Forbidden):
            await FINANCE.call(s, reader(tenant, "commerce:read"), "finance.gross_profit", JAN)


async def test_budgets_say_spent_of_limit_and_what_is_over(
    db: Database, tenant: TenantLogin
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        for name, category, limit in (("Ads", "marketing", "100.00"), ("Trips", "travel", "50.00")):
            await budgets.create_budget(
                s, reader(tenant), name=name, category=category, amount=D(limit), currency="EUR"
            )
    await spend_in(
        db, tenant, ("marketing", "25.00", "EUR", today), ("travel", "75.00", "EUR", today)
    )
    result, said = await ask(db, tenant, "finance.budgets", {})
    assert figure(said, "Spent of Trips").value == D("75.00")
    assert figure(said, "Used of Trips").value == D("150.0")
    assert figure(said, "Budgets over their limit").value == 1
    assert said.text == (
        "2 budgets, 1 over the limit. Trips has spent €75.00 of €50.00 this month (150.0%), "
        "over by €25.00; Ads has spent €25.00 of €100.00 this month (25.0%), €75.00 left."
    )
    assert sorted(result.records) == sorted(b.id for b in result.value)


async def test_nothing_spent_is_said_plainly_with_a_zero_figure(
    db: Database, tenant: TenantLogin, books: dict[str, str]
) -> None:
    year_before = {"from": "2025-01-01", "to": "2025-01-31"}
    _r, said = await ask(db, tenant, "finance.expenses", year_before)
    assert said.text == "No expenses were recorded between 1 Jan and 31 Jan 2025."
    assert [f.value for f in said.figures] == [0]
    _r, said = await ask(db, tenant, "finance.gross_profit", {**year_before, "currency": "EUR"})
    assert said.text == (
        "Gross profit (revenue net of tax less expenses) between 1 Jan and 31 Jan 2025 was "
        "€0.00: no orders and no expenses."
    )
    _r, said = await ask(db, tenant, "finance.budgets", {})
    assert (said.text, [f.value for f in said.figures]) == ("No budgets are set up.", [0])


async def test_another_tenants_orders_and_expenses_never_count(
    db: Database, other_tenant: TenantLogin, books: dict[str, str]
) -> None:
    result, said = await ask(db, other_tenant, "finance.gross_profit", JAN)
    # Theirs: one 1,000.00 order on 10 January and 5,000.00 of marketing.
    assert figure(said, "Gross profit (EUR)").value == D("-4000.00")
    assert [c.currency for c in result.value.by_currency] == ["EUR"]
    assert not set(result.records) & set(books.values())


async def test_bad_parameters_are_422(db: Database, tenant: TenantLogin) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        for params in (
            {"from": "2026-02-01", "to": "2026-01-01"},
            {"currency": "EURO"},
            {"category": "marketing"},
            {"from": "2000-01-01", "to": "2026-01-01"},
        ):
            with pytest.raises(Unprocessable):
                await FINANCE.call(s, reader(tenant), "finance.gross_profit", params)
