from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SecretName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
SecretValue = Annotated[str, StringConstraints(min_length=1, max_length=8192)]


class ConnectorPut(BaseModel):
    """``config`` replaces the stored config when given and is kept when omitted.
    In ``secrets`` a value sets that secret, ``null`` removes it, and an omitted name
    keeps the stored secret."""

    model_config = ConfigDict(extra="forbid")
    config: dict[str, Any] | None = None
    secrets: dict[SecretName, SecretValue | None] = Field(default_factory=dict, max_length=32)


class ConnectorRead(BaseModel):
    id: str
    provider: str
    config: dict[str, Any]
    secrets_set: list[str]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class ConnectorList(BaseModel):
    items: list[ConnectorRead]
    next_cursor: str | None = None
