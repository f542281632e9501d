"""What the copilot may ask about the sales forecast (scope ``crm:read``): the forecast
of each month in a range (weighted pipeline, commit, best case, won so far and the
10th-90th percentile interval), computed as ``GET /api/v1/crm/forecast`` computes it but
not stored (a reader may not write). Says itself in words (``speak``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.fields import Day
from bizos.core.money import spoken
from bizos.core.phrases import listed
from bizos.core.tools import MAX_RECORDS, CurrencyCode, Figure, Said, Tool, ToolResult, tools_for
from bizos.modules.crm.deals.tools import SCOPE
from bizos.modules.crm.forecast import service
from bizos.modules.crm.forecast.schemas import ForecastRead, OtherCurrency, StageForecast

MAX_MONTHS = 12


class ForecastParams(BaseModel):
    """The months from ``from`` to ``to`` (each given as any day in it); by default the
    current month (UTC)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: Day | None = Field(default=None, alias="from", description="A day of the first month.")
    to: Day | None = Field(default=None, description="A day of the last month.")
    currency: CurrencyCode | None = Field(
        default=None, description="Default: the currency most of the tenant's deals are in."
    )

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else None

    @model_validator(mode="after")
    def _few_months(self) -> Self:
        months = self.months()
        if not months:
            raise ValueError("'to' is before 'from'")
        if len(months) > MAX_MONTHS:
            raise ValueError(f"at most {MAX_MONTHS} months at once")
        return self

    def months(self) -> list[str]:
        today = dt.datetime.now(dt.UTC).date()
        start = self.from_ or self.to or today
        end = self.to or start
        out: list[str] = []
        year, month = start.year, start.month
        while (year, month) <= (end.year, end.month) and len(out) <= MAX_MONTHS:
            out.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out


class ForecastMonth(BaseModel):
    period: str = Field(description="The month, YYYY-MM.")
    first_day: dt.date
    last_day: dt.date
    currency: str
    method: str = Field(description="learned (from closed deals) or default probabilities.")
    weighted_amount: Decimal = Field(description="Won in the month + weighted open deals.")
    commit_amount: Decimal
    best_case_amount: Decimal
    won_amount: Decimal
    interval_low: Decimal = Field(description="10th percentile of simulated outcomes.")
    interval_high: Decimal = Field(description="90th percentile of simulated outcomes.")
    open_deals: int
    won_deals: int
    by_stage: list[StageForecast]
    other_currencies: list[OtherCurrency]


class ForecastValue(BaseModel):
    currency: str
    months: list[ForecastMonth]
    weighted_amount: Decimal = Field(description="The months' weighted forecasts added up.")


def _month_of(forecast: ForecastRead) -> ForecastMonth:
    first, last = service.parse_period(forecast.period)
    return ForecastMonth(
        **forecast.model_dump(
            include={
                "period",
                "currency",
                "method",
                "weighted_amount",
                "commit_amount",
                "best_case_amount",
                "won_amount",
                "by_stage",
                "other_currencies",
            }
        ),
        first_day=first,
        last_day=last,
        interval_low=forecast.interval.low,
        interval_high=forecast.interval.high,
        open_deals=sum(s.count for s in forecast.by_stage if s.stage != "won"),
        won_deals=sum(s.count for s in forecast.by_stage if s.stage == "won"),
    )


async def forecast(session: AsyncSession, ctx: Context, params: ForecastParams) -> ToolResult:
    """The forecast of each month in the range, in one currency."""
    months: list[ForecastMonth] = []
    records: list[str] = []
    total = 0
    for period in params.months():
        read = await service.compute_forecast(
            session, ctx, period=period, currency=params.currency, store=False
        )
        months.append(_month_of(read))
        ids, count = await service.deals_behind(
            session, ctx, period=period, currency=read.currency, limit=MAX_RECORDS
        )
        records.extend(ids)
        total += count
    currency = months[0].currency
    return ToolResult(
        value=ForecastValue(
            currency=currency,
            months=months,
            weighted_amount=sum((m.weighted_amount for m in months), Decimal("0.00")),
        ),
        query=(
            "per month: deals won with their close date in the month, plus open deals "
            "expected to close in it weighted by their stage's win probability (learned from "
            "closed deals, or the defaults); commit and best case; the 10th-90th percentile "
            "of 2,000 simulated outcomes; one currency, no conversion; records are the deals"
        ),
        filters={
            "months": [m.period for m in months],
            "currency": currency,
            "from": months[0].first_day.isoformat(),
            "to": months[-1].last_day.isoformat(),
        },
        records=records[:MAX_RECORDS],
        records_total=total,
    )


def _month_figures(m: ForecastMonth) -> list[Figure]:
    period = (m.first_day, m.last_day)
    return [
        Figure(f"weighted forecast {m.period}", m.weighted_amount, m.currency, period=period),
        Figure(
            f"forecast low (10th percentile) {m.period}", m.interval_low, m.currency, period=period
        ),
        Figure(
            f"forecast high (90th percentile) {m.period}",
            m.interval_high,
            m.currency,
            period=period,
        ),
        Figure(f"commit {m.period}", m.commit_amount, m.currency, period=period),
        Figure(f"best case {m.period}", m.best_case_amount, m.currency, period=period),
        Figure(f"won so far {m.period}", m.won_amount, m.currency, period=period),
    ]


def _month_said(m: ForecastMonth) -> str:
    c = m.currency
    if not m.open_deals and not m.won_deals:
        return f"{spoken(m.weighted_amount, c)}, no deal closing"
    if not m.open_deals:
        return f"{spoken(m.won_amount, c)} won, no open deal left"
    return (
        f"{spoken(m.weighted_amount, c)} weighted, likely between "
        f"{spoken(m.interval_low, c)} and {spoken(m.interval_high, c)}; commit "
        f"{spoken(m.commit_amount, c)}, best case {spoken(m.best_case_amount, c)}, "
        f"{spoken(m.won_amount, c)} already won"
    )


def speak_forecast(params: ForecastParams, result: ToolResult) -> Said:
    value: ForecastValue = result.value
    figures = [f for m in value.months for f in _month_figures(m)]
    if len(value.months) == 1:
        m = value.months[0]
        if not m.open_deals and not m.won_deals:
            text = (
                f"No open or won deal ({m.currency}) has its close date in {m.period}: "
                f"the forecast is {spoken(m.weighted_amount, m.currency)}."
            )
        else:
            text = f"The forecast for {m.period} ({m.currency}) is {_month_said(m)}."
        return Said(text, figures)
    first, last = value.months[0], value.months[-1]
    figures.append(
        Figure(
            f"weighted forecast {first.period} to {last.period}",
            value.weighted_amount,
            value.currency,
            period=(first.first_day, last.last_day),
        )
    )
    parts = [f"{m.period}: {_month_said(m)}" for m in value.months]
    text = (
        f"The forecast from {first.period} to {last.period} ({value.currency}) adds up to "
        f"{spoken(value.weighted_amount, value.currency)} weighted. {listed(parts)}."
    )
    return Said(text, figures)


TOOLS: list[Tool] = tools_for(
    SCOPE,
    (
        "crm.forecast",
        "The sales forecast per month (this month by default): weighted pipeline with its "
        "likely range (10th-90th percentile), commit, best case and what is already won.",
        ForecastParams,
        forecast,
        speak_forecast,
    ),
)
