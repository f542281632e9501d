"""The sales forecast for a month: weighted pipeline, commit, best case and an interval.

Which deals: open deals whose ``close_date`` falls in the month, plus deals already won
in it (a won deal's ``close_date`` is the day it closed), in one currency — there is no
FX conversion, so the forecast is per currency. The default currency is the tenant's
main one (the most common among its deals); deals in others are listed apart in
``other_currencies`` and can be forecast with ``currency=``.

Stage probabilities are *learned* from the tenant's closed deals once it has at least
``min_closed_deals_to_learn`` of them: for stage S, the share of closed deals that
reached S (or a later stage; every won deal passed them all) and were won, smoothed
towards the default probability of S as if two more deals had been seen
(``(wins + 2·default) / (reached + 2)``, additive smoothing with the default as prior).
Until then the tenant's default probabilities apply. A deal's own ``probability``
overrides its stage's.

- weighted = won + sum of amount * probability;
- commit = won + open deals in ``negotiation`` or at least ``commit_probability``;
- best case = won + every open deal;
- interval = 10th-90th percentile of 2,000 simulated outcomes: each open deal is won
  with its probability (Bernoulli); with learned probabilities each draw first
  re-estimates them from a bootstrap resample of the closed deals, so the interval also
  carries the uncertainty of having learned from few deals. The generator is seeded from
  tenant, period and currency: the same data gives the same interval.

Each forecast is stored (when its figures differ from the last one stored for the same
month and currency) so that ``list_forecasts`` can judge it once the month is over.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Unprocessable, field_error
from bizos.core.events import payload
from bizos.core.money import cents
from bizos.core.pagination import ListOrder, PageParams
from bizos.modules.crm.deals.pipeline import pipeline_settings
from bizos.modules.crm.deals.schemas import OPEN_STAGES, PipelineSettings, iso_currency
from bizos.modules.crm.forecast.schemas import (
    Accuracy,
    ForecastFilters,
    ForecastRead,
    Interval,
    OtherCurrency,
    StageForecast,
)
from bizos.modules.crm.models import Deal, DealStageChange, Forecast
from bizos.modules.crm.records import normalized, read_page

DRAWS = 2_000
PERCENTILES = (10, 90)
PRIOR_WEIGHT = 2.0  # smoothing: as if this many deals at the default probability were seen
FALLBACK_CURRENCY = "USD"
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
PERIOD_MESSAGE = "period must be a month written YYYY-MM, e.g. 2026-12"
_CHUNK = 250  # draws simulated at once, so memory stays bounded for big pipelines


def parse_period(period: str) -> tuple[dt.date, dt.date]:
    """First and last day of ``YYYY-MM``; 422 at ``query.period`` otherwise."""
    match = _PERIOD.match(period)
    if match is None or int(match.group(1)) < 1900:
        raise Unprocessable(
            PERIOD_MESSAGE, errors=[field_error(["query", "period"], PERIOD_MESSAGE)]
        )
    year, month = int(match.group(1)), int(match.group(2))
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


@dataclass(frozen=True, slots=True)
class ClosedHistory:
    """The tenant's closed deals: wins, and losses by the last open stage they reached
    (index into OPEN_STAGES; -1 = lost before entering any)."""

    wins: int
    losses_by_rank: dict[int, int]

    @property
    def total(self) -> int:
        return self.wins + sum(self.losses_by_rank.values())

    def reached(self, rank: int) -> int:
        return self.wins + sum(n for r, n in self.losses_by_rank.items() if r >= rank)


@dataclass(slots=True)
class Probabilities:
    method: str
    by_stage: dict[str, float]
    sample_sizes: dict[str, int] = field(default_factory=dict)


async def closed_history(session: AsyncSession, ctx: Context) -> ClosedHistory:
    tenant_id = ctx.require_tenant()
    rank = sa.case(
        {stage: i for i, stage in enumerate(OPEN_STAGES)}, value=DealStageChange.to_stage
    )
    reached = (
        sa.select(DealStageChange.deal_id, sa.func.max(rank).label("top"))
        .where(
            DealStageChange.tenant_id == tenant_id,
            DealStageChange.to_stage.in_(OPEN_STAGES),
        )
        .group_by(DealStageChange.deal_id)
        .subquery()
    )
    top = sa.func.coalesce(reached.c.top, -1)
    rows = await session.execute(
        sa.select(Deal.stage, top, sa.func.count())
        .select_from(Deal)
        .outerjoin(reached, reached.c.deal_id == Deal.id)
        .where(Deal.tenant_id == tenant_id, Deal.stage.in_(("won", "lost")))
        .group_by(Deal.stage, top)
    )
    wins = 0
    losses: dict[int, int] = {}
    for stage, top_rank, count in rows.all():
        if stage == "won":
            wins += int(count)
        else:
            losses[int(top_rank)] = losses.get(int(top_rank), 0) + int(count)
    return ClosedHistory(wins=wins, losses_by_rank=losses)


def stage_probabilities(history: ClosedHistory, settings: PipelineSettings) -> Probabilities:
    defaults: dict[str, float] = {
        s: float(settings.default_probabilities.get(s, 0.0)) for s in OPEN_STAGES
    }
    if history.total < settings.min_closed_deals_to_learn:
        return Probabilities("default", defaults)
    learned: dict[str, float] = {}
    sizes: dict[str, int] = {}
    for rank, stage in enumerate(OPEN_STAGES):
        n = history.reached(rank)
        sizes[stage] = n
        learned[stage] = (history.wins + PRIOR_WEIGHT * defaults[stage]) / (n + PRIOR_WEIGHT)
    return Probabilities("learned", learned, sizes)


def _draw_stage_probabilities(
    rng: np.random.Generator,
    history: ClosedHistory,
    probabilities: Probabilities,
    defaults: np.ndarray[Any, np.dtype[np.float64]],
    draws: int,
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """(draws, stages) probabilities: fixed for defaults, bootstrapped when learned."""
    fixed = np.array([probabilities.by_stage[s] for s in OPEN_STAGES])
    if probabilities.method != "learned":
        return np.broadcast_to(fixed, (draws, len(OPEN_STAGES)))
    # Resampling n closed deals with replacement = a multinomial over their categories:
    # [won, lost before any stage, lost after lead, ..., lost after negotiation].
    ranks = list(range(-1, len(OPEN_STAGES)))
    counts = np.array([history.wins, *(history.losses_by_rank.get(r, 0) for r in ranks)], float)
    samples = rng.multinomial(history.total, counts / counts.sum(), size=draws)
    wins = samples[:, 0].astype(float)
    losses = samples[:, 1:].astype(float)  # column j is rank j - 1
    out = np.empty((draws, len(OPEN_STAGES)))
    for rank in range(len(OPEN_STAGES)):
        reached = wins + losses[:, rank + 1 :].sum(axis=1)
        out[:, rank] = (wins + PRIOR_WEIGHT * defaults[rank]) / (reached + PRIOR_WEIGHT)
    return out


def simulate_interval(
    *,
    seed: int,
    history: ClosedHistory,
    probabilities: Probabilities,
    defaults: Sequence[float],
    stages: Sequence[int],
    overrides: Sequence[float | None],
    amounts: Sequence[float],
    won_amount: float,
    draws: int = DRAWS,
) -> tuple[float, float]:
    """The 10th and 90th percentile of simulated period totals (see module doc)."""
    if not amounts:
        return won_amount, won_amount
    rng = np.random.default_rng(seed)
    stage_p = _draw_stage_probabilities(
        rng, history, probabilities, np.asarray(defaults, float), draws
    )
    stage_index = np.asarray(stages, int)
    override = np.array([np.nan if o is None else o for o in overrides], float)
    has_override = ~np.isnan(override)
    values = np.asarray(amounts, float)
    totals = np.empty(draws)
    for start in range(0, draws, _CHUNK):
        p = stage_p[start : start + _CHUNK][:, stage_index]
        p = np.where(has_override, override, p)
        wins = rng.random(p.shape) < p
        totals[start : start + len(p)] = wins @ values + won_amount
    low, high = np.percentile(totals, PERCENTILES)
    return float(low), float(high)


def _seed(tenant_id: str, period: str, currency: str) -> int:
    digest = hashlib.sha256(f"{tenant_id}:{period}:{currency}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


async def main_currency(session: AsyncSession, ctx: Context) -> str:
    """The currency most of the tenant's deals are in (ties: alphabetical)."""
    count = sa.func.count()
    found = await session.scalar(
        sa.select(Deal.currency)
        .where(Deal.tenant_id == ctx.require_tenant())
        .group_by(Deal.currency)
        .order_by(count.desc(), Deal.currency)
        .limit(1)
    )
    return found or FALLBACK_CURRENCY


async def _other_currencies(
    session: AsyncSession, ctx: Context, first: dt.date, last: dt.date, currency: str
) -> list[OtherCurrency]:
    is_open = Deal.stage.in_(OPEN_STAGES)
    is_won = Deal.stage == "won"
    rows = await session.execute(
        sa.select(
            Deal.currency,
            sa.func.sum(sa.case((is_open, 1), else_=0)),
            sa.func.sum(sa.case((is_open, Deal.amount), else_=0)),
            sa.func.sum(sa.case((is_won, 1), else_=0)),
            sa.func.sum(sa.case((is_won, Deal.amount), else_=0)),
        )
        .where(
            Deal.tenant_id == ctx.require_tenant(),
            Deal.currency != currency,
            Deal.stage != "lost",
            Deal.close_date.between(first, last),
        )
        .group_by(Deal.currency)
        .order_by(Deal.currency)
    )
    return [
        OtherCurrency(
            currency=cur,
            open_count=int(oc or 0),
            open_amount=cents(oa or 0),
            won_count=int(wc or 0),
            won_amount=cents(wa or 0),
        )
        for cur, oc, oa, wc, wa in rows.all()
    ]


async def compute_forecast(
    session: AsyncSession,
    ctx: Context,
    *,
    period: str,
    currency: str | None = None,
    store: bool = True,
) -> ForecastRead:
    """The forecast for ``period`` as of now (see the module doc); stored for accuracy
    unless ``store`` is false (a reader that may not write: it then has no ``id``)."""
    first, last = parse_period(period)
    currency = await _forecast_currency(session, ctx, currency)
    tenant_id = ctx.require_tenant()
    settings = await pipeline_settings(session, ctx)
    history = await closed_history(session, ctx)
    probabilities = stage_probabilities(history, settings)
    open_deals, won_count, won_amount = await _deals_closing(session, ctx, currency, first, last)
    by_stage, commit, best = _by_stage(open_deals, probabilities, settings, won_count, won_amount)
    weighted = won_amount + sum((b.weighted_amount for b in by_stage[:-1]), Decimal(0))
    seed = _seed(tenant_id, period, currency)
    low, high = simulate_interval(
        seed=seed,
        history=history,
        probabilities=probabilities,
        defaults=[settings.default_probabilities.get(s, 0.0) for s in OPEN_STAGES],
        stages=[OPEN_STAGES.index(stage) for stage, _, _ in open_deals],
        overrides=[None if o is None else float(o) for _, _, o in open_deals],
        amounts=[float(a) for _, a, _ in open_deals],
        won_amount=float(won_amount),
    )
    forecast = ForecastRead(
        id="",
        period=period,
        currency=currency,
        method="learned" if probabilities.method == "learned" else "default",
        weighted_amount=weighted,
        commit_amount=commit,
        best_case_amount=best,
        won_amount=won_amount,
        by_stage=by_stage,
        interval=Interval(low=cents(low), high=cents(high), draws=DRAWS, seed=seed),
        probabilities={s: round(p, 4) for s, p in probabilities.by_stage.items()},
        sample_sizes=probabilities.sample_sizes,
        closed_deals=history.total,
        min_closed_deals_to_learn=settings.min_closed_deals_to_learn,
        other_currencies=await _other_currencies(session, ctx, first, last, currency),
        generated_at=utcnow(),
        period_over=utcnow().date() > last,
    )
    return await _store(session, ctx, forecast) if store else forecast


async def deals_behind(
    session: AsyncSession, ctx: Context, *, period: str, currency: str, limit: int
) -> tuple[list[str], int]:
    """The deals a forecast of ``period`` in ``currency`` counts (open or won, closing
    in the month), largest first (at most ``limit``), and how many there are."""
    first, last = parse_period(period)
    where = (
        Deal.tenant_id == ctx.require_tenant(),
        Deal.currency == _currency_code(currency),
        Deal.close_date.between(first, last),
        Deal.stage.in_((*OPEN_STAGES, "won")),
    )
    total = await session.scalar(sa.select(sa.func.count()).select_from(Deal).where(*where))
    ids = await session.scalars(
        sa.select(Deal.id).where(*where).order_by(Deal.amount.desc(), Deal.id).limit(limit)
    )
    return list(ids), int(total or 0)


async def _forecast_currency(session: AsyncSession, ctx: Context, currency: str | None) -> str:
    """The currency asked for (422 when unknown), else the tenant's main one."""
    if currency is None:
        return await main_currency(session, ctx)
    return _currency_code(currency)


def _currency_code(currency: str) -> str:
    return normalized(iso_currency, currency, ValueError, ["query", "currency"], "unknown currency")


async def _deals_closing(
    session: AsyncSession, ctx: Context, currency: str, first: dt.date, last: dt.date
) -> tuple[list[Any], int, Decimal]:
    """The open deals closing in the period (stage, amount, probability override), and
    the count and amount of those already won."""
    in_period = (
        Deal.tenant_id == ctx.require_tenant(),
        Deal.currency == currency,
        Deal.close_date.between(first, last),
    )
    open_deals = (
        await session.execute(
            sa.select(Deal.stage, Deal.amount, Deal.probability)
            .where(*in_period, Deal.stage.in_(OPEN_STAGES))
            .order_by(Deal.id)
        )
    ).all()
    won_count, won_sum = (
        await session.execute(
            sa.select(sa.func.count(), sa.func.sum(Deal.amount)).where(
                *in_period, Deal.stage == "won"
            )
        )
    ).one()
    return list(open_deals), int(won_count or 0), cents(won_sum or 0)


def _by_stage(
    open_deals: list[Any],
    probabilities: Probabilities,
    settings: PipelineSettings,
    won_count: int,
    won_amount: Decimal,
) -> tuple[list[StageForecast], Decimal, Decimal]:
    """Each open stage's count, amount and weighted amount, then "won"; and the commit
    and best-case totals (won included)."""
    per_stage: dict[str, dict[str, Any]] = {
        s: {"count": 0, "amount": Decimal(0), "weighted": Decimal(0)} for s in OPEN_STAGES
    }
    commit = best = won_amount
    for stage, amount, override in open_deals:
        amount = cents(amount)
        p = probabilities.by_stage[stage] if override is None else float(override)
        bucket = per_stage[stage]
        bucket["count"] += 1
        bucket["amount"] += amount
        bucket["weighted"] += amount * Decimal(str(p))
        best += amount
        if stage == "negotiation" or p >= settings.commit_probability:
            commit += amount
    by_stage = [
        StageForecast(
            stage=s,
            count=per_stage[s]["count"],
            amount=cents(per_stage[s]["amount"]),
            probability=round(probabilities.by_stage[s], 4),
            weighted_amount=cents(per_stage[s]["weighted"]),
            sample_size=probabilities.sample_sizes.get(s),
        )
        for s in OPEN_STAGES
    ]
    by_stage.append(
        StageForecast(
            stage="won",
            count=won_count,
            amount=won_amount,
            probability=1.0,
            weighted_amount=won_amount,
        )
    )
    return by_stage, commit, best


# --- stored forecasts ---------------------------------------------------------------------


def _figures(forecast: ForecastRead) -> dict[str, Any]:
    """What a stored forecast keeps besides its columns (in ``probabilities``)."""
    return payload(
        forecast,
        "sample_sizes",
        "closed_deals",
        "min_closed_deals_to_learn",
        "won_amount",
        stages=forecast.probabilities,
        draws=forecast.interval.draws,
        seed=forecast.interval.seed,
        other_currencies=[o.model_dump(mode="json") for o in forecast.other_currencies],
    )


# The fields of a forecast that its row's columns of the same names keep as they are.
_AS_STORED = {
    "period",
    "currency",
    "method",
    "weighted_amount",
    "commit_amount",
    "best_case_amount",
    "generated_at",
}


async def _store(session: AsyncSession, ctx: Context, forecast: ForecastRead) -> ForecastRead:
    by_stage = [b.model_dump(mode="json") for b in forecast.by_stage]
    figures = _figures(forecast)
    latest = await session.scalar(
        sa.select(Forecast)
        .where(
            Forecast.tenant_id == ctx.require_tenant(),
            Forecast.period == forecast.period,
            Forecast.currency == forecast.currency,
        )
        .order_by(Forecast.id.desc())
        .limit(1)
    )
    if latest is not None and (
        latest.method == forecast.method
        and cents(latest.weighted_amount) == forecast.weighted_amount
        and cents(latest.commit_amount) == forecast.commit_amount
        and cents(latest.best_case_amount) == forecast.best_case_amount
        and cents(latest.interval_low) == forecast.interval.low
        and cents(latest.interval_high) == forecast.interval.high
        and latest.by_stage == by_stage
        and latest.probabilities == figures
    ):
        # Nothing moved since the last one: it still stands (no row per page view).
        return forecast.model_copy(update={"id": latest.id, "generated_at": latest.generated_at})
    row = Forecast(
        tenant_id=ctx.require_tenant(),
        **forecast.model_dump(include=_AS_STORED),
        interval_low=forecast.interval.low,
        interval_high=forecast.interval.high,
        by_stage=by_stage,
        probabilities=figures,
    )
    session.add(row)
    await session.flush()
    return forecast.model_copy(update={"id": row.id})


def forecast_read(row: Forecast, *, actual: Decimal | None, today: dt.date) -> ForecastRead:
    figures = row.probabilities or {}
    _, last = parse_period(row.period)
    forecast = ForecastRead(
        id=row.id,
        period=row.period,
        currency=row.currency,
        method="learned" if row.method == "learned" else "default",
        weighted_amount=cents(row.weighted_amount),
        commit_amount=cents(row.commit_amount),
        best_case_amount=cents(row.best_case_amount),
        won_amount=cents(Decimal(figures.get("won_amount", "0"))),
        by_stage=[StageForecast.model_validate(b) for b in row.by_stage],
        interval=Interval(
            low=cents(row.interval_low),
            high=cents(row.interval_high),
            draws=int(figures.get("draws", DRAWS)),
            seed=int(figures.get("seed", 0)),
        ),
        probabilities=dict(figures.get("stages", {})),
        sample_sizes=dict(figures.get("sample_sizes", {})),
        closed_deals=int(figures.get("closed_deals", 0)),
        min_closed_deals_to_learn=int(figures.get("min_closed_deals_to_learn", 0)),
        other_currencies=[
            OtherCurrency.model_validate(o) for o in figures.get("other_currencies", [])
        ],
        generated_at=row.generated_at,
        period_over=today > last,
    )
    if actual is None or today <= last:
        return forecast
    error = abs(actual - forecast.weighted_amount)
    return forecast.model_copy(
        update={
            "accuracy": Accuracy(
                actual_won_amount=actual,
                absolute_error=error,
                absolute_percentage_error=(
                    round(float(error / actual * 100), 2) if actual > 0 else None
                ),
                within_interval=forecast.interval.low <= actual <= forecast.interval.high,
            )
        }
    )


FORECAST_ORDER = ListOrder(
    "forecasts", Forecast.id, [Forecast.created_at, Forecast.updated_at, Forecast.period]
)


async def list_forecasts(
    session: AsyncSession, ctx: Context, *, page: PageParams, filters: ForecastFilters
) -> tuple[list[ForecastRead], str | None]:
    """Stored forecasts, newest first by default; those of months over carry ``accuracy``:
    the amount actually won in the month (won deals by close date) against the forecast."""
    tenant_id = ctx.require_tenant()
    query = sa.select(Forecast).where(Forecast.tenant_id == tenant_id)
    if filters.period is not None:
        parse_period(filters.period)
        query = query.where(Forecast.period == filters.period)
    if filters.currency is not None:
        query = query.where(Forecast.currency == _currency_code(filters.currency))
    items, cursor = await read_page(session, FORECAST_ORDER, query, page)
    today = utcnow().date()
    actuals: dict[tuple[str, str], Decimal] = {}
    for key in {(r.period, r.currency) for r in items}:
        first, last = parse_period(key[0])
        if today <= last:
            continue
        total = await session.scalar(
            sa.select(sa.func.sum(Deal.amount)).where(
                Deal.tenant_id == tenant_id,
                Deal.currency == key[1],
                Deal.stage == "won",
                Deal.close_date.between(first, last),
            )
        )
        actuals[key] = cents(total or 0)
    return [
        forecast_read(r, actual=actuals.get((r.period, r.currency)), today=today) for r in items
    ], cursor
