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


InboundStatus = Literal["received", "processed", "ignored", "failed", "flagged"]


class InboundWebhookRead(BaseModel):
    """A delivery an outside system sent us (Shopify, Stripe, inbound email), as stored."""

    id: str
    provider: str = Field(description="`shopify`, `stripe` or `email`.")
    external_id: str = Field(description="The sender's delivery or event id (or Message-ID).")
    topic: str = Field(description="What the sender said it is: `orders/create`, an event type.")
    status: InboundStatus = Field(
        description=(
            "`received` (waiting to be processed), `processed`, `ignored` (nothing to do), "
            "`failed` (could not be processed; see `reason`) or `flagged` (signed, but it "
            "contradicts itself, so it was kept and not acted on; see `reason`)."
        )
    )
    reason: str | None = Field(description="Why it was failed, ignored or flagged.")
    duplicates: int = Field(description="Repeats of it that were answered without new work.")
    received_at: dt.datetime
    processed_at: dt.datetime | None


class InboundWebhookDetail(InboundWebhookRead):
    headers: dict[str, str] = Field(
        description="The headers kept for support and replay (never credentials)."
    )
    body: str = Field(description="The raw body as received (bytes not UTF-8 shown as U+FFFD).")
