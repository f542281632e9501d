"""The VectorIndex port and its exact numpy implementation.

Chunk vectors live in ``kb_chunks.embedding`` (float32 bytes, L2-normalised) next to the
name of the embedder that made them; only vectors of the query's embedder are compared.

:class:`ExactVectorIndex` scores a query against every chunk vector of the tenant with
one matrix product — exact, and on both databases. Reading and decoding the vectors is
the expensive part, so the matrix is cached per ``(tenant, embedder)`` and validated on
every query by a cheap *stamp* read from ``kb_documents`` (count, sum of versions,
newest id, newest update): every chunk change goes through a document insert, update
(version + 1) or delete, so a stale matrix is never used — also across processes and
within a transaction that changed documents (it then sees its own stamp). The cache is
bounded by memory (least recently used tenants go first).

:class:`CorpusIndex` does the same for the built-in retrieval embedder
(:mod:`bizos.ai.termvectors`), whose stored vectors are term counts: its cached item is
the tenant's corpus fitted into a TF-IDF space, so a new or changed document refits the
space (milliseconds) at the next search, and every query costs one sparse product.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.ai.termvectors import TermEmbedder, TermSpace
from bizos.modules.knowledge.documents.models import KbChunk, KbDocument

Vector = npt.NDArray[np.float32]
CACHE_BYTES = 256 * 1024 * 1024


def to_blob(vector: Sequence[float] | Vector) -> bytes:
    """A vector as stored: float32, L2-normalised."""
    return normalized(vector).astype("<f4").tobytes()


def from_blob(blob: bytes) -> Vector:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def normalized(vector: Sequence[float] | Vector) -> Vector:
    array = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(array))
    return array / norm if norm > 0 else array


@dataclass(frozen=True, slots=True)
class VectorMatch:
    chunk_id: str
    document_id: str
    similarity: float  # cosine, in [-1, 1]


class VectorIndex(Protocol):
    """Nearest chunks of one tenant to a query vector."""

    async def nearest(
        self,
        session: AsyncSession,
        tenant_id: str,
        vector: Sequence[float],
        *,
        model: str,
        limit: int,
        document_id: str | None = None,
    ) -> list[VectorMatch]: ...

    def invalidate(self, tenant_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class _Matrix:
    stamp: tuple[Any, ...]
    chunk_ids: list[str]
    document_ids: npt.NDArray[np.object_]
    vectors: Vector  # (n, dim)

    @property
    def nbytes(self) -> int:
        return int(self.vectors.nbytes) + 100 * len(self.chunk_ids)


async def index_stamp(session: AsyncSession, tenant_id: str) -> tuple[Any, ...]:
    """Changes whenever any of the tenant's documents (hence chunks) changes."""
    row = (
        await session.execute(
            sa.select(
                sa.func.count(KbDocument.id),
                sa.func.coalesce(sa.func.sum(KbDocument.version), 0),
                sa.func.max(KbDocument.id),
                sa.func.max(KbDocument.updated_at),
            ).where(KbDocument.tenant_id == tenant_id)
        )
    ).one()
    return (int(row[0]), int(row[1]), row[2], row[3])


class ExactVectorIndex:
    """Brute-force cosine similarity in numpy over a cached per-tenant matrix."""

    def __init__(self, *, cache_bytes: int = CACHE_BYTES) -> None:
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[tuple[str, str], _Matrix] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0  # how often a matrix was read from the database (for tests, bench)

    def invalidate(self, tenant_id: str) -> None:
        with self._lock:
            for key in [k for k in self._cache if k[0] == tenant_id]:
                del self._cache[key]

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    async def _matrix(self, session: AsyncSession, tenant_id: str, model: str) -> _Matrix:
        stamp = await index_stamp(session, tenant_id)
        key = (tenant_id, model)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached.stamp == stamp:
                self._cache.move_to_end(key)
                return cached
        rows = (
            await session.execute(
                sa.select(KbChunk.id, KbChunk.document_id, KbChunk.embedding).where(
                    KbChunk.tenant_id == tenant_id,
                    KbChunk.embedding_model == model,
                    KbChunk.embedding.is_not(None),
                )
            )
        ).all()
        self.loads += 1
        dims = {len(r.embedding) for r in rows}
        if len(dims) > 1:  # an embedder that changed its size under one name: newest wins
            dim = len(rows[-1].embedding)
            rows = [r for r in rows if len(r.embedding) == dim]
        vectors = (
            # A writable native copy: products over it run faster than over the buffer.
            np.frombuffer(b"".join(r.embedding for r in rows), dtype="<f4")
            .astype(np.float32)
            .reshape(len(rows), -1)
            if rows
            else np.zeros((0, 0), dtype=np.float32)
        )
        matrix = _Matrix(
            stamp=stamp,
            chunk_ids=[r.id for r in rows],
            document_ids=np.array([r.document_id for r in rows], dtype=object),
            vectors=vectors,
        )
        with self._lock:
            self._cache[key] = matrix
            self._cache.move_to_end(key)
            total = sum(m.nbytes for m in self._cache.values())
            while total > self.cache_bytes and len(self._cache) > 1:
                _, dropped = self._cache.popitem(last=False)
                total -= dropped.nbytes
        return matrix

    async def nearest(
        self,
        session: AsyncSession,
        tenant_id: str,
        vector: Sequence[float],
        *,
        model: str,
        limit: int,
        document_id: str | None = None,
    ) -> list[VectorMatch]:
        matrix = await self._matrix(session, tenant_id, model)
        query = normalized(vector)
        if not matrix.chunk_ids or matrix.vectors.shape[1] != query.shape[0] or limit <= 0:
            return []
        scores = matrix.vectors @ query
        candidates = np.arange(len(scores))
        if document_id is not None:
            candidates = np.flatnonzero(matrix.document_ids == document_id)
            if candidates.size == 0:
                return []
        subset = scores[candidates]
        if subset.size > limit:
            top = np.argpartition(-subset, limit - 1)[:limit]
        else:
            top = np.arange(subset.size)
        top = top[np.argsort(-subset[top], kind="stable")]
        return [
            VectorMatch(
                chunk_id=matrix.chunk_ids[int(candidates[i])],
                document_id=str(matrix.document_ids[int(candidates[i])]),
                similarity=float(subset[i]),
            )
            for i in top
        ]


_default = ExactVectorIndex()


def vector_index() -> VectorIndex:
    """The process's vector index (the exact numpy one; pgvector would plug in here)."""
    return _default


# --- the retrieval embedder's corpus ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Corpus:
    """One tenant's chunks in the retrieval embedder's space (fitted on them)."""

    stamp: tuple[Any, ...]
    chunk_ids: list[str]
    document_ids: npt.NDArray[np.object_]
    space: TermSpace
    recomputed: int  # chunks whose stored vector was another embedder's

    @property
    def nbytes(self) -> int:
        return self.space.nbytes + 100 * len(self.chunk_ids)


def chunk_input(title: str | None, heading: str | None, text: str) -> str:
    """What a chunk's vector is made from: its document's title, heading path and text."""
    return "\n".join(part for part in (title, heading, text) if part)


class CorpusIndex:
    """Fitted spaces of tenants' chunks, cached per ``(tenant, embedder)`` and checked
    against the knowledge base's stamp on every search, as :class:`ExactVectorIndex`.
    A chunk stored by another embedder is embedded again here, in memory, for the
    search at hand (the next write of the tenant's knowledge base stores it). The texts
    are read too: their words are what a misspelt query is corrected towards."""

    def __init__(self, *, cache_bytes: int = CACHE_BYTES) -> None:
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[tuple[str, str], Corpus] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0

    def invalidate(self, tenant_id: str) -> None:
        with self._lock:
            for key in [k for k in self._cache if k[0] == tenant_id]:
                del self._cache[key]

    async def corpus(self, session: AsyncSession, tenant_id: str, embedder: TermEmbedder) -> Corpus:
        stamp = await index_stamp(session, tenant_id)
        key = (tenant_id, embedder.name)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached.stamp == stamp:
                self._cache.move_to_end(key)
                return cached
        current = KbChunk.embedding_model == embedder.name
        rows = (
            await session.execute(
                sa.select(
                    KbChunk.id,
                    KbChunk.document_id,
                    sa.case((current, KbChunk.embedding), else_=sa.null()),
                    KbChunk.document_title,
                    KbChunk.heading,
                    KbChunk.text,
                )
                .where(KbChunk.tenant_id == tenant_id)
                .order_by(KbChunk.id)
            )
        ).all()
        self.loads += 1
        inputs = [chunk_input(r[3], r[4], r[5] or "") for r in rows]
        stale = [i for i, r in enumerate(rows) if r[2] is None]
        vectors: list[bytes] = [r[2] for r in rows]
        # CPU work (a second or so for thousands of chunks): off the event loop.
        remade = await asyncio.to_thread(embedder.vectors, [inputs[i] for i in stale])
        for i, blob in zip(stale, remade, strict=True):
            vectors[i] = blob
        corpus = Corpus(
            stamp=stamp,
            chunk_ids=[r[0] for r in rows],
            document_ids=np.array([r[1] for r in rows], dtype=object),
            space=await asyncio.to_thread(embedder.space, vectors, inputs),
            recomputed=len(stale),
        )
        with self._lock:
            self._cache[key] = corpus
            self._cache.move_to_end(key)
            total = sum(c.nbytes for c in self._cache.values())
            while total > self.cache_bytes and len(self._cache) > 1:
                _, dropped = self._cache.popitem(last=False)
                total -= dropped.nbytes
        return corpus


_corpora = CorpusIndex()


def corpus_index() -> CorpusIndex:
    """The process's cache of fitted tenant corpora."""
    return _corpora
