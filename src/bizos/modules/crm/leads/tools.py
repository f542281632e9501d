"""What the copilot may ask about leads (scope ``crm:read``): how many came in, by source,
status or period, and the hottest open leads with their scores. Each answer carries its
query in words, the filters and the lead ids behind it, and says itself in words."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.phrases import between_text, counted, digit_free, listed, period_of
from bizos.core.tools import MAX_RECORDS, Days, Figure, Said, SourceRef, Tool, ToolResult, tools_for
from bizos.modules.crm.deals.tools import SCOPE
from bizos.modules.crm.leads import service
from bizos.modules.crm.leads.schemas import LeadCounts, LeadGrouping, LeadRead
from bizos.modules.crm.normalize import normalize_source
from bizos.modules.crm.scoring import service as scoring_service

# A breakdown by period names its periods up to this many; past it, the busiest.
PERIODS_NAMED = 12
PERIODS = ("day", "week", "month")

# --- crm.leads ------------------------------------------------------------------------


class LeadsParams(Days):
    group_by: LeadGrouping = Field(
        default="source", description="source, status, or day / week (from Monday) / month."
    )
    source: str | None = Field(default=None, max_length=40, description="Only this source.")

    @field_validator("source")
    @classmethod
    def _source_key(cls, value: str | None) -> str | None:
        return normalize_source(value) if value and value.strip() else None


async def leads(session: AsyncSession, ctx: Context, params: LeadsParams) -> ToolResult:
    """Leads that came in within the range, counted per source, status or period."""
    start, end = params.window()
    counts = await service.lead_counts(
        session,
        ctx,
        start=start,
        end=end,
        grouping=params.group_by,
        source=params.source,
        id_limit=MAX_RECORDS,
    )
    by = {"source": "source", "status": "current status"}.get(
        params.group_by, f"{params.group_by} (UTC; the key is its first day)"
    )
    return ToolResult(
        value=counts,
        query=f"count of leads that came in (created_at, UTC) within the range, per {by}",
        filters={**params.described(), "group_by": params.group_by, "source": params.source},
        records=counts.lead_ids,
        records_total=counts.total,
    )


def _key_said(key: str, grouping: str) -> str:
    if grouping == "month":
        return key[:7]
    if grouping == "week":
        return f"week of {key}"
    return key.replace("_", " ") if grouping in ("source", "status") else key


def speak_leads(params: LeadsParams, result: ToolResult) -> Said:
    value: LeadCounts = result.value
    period = period_of(result.filters) or params.bounds()
    when = between_text(*period)
    source = f" from {params.source.replace('_', ' ')}" if params.source else ""
    total = Figure(f"leads{source}", value.total, unit="leads", period=period)
    if value.total == 0:
        return Said(f"No leads{source} came in {when}.", [total])
    figures = [total]
    head = f"{counted(value.total, 'lead')}{source} came in {when}"
    grouping = params.group_by
    if grouping in PERIODS and len(value.groups) > PERIODS_NAMED:
        busiest = max(value.groups, key=lambda g: (g.count, g.key))
        figures.append(
            Figure(f"leads in the {grouping} of {busiest.key}", busiest.count, unit="leads")
        )
        text = (
            f"{head}; the busiest {grouping} was {_key_said(busiest.key, grouping)} with "
            f"{counted(busiest.count, 'lead')}."
        )
        return Said(text, figures)
    parts = []
    for group in value.groups:
        label = f"leads by {grouping}: {group.key}"
        figures.append(Figure(label, group.count, unit="leads", period=period))
        sep = ": " if grouping in PERIODS else " "
        parts.append(f"{_key_said(group.key, grouping)}{sep}{group.count}")
    return Said(f"{head}: {listed(parts)}.", figures)


# --- crm.hot_leads --------------------------------------------------------------------


class HotLeadsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=5, ge=1, le=50, description="Leads to return at most.")
    min_score: int | None = Field(
        default=None, ge=0, le=100, description="Default: the tenant's hot-lead threshold."
    )


class HotLead(BaseModel):
    id: str
    name: str | None
    email: str
    company: str | None
    source: str
    status: str
    score: int
    owner_id: str | None
    contact_id: str
    created_at: dt.datetime
    top_factors: list[str] = Field(description="The labels of what raised the score most.")


class HotLeadsValue(BaseModel):
    min_score: int
    count: int = Field(description="Open leads scoring at least min_score.")
    leads: list[HotLead] = Field(description="Highest score first.")


def _hot(lead: LeadRead) -> HotLead:
    factors = [f for f in lead.score_factors if float(f.get("impact") or 0) > 0]
    factors.sort(key=lambda f: -float(f.get("impact") or 0))
    assert lead.score is not None  # only scored leads are hot
    return HotLead(
        **lead.model_dump(
            include={
                "id",
                "name",
                "email",
                "company",
                "source",
                "status",
                "owner_id",
                "contact_id",
                "created_at",
            }
        ),
        score=lead.score,
        top_factors=[str(f.get("label")) for f in factors[:3] if f.get("label")],
    )


async def hot_leads(session: AsyncSession, ctx: Context, params: HotLeadsParams) -> ToolResult:
    """The highest-scored open leads, at or above the hot threshold."""
    threshold = params.min_score
    if threshold is None:
        threshold = (await scoring_service.get_scoring_settings(session, ctx)).hot_threshold
    found, total = await service.top_scored_leads(
        session, ctx, min_score=threshold, limit=params.limit
    )
    return ToolResult(
        value=HotLeadsValue(min_score=threshold, count=total, leads=[_hot(x) for x in found]),
        query=(
            "open leads (new, working or qualified) whose current score is at least the "
            "threshold, highest score first (newest first among equals)"
        ),
        filters={
            "min_score": threshold,
            "statuses": ["new", "working", "qualified"],
            "limit": params.limit,
        },
        records=[x.id for x in found],
        records_total=total,
    )


def lead_title(lead: HotLead) -> str:
    return lead.name or lead.email


def speak_hot_leads(params: HotLeadsParams, result: ToolResult) -> Said:
    value: HotLeadsValue = result.value
    figures = [
        Figure("hot-lead score threshold", value.min_score, unit="points"),
        Figure(f"open leads scoring {value.min_score} or more", value.count, unit="leads"),
    ]
    if value.count == 0:
        return Said(f"No open lead scores {value.min_score} or more.", figures)
    sources: list[SourceRef] = []
    parts = []
    for lead in value.leads:
        title = lead_title(lead)
        sources.append(SourceRef("lead", lead.id, title, "; ".join(lead.top_factors)))
        figures.append(Figure(f"score of {title}", lead.score, unit="points"))
        company = digit_free(lead.company)
        parts.append(f"{title}{f' ({company})' if company else ''} {lead.score}")
    verb = "scores" if value.count == 1 else "score"
    text = f"{counted(value.count, 'open lead')} {verb} {value.min_score} or more"
    highest = "" if len(value.leads) == value.count else "; the highest"
    return Said(f"{text}{highest}: {listed(parts)}.", figures, sources)


TOOLS: list[Tool] = tools_for(
    SCOPE,
    (
        "crm.leads",
        "How many leads came in during a date range, by source, by status, or per day, week "
        "or month; optionally of one source.",
        LeadsParams,
        leads,
        speak_leads,
    ),
    (
        "crm.hot_leads",
        "The hottest open leads: the highest-scored ones at or above the hot-lead threshold "
        "(or `min_score`), with their scores.",
        HotLeadsParams,
        hot_leads,
        speak_hot_leads,
    ),
)
