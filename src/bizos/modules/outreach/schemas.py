from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

Channel = Literal["email", "sms", "voice"]
MessageStatus = Literal["queued", "sent", "sandboxed", "failed"]
HeaderText = Annotated[str, StringConstraints(max_length=998, pattern=r"^[^\r\n]*$")]
PhoneNumber = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]


class Related(BaseModel):
    """The business record a message is about (a ticket, an order, a lead...)."""

    model_config = ConfigDict(extra="forbid")
    type: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class MessageRead(BaseModel):
    id: str
    channel: Channel
    to: str
    from_: str | None = Field(default=None, serialization_alias="from")
    subject: str | None
    body: str
    status: MessageStatus
    provider: str | None
    provider_message_id: str | None
    message_id: str | None = Field(description="RFC 5322 Message-ID of an email")
    in_reply_to: str | None = None
    reply_to: str | None = Field(
        default=None, description="Where replies to an email go (its Reply-To header)."
    )
    headers: dict[str, str] | None = Field(
        default=None,
        description="An email's addressing and threading headers as sent: From, To, "
        "Reply-To, Subject, Message-ID, In-Reply-To, References.",
    )
    related: Related | None
    error: str | None
    attempts: int
    created_at: dt.datetime
    sent_at: dt.datetime | None


class EmailSend(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Literal["email"]
    to: EmailStr
    subject: HeaderText = Field(min_length=1)
    body: str = Field(min_length=1, max_length=200_000)
    html: str | None = Field(default=None, max_length=500_000)
    reply_to: EmailStr | None = None
    in_reply_to: HeaderText | None = None
    references: list[HeaderText] = Field(default_factory=list, max_length=50)
    related: Related | None = None


class SmsSend(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Literal["sms"]
    to: PhoneNumber
    body: str = Field(min_length=1, max_length=1600)
    related: Related | None = None


MessageSend = Annotated[EmailSend | SmsSend, Field(discriminator="channel")]
