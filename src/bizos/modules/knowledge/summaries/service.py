"""Summaries: map-reduce over chunks, progress, provenance.

A document is read in one read-only unit of work (its chunks, and the AI budget is
checked there so a spent budget is a 429 before any work starts). The model calls run
with no transaction open: each group of consecutive chunks is summarized (map), then the
partial summaries are combined, in groups again if they are many, until one is left
(reduce). A document that fits in one group takes one call. The summary, its sources and
the provenance summed over every call are stored as a ``KbSummary`` with its
``kb.summary.created`` event in a second, short unit of work.

Sources are the chunks the summary rests on: for each sentence of the summary the chunk
that shares most of its words (an extractive summary quotes them; a model's paraphrase
still shares most content words). When no sentence can be traced, every chunk that was
summarized is a source.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from bizos.ai import gateway
from bizos.ai.tokens import estimate_tokens
from bizos.core.context import Context
from bizos.core.db import get_database
from bizos.core.errors import Unprocessable
from bizos.core.events import append_event
from bizos.core.reads import read_of
from bizos.modules.knowledge.documents import service as knowledge
from bizos.modules.knowledge.summaries.models import KbSummary
from bizos.modules.knowledge.summaries.schemas import (
    SummaryProvenance,
    SummaryRead,
    SummarySource,
)

log = structlog.get_logger("bizos.knowledge.summaries")

FEATURE = "kb.summarize"
MAP_TEMPLATE = "kb.summarize.map"
REDUCE_TEMPLATE = "kb.summarize.reduce"
# Text one map call reads, and partial summaries one reduce call combines (tokens). Well
# inside every supported model's context window, with room for the prompt and answer.
MAP_GROUP_TOKENS = 1800
REDUCE_GROUP_TOKENS = 2400
MAP_MAX_TOKENS = 400
REDUCE_MAX_TOKENS = 700
SOURCE_EXCERPT_CHARS = 400
# A summary sentence is traced to a chunk when this share of its content words are there.
TRACE_THRESHOLD = 0.5

ProgressCallback = Callable[[int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ChunkText:
    id: str | None
    ordinal: int
    heading: str | None
    page: int | None
    text: str
    start: int
    end: int
    tokens: int


@dataclass(frozen=True, slots=True)
class DocumentText:
    """What summarizing needs of a document, read before any model is called."""

    id: str
    title: str
    text: str
    chunks: tuple[ChunkText, ...]


@dataclass(slots=True)
class _Calls:
    results: list[gateway.AiResult] = field(default_factory=list)

    def provenance(self) -> SummaryProvenance:
        last = self.results[-1]
        seen: list[str] = []
        for result in self.results:
            name = f"{result.provider}/{result.model}"
            if name not in seen:
                seen.append(name)
        return SummaryProvenance(
            provider=last.provider,
            model=last.model,
            template=last.template,
            template_version=last.template_version,
            prompt_tokens=sum(r.prompt_tokens for r in self.results),
            completion_tokens=sum(r.completion_tokens for r in self.results),
            calls=len(self.results),
            call_ids=[r.call_id for r in self.results],
            providers=seen,
        )


class _Progress:
    """Percent done, never going back, 100 only when the caller says it is over."""

    def __init__(self, callback: ProgressCallback | None, total_calls: int) -> None:
        self.callback = callback
        self.total = max(1, total_calls)
        self.done = 0
        self.sent = -1

    async def call_done(self) -> None:
        self.done += 1
        self.total = max(self.total, self.done + 1)
        await self._send(min(99, math.floor(self.done * 100 / self.total)))

    async def _send(self, percent: int) -> None:
        if self.callback is None or percent <= self.sent:
            return
        self.sent = percent
        await self.callback(percent)


# --- reading the document ---------------------------------------------------------------


def _chunk_text(row: Any) -> ChunkText:
    """A stored chunk as summarizing reads it."""
    same = {name: getattr(row, name) for name in ("id", "ordinal", "heading", "page", "text")}
    tokens = row.token_count or estimate_tokens(row.text)
    return ChunkText(**same, start=row.start_offset, end=row.end_offset, tokens=tokens)


async def load_document(ctx: Context, document_id: str) -> DocumentText:
    """The document and its chunks (404 across tenants), and the AI budget checked (429
    when spent), in one read-only unit of work; 422 for a document without text."""
    async with get_database().unit_of_work(tenant_id=ctx.require_tenant(), readonly=True) as s:
        document = await knowledge.get_document(s, ctx, document_id)
        rows = await knowledge.document_chunks(s, ctx, document_id)
        await gateway.check_tenant_budget(s, ctx)
        chunks = tuple(_chunk_text(row) for row in rows)
        title, text = document.title, document.text or ""
    if not chunks and text.strip():
        # Not indexed (yet): the whole text as one passage.
        chunks = (ChunkText(None, 0, None, None, text, 0, len(text), estimate_tokens(text)),)
    if not any(c.text.strip() for c in chunks):
        raise Unprocessable(
            "the document has no text to summarize",
            errors=[{"loc": ["body", "document_id"], "msg": "document has no text"}],
        )
    return DocumentText(id=document_id, title=title, text=text, chunks=chunks)


# --- grouping -----------------------------------------------------------------------------


def group_chunks(
    chunks: Sequence[ChunkText], budget: int = MAP_GROUP_TOKENS
) -> list[list[ChunkText]]:
    """Consecutive chunks in groups of at most ``budget`` tokens (a bigger chunk alone)."""
    groups: list[list[ChunkText]] = []
    size = 0
    for chunk in chunks:
        if groups and size + chunk.tokens <= budget:
            groups[-1].append(chunk)
            size += chunk.tokens
        else:
            groups.append([chunk])
            size = chunk.tokens
    return groups


def group_text(document: DocumentText, group: Sequence[ChunkText]) -> str:
    """The text a group covers: the document's own span when the chunks carry offsets
    (chunks overlap; the span reads each sentence once), else the chunks joined."""
    first, last = group[0], group[-1]
    if document.text and 0 <= first.start < last.end <= len(document.text):
        span = document.text[first.start : last.end]
        if span.strip():
            return span
    return "\n\n".join(c.text for c in group)


def group_texts(texts: Sequence[str], budget: int = REDUCE_GROUP_TOKENS) -> list[list[str]]:
    """Partial summaries in groups of at most ``budget`` tokens, at least two a group so
    every round of reduction shrinks the list."""
    groups: list[list[str]] = []
    size = 0
    for text in texts:
        tokens = estimate_tokens(text)
        if groups and (size + tokens <= budget or len(groups[-1]) < 2):
            groups[-1].append(text)
            size += tokens
        else:
            groups.append([text])
            size = tokens
    if len(groups) > 1 and len(groups[-1]) == 1:
        groups[-2].extend(groups.pop())
    return groups


def expected_calls(map_calls: int) -> int:
    """Calls a summary of ``map_calls`` groups will probably take (for progress)."""
    fan_in = max(2, REDUCE_GROUP_TOKENS // MAP_MAX_TOKENS)
    total, level = map_calls, map_calls
    while level > 1:
        level = math.ceil(level / fan_in)
        total += level
    return total


# --- sources ------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_]{3,}|\d+(?:[.,]\d+)*", re.UNICODE)
_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "are",
        "but",
        "not",
        "you",
        "all",
        "any",
        "can",
        "has",
        "have",
        "had",
        "was",
        "were",
        "with",
        "this",
        "that",
        "from",
        "they",
        "will",
        "would",
        "there",
        "their",
        "what",
        "which",
        "when",
        "who",
        "whom",
        "into",
        "than",
        "then",
        "them",
        "these",
        "those",
        "such",
        "its",
        "our",
        "your",
        "out",
        "also",
        "may",
        "must",
        "shall",
        "should",
        "each",
        "per",
        "been",
        "being",
        "other",
        "over",
        "under",
    ]
)


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)} - _STOP


def _summary_sentences(summary: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\n+", summary)
    return [p.strip(" -*•\t") for p in parts if len(_words(p)) >= 3]


def sources_of(summary: str, used: Sequence[ChunkText]) -> list[tuple[ChunkText, list[str]]]:
    """The chunks the summary's sentences come from (document order), each with the
    summary sentences traced to it; every chunk of ``used`` when none is traced."""
    vocab = [(chunk, _words(chunk.text)) for chunk in used]
    picked: dict[int, tuple[ChunkText, list[str]]] = {}
    for sentence in _summary_sentences(summary):
        words = _words(sentence)
        best, best_share = None, 0.0
        for chunk, chunk_words in vocab:
            share = len(words & chunk_words) / len(words)
            if share > best_share:
                best, best_share = chunk, share
        if best is not None and best_share >= TRACE_THRESHOLD:
            picked.setdefault(best.ordinal, (best, []))[1].append(sentence)
    if not picked:
        return [(chunk, []) for chunk in used]
    return [picked[k] for k in sorted(picked)]


def excerpt(text: str, anchors: Sequence[str], limit: int = SOURCE_EXCERPT_CHARS) -> str:
    """At most ``limit`` characters of ``text``, around the most telling quoted anchor
    (one that occurs once in the text beats one that repeats)."""
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    found = []
    for anchor in anchors:
        needle = re.sub(r"\s+", " ", anchor).strip()
        at = text.find(needle)
        if at >= 0:
            found.append((text.count(needle) > 1, at))
    start = 0
    if found:
        at = min(found)[1]
        start = max(0, at - limit // 4)
        start = text.rfind(" ", 0, start) + 1 if start else 0
    piece = text[start : start + limit - 2]
    if start + len(piece) < len(text):
        piece = piece.rsplit(" ", 1)[0] + "…"
    return ("…" + piece) if start else piece


def _source(document: DocumentText, chunk: ChunkText, anchors: list[str]) -> SummarySource:
    whose = {"document_id": document.id, "chunk_id": chunk.id, "title": document.title}
    return read_of(SummarySource, chunk, **whose, text=excerpt(chunk.text, anchors))


# --- summarizing --------------------------------------------------------------------------


async def _call(
    ctx: Context,
    document: DocumentText,
    *,
    template: str,
    text: str,
    query: str,
    part: str,
    max_tokens: int,
) -> gateway.AiResult:
    return await gateway.generate(
        ctx,
        feature=FEATURE,
        task="summarize",
        template=template,
        variables={"title": document.title, "text": text, "query": query, "part": part},
        max_tokens=max_tokens,
        related=("kb_document", document.id),
    )


async def summarize(
    ctx: Context,
    document: DocumentText,
    *,
    query: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> SummaryRead:
    """Summarize ``document`` (loaded by :func:`load_document`), store the summary and
    return it. Must be called with no transaction open: it calls models."""
    question = (query or "").strip()
    groups = group_chunks(document.chunks)
    progress = _Progress(on_progress, expected_calls(len(groups)))
    calls = _Calls()
    partials: list[str] = []
    for index, group in enumerate(groups, start=1):
        part = f"{index} of {len(groups)}" if len(groups) > 1 else ""
        if group[0].heading:
            part = f"{part} ({group[0].heading})".strip()
        result = await _call(
            ctx,
            document,
            template=MAP_TEMPLATE,
            text=group_text(document, group),
            query=question,
            part=part,
            max_tokens=MAP_MAX_TOKENS,
        )
        calls.results.append(result)
        partials.append(result.text.strip())
        await progress.call_done()
    while len(partials) > 1:
        combined: list[str] = []
        for batch in group_texts(partials):
            result = await _call(
                ctx,
                document,
                template=REDUCE_TEMPLATE,
                text="\n\n".join(batch),
                query=question,
                part="",
                max_tokens=REDUCE_MAX_TOKENS,
            )
            calls.results.append(result)
            combined.append(result.text.strip())
            await progress.call_done()
        partials = combined
    summary = partials[0]
    sources = [_source(document, c, a) for c, a in sources_of(summary, document.chunks)]
    return await _store(ctx, document, question or None, summary, sources, calls.provenance())


async def _store(
    ctx: Context,
    document: DocumentText,
    query: str | None,
    summary: str,
    sources: list[SummarySource],
    provenance: SummaryProvenance,
) -> SummaryRead:
    async with get_database().unit_of_work(tenant_id=ctx.require_tenant()) as session:
        row = KbSummary(
            document_id=document.id,
            query=query,
            summary=summary,
            sources=[s.model_dump(mode="json") for s in sources],
            provenance=provenance.model_dump(mode="json"),
            created_by=ctx.actor_id if ctx.actor_type == "user" else None,
        )
        session.add(row)
        await session.flush()
        await append_event(
            session,
            ctx,
            "kb.summary.created",
            aggregate_type="kb_summary",
            aggregate_id=row.id,
            data=_event_data(row, provenance),
        )
    log.info(
        "kb.summary.created", summary_id=row.id, document_id=document.id, calls=provenance.calls
    )
    return read_of(SummaryRead, row, sources=sources, provenance=provenance)


def _event_data(row: KbSummary, provenance: SummaryProvenance) -> dict[str, Any]:
    return {
        "summary_id": row.id,
        "document_id": row.document_id,
        "query": row.query,
        "provider": provenance.provider,
        "model": provenance.model,
        "calls": provenance.calls,
        "call_ids": provenance.call_ids,
        "prompt_tokens": provenance.prompt_tokens,
        "completion_tokens": provenance.completion_tokens,
    }
