"""Contract API shapes, and the terms as a model answers them."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from bizos.ai.extract.dates import parse_date


class Party(BaseModel):
    name: str
    role: str | None = None


class Amount(BaseModel):
    amount: str
    currency: str | None = None
    description: str | None = None


ContractStatus = Literal["pending", "extracted", "failed"]


class ContractRead(BaseModel):
    """The terms extracted from a document tagged ``contract``; ``evidence`` maps a field
    to the quote it rests on, ``computed`` lists the fields derived rather than read
    (a notice date worked out from the end date and the notice period)."""

    id: str
    document_id: str
    document_title: str | None = None
    status: ContractStatus
    parties: list[Party]
    amounts: list[Amount]
    start_date: dt.date | None
    end_date: dt.date | None
    renewal_date: dt.date | None
    termination_date: dt.date | None
    notice_date: dt.date | None
    notice_period_days: int | None
    auto_renews: bool | None
    evidence: dict[str, str]
    computed: list[str]
    task_id: str | None
    task_due_date: dt.date | None
    error: str | None
    provenance: dict[str, Any]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class ContractTerms(BaseModel):
    """The terms as a model answers them (dates it may write loosely, amounts as text)."""

    model_config = ConfigDict(extra="ignore")
    parties: list[Party] = []
    amounts: list[Amount] = []
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    renewal_date: dt.date | None = None
    termination_date: dt.date | None = None
    notice_date: dt.date | None = None
    notice_period_days: int | None = None
    auto_renews: bool | None = None
    evidence: dict[str, str] = {}
    computed: list[str] = []

    @field_validator(
        "start_date", "end_date", "renewal_date", "termination_date", "notice_date", mode="before"
    )
    @classmethod
    def _date(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value or value.lower() in ("null", "none", "n/a", "unknown"):
                return None
            return parse_date(value) or value  # a model may write "1 March 2026"
        return value

    @field_validator("amounts", mode="before")
    @classmethod
    def _amounts(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [
                {**a, "amount": str(a.get("amount"))} if isinstance(a, dict) else a for a in value
            ]
        return value

    @field_validator("evidence", mode="before")
    @classmethod
    def _evidence(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items() if v is not None}
        return {}

    @field_validator("notice_period_days")
    @classmethod
    def _period(cls, value: int | None) -> int | None:
        return value if value is None or 0 < value <= 3650 else None
