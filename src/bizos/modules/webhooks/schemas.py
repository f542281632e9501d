"""Request and response shapes of the outbound webhook API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, field_validator

# An event type or a glob over types: "crm.lead.created", "crm.lead.*", "*".
EventTypePattern = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=120, pattern=r"^[a-z0-9_*]+(\.[a-z0-9_*]+)*$"
    ),
]


class WebhookEndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(description="Where matching events are POSTed (http or https).")
    events: list[EventTypePattern] = Field(
        min_length=1,
        max_length=50,
        description='Event types to send; a trailing or lone "*" matches many.',
        examples=[["crm.lead.*"]],
    )
    description: str | None = Field(default=None, max_length=500)

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: AnyHttpUrl) -> AnyHttpUrl:
        # Credentials in a URL would be stored and listed in plain text; the signature
        # header is how a receiver authenticates us.
        if url.username or url.password:
            raise ValueError("the URL must not contain a user name or password")
        if len(str(url)) > 2048:
            raise ValueError("the URL is longer than 2048 characters")
        return url

    @field_validator("events")
    @classmethod
    def _distinct(cls, events: list[str]) -> list[str]:
        return list(dict.fromkeys(events))


class WebhookEndpointRead(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    created_at: dt.datetime


class WebhookEndpointCreated(WebhookEndpointRead):
    secret: str = Field(
        description="Signing secret (`whsec_` + base64). Shown only in this response."
    )


class WebhookDeliveryAttemptRead(BaseModel):
    id: str
    delivery_id: str
    event_id: str
    event_type: str
    attempt: int
    status: Literal["succeeded", "failed"]
    response_status: int | None
    error: str | None
    duration_ms: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None = Field(
        description="When the next try is due; null once delivered or given up."
    )
