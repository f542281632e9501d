"""Request and response models of the copilot API (the body of an answer, conversations
and proposed actions)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_QUESTION = 2000
Intent = Literal["metrics", "search", "action", "conversation", "out_of_scope"]
StepStatus = Literal["ok", "failed", "timeout", "skipped", "proposed"]
ActionStatus = Literal["proposed", "executed", "cancelled"]


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION, description="In plain words.")
    conversation_id: str | None = Field(
        default=None, max_length=36, description="Continue this conversation (a follow-up)."
    )


class PeriodRead(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: dt.date = Field(alias="from")
    to: dt.date


class FigureRead(BaseModel):
    """A number the answer states, and how it was found (the tool's query, filters and
    the records behind it)."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    label: str
    value: Decimal | int
    currency: str | None = None
    unit: str | None = None
    period: PeriodRead | None = None
    tool: str
    query: str
    filters: dict[str, Any]
    records: list[str]
    records_total: int


class SourceRead(BaseModel):
    type: str
    id: str
    title: str
    excerpt: str = ""


class PlanStepRead(BaseModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    id: str
    tool: str
    label: str = ""
    args: dict[str, Any]
    status: StepStatus
    duration_ms: float
    error: str | None = None


class ActionRead(BaseModel):
    """A change the copilot proposed; it runs only on confirm."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    id: str
    tool: str
    summary: str
    before: dict[str, Any] | None
    after: dict[str, Any]
    status: ActionStatus
    params: dict[str, Any]
    result: dict[str, Any] | None = None
    conversation_id: str | None = None
    created_at: dt.datetime
    decided_at: dt.datetime | None = None


class Provenance(BaseModel):
    """Who wrote the words: ``template`` (no model), or the model used through the
    gateway and its recorded AI call ids."""

    provider: str
    model: str
    ai_call_ids: list[str] = Field(default_factory=list)


class AskResponse(BaseModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    conversation_id: str
    turn_id: str
    answer: str
    intent: Intent
    entities: dict[str, Any]
    figures: list[FigureRead]
    sources: list[SourceRead]
    plan: list[PlanStepRead]
    actions: list[ActionRead]
    provenance: Provenance
    cached: bool = False


class ConversationSummary(BaseModel):
    id: str
    title: str
    turn_count: int
    created_at: dt.datetime
    updated_at: dt.datetime


class TurnRead(BaseModel):
    id: str
    question: str
    intent: str
    entities: dict[str, Any]
    answer: dict[str, Any]
    created_at: dt.datetime


class ConversationRead(ConversationSummary):
    turns: list[TurnRead]
