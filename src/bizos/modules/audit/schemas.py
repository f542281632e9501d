from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field


class AuditFilter(BaseModel):
    """What ``GET /audit`` narrows to; a filter left out (None) keeps every entry."""

    resource_type: str | None = Field(default=None, max_length=80)
    resource_id: str | None = Field(default=None, max_length=200)
    actor_id: str | None = Field(default=None, max_length=64)
    action: Literal["create", "update", "delete"] | None = None


class AuditEntryRead(BaseModel):
    id: str
    actor_id: str | None
    actor_type: str
    action: Literal["create", "update", "delete"]
    resource_type: str = Field(description="The table written, e.g. `users`.")
    resource_id: str | None
    changed_fields: dict[str, list[Any]] = Field(
        description="`{field: [old, new]}`; secret fields show `[redacted]`, never values."
    )
    ip: str | None
    user_agent: str | None
    request_id: str | None
    correlation_id: str | None
    created_at: dt.datetime
