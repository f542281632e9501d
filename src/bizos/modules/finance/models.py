"""Finance tables: expense transactions and budgets per category and period.

``BudgetPeriod`` keeps, per budget and period, what has been spent and whether the
budget is over: the flag is the armed/disarmed state that makes
``finance.budget.exceeded`` fire once per crossing (an expense that pushes spending over
the limit), not once per expense after it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Entity, TenantScoped, unique_where
from bizos.core.ids import new_id

Money = sa.Numeric(14, 2)
BUDGET_PERIODS = ("month", "quarter", "year")


class Expense(Entity, Base):
    __tablename__ = "finance_expenses"
    __table_args__ = (
        sa.Index("ix_finance_expenses_tenant_category_date", "tenant_id", "category", "spent_on"),
        unique_where(
            "uq_finance_expenses_tenant_source_external",
            "tenant_id",
            "source",
            "external_id",
            where="external_id IS NOT NULL",
        ),
    )

    category: Mapped[str] = mapped_column(sa.String(60))  # lower-case slug: "marketing"
    amount: Mapped[Decimal] = mapped_column(Money)  # positive; a refund is negative
    currency: Mapped[str] = mapped_column(sa.String(3))
    spent_on: Mapped[dt.date] = mapped_column(sa.Date)
    description: Mapped[str] = mapped_column(sa.String(500))
    vendor: Mapped[str | None] = mapped_column(sa.String(200))
    source: Mapped[str] = mapped_column(sa.String(20), default="manual")  # manual|stripe|import
    external_id: Mapped[str | None] = mapped_column(sa.String(100))
    deleted_at: Mapped[dt.datetime | None]
    properties: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class Budget(Entity, Base):
    __tablename__ = "finance_budgets"
    __table_args__ = (sa.Index("ix_finance_budgets_tenant_category", "tenant_id", "category"),)

    name: Mapped[str] = mapped_column(sa.String(200))
    category: Mapped[str] = mapped_column(sa.String(60))
    period: Mapped[str] = mapped_column(sa.String(10))  # BUDGET_PERIODS
    amount: Mapped[Decimal] = mapped_column(Money)  # the limit per period
    currency: Mapped[str] = mapped_column(sa.String(3))
    active: Mapped[bool] = mapped_column(default=True)
    owner_id: Mapped[str | None] = mapped_column(sa.String(36))  # who is told


class BudgetPeriod(TenantScoped, Base):
    __tablename__ = "finance_budget_periods"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "budget_id", "period_start"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    budget_id: Mapped[str] = mapped_column(sa.String(36))
    period_start: Mapped[dt.date] = mapped_column(sa.Date)
    period_end: Mapped[dt.date] = mapped_column(sa.Date)  # exclusive
    spent: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    exceeded: Mapped[bool] = mapped_column(default=False)
    exceeded_at: Mapped[dt.datetime | None]
    times_exceeded: Mapped[int] = mapped_column(default=0)
