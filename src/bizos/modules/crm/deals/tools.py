"""What the copilot may ask about deals (scope ``crm:read``): the open pipeline by stage,
and a deal by what a person calls it. Each answer carries its query in words, the
filters and the deal ids behind it, and says itself in words (``speak``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import Unprocessable, field_error
from bizos.core.money import spoken
from bizos.core.phrases import counted, listed, noun
from bizos.core.tools import (
    MAX_RECORDS,
    CurrencyCode,
    Figure,
    Said,
    SourceRef,
    Tool,
    ToolResult,
    tools_for,
)
from bizos.modules.crm.deals import service, velocity
from bizos.modules.crm.deals.schemas import OPEN_STAGES, DealMatch, OpenStage, Stage
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


def safe_quote(text: str) -> str:
    """The words a person asked for, quoted, unless they hold a number (which the answer
    could not back with a figure)."""
    return f'"{text}"' if not any(c.isdigit() for c in text) else "that"


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


# --- crm.deal_lookup ------------------------------------------------------------------


class LookupParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=200, description="A name, email or number.")
    limit: int = Field(default=5, ge=1, le=20, description="Matches to return at most.")

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the query is blank")
        return value.strip()


class DealFound(BaseModel):
    id: str
    name: str
    stage: Stage
    amount: Decimal
    currency: str
    is_closed: bool
    close_date: dt.date | None
    owner_id: str | None
    owner_name: str | None
    contact_id: str | None
    contact_name: str | None
    company_id: str | None
    company_name: str | None
    score: float = Field(description="How well the deal matched the query, 0..1.")


class DealLookupValue(BaseModel):
    matches: list[DealFound] = Field(description="Best match first.")


def _found(match: DealMatch, owners: dict[str, str]) -> DealFound:
    deal = match.deal
    return DealFound(
        **deal.model_dump(
            include={"id", "name", "stage", "amount", "currency", "is_closed", "close_date"}
        ),
        owner_id=deal.owner_id,
        owner_name=owners.get(deal.owner_id or ""),
        contact_id=deal.contact_id,
        contact_name=match.contact_name,
        company_id=deal.company_id,
        company_name=match.company_name,
        score=match.score,
    )


async def deal_lookup(session: AsyncSession, ctx: Context, params: LookupParams) -> ToolResult:
    """Deals by name, company or contact (forgiving typos), or by id."""
    matches = await service.find_deals(session, ctx, params.query, limit=params.limit)
    owners = await identity_service.user_names(session, ctx, [m.deal.owner_id for m in matches])
    found = [_found(m, owners) for m in matches]
    return ToolResult(
        value=DealLookupValue(matches=found),
        query=(
            "deals whose name, company or contact matches the query (case, accents and "
            "small typos forgiven), best match first; an exact deal id matches itself"
        ),
        filters={"query": params.query, "limit": params.limit},
        records=[d.id for d in found],
    )


def deal_sources(deal: DealFound) -> list[SourceRef]:
    refs = [SourceRef("deal", deal.id, deal.name)]
    if deal.contact_id and deal.contact_name:
        refs.append(SourceRef("contact", deal.contact_id, deal.contact_name))
    if deal.company_id and deal.company_name:
        refs.append(SourceRef("company", deal.company_id, deal.company_name))
    return refs


def _deal_facts(deal: DealFound) -> str:
    money = spoken(deal.amount, deal.currency)
    if deal.is_closed:
        state = f"was {deal.stage}" + (
            f" on {deal.close_date.isoformat()}" if deal.close_date else ""
        )
        facts = [f"{deal.name} {state}, {money}"]
    else:
        facts = [f"{deal.name} is in {stage_name(deal.stage)}, {money}"]
        if deal.close_date:
            facts.append(f"expected to close on {deal.close_date.isoformat()}")
    if deal.owner_name:
        facts.append(f"owned by {deal.owner_name}")
    if deal.contact_name or deal.company_name:
        who = " at ".join(n for n in (deal.contact_name, deal.company_name) if n)
        facts.append(f"with {who}")
    return ", ".join(facts)


def _clear_winner(matches: list[Any]) -> bool:
    return len(matches) == 1 or matches[0].score > matches[1].score


def speak_deal_lookup(params: LookupParams, result: ToolResult) -> Said:
    matches: list[DealFound] = result.value.matches
    if not matches:
        return Said(f"I found no deal matching {safe_quote(params.query)}.")
    figures = [Figure(f"{d.name} amount", d.amount, currency=d.currency) for d in matches]
    sources = [ref for d in matches for ref in deal_sources(d)]
    if _clear_winner(matches):
        text = _deal_facts(matches[0]) + "."
        if len(matches) > 1:
            text += " Other matches: " + listed(d.name for d in matches[1:]) + "."
        return Said(text, figures, sources)
    figures.insert(0, Figure("matching deals", len(matches), unit="deals"))
    parts = [f"{d.name} ({stage_name(d.stage)}, {spoken(d.amount, d.currency)})" for d in matches]
    text = f"{len(matches)} {noun(len(matches), 'deal')} match: {listed(parts)}."
    return Said(text, figures, sources)


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
    (
        "crm.deal_lookup",
        "Find a deal by its name, its company or its contact (typos forgiven): stage, value, "
        "owner, expected close date.",
        LookupParams,
        deal_lookup,
        speak_deal_lookup,
    ),
)
