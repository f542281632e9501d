"""Knowledge-base API shapes: documents, their chunks, search hits."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from bizos.core.reads import read_of

MAX_TAGS = 20
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
ContentType = Literal["text/plain", "text/markdown", "text/html"]


def clean_tags(tags: list[str]) -> list[str]:
    """Lower-cased, distinct, in the order given."""
    return list(dict.fromkeys(t.strip().lower() for t in tags if t.strip()))


def split_tags(values: list[str]) -> list[str]:
    """Tags as a form gives them: each value one tag or several, comma-separated."""
    return [t for v in values for t in v.split(",") if t.strip()]


# ``tag`` is what the README first documented and what a person writes for one tag; it
# is taken with ``tags``, not silently dropped.
TAG_ALIAS_DESCRIPTION = (
    "Same as `tags` and merged with them: a tag (or several, comma-separated), or a list."
)
AnyTags = (
    Annotated[str, StringConstraints(max_length=MAX_TAGS * 51)]
    | Annotated[list[Tag], Field(max_length=MAX_TAGS)]
)


def merge_tag(tags: list[str] | None, tag: AnyTags | None) -> list[str] | None:
    """``tags`` with the ``tag`` field's tags added; at most ``MAX_TAGS`` in all."""
    if tag is None:
        return tags
    merged = clean_tags([*(tags or []), *split_tags([tag] if isinstance(tag, str) else tag)])
    if len(merged) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    return merged


class DocumentCreate(BaseModel):
    """A document given as text (files go as multipart ``file``)."""

    model_config = ConfigDict(extra="forbid")
    title: Title
    content: str = Field(min_length=1, description="The text, Markdown or HTML itself.")
    content_type: ContentType = "text/plain"
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    tag: AnyTags | None = Field(default=None, exclude=True, description=TAG_ALIAS_DESCRIPTION)

    @field_validator("tags")
    @classmethod
    def _clean(cls, tags: list[str]) -> list[str]:
        return clean_tags(tags)

    @model_validator(mode="after")
    def _take_tag(self) -> DocumentCreate:
        self.tags = merge_tag(self.tags, self.tag) or []
        return self


class DocumentUpdate(BaseModel):
    """Fields to change; new ``content`` re-indexes the document."""

    model_config = ConfigDict(extra="forbid")
    title: Title | None = None
    content: str | None = Field(default=None, min_length=1)
    content_type: ContentType | None = Field(
        default=None, description="How to read the new content (default: as before, or text)."
    )
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)
    tag: AnyTags | None = Field(default=None, exclude=True, description=TAG_ALIAS_DESCRIPTION)

    @field_validator("tags")
    @classmethod
    def _clean(cls, tags: list[str] | None) -> list[str] | None:
        return clean_tags(tags) if tags is not None else None

    @model_validator(mode="after")
    def _take_tag(self) -> DocumentUpdate:
        if self.tag is not None:
            self.tags = merge_tag(self.tags, self.tag)
        return self


class DocumentRead(BaseModel):
    id: str
    title: str
    content_type: str
    filename: str | None
    tags: list[str]
    size_bytes: int
    sha256: str
    page_count: int | None
    chunk_count: int
    embedding_model: str | None
    version: int
    created_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class DocumentDetail(DocumentRead):
    text: str = Field(description="The plain text extracted from the document.")


class ChunkRead(BaseModel):
    id: str
    ordinal: int
    heading: str | None
    text: str
    page: int | None
    start_offset: int
    end_offset: int
    token_count: int


class SearchHitRead(BaseModel):
    document_id: str
    title: str
    chunk_id: str
    text: str
    score: float = Field(
        description="Relevance: the cosine of the query and the passage (its document's "
        "title, heading and text) in the tenant's TF-IDF space, in (0, 1]. Passages under "
        "0.11 are not returned; 0.2 and above is usually the page about the question."
    )
    heading: str | None
    page: int | None


class SearchResults(BaseModel):
    items: list[SearchHitRead]


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One passage found by :func:`bizos.modules.knowledge.documents.service.search`."""

    document_id: str
    title: str
    chunk_id: str
    text: str
    score: float
    heading: str | None
    page: int | None = None
    similarity: float | None = None  # cosine of the query and chunk vectors, if ranked
    lexical: bool = False  # whether the words of the query matched the chunk

    def read(self) -> SearchHitRead:
        return read_of(SearchHitRead, self)


class AnswerSource(BaseModel):
    """A passage a knowledge-base answer quotes."""

    document_id: str
    chunk_id: str
    title: str = Field(description="The document's title, with its section when it has one.")
    heading: str | None
    page: int | None
    excerpt: str = Field(description="The sentences of the passage the answer quotes.")
    score: float = Field(description="The passage's search score.")


class AnswerProvenance(BaseModel):
    provider: str
    model: str
    method: Literal["extractive"] = "extractive"
    passages_searched: int


class KbAnswerRead(BaseModel):
    question: str
    answer: str = Field(description="The answer, quoting the passages it rests on.")
    answered: bool = Field(description="False when nothing in the knowledge base answers it.")
    sources: list[AnswerSource]
    provenance: AnswerProvenance
