"""Request and response models of the notifications API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field


class NotificationRelated(BaseModel):
    type: str
    id: str


class NotificationFilter(BaseModel):
    """What the list narrows to; a filter left out (None) keeps every notification."""

    unread: bool | None = Field(default=None, description="true: only unread; false: only read")
    kind: str | None = Field(default=None, max_length=60)


class NotificationRead(BaseModel):
    id: str
    kind: str
    title: str
    body: str | None
    related: NotificationRelated | None
    data: dict[str, Any]
    read: bool
    read_at: dt.datetime | None
    email_message_id: str | None
    created_at: dt.datetime


class ReadAllResult(BaseModel):
    updated: int


class UnreadCount(BaseModel):
    unread: int
