"""What the copilot may ask about deals (scope ``crm:read``): the open pipeline by stage,
and a deal by what a person calls it. Each answer carries its query in words, the
filters and the deal ids behind it, and says itself in words (``speak``)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import Unprocessable, field_error
from bizos.core.money import spoken
from bizos.core.phrases import counted, listed
from bizos.core.tools import (
    MAX_RECORDS,
    CurrencyCode,
    Figure,
    Said,
    Tool,
    ToolResult,
    tools_for,
)
from bizos.modules.crm.deals import velocity
from bizos.modules.crm.deals.schemas import OPEN_STAGES, OpenStage
from bizos.modules.identity import service as identity_service

SCOPE = "crm:read"
ME = "me"


def stage_name(stage: str) -> str:
    return stage.replace("_", " ").capitalize()


def owner_of(ctx: Context, owner_id: str | None) -> str | None:
    """``owner_id`` as given, ``me`` meaning the signed-in caller (422 for an API key,
    which owns nothing)."""
    if owner_id != ME:
        return owner_id
    if ctx.actor_type != "user" or ctx.actor_id is None:
        raise Unprocessable(
            "`me` needs a signed-in user",
            errors=[field_error(["params", "owner_id"], "an API key owns no records")],
        )
    return ctx.actor_id


# --- crm.pipeline ---------------------------------------------------------------------


class PipelineParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner_id: str | None = Field(
        default=None, max_length=36, description="Only this owner's deals; `me` for the caller."
    )
    currency: CurrencyCode | None = Field(default=None, description="Only this currency.")

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else None


class PipelineStage(BaseModel):
    stage: OpenStage
    count: int
    amount: Decimal


class PipelineCurrency(BaseModel):
    currency: str
    count: int
    amount: Decimal
    stages: list[PipelineStage] = Field(description="Every open stage, in pipeline order.")


class PipelineValue(BaseModel):
    count: int
    by_currency: list[PipelineCurrency]
    owner_id: str | None
    owner_name: str | None
    owner_is_caller: bool


async def pipeline(session: AsyncSession, ctx: Context, params: PipelineParams) -> ToolResult:
    """Open deals counted and summed per stage, per currency."""
    owner_id = owner_of(ctx, params.owner_id)
    found = await velocity.open_pipeline(
        session, ctx, owner_id=owner_id, currency=params.currency, id_limit=MAX_RECORDS
    )
    currencies: list[PipelineCurrency] = []
    for currency in sorted({t.currency for t in found.totals}):
        totals = {t.stage: t for t in found.totals if t.currency == currency}
        stages = [
            PipelineStage(
                stage=stage,
                count=totals[stage].count if stage in totals else 0,
                amount=totals[stage].amount if stage in totals else Decimal("0.00"),
            )
            for stage in OPEN_STAGES
        ]
        currencies.append(
            PipelineCurrency(
                currency=currency,
                count=sum(s.count for s in stages),
                amount=sum((s.amount for s in stages), Decimal("0.00")),
                stages=stages,
            )
        )
    names = await identity_service.user_names(session, ctx, [owner_id])
    return ToolResult(
        value=PipelineValue(
            count=found.deal_count,
            by_currency=currencies,
            owner_id=owner_id,
            owner_name=names.get(owner_id or ""),
            owner_is_caller=owner_id is not None and owner_id == ctx.actor_id,
        ),
        query=(
            "open deals (stage lead, qualified, proposal or negotiation) counted, and their "
            "amounts summed, per stage and per currency (no conversion between currencies); "
            "records are the deals, largest first"
        ),
        filters={
            "owner_id": owner_id,
            "currency": params.currency,
            "stages": list(OPEN_STAGES),
        },
        records=found.deal_ids,
        records_total=found.deal_count,
    )


def _whose(value: PipelineValue) -> str:
    if value.owner_id is None or value.owner_is_caller:
        return "You have"
    return f"{value.owner_name or 'That owner'} has"


def _currency_said(cur: PipelineCurrency, figures: list[Figure], sep: str) -> str:
    parts = []
    for s in cur.stages:
        if s.count == 0:
            continue
        label = f"open {stage_name(s.stage)} deals ({cur.currency})"
        figures.append(Figure(label, s.count, unit="deals"))
        figures.append(Figure(f"value of {label}", s.amount, currency=cur.currency))
        parts.append(f"{stage_name(s.stage)} {s.count} ({spoken(s.amount, cur.currency)})")
    figures.append(Figure(f"open pipeline value ({cur.currency})", cur.amount, cur.currency))
    return sep.join(parts)


def speak_pipeline(params: PipelineParams, result: ToolResult) -> Said:
    value: PipelineValue = result.value
    whose = _whose(value)
    only = f" in {params.currency}" if params.currency else ""
    if value.count == 0:
        return Said(f"{whose} no open deals{only}.", [Figure("open deals", 0, unit="deals")])
    figures = [Figure("open deals", value.count, unit="deals")]
    if len(value.by_currency) == 1:
        cur = value.by_currency[0]
        stages = _currency_said(cur, figures, "; ")
        worth = spoken(cur.amount, cur.currency)
        text = f"{whose} {counted(value.count, 'open deal')} worth {worth}: {stages}."
        return Said(text, figures)
    parts = []
    for cur in value.by_currency:
        figures.append(Figure(f"open deals in {cur.currency}", cur.count, unit="deals"))
        stages = _currency_said(cur, figures, ", ")
        worth = spoken(cur.amount, cur.currency)
        parts.append(f"{cur.count} in {cur.currency} worth {worth} — {stages}")
    text = f"{whose} {counted(value.count, 'open deal')}: {listed(parts)}."
    return Said(text, figures)


TOOLS: list[Tool] = tools_for(
    SCOPE,
    (
        "crm.pipeline",
        "The open pipeline: open deals by stage (lead, qualified, proposal, negotiation), "
        "their count and value per currency; optionally one owner's (`me`) or one currency.",
        PipelineParams,
        pipeline,
        speak_pipeline,
    ),
)
