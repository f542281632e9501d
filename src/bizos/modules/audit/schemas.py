from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field


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
