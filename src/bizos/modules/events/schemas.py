"""Shapes of the event log API, activity tracking and dead letters."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from bizos.core.fields import Moment

MAX_TRACKED_PER_CALL = 1000

# Dotted words: "email_opened", "page.viewed", "call-answered".
ActivityType = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=1,
        max_length=100,
        pattern=r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$",
    ),
]
# A deliberately cheap check: on this hot path the address is a key, not a mailbox we send
# to, and a full RFC 5322 validation per event would cost more than the insert.
EmailKey = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    ),
]


class EventRead(BaseModel):
    id: str
    sequence: int
    type: str
    aggregate_type: str
    aggregate_id: str
    version: int
    data: dict[str, Any]
    actor_id: str | None
    correlation_id: str | None
    causation_id: str | None
    occurred_at: dt.datetime


class TrackedActivity(BaseModel):
    """An engagement event from outside (email opened, page viewed, call answered)."""

    model_config = ConfigDict(extra="forbid")

    type: ActivityType = Field(
        description='Stored in the log as "activity.<type>", so it can never pose as a '
        "domain event."
    )
    occurred_at: Moment | None = Field(
        default=None, description="When it happened (with offset); defaults to now."
    )
    contact_id: str | None = Field(default=None, min_length=1, max_length=64)
    email: EmailKey | None = None
    properties: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names_a_contact(self) -> TrackedActivity:
        if self.contact_id is None and self.email is None:
            raise ValueError("give contact_id or email to say whose activity this is")
        return self


class TrackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[TrackedActivity] = Field(max_length=MAX_TRACKED_PER_CALL)


class TrackAccepted(BaseModel):
    accepted: int


class DeadLetterRead(BaseModel):
    id: str
    subscriber: str
    event_id: str
    event_type: str
    status: Literal["retrying", "dead", "replayed", "resolved"]
    attempts: int
    last_error: str
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
