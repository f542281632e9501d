"""Knowledge-base documents: create, update, delete, (re-)index; and search.

The only writer of ``kb_documents`` and ``kb_chunks``. A document's content is parsed
(:mod:`.parsing`), laid out as plain text and cut into chunks (:mod:`.chunking`); each
chunk (with its document's title and its heading) is embedded — by the built-in
retrieval embedder (:mod:`bizos.ai.termvectors`) unless a caller brings another — and
indexed for full text by the database (:mod:`.search`). New content replaces all of a
document's chunks in the same transaction, so a search never sees a mix of old and new
text; a delete takes the chunks with it. Every change bumps the document's ``version``
(``If-Match``) and appends ``kb.document.created|updated|deleted`` with its tags.

Limits: ``settings.max_document_bytes`` of content (:func:`max_document_bytes`, the
same limit the HTTP body check uses; 413), :data:`MAX_CHUNKS` chunks (413).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import PurePath
from typing import Any

import numpy as np
import sqlalchemy as sa
import structlog
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.ai.termvectors import MIN_RELEVANCE, SUPERSEDED, TermEmbedder, retrieval_embedder
from bizos.ai.types import EmbeddingProvider
from bizos.core.config import get_settings
from bizos.core.context import Context
from bizos.core.errors import PayloadTooLarge, Unprocessable, field_error
from bizos.core.events import append_event
from bizos.core.pagination import ListOrder, PageParams
from bizos.core.reads import one_or_404
from bizos.core.versions import check_version
from bizos.modules.knowledge.documents import parsing
from bizos.modules.knowledge.documents import search as kb_search
from bizos.modules.knowledge.documents.chunking import Chunk, chunk_document, lay_out
from bizos.modules.knowledge.documents.index import (
    chunk_input,
    corpus_index,
    to_blob,
    vector_index,
)
from bizos.modules.knowledge.documents.models import KbChunk, KbDocument
from bizos.modules.knowledge.documents.schemas import SearchHit, clean_tags

log = structlog.get_logger("bizos.knowledge")

MAX_CHUNKS = 30_000
MAX_SEARCH_LIMIT = 50
EMBED_BATCH = 64
# For a caller's own query vector (another embedder): candidates less similar than this
# are noise. The built-in embedder has its own, calibrated threshold (MIN_RELEVANCE).
MIN_SIMILARITY = 0.05
# Relevance (cosine in the tenant's fitted space) a passage needs to be shown as a search
# result: unrelated questions stay under it (termvectors.MIN_RELEVANCE, measured there).
RELEVANT = MIN_RELEVANCE
# What a passage needs to be read as context by an answerer, which weighs a question's
# words against several passages and declines by itself: anything sharing a little.
MIN_CONTEXT = 0.03
# Chunks of another embedder re-embedded per knowledge-base write (keeps a write quick).
REEMBED_BATCH = 2000

Embedder = EmbeddingProvider | TermEmbedder


def max_document_bytes() -> int:
    """The largest document accepted (``settings.max_document_bytes``; the HTTP body
    limit of ``POST /api/v1/kb/documents`` is derived from the same setting)."""
    return get_settings().max_document_bytes


def default_embedder() -> TermEmbedder:
    """The embedder documents and queries use unless a caller brings another: the
    built-in retrieval embedder (no download, no network; fitted per tenant)."""
    return retrieval_embedder()


# --- reads ----------------------------------------------------------------------------


async def get_document(session: AsyncSession, ctx: Context, document_id: str) -> KbDocument:
    """The document; 404 when it does not exist or belongs to another tenant."""
    return await one_or_404(session, _document(ctx, document_id), "document")


def _document(ctx: Context, document_id: str) -> Select[KbDocument]:
    return sa.select(KbDocument).where(
        KbDocument.tenant_id == ctx.require_tenant(), KbDocument.id == document_id
    )


async def _locked(session: AsyncSession, ctx: Context, document_id: str) -> KbDocument:
    query = _document(ctx, document_id).with_for_update()
    return await one_or_404(session, query.execution_options(populate_existing=True), "document")


async def document_chunks(session: AsyncSession, ctx: Context, document_id: str) -> list[KbChunk]:
    """The document's chunks in reading order (404 as :func:`get_document`)."""
    await get_document(session, ctx, document_id)
    rows = await session.scalars(
        sa.select(KbChunk)
        .where(KbChunk.tenant_id == ctx.require_tenant(), KbChunk.document_id == document_id)
        .order_by(KbChunk.ordinal)
    )
    return list(rows)


DOCUMENT_ORDER = ListOrder(
    "kb_documents", KbDocument.id, [KbDocument.created_at, KbDocument.updated_at, KbDocument.title]
)


async def list_documents(
    session: AsyncSession, ctx: Context, *, page: PageParams, tag: str | None = None
) -> tuple[list[KbDocument], str | None]:
    """The tenant's documents in ``page``'s order (newest first by default)."""
    query = sa.select(KbDocument).where(KbDocument.tenant_id == ctx.require_tenant())
    # Tags are a JSON list on both databases: filtered here, a page at a time.
    wanted = tag.strip().lower() if tag else None
    items: list[KbDocument] = []
    batch_page = page
    while True:
        batch = list(await session.scalars(DOCUMENT_ORDER.apply(query, batch_page)))
        items.extend(d for d in batch if wanted is None or wanted in (d.tags or []))
        if len(items) > page.limit or len(batch) <= page.limit:
            break
        batch_page = replace(page, after=DOCUMENT_ORDER.cursor_after(batch[-1], page))
    return DOCUMENT_ORDER.take_page(items, page)


# --- preparing content ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prepared:
    """Content parsed, laid out and chunked: everything but the vectors."""

    content_type: str
    text: str
    chunks: list[Chunk]
    title: str | None
    page_count: int | None
    size_bytes: int
    sha256: str
    original: bytes | None


def too_large(detail: str) -> PayloadTooLarge:
    return PayloadTooLarge(detail, errors=[field_error(["body", "content"], detail)])


def prepare(
    content: bytes | str, *, content_type: str | None, filename: str | None = None
) -> Prepared:
    """Parse and chunk ``content`` (CPU work, no I/O: callers run it in a thread)."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    limit = max_document_bytes()
    if len(data) > limit:
        raise too_large(f"the document is larger than {limit} bytes")
    if isinstance(content, str):
        resolved = parsing.normalize_content_type(content_type) or parsing.PLAIN
        if resolved not in parsing.CONTENT_TYPES:
            raise parsing.UnsupportedMediaType(f"content of type {resolved} cannot be indexed")
    else:
        resolved = parsing.resolve_content_type(data, declared=content_type, filename=filename)
    parsed = parsing.parse_document(content, resolved)
    layout = lay_out(parsed.sections)
    if not layout.text.strip():
        raise Unprocessable(
            "the document holds no text", errors=[field_error(["body", "content"], "no text")]
        )
    chunks = chunk_document(layout)
    if len(chunks) > MAX_CHUNKS:
        raise too_large(f"the document makes more than {MAX_CHUNKS} chunks; split it")
    return Prepared(
        content_type=resolved,
        text=layout.text,
        chunks=chunks,
        title=parsed.title,
        page_count=parsed.page_count,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        original=data if resolved == parsing.PDF else None,
    )


def embedding_input(title: str | None, heading: str | None, text: str) -> str:
    """What a chunk's vector is made from: its document's title (the question "opening
    hours" is answered by the page called that), its heading path and what it says."""
    return chunk_input(title, heading, text)


async def _embed(embedder: Embedder, texts: Sequence[str]) -> list[bytes]:
    if isinstance(embedder, TermEmbedder):
        if len(texts) <= 32:
            return embedder.vectors(texts)
        return await asyncio.to_thread(embedder.vectors, list(texts))
    blobs: list[bytes] = []
    for start in range(0, len(texts), EMBED_BATCH):
        vectors = await embedder.embed(list(texts[start : start + EMBED_BATCH]))
        blobs.extend(to_blob(v) for v in vectors)
    return blobs


def _title_for(title: str | None, prepared: Prepared, filename: str | None) -> str:
    for candidate in (
        title,
        prepared.title,
        PurePath(filename).stem if filename else None,
        prepared.text.strip().split("\n", 1)[0],
    ):
        if candidate and candidate.strip():
            text = " ".join(candidate.split())
            return text if len(text) <= 300 else text[:299] + "…"
    return "Untitled"


async def _write_chunks(
    session: AsyncSession,
    document: KbDocument,
    prepared_chunks: Sequence[Chunk],
    embedder: Embedder,
) -> None:
    title = document.title
    inputs = [embedding_input(title, c.heading, c.text) for c in prepared_chunks]
    vectors = await _embed(embedder, inputs)
    session.add_all(
        KbChunk(
            tenant_id=document.tenant_id,
            document_id=document.id,
            document_title=title,
            **asdict(c),
            embedding=vector,
            embedding_model=embedder.name,
            meta={},
        )
        for c, vector in zip(prepared_chunks, vectors, strict=True)
    )
    document.chunk_count = len(prepared_chunks)
    document.embedding_model = embedder.name
    await session.flush()


async def _delete_chunks(session: AsyncSession, ctx: Context, document_id: str) -> None:
    await session.execute(
        sa.delete(KbChunk).where(
            KbChunk.tenant_id == ctx.require_tenant(), KbChunk.document_id == document_id
        )
    )


async def _document_event(
    session: AsyncSession,
    ctx: Context,
    document: KbDocument,
    type_: str,
    *,
    version: int,
    **extra: Any,
) -> None:
    """``kb.document.*`` with what others need of the document (its text stays here)."""
    data = {
        "document_id": document.id,
        "title": document.title,
        "tags": list(document.tags or []),
        "content_type": document.content_type,
        "chunk_count": document.chunk_count,
        **extra,
    }
    await append_event(
        session,
        ctx,
        type_,
        aggregate_type="kb_document",
        aggregate_id=document.id,
        version=version,
        data=data,
    )


# --- writes ---------------------------------------------------------------------------


async def create_document(
    session: AsyncSession,
    ctx: Context,
    *,
    title: str | None,
    content: bytes | str,
    content_type: str | None,
    filename: str | None = None,
    tags: Sequence[str] = (),
    embedder: Embedder | None = None,
) -> KbDocument:
    """Store, chunk, embed and index a document (``kb.document.created``). Without a
    title, the file's own (``<title>``, first heading, PDF info) or its name is used."""
    prepared = await asyncio.to_thread(
        prepare, content, content_type=content_type, filename=filename
    )
    embedder = embedder or default_embedder()
    document = KbDocument(
        tenant_id=ctx.require_tenant(),
        title=_title_for(title, prepared, filename),
        content_type=prepared.content_type,
        filename=filename,
        tags=clean_tags(list(tags)),
        text=prepared.text,
        original=prepared.original,
        sha256=prepared.sha256,
        size_bytes=prepared.size_bytes,
        page_count=prepared.page_count,
        chunk_count=0,
        created_by=ctx.actor_id if ctx.actor_type == "user" else None,
    )
    session.add(document)
    await session.flush()
    await _write_chunks(session, document, prepared.chunks, embedder)
    await reembed_stale(session, ctx)
    await _document_event(
        session,
        ctx,
        document,
        "kb.document.created",
        version=document.version,
        sha256=document.sha256,
    )
    _invalidate(document.tenant_id)
    log.info("kb.document.created", document_id=document.id, chunks=document.chunk_count)
    return document


async def update_document(
    session: AsyncSession,
    ctx: Context,
    document_id: str,
    *,
    title: str | None = None,
    tags: Sequence[str] | None = None,
    content: bytes | str | None = None,
    content_type: str | None = None,
    filename: str | None = None,
    if_match: str | None = None,
    embedder: Embedder | None = None,
) -> KbDocument:
    """Change the fields given (``kb.document.updated`` naming them). New content is
    re-parsed and re-indexed (old chunks gone). ``If-Match`` names the version the
    caller read (409 when stale)."""
    prepared = None
    if content is not None:
        if content_type is None and isinstance(content, str):
            current = await get_document(session, ctx, document_id)
            keeps = current.content_type in (parsing.PLAIN, parsing.MARKDOWN, parsing.HTML)
            content_type = current.content_type if keeps else parsing.PLAIN
        prepared = await asyncio.to_thread(
            prepare, content, content_type=content_type, filename=filename
        )
    document = await _locked(session, ctx, document_id)
    check_version(if_match, document.version)
    changed: list[str] = []
    if title is not None and " ".join(title.split()) != document.title:
        document.title = " ".join(title.split())
        changed.append("title")
    if tags is not None and clean_tags(list(tags)) != list(document.tags or []):
        document.tags = clean_tags(list(tags))
        changed.append("tags")
    if prepared is not None and (
        prepared.sha256 != document.sha256 or prepared.content_type != document.content_type
    ):
        document.text = prepared.text
        document.content_type = prepared.content_type
        document.original = prepared.original
        document.sha256 = prepared.sha256
        document.size_bytes = prepared.size_bytes
        document.page_count = prepared.page_count
        if filename is not None:
            document.filename = filename
        changed.append("content")
    if not changed:
        return document
    embedder = embedder or default_embedder()
    if prepared is not None and "content" in changed:
        await _delete_chunks(session, ctx, document.id)
        await _write_chunks(session, document, prepared.chunks, embedder)
    elif "title" in changed:  # the title is part of every chunk's text and vector
        await _reembed(session, ctx, document, embedder)
    await reembed_stale(session, ctx)
    document.version += 1
    await session.flush()
    await _document_event(
        session,
        ctx,
        document,
        "kb.document.updated",
        version=document.version,
        changed=changed,
        content_changed="content" in changed,
    )
    _invalidate(document.tenant_id)
    log.info("kb.document.updated", document_id=document.id, changed=changed)
    return document


async def _reembed(
    session: AsyncSession, ctx: Context, document: KbDocument, embedder: Embedder
) -> None:
    chunks = await document_chunks(session, ctx, document.id)
    title = document.title
    vectors = await _embed(embedder, [embedding_input(title, c.heading, c.text) for c in chunks])
    for chunk, vector in zip(chunks, vectors, strict=True):
        chunk.document_title = title
        chunk.embedding = vector
        chunk.embedding_model = embedder.name
    document.embedding_model = embedder.name


async def reembed_stale(session: AsyncSession, ctx: Context, *, limit: int = REEMBED_BATCH) -> int:
    """Store the built-in embedder's vectors for chunks an earlier built-in embedder made
    (``SUPERSEDED``: after an upgrade), at most ``limit`` per call; returns how many.
    Runs with every write of the knowledge base; searches compute what is still missing
    in memory. Vectors of an embedder a caller chose (``embedder=``) are left alone."""
    embedder = default_embedder()
    chunks = list(
        await session.scalars(
            sa.select(KbChunk)
            .where(
                KbChunk.tenant_id == ctx.require_tenant(),
                sa.or_(KbChunk.embedding_model.is_(None), KbChunk.embedding_model.in_(SUPERSEDED)),
            )
            .order_by(KbChunk.id)
            .limit(limit)
        )
    )
    if not chunks:
        return 0
    vectors = await _embed(
        embedder, [embedding_input(c.document_title, c.heading, c.text) for c in chunks]
    )
    for chunk, vector in zip(chunks, vectors, strict=True):
        chunk.embedding = vector
        chunk.embedding_model = embedder.name
    await session.execute(
        sa.update(KbDocument)
        .where(
            KbDocument.tenant_id == ctx.require_tenant(),
            KbDocument.id.in_({c.document_id for c in chunks}),
        )
        .values(embedding_model=embedder.name)
    )
    await session.flush()
    log.info("kb.chunks_reembedded", count=len(chunks), embedder=embedder.name)
    return len(chunks)


async def reembed_document(
    session: AsyncSession,
    ctx: Context,
    document_id: str,
    *,
    embedder: Embedder | None = None,
) -> KbDocument:
    """Recompute the document's chunk vectors (after a change of embedder)."""
    document = await _locked(session, ctx, document_id)
    await _reembed(session, ctx, document, embedder or default_embedder())
    document.version += 1
    await session.flush()
    _invalidate(document.tenant_id)
    return document


async def delete_document(
    session: AsyncSession, ctx: Context, document_id: str, *, if_match: str | None = None
) -> None:
    """Remove the document and its chunks (``kb.document.deleted``)."""
    document = await _locked(session, ctx, document_id)
    check_version(if_match, document.version)
    await _delete_chunks(session, ctx, document.id)
    await session.delete(document)
    await session.flush()
    await _document_event(
        session, ctx, document, "kb.document.deleted", version=document.version + 1
    )
    _invalidate(ctx.require_tenant())
    log.info("kb.document.deleted", document_id=document_id)


def _invalidate(tenant_id: str) -> None:
    vector_index().invalidate(tenant_id)
    corpus_index().invalidate(tenant_id)


# --- search ---------------------------------------------------------------------------


async def search(
    session: AsyncSession,
    ctx: Context,
    query: str,
    *,
    limit: int = 5,
    document_id: str | None = None,
    query_vector: Sequence[float] | None = None,
    embedding_model: str | None = None,
    min_score: float = MIN_CONTEXT,
) -> list[SearchHit]:
    """The passages that answer ``query``, most relevant first.

    A hit's ``score`` is the cosine of the query and the chunk (title, heading, text) in
    the tenant's fitted TF-IDF space (:mod:`bizos.ai.termvectors`): it means relevance,
    comparable across queries. Chunks under ``min_score`` are not returned: the default
    keeps the context an answerer reads (it weighs a question's words against several
    passages, and declines by itself); searches shown as results pass the threshold of
    relevance, ``RELEVANT`` (the HTTP search, the ``kb.search`` tool).
    Full text proposes candidates and says which hits matched by words (``lexical``).
    A caller's own ``query_vector`` (with the ``embedding_model`` that made the stored
    vectors) is compared with those too; its cosine counts from ``MIN_SIMILARITY``."""
    tenant_id = ctx.require_tenant()
    limit = max(1, min(limit, MAX_SEARCH_LIMIT))
    pool = max(4 * limit, 20)
    lexical = await kb_search.lexical_matches(
        session, tenant_id, query, limit=pool, document_id=document_id
    )
    scores: dict[str, float] = {}
    if query.strip():
        embedder = default_embedder()
        corpus = await corpus_index().corpus(session, tenant_id, embedder)
        similarity = corpus.space.similarities(query)
        relevant = np.flatnonzero(similarity >= max(min_score, 1e-6))
        if document_id is not None:
            relevant = relevant[corpus.document_ids[relevant] == document_id]
        scores = {corpus.chunk_ids[i]: float(similarity[i]) for i in relevant}
    if query_vector is not None:
        matches = await vector_index().nearest(
            session,
            tenant_id,
            query_vector,
            model=embedding_model or "",
            limit=pool,
            document_id=document_id,
        )
        for match in matches:
            if match.similarity >= MIN_SIMILARITY:
                scores[match.chunk_id] = max(scores.get(match.chunk_id, 0.0), match.similarity)
    ranked = sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))[:limit]
    return await _hits(session, tenant_id, ranked, {m.chunk_id for m in lexical})


async def _hits(
    session: AsyncSession, tenant_id: str, ranked: list[tuple[str, float]], lexical: set[str]
) -> list[SearchHit]:
    if not ranked:
        return []
    rows = (
        await session.execute(
            sa.select(KbChunk, KbDocument.title)
            .join(KbDocument, KbDocument.id == KbChunk.document_id)
            .where(KbChunk.tenant_id == tenant_id, KbChunk.id.in_([c for c, _ in ranked]))
        )
    ).all()
    found = {chunk.id: (chunk, title) for chunk, title in rows}
    return [
        SearchHit(
            document_id=chunk.document_id,
            title=title,
            chunk_id=chunk.id,
            text=chunk.text,
            score=round(score, 6),
            heading=chunk.heading,
            page=chunk.page,
            similarity=round(score, 6),
            lexical=chunk_id in lexical,
        )
        for chunk_id, score in ranked
        if chunk_id in found  # (deleted between the two reads)
        for chunk, title in [found[chunk_id]]
    ]
