"""Metering: tokens and cost per call, monthly budgets, usage reports.

Every model call that produced an output is one ``AiCall`` row plus one
``ai.usage.recorded`` event, written in one unit of work. The row is both the usage
ledger and the provenance record. Usage counts in the UTC calendar month the call ended
in (``period``). A budget is checked before a call; a call that starts under the limit
and ends over it is still recorded (what was spent was spent), and the next call is
refused until the month turns.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
import structlog
from pydantic import ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.ai.models import AiCall, AiSettings
from bizos.ai.schemas import (
    AiCallRead,
    BudgetStatus,
    CallUsage,
    FeatureUsage,
    ProviderUsage,
    RelatedRef,
    UsageFigures,
    UsageReport,
)
from bizos.ai.types import Source
from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import TooManyRequests, Unprocessable, field_error
from bizos.core.events import append_event, payload
from bizos.core.fields import LAST_YEAR
from bizos.core.reads import one_or_404, read_of

log = structlog.get_logger("bizos.ai.metering")

COST_QUANTUM = Decimal("0.000001")  # AiCall.cost is Numeric(14, 6)
_MILLION = Decimal(1_000_000)
_PERIOD = re.compile(r"^([0-9]{4})-([0-9]{2})$")

# Public list prices in USD per million tokens (prompt, completion), matched by the
# longest model-name prefix. A tenant's own ``prices`` override these; models not listed
# cost 0 and are logged as unpriced. The built-in provider runs here and costs nothing.
BUILTIN_PRICES_USD: dict[str, dict[str, tuple[Decimal, Decimal]]] = {
    "openai": {
        "gpt-4o-mini": (Decimal("0.15"), Decimal("0.60")),
        "gpt-4o": (Decimal("2.50"), Decimal("10.00")),
        "gpt-4.1-nano": (Decimal("0.10"), Decimal("0.40")),
        "gpt-4.1-mini": (Decimal("0.40"), Decimal("1.60")),
        "gpt-4.1": (Decimal("2.00"), Decimal("8.00")),
        "o4-mini": (Decimal("1.10"), Decimal("4.40")),
        "gpt-3.5-turbo": (Decimal("0.50"), Decimal("1.50")),
        "text-embedding-3-small": (Decimal("0.02"), Decimal("0")),
        "text-embedding-3-large": (Decimal("0.13"), Decimal("0")),
        "text-embedding-ada-002": (Decimal("0.10"), Decimal("0")),
    },
    "anthropic": {
        "claude-3-haiku": (Decimal("0.25"), Decimal("1.25")),
        "claude-3-5-haiku": (Decimal("0.80"), Decimal("4.00")),
        "claude-haiku-4": (Decimal("1.00"), Decimal("5.00")),
        "claude-3-5-sonnet": (Decimal("3.00"), Decimal("15.00")),
        "claude-3-7-sonnet": (Decimal("3.00"), Decimal("15.00")),
        "claude-sonnet-4": (Decimal("3.00"), Decimal("15.00")),
        "claude-3-opus": (Decimal("15.00"), Decimal("75.00")),
        "claude-opus-4": (Decimal("15.00"), Decimal("75.00")),
    },
}


# --- periods -------------------------------------------------------------------------


def period_of(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m")


def period_start(period: str) -> dt.datetime:
    year, month = (int(x) for x in period.split("-"))
    return dt.datetime(year, month, 1, tzinfo=dt.UTC)


def next_period_start(period: str) -> dt.datetime:
    start = period_start(period)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def parse_period(value: str | None, *, now: dt.datetime | None = None) -> str:
    """``YYYY-MM`` (month 01-12, year 2000-2999: the month after must still be a date);
    ``None`` is the current UTC month. Anything else is a 422 at ``query.period``."""
    if value is None:
        return period_of(now or utcnow())
    match = _PERIOD.fullmatch(value)
    if (
        match is None
        or not 2000 <= int(match.group(1)) <= LAST_YEAR
        or not 1 <= int(match.group(2)) <= 12
    ):
        raise Unprocessable(
            "period must be a month written YYYY-MM, such as 2025-03 (2000-01 to 2999-12)",
            errors=[field_error(["query", "period"], "expected YYYY-MM with month 01-12")],
        )
    return value


# --- prices --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Price:
    prompt_per_million: Decimal
    completion_per_million: Decimal
    source: str  # tenant | builtin | local | unpriced


def price_for(provider: str, model: str, *, prices: Mapping[str, Any], currency: str) -> Price:
    """The price of ``provider/model``: the tenant's exact entry, then its
    ``provider/*`` entry, then (in USD only) the built-in table; local is free."""
    if provider == "local":
        return Price(Decimal(0), Decimal(0), "local")
    for key in (f"{provider}/{model}", f"{provider}/*"):
        entry = prices.get(key)
        if isinstance(entry, Mapping):
            return Price(
                Decimal(str(entry.get("prompt_per_million", "0"))),
                Decimal(str(entry.get("completion_per_million", "0"))),
                "tenant",
            )
    if currency == "USD":
        table = BUILTIN_PRICES_USD.get(provider, {})
        matches = [prefix for prefix in table if model.startswith(prefix)]
        if matches:
            prompt, completion = table[max(matches, key=len)]
            return Price(prompt, completion, "builtin")
    return Price(Decimal(0), Decimal(0), "unpriced")


def cost_of(price: Price, prompt_tokens: int, completion_tokens: int) -> Decimal:
    raw = (
        Decimal(prompt_tokens) * price.prompt_per_million
        + Decimal(completion_tokens) * price.completion_per_million
    ) / _MILLION
    return raw.quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)


# --- budget --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeriodUsage:
    calls: int
    tokens: int
    cost: Decimal


async def period_usage(session: AsyncSession, ctx: Context, period: str) -> PeriodUsage:
    row = (
        await session.execute(
            sa.select(
                sa.func.count(AiCall.id),
                sa.func.coalesce(sa.func.sum(AiCall.prompt_tokens + AiCall.completion_tokens), 0),
                sa.func.coalesce(sa.func.sum(AiCall.cost), 0),
            ).where(AiCall.tenant_id == ctx.require_tenant(), AiCall.period == period)
        )
    ).one()
    return PeriodUsage(int(row[0]), int(row[1]), _money(row[2]))


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)


class AiBudgetExhausted(TooManyRequests):
    """The tenant's monthly AI budget is spent: nothing is sent to any model until the
    month turns (``Retry-After``) or an admin raises the budget."""

    title = "AI budget exhausted"
    type_ = "https://bizos.dev/problems/ai-budget-exhausted"

    def __init__(self, detail: str, *, retry_after: int, budget: dict[str, Any]) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.budget = budget

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body = super().to_problem(instance)
        body["budget"] = self.budget
        return body


def budget_status(settings: AiSettings, usage: PeriodUsage, period: str) -> BudgetStatus:
    token_budget = settings.monthly_token_budget
    cost_budget = (
        Decimal(settings.monthly_cost_budget) if settings.monthly_cost_budget is not None else None
    )
    tokens_out = token_budget is not None and usage.tokens >= token_budget
    cost_out = cost_budget is not None and usage.cost >= cost_budget
    return BudgetStatus(
        monthly_token_budget=token_budget,
        monthly_cost_budget=cost_budget,
        tokens_used=usage.tokens,
        cost_used=usage.cost,
        tokens_remaining=None if token_budget is None else max(0, token_budget - usage.tokens),
        cost_remaining=None if cost_budget is None else max(Decimal(0), cost_budget - usage.cost),
        exhausted=tokens_out or cost_out,
        resets_at=next_period_start(period),
    )


async def check_budget(
    session: AsyncSession, ctx: Context, settings: AiSettings, *, now: dt.datetime | None = None
) -> None:
    """Raise :class:`AiBudgetExhausted` (429) when this month's token or cost budget is
    spent. Tokens count every provider's, the built-in one's included."""
    if settings.monthly_token_budget is None and settings.monthly_cost_budget is None:
        return
    moment = now or utcnow()
    period = period_of(moment)
    status = budget_status(settings, await period_usage(session, ctx, period), period)
    if not status.exhausted:
        return
    spent = []
    if status.monthly_token_budget is not None and status.tokens_remaining == 0:
        spent.append(f"{status.tokens_used:,} of {status.monthly_token_budget:,} tokens")
    if status.monthly_cost_budget is not None and status.cost_remaining == 0:
        spent.append(
            f"{status.cost_used.normalize():f} of {status.monthly_cost_budget:f} "
            f"{settings.currency}"
        )
    resets = status.resets_at
    log.info("ai.budget_exhausted", period=period)
    raise AiBudgetExhausted(
        f"The AI budget for {period} is spent ({' and '.join(spent)} used). AI features "
        f"resume on {resets.date().isoformat()} (UTC), or when an admin raises the "
        "monthly budget in PUT /api/v1/ai/settings.",
        retry_after=int((resets - moment).total_seconds()) + 1,
        budget={
            "period": period,
            "currency": settings.currency,
            "monthly_token_budget": status.monthly_token_budget,
            "tokens_used": status.tokens_used,
            "monthly_cost_budget": (
                str(status.monthly_cost_budget) if status.monthly_cost_budget is not None else None
            ),
            "cost_used": str(status.cost_used),
            "resets_at": resets.isoformat(),
        },
    )


# --- recording -----------------------------------------------------------------------


class CallRecord(CallUsage):
    """What the gateway knows once a call is over (no prompt text, no key). An
    embedding batch has no template and no sources."""

    model_config = ConfigDict(frozen=True)
    template: str | None = None
    template_version: str | None = None
    cost: Decimal
    currency: str
    sources: Sequence[Source] = ()
    attempts: Sequence[Mapping[str, Any]] = ()
    redactions: int = 0
    streamed: bool = False
    latency_ms: int = 0
    related: tuple[str, str] | None = None


# CallRecord fields that an AiCall keeps in another form.
_TRANSFORMED = ("sources", "attempts", "related")


def source_ref(source: Source) -> dict[str, Any]:
    """A source as provenance keeps it: where it came from, not its text."""
    return {key: value for key, value in source.as_json().items() if key != "text"}


# CallRecord fields stored as they are in the AiCall columns of the same names.
_AS_THEY_ARE = tuple(name for name in CallRecord.model_fields if name not in _TRANSFORMED)
# What the ``ai.usage.recorded`` event and log line say of a call (besides its id).
_EVENT_FIELDS = (
    *("feature", "task", "provider", "model", "prompt_tokens", "completion_tokens"),
    *("cost", "currency", "period"),
)
_LOGGED = ("call_id", "feature", "provider", "model", "prompt_tokens", "completion_tokens")


async def record_call(
    session: AsyncSession, ctx: Context, record: CallRecord, *, now: dt.datetime | None = None
) -> AiCall:
    """Write the ``AiCall`` and its ``ai.usage.recorded`` event in the caller's unit of
    work. The call counts in the month it ended in (``now``, UTC)."""
    now = now or utcnow()
    related_type, related_id = record.related or (None, None)
    call = AiCall(
        tenant_id=ctx.require_tenant(),
        period=period_of(now),
        **{name: getattr(record, name) for name in _AS_THEY_ARE},
        sources=[source_ref(s) for s in record.sources],
        attempts=[dict(a) for a in record.attempts],
        related_type=related_type,
        related_id=related_id,
        actor_id=ctx.actor_id,
        created_at=now,
    )
    session.add(call)
    await session.flush()
    data = {"call_id": call.id, **payload(call, *_EVENT_FIELDS)}
    await append_event(
        session, ctx, "ai.usage.recorded", aggregate_type="ai_call", aggregate_id=call.id, data=data
    )
    log.info("ai.usage.recorded", **{key: data[key] for key in _LOGGED})
    return call


# --- reading -------------------------------------------------------------------------


def _figures(row: Any) -> dict[str, Any]:
    prompt, completion = int(row.prompt_tokens or 0), int(row.completion_tokens or 0)
    return {
        "calls": int(row.calls),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cost": _money(row.cost),
    }


def _sums() -> list[Any]:
    return [
        sa.func.count(AiCall.id).label("calls"),
        sa.func.coalesce(sa.func.sum(AiCall.prompt_tokens), 0).label("prompt_tokens"),
        sa.func.coalesce(sa.func.sum(AiCall.completion_tokens), 0).label("completion_tokens"),
        sa.func.coalesce(sa.func.sum(AiCall.cost), 0).label("cost"),
    ]


async def usage_report(
    session: AsyncSession, ctx: Context, *, period: str, settings: AiSettings
) -> UsageReport:
    """Tokens and cost of ``period`` in total, by feature and by provider, with the
    budget's state. Figures are sums over the period's ``AiCall`` rows."""
    where = (AiCall.tenant_id == ctx.require_tenant(), AiCall.period == period)
    total = (await session.execute(sa.select(*_sums()).where(*where))).one()
    features = await session.execute(
        sa.select(AiCall.feature, *_sums()).where(*where).group_by(AiCall.feature)
    )
    providers = await session.execute(
        sa.select(AiCall.provider, AiCall.model, *_sums())
        .where(*where)
        .group_by(AiCall.provider, AiCall.model)
    )
    by_provider: dict[str, dict[str, Any]] = {}
    for row in providers:
        figures = _figures(row)
        entry = by_provider.setdefault(
            row.provider,
            {"provider": row.provider, "models": [], **dict.fromkeys(figures, 0)},
        )
        entry["models"].append(row.model)
        for key, value in figures.items():
            entry[key] += value
    totals = _figures(total)
    usage = PeriodUsage(totals["calls"], totals["total_tokens"], totals["cost"])
    return UsageReport(
        period=period,
        currency=settings.currency,
        totals=UsageFigures(**totals),
        by_feature=sorted(
            (FeatureUsage(feature=row.feature, **_figures(row)) for row in features),
            key=lambda f: (-f.total_tokens, f.feature),
        ),
        by_provider=sorted(
            (
                ProviderUsage(**{**entry, "models": sorted(entry["models"])})
                for entry in by_provider.values()
            ),
            key=lambda p: (-p.total_tokens, p.provider),
        ),
        budget=budget_status(settings, usage, period),
    )


def call_read(call: AiCall) -> AiCallRead:
    total_tokens = call.prompt_tokens + call.completion_tokens
    related = _related(call)
    return read_of(
        AiCallRead, call, total_tokens=total_tokens, cost=_money(call.cost), related=related
    )


def _related(call: AiCall) -> RelatedRef | None:
    if call.related_type and call.related_id:
        return RelatedRef(type=call.related_type, id=call.related_id)
    return None


async def get_call(session: AsyncSession, ctx: Context, call_id: str) -> AiCall:
    """One call's provenance record; another tenant's id is not found (404)."""
    query = sa.select(AiCall).where(AiCall.tenant_id == ctx.require_tenant(), AiCall.id == call_id)
    return await one_or_404(session, query, "AI call")
