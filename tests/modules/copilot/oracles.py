"""The figures behind the labelled questions, computed here by SQL over the tables, not
by the copilot's tools: if a tool and its oracle disagree, one of them is wrong.

Each oracle is ``async (session, tenant_id, today) -> Decimal | int | None``; money is
exact to the cent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.modules.billing.models import Invoice, Refund
from bizos.modules.commerce.models import Order, OrderLine, Product
from bizos.modules.crm.models import Company, Contact, Deal, Lead
from bizos.modules.finance.models import Expense
from bizos.modules.support.tickets.models import Ticket
from bizos.modules.work.models import Task
from tests.modules.copilot.periods import Period

Figure = Decimal | int | None
Oracle = Callable[[AsyncSession, str, dt.date], Awaitable[Figure]]
PeriodOf = Callable[[dt.date], Period]
CENT = Decimal("0.01")
NOT_COUNTED = ("cancelled", "failed")
OPEN_DEAL = ("won", "lost")
DONE_TICKET = ("resolved", "closed")
DONE_TASK = ("done", "cancelled")
RECEIVABLE = ("open", "partially_paid", "discrepancy")


def cents(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT, rounding=ROUND_HALF_UP)


def window(period: Period) -> tuple[dt.datetime, dt.datetime]:
    start, end = period
    after = end + dt.timedelta(days=1)
    return (
        dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC),
        dt.datetime(after.year, after.month, after.day, tzinfo=dt.UTC),
    )


def _orders(tenant: str, period: Period, source: str | None) -> list[sa.ColumnElement[bool]]:
    start, end = window(period)
    where = [
        Order.tenant_id == tenant,
        Order.status.not_in(NOT_COUNTED),
        Order.placed_at >= start,
        Order.placed_at < end,
    ]
    if source:
        where.append(Order.source == source)
    return where


def revenue(of: PeriodOf, source: str | None = None) -> Oracle:
    async def oracle(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
        total = await s.scalar(
            sa.select(sa.func.sum(Order.total)).where(*_orders(tenant, of(today), source))
        )
        return cents(total)

    return oracle


def order_count(of: PeriodOf, source: str | None = None) -> Oracle:
    async def oracle(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
        n = await s.scalar(sa.select(sa.func.count()).where(*_orders(tenant, of(today), source)))
        return int(n or 0)

    return oracle


def net_revenue(of: PeriodOf) -> Oracle:
    """Order totals less their tax: the revenue gross profit starts from."""

    async def oracle(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
        total = await s.scalar(
            sa.select(sa.func.sum(Order.total - Order.tax_total)).where(
                *_orders(tenant, of(today), None)
            )
        )
        return cents(total)

    return oracle


def gross_profit(of: PeriodOf) -> Oracle:
    """Revenue net of tax less the expenses of the same days."""
    return difference(net_revenue(of), expenses(of))


def average_order(of: PeriodOf) -> Oracle:
    async def oracle(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
        total, n = (
            await s.execute(
                sa.select(sa.func.sum(Order.total), sa.func.count()).where(
                    *_orders(tenant, of(today), None)
                )
            )
        ).one()
        return cents(Decimal(str(total)) / n) if n else None

    return oracle


def top_customer_revenue(of: PeriodOf) -> Oracle:
    async def oracle(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
        best = await s.scalar(
            sa.select(sa.func.sum(Order.total).label("spent"))
            .where(*_orders(tenant, of(today), None), Order.contact_id.is_not(None))
            .group_by(Order.contact_id)
            .order_by(sa.desc("spent"))
            .limit(1)
        )
        return cents(best) if best is not None else None

    return oracle


def line_revenue(of: PeriodOf) -> Oracle:
    """What the order lines came to (before tax, shipping and order discounts): the total
    a breakdown by product states."""

    async def oracle(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
        sold = await s.scalar(
            sa.select(sa.func.sum(OrderLine.line_total))
            .join(Order, Order.id == OrderLine.order_id)
            .where(*_orders(tenant, of(today), None))
        )
        return cents(sold)

    return oracle


def top_product_revenue(of: PeriodOf) -> Oracle:
    """The best-selling catalogue product's line revenue (lines with no product, such as
    a deal's custom line, are not products)."""

    async def oracle(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
        best = await s.scalar(
            sa.select(sa.func.sum(OrderLine.line_total).label("sold"))
            .join(Order, Order.id == OrderLine.order_id)
            .where(*_orders(tenant, of(today), None), OrderLine.product_id.is_not(None))
            .group_by(OrderLine.product_id)
            .order_by(sa.desc("sold"))
            .limit(1)
        )
        return cents(best) if best is not None else None

    return oracle


def product_revenue(sku: str, of: PeriodOf) -> Oracle:
    async def oracle(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
        sold = await s.scalar(
            sa.select(sa.func.sum(OrderLine.line_total))
            .join(Order, Order.id == OrderLine.order_id)
            .where(*_orders(tenant, of(today), None), OrderLine.sku == sku)
        )
        return cents(sold)

    return oracle


async def stock_value(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
    rows = await s.execute(
        sa.select(Product.stock_on_hand, Product.cost, Product.price).where(
            Product.tenant_id == tenant, Product.active.is_(True), Product.stock_on_hand > 0
        )
    )
    return cents(
        sum(
            Decimal(n) * Decimal(str(cost if cost is not None else price))
            for n, cost, price in rows
        )
    )


async def receivables(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
    balance = (
        Invoice.total - Invoice.amount_paid + Invoice.amount_refunded - Invoice.amount_credited
    )
    total = await s.scalar(
        sa.select(sa.func.sum(balance)).where(
            Invoice.tenant_id == tenant, Invoice.status.in_(RECEIVABLE), balance > 0
        )
    )
    return cents(total)


async def overdue_invoices(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
    balance = (
        Invoice.total - Invoice.amount_paid + Invoice.amount_refunded - Invoice.amount_credited
    )
    n = await s.scalar(
        sa.select(sa.func.count()).where(
            Invoice.tenant_id == tenant,
            Invoice.status.in_(RECEIVABLE),
            balance > 0,
            Invoice.due_date < today,
        )
    )
    return int(n or 0)


def refunds(of: PeriodOf) -> Oracle:
    async def oracle(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
        start, end = window(of(today))
        total = await s.scalar(
            sa.select(sa.func.sum(Refund.amount)).where(
                Refund.tenant_id == tenant, Refund.created_at >= start, Refund.created_at < end
            )
        )
        return cents(total)

    return oracle


def expenses(of: PeriodOf, category: str | None = None) -> Oracle:
    async def oracle(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
        start, end = of(today)
        where = [
            Expense.tenant_id == tenant,
            Expense.deleted_at.is_(None),
            Expense.spent_on >= start,
            Expense.spent_on <= end,
        ]
        if category:
            where.append(Expense.category == category)
        return cents(await s.scalar(sa.select(sa.func.sum(Expense.amount)).where(*where)))

    return oracle


async def pipeline_value(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
    total = await s.scalar(
        sa.select(sa.func.sum(Deal.amount)).where(
            Deal.tenant_id == tenant, Deal.stage.not_in(OPEN_DEAL)
        )
    )
    return cents(total)


async def open_deals(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
    n = await s.scalar(
        sa.select(sa.func.count()).where(Deal.tenant_id == tenant, Deal.stage.not_in(OPEN_DEAL))
    )
    return int(n or 0)


def deals_in_stage(stage: str) -> Oracle:
    async def oracle(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
        n = await s.scalar(
            sa.select(sa.func.count()).where(Deal.tenant_id == tenant, Deal.stage == stage)
        )
        return int(n or 0)

    return oracle


def leads(of: PeriodOf, source: str | None = None) -> Oracle:
    async def oracle(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
        start, end = window(of(today))
        where = [Lead.tenant_id == tenant, Lead.created_at >= start, Lead.created_at < end]
        if source:
            where.append(Lead.source == source)
        return int(await s.scalar(sa.select(sa.func.count()).where(*where)) or 0)

    return oracle


def tickets_open(priority: str | None = None) -> Oracle:
    async def oracle(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
        where = [Ticket.tenant_id == tenant, Ticket.status.not_in(DONE_TICKET)]
        if priority:
            where.append(Ticket.priority == priority)
        return int(await s.scalar(sa.select(sa.func.count()).where(*where)) or 0)

    return oracle


async def overdue_tasks(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
    now = dt.datetime.now(dt.UTC)
    n = await s.scalar(
        sa.select(sa.func.count()).where(
            Task.tenant_id == tenant, Task.status.not_in(DONE_TASK), Task.due_at < now
        )
    )
    return int(n or 0)


def difference(first: Oracle, second: Oracle) -> Oracle:
    """How far apart ``first`` and ``second`` are: the size of the change a comparison
    states (its direction is said in words, up or down)."""

    async def oracle(s: AsyncSession, tenant: str, today: dt.date) -> Figure:
        a, b = await first(s, tenant, today), await second(s, tenant, today)
        if a is None or b is None:
            return None
        return abs(a - b)

    return oracle


# --- records a question names -----------------------------------------------------------
# The demo's history moves with the moment it is seeded, so a question naming a record
# names one found here: an overdue invoice, an open deal whose name is its own, …

Names = dict[str, str]


async def records(s: AsyncSession, tenant: str, today: dt.date) -> Names:
    balance = (
        Invoice.total - Invoice.amount_paid + Invoice.amount_refunded - Invoice.amount_credited
    )
    overdue = list(
        await s.scalars(
            sa.select(Invoice.number)
            .where(
                Invoice.tenant_id == tenant,
                Invoice.status.in_(("open", "partially_paid")),
                balance > 0,
                Invoice.due_date < today,
                Invoice.reminders_sent < 3,
            )
            .order_by(Invoice.number)
        )
    )
    deals = list(
        await s.execute(
            sa.select(Deal.name, Deal.stage)
            .where(Deal.tenant_id == tenant, Deal.stage.not_in(OPEN_DEAL))
            .order_by(Deal.amount.desc(), Deal.name)
        )
    )
    counts: dict[str, int] = {}
    for name, _ in await s.execute(sa.select(Deal.name, Deal.id).where(Deal.tenant_id == tenant)):
        counts[name] = counts.get(name, 0) + 1
    unique = [(name, stage) for name, stage in deals if counts[name] == 1]
    contact = await s.scalar(
        sa.select(Contact.name)
        .where(
            Contact.tenant_id == tenant,
            Contact.email.is_not(None),
            Contact.do_not_contact.is_(False),
            Contact.merged_into_id.is_(None),
        )
        .order_by(Contact.name)
        .limit(1)
    )
    company = await s.scalar(
        sa.select(Company.name)
        .where(Company.tenant_id == tenant, Company.merged_into_id.is_(None))
        .order_by(Company.name)
        .limit(1)
    )
    ticket = await s.scalar(
        sa.select(Ticket.number).where(Ticket.tenant_id == tenant).order_by(Ticket.number.desc())
    )
    first, second = (unique + unique)[:2] if unique else (("", ""), ("", ""))
    # "move {deal2} to negotiation": a deal not already there (that move is refused)
    second = next((d for d in unique[1:] if d[1] != "negotiation"), second)
    return {
        "invoice": overdue[0] if overdue else "",
        "invoice2": overdue[1] if len(overdue) > 1 else "",
        "deal": first[0],
        "deal_next": "won",
        "deal2": second[0],
        "contact": contact or "",
        "company": company or "",
        "ticket": ticket or "",
    }
