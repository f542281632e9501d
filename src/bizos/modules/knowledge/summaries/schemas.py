"""Summary and contract API shapes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

DocumentId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=36)]
Query = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class SummarizeRequest(BaseModel):
    """What to summarize: a document, optionally with a question to focus on."""

    model_config = ConfigDict(extra="forbid")
    document_id: DocumentId
    query: Query | None = None


class SummarySource(BaseModel):
    """A chunk the summary rests on (its text shortened for display)."""

    document_id: str
    chunk_id: str | None
    title: str
    heading: str | None = None
    ordinal: int | None = None
    page: int | None = None
    text: str


class SummaryProvenance(BaseModel):
    """Where the words came from, summed over every model call the summary took."""

    provider: str
    model: str
    template: str
    template_version: str
    prompt_tokens: int
    completion_tokens: int
    calls: int
    call_ids: list[str]
    providers: list[str] = Field(
        default_factory=list, description="Every provider/model that answered a part."
    )


class SummaryRead(BaseModel):
    id: str
    document_id: str
    query: str | None
    summary: str
    sources: list[SummarySource]
    provenance: SummaryProvenance
    created_at: dt.datetime


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
