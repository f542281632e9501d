"""Expenses and budgets at the edge: what callers send and what they get back.

Money is a decimal string with an ISO 4217 ``currency``. An expense amount is never zero;
a negative amount is a refund (it lowers what a budget has spent). A budget's ``amount``
is its limit per period and is above zero. Categories are compared lower-case.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from bizos.core.errors import Unprocessable, field_error
from bizos.core.fields import Day
from bizos.core.money import CENT, cents
from bizos.core.tools import DateRange
from bizos.modules.crm.deals.schemas import Currency, iso_currency

Period = Literal["month", "quarter", "year"]
ExpenseSource = Literal["manual", "stripe", "import"]
# An amount read back, to the cent as the API writes it ("12.50").
Cents = Annotated[Decimal, AfterValidator(cents)]
EXPENSE_SOURCES = ("manual", "stripe", "import")


def category_slug(value: str) -> str:
    """Categories match case-insensitively and ignore surrounding or repeated spaces."""
    slug = " ".join(value.split()).lower()
    if not slug:
        raise ValueError("a category is required")
    return slug


def nonzero(value: Decimal) -> Decimal:
    if value == 0:
        raise ValueError("an expense amount is never zero (negative for a refund)")
    return value


Category = Annotated[
    str, StringConstraints(min_length=1, max_length=60), AfterValidator(category_slug)
]
ExpenseAmount = Annotated[
    Decimal,
    Field(gt=-(10**12), lt=10**12, max_digits=14, decimal_places=2),
    AfterValidator(nonzero),
]
Limit = Annotated[Decimal, Field(gt=0, lt=10**12, max_digits=14, decimal_places=2)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=36)]
ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ExpenseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: Category
    amount: ExpenseAmount = Field(description="Negative for a refund.")
    currency: Currency
    spent_on: Day = Field(description="The day the money went out (UTC).")
    description: Text = ""
    vendor: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    source: ExpenseSource = "manual"
    external_id: ExternalId | None = Field(
        default=None, description="With source: a repeat returns the expense already recorded."
    )
    properties: dict[str, Any] = Field(default_factory=dict)


class ExpenseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    category: str
    amount: Cents
    currency: str
    spent_on: dt.date
    description: str
    vendor: str | None
    source: str
    external_id: str | None
    properties: dict[str, Any]
    deleted_at: dt.datetime | None
    version: int
    created_at: dt.datetime


class BudgetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    category: Category
    period: Period = "month"
    amount: Limit = Field(description="The limit per period.")
    currency: Currency
    owner_id: Id | None = Field(
        default=None, description="Who is told when it is exceeded (default: the tenant owner)."
    )
    active: bool = True


class BudgetUpdate(BaseModel):
    """Only the fields sent change. Category, currency and period are fixed: create a new
    budget to track something else."""

    model_config = ConfigDict(extra="forbid")
    name: Name | SkipJsonSchema[None] = None
    amount: Limit | SkipJsonSchema[None] = None
    owner_id: Id | None = None
    active: bool | SkipJsonSchema[None] = None


class PeriodRead(BaseModel):
    period_start: dt.date
    period_end: dt.date = Field(description="Exclusive: the first day of the next period.")
    limit: Decimal
    spent: Decimal
    remaining: Decimal = Field(description="Limit minus spent; never below zero.")
    over_by: Decimal = Field(description="Spent minus limit; zero while within the limit.")
    utilization: float = Field(description="spent / limit (1.0 = the whole limit).")
    exceeded: bool
    exceeded_at: dt.datetime | None
    times_exceeded: int


class BudgetRead(BaseModel):
    id: str
    name: str
    category: str
    period: Period
    amount: Decimal
    currency: str
    active: bool
    owner_id: str | None
    spent: Decimal = Field(description="In the current period.")
    remaining: Decimal
    utilization: float
    exceeded: bool
    current_period: PeriodRead
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


# --- figures for the copilot ----------------------------------------------------------


class ExpenseTotalsParams(DateRange):
    category: str | None = Field(default=None, max_length=60)


class CategoryTotal(BaseModel):
    category: str
    currency: str
    amount: Decimal
    count: int


class GrossProfitParams(DateRange):
    """Revenue less expenses from ``from`` to ``to`` (inclusive UTC days)."""


class CurrencyGrossProfit(BaseModel):
    currency: str
    revenue: Decimal = Field(description="Order totals less tax (commerce's revenue rule).")
    orders: int
    expenses: Decimal = Field(description="Expenses spent in the range, refunds netted in.")
    expense_count: int
    gross_profit: Decimal = Field(description="revenue - expenses")


class GrossProfitValue(BaseModel):
    revenue_basis: Literal["net_of_tax"] = "net_of_tax"
    by_currency: list[CurrencyGrossProfit]


class BudgetStatusParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str | None = Field(default=None, max_length=60)
    active: bool | None = True


# --- money checks for callers that bypass the API schema (imports, demo data) -----------


def checked_money(
    *, category: str, amount: Decimal, currency: str, source: str
) -> tuple[str, Decimal, str]:
    """The category, amount and currency as stored, or a 422 naming each bad field: the
    same checks as the API schema, for callers that bypass it (imports, demo data)."""
    errors = []
    try:
        category = category_slug(category)
        if len(category) > 60:
            raise ValueError("at most 60 characters")
    except ValueError as exc:
        errors.append(field_error(["body", "category"], str(exc)))
    amount = Decimal(amount)
    if amount == 0 or amount != amount.quantize(CENT) or abs(amount) >= 10**12:
        errors.append(field_error(["body", "amount"], "a non-zero amount with 2 decimals"))
    try:
        currency = iso_currency(currency)
    except ValueError as exc:
        errors.append(field_error(["body", "currency"], str(exc)))
    if source not in EXPENSE_SOURCES:
        errors.append(field_error(["body", "source"], "unknown source"))
    if errors:
        raise Unprocessable("invalid expense", errors=errors)
    return category, amount, currency
