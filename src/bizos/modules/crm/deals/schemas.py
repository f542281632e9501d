"""Deals and the pipeline at the edge: what callers send and what they get back.

Money is a decimal string (``"4999.00"``) with an ISO 4217 ``currency``; amounts carry at
most two decimal places and are never negative.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StringConstraints,
)

from bizos.core.fields import Day
from bizos.modules.crm.schemas import IdFilter, Properties

Stage = Literal["lead", "qualified", "proposal", "negotiation", "won", "lost"]
OpenStage = Literal["lead", "qualified", "proposal", "negotiation"]
STAGES: tuple[Stage, ...] = ("lead", "qualified", "proposal", "negotiation", "won", "lost")
OPEN_STAGES: tuple[OpenStage, ...] = ("lead", "qualified", "proposal", "negotiation")
CLOSED_STAGES: tuple[Stage, ...] = ("won", "lost")
# Fields a stage entry rule may demand ("amount" means an amount above zero).
RequiredField = Literal["amount", "close_date", "contact_id", "company_id", "owner_id"]


def iso_currency(value: str) -> str:
    """The upper-case ISO 4217 code; ``ValueError`` for anything that is not one."""
    code = value.strip().upper()
    if len(code) != 3 or pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError("not an ISO 4217 currency code")
    return code


Currency = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$"), AfterValidator(iso_currency)]
Amount = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=36)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Source = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Probability = Annotated[StrictFloat, Field(ge=0, le=1)]


class DealCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    amount: Amount
    currency: Currency
    stage: Stage = "lead"
    contact_id: Id | None = None
    company_id: Id | None = None
    owner_id: Id | None = Field(default=None, description="Defaults to the calling user.")
    close_date: Day | None = Field(
        default=None, description="Expected close; on won/lost it becomes the day it closed."
    )
    probability: Probability | None = Field(
        default=None, description="Overrides the stage probability in the forecast."
    )
    close_reason: Reason | None = None
    source: Source | None = None
    description: str | None = Field(default=None, max_length=20_000)
    properties: Properties = Field(default_factory=dict)


class DealUpdate(BaseModel):
    """Only the fields sent change; ``null`` clears an optional field."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    amount: Amount | None = None
    currency: Currency | None = None
    stage: Stage | None = None
    contact_id: Id | None = None
    company_id: Id | None = None
    owner_id: Id | None = None
    close_date: Day | None = None
    probability: Probability | None = None
    close_reason: Reason | None = None
    source: Source | None = None
    description: str | None = Field(default=None, max_length=20_000)
    properties: Properties | None = None


class DealFilters(BaseModel):
    """Which deals a list shows: every filter given applies."""

    stage: Stage | None = None
    owner_id: IdFilter = None
    contact_id: IdFilter = None
    company_id: IdFilter = None
    lead_id: IdFilter = None


class DealReopen(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stage: OpenStage | None = Field(
        default=None, description="Defaults to the stage the deal was in before it closed."
    )
    reason: Reason | None = None


class DealRead(BaseModel):
    id: str
    name: str
    amount: Decimal
    currency: str
    stage: Stage
    stage_entered_at: dt.datetime
    is_closed: bool
    contact_id: str | None
    company_id: str | None
    lead_id: str | None
    owner_id: str | None
    close_date: dt.date | None
    closed_at: dt.datetime | None
    close_reason: str | None
    probability: float | None
    source: str | None
    description: str | None
    properties: dict[str, Any]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class StageChangeRead(BaseModel):
    id: str
    deal_id: str
    from_stage: Stage | None
    to_stage: Stage
    changed_at: dt.datetime
    seconds_in_previous: float | None
    days_in_previous: float | None
    amount: Decimal
    actor_id: str | None


def _default_requirements() -> dict[Stage, list[RequiredField]]:
    return {"proposal": ["amount"], "negotiation": ["close_date"], "won": ["contact_id"]}


def _default_probabilities() -> dict[OpenStage, float]:
    return {"lead": 0.1, "qualified": 0.2, "proposal": 0.4, "negotiation": 0.6}


def _default_stall_days() -> dict[OpenStage, int]:
    return {"lead": 14, "qualified": 14, "proposal": 10, "negotiation": 7}


class PipelineSettings(BaseModel):
    """The tenant's pipeline rules (``CrmSettings.pipeline``).

    ``stage_requirements`` are cumulative along the open stages: entering ``negotiation``
    also demands what ``proposal`` demands, and ``won`` demands every open stage's
    requirements plus its own (a deal may skip stages, never the rules). ``lost`` demands
    only its own, plus a reason when ``lost_reason_required``.
    """

    model_config = ConfigDict(extra="forbid")
    stage_requirements: dict[Stage, list[RequiredField]] = Field(
        default_factory=_default_requirements
    )
    lost_reason_required: bool = True
    won_reason_required: bool = False
    default_probabilities: dict[OpenStage, Probability] = Field(
        default_factory=_default_probabilities,
        description="Used by the forecast until the tenant has enough closed deals.",
    )
    min_closed_deals_to_learn: StrictInt = Field(default=20, ge=5, le=100_000)
    commit_probability: Probability = Field(
        default=0.7, description="Open deals at or above it count towards commit."
    )
    stall_days: dict[OpenStage, Annotated[StrictInt, Field(ge=1, le=3650)]] = Field(
        default_factory=_default_stall_days,
        description="Next best action: a deal longer than this in a stage has stalled.",
    )
    follow_up_days: StrictInt = Field(default=3, ge=1, le=365)
    check_in_days: StrictInt = Field(default=90, ge=1, le=3650)
    hot_lead_score: StrictInt = Field(default=70, ge=0, le=100)


class PipelineRead(PipelineSettings):
    stages: list[Stage] = Field(default_factory=lambda: list(STAGES))


class StageVelocity(BaseModel):
    stage: OpenStage
    exits: int = Field(description="How many times a deal left this stage.")
    average_days: float | None


class VelocityReport(BaseModel):
    since: dt.date | None
    until: dt.date | None
    owner_id: str | None
    stages: list[StageVelocity]
    won_count: int
    lost_count: int
    win_rate: float | None = Field(description="won / (won + lost) among deals closed.")
    average_cycle_days: float | None = Field(description="Created to won, won deals only.")
    won_amount_by_currency: dict[str, Decimal]


class StageTotal(BaseModel):
    """Open deals of one stage in one currency (no FX conversion: a total per currency)."""

    stage: OpenStage
    currency: str
    count: int
    amount: Decimal


class OpenPipeline(BaseModel):
    totals: list[StageTotal] = Field(description="By currency, then stage in pipeline order.")
    deal_count: int
    deal_ids: list[str] = Field(description="The open deals, largest first (capped).")


class DealMatch(BaseModel):
    """A deal a lookup found, with how well it matched (0..1) and the names around it."""

    deal: DealRead
    score: float
    company_name: str | None
    contact_name: str | None
