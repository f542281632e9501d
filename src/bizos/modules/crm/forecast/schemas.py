"""The sales forecast at the edge."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

Method = Literal["learned", "default"]
# A month as the OpenAPI document states it (years from 1900).
PERIOD_PATTERN = r"^(19\d\d|[2-9]\d{3})-(0[1-9]|1[0-2])$"
MONTH_DESCRIPTION = "A month written YYYY-MM, e.g. 2026-12."
CURRENCY_DESCRIPTION = "ISO 4217; defaults to the tenant's main currency."


class ForecastFilters(BaseModel):
    """Which stored forecasts a list shows: every filter given applies. No length limit
    on ``period``: Pydantic's "at most 7 characters" would pre-empt the service's plain
    "written YYYY-MM" (the OpenAPI document still states the pattern)."""

    period: str | None = Field(
        default=None,
        description=MONTH_DESCRIPTION,
        json_schema_extra={"pattern": PERIOD_PATTERN, "examples": ["2026-12"]},
    )
    currency: str | None = Field(default=None, max_length=3, description=CURRENCY_DESCRIPTION)


class StageForecast(BaseModel):
    stage: str
    count: int
    amount: Decimal
    probability: float = Field(description="The stage's win probability (1 for won).")
    weighted_amount: Decimal = Field(
        description="sum of amount * probability (deal overrides win)."
    )
    sample_size: int | None = Field(
        default=None, description="Closed deals that reached this stage (learned method)."
    )


class Interval(BaseModel):
    low: Decimal
    high: Decimal
    percentiles: tuple[int, int] = (10, 90)
    draws: int
    seed: int


class OtherCurrency(BaseModel):
    """Deals of the period in a currency this forecast leaves out (no FX conversion)."""

    currency: str
    open_count: int
    open_amount: Decimal
    won_count: int
    won_amount: Decimal


class Accuracy(BaseModel):
    """How the forecast compares with what was won, once the period is over."""

    actual_won_amount: Decimal
    absolute_error: Decimal = Field(description="|actual - weighted forecast|")
    absolute_percentage_error: float | None = Field(
        description="absolute_error / actual * 100; null when nothing was won."
    )
    within_interval: bool


class ForecastRead(BaseModel):
    id: str = Field(description="The stored forecast (see GET /api/v1/crm/forecasts).")
    period: str
    currency: str
    method: Method
    weighted_amount: Decimal = Field(description="Won in the period + weighted open deals.")
    commit_amount: Decimal
    best_case_amount: Decimal
    won_amount: Decimal
    by_stage: list[StageForecast]
    interval: Interval
    probabilities: dict[str, float]
    sample_sizes: dict[str, int]
    closed_deals: int = Field(description="The tenant's closed deals the probabilities saw.")
    min_closed_deals_to_learn: int
    other_currencies: list[OtherCurrency] = Field(default_factory=list)
    generated_at: dt.datetime
    period_over: bool = False
    accuracy: Accuracy | None = None
