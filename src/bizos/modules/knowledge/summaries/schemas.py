"""Summary API shapes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

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
