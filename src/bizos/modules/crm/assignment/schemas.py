"""Shapes of lead assignment: the tenant's rules, sales reps, manual assignment."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from bizos.core.fields import Moment
from bizos.modules.crm.scoring.schemas import CountryCode

Strategy = Literal["round_robin", "load_balanced", "rules"]
PoolStrategy = Literal["round_robin", "load_balanced"]
UserId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
SourceName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
RuleName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def _in_utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


class RuleMatch(BaseModel):
    """What a lead must have for the rule to apply; an empty list matches anything."""

    model_config = ConfigDict(extra="forbid")

    countries: list[CountryCode] = Field(
        default_factory=list,
        max_length=250,
        description="Territory: the country enrichment found, else the company's or contact's.",
    )
    sources: list[SourceName] = Field(default_factory=list, max_length=50)
    score_min: StrictInt | None = Field(default=None, ge=0, le=100)
    score_max: StrictInt | None = Field(default=None, ge=0, le=100)


class AssignmentRule(BaseModel):
    """Leads matching ``match`` go to ``user_id``, or to one of ``pool`` chosen by
    ``pool_strategy``. Give exactly one of the two."""

    model_config = ConfigDict(extra="forbid")

    name: RuleName
    match: RuleMatch = Field(default_factory=RuleMatch)
    user_id: UserId | None = None
    pool: list[UserId] = Field(default_factory=list, max_length=200)
    pool_strategy: PoolStrategy = "round_robin"


class AssignmentConfig(BaseModel):
    """How new leads find an owner. ``rules`` are tried in order; a lead no rule can place
    goes to the ``fallback`` strategy over the team (``pool``, or every active owner,
    admin and member). Reps unavailable, away or at capacity are skipped; when nobody
    can take a lead it goes to the workspace owner."""

    model_config = ConfigDict(extra="forbid")

    strategy: Strategy = "round_robin"
    pool: list[UserId] = Field(
        default_factory=list,
        max_length=500,
        description="The team that takes leads; empty means every active owner/admin/member.",
    )
    rules: list[AssignmentRule] = Field(default_factory=list, max_length=100)
    fallback: PoolStrategy = "round_robin"


class RepUpdate(BaseModel):
    """How a user takes leads. Omitted fields take their defaults (PUT replaces)."""

    model_config = ConfigDict(extra="forbid")

    available: bool = True
    capacity: StrictInt | None = Field(
        default=None, ge=0, le=100_000, description="Most open (new/working) leads; null: no limit."
    )
    territories: list[CountryCode] = Field(
        default_factory=list,
        max_length=250,
        description="If set, only leads from these countries.",
    )
    sources: list[SourceName] = Field(
        default_factory=list, max_length=50, description="If set, only leads from these sources."
    )
    away_until: Annotated[Moment, AfterValidator(_in_utc)] | None = Field(
        default=None, description="Takes no leads until then (holidays); answered in UTC."
    )


class RepRead(BaseModel):
    user_id: str
    name: str
    email: str
    role: str
    available: bool
    capacity: int | None
    territories: list[str]
    sources: list[str]
    away_until: dt.datetime | None
    open_leads: int
    accepting: bool = Field(description="Available, not away and below capacity right now.")
    version: int


class LeadAssign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner_id: UserId | None = Field(
        default=None,
        description="The new owner; omit (or null) to run the tenant's assignment rules again.",
    )
