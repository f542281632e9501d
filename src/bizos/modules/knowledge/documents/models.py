"""Knowledge-base tables: documents and their chunks (with embeddings).

A document keeps its extracted plain text; chunks are cut from it along its structure
(headings, paragraphs) with overlap. Each chunk stores its embedding as float32 bytes
and the name of the embedder that made it, so a change of embedder is visible and
re-indexable. Full-text search runs over chunks (with their document's title): an FTS5
table on SQLite, a stored ``tsvector`` with a GIN index on PostgreSQL (``search``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Entity, TenantScoped
from bizos.core.ids import new_id


class KbDocument(Entity, Base):
    __tablename__ = "kb_documents"
    __table_args__ = (sa.Index("ix_kb_documents_tenant_created", "tenant_id", "created_at"),)

    title: Mapped[str] = mapped_column(sa.String(300))
    content_type: Mapped[str] = mapped_column(sa.String(100))  # text/plain, text/markdown, ...
    filename: Mapped[str | None] = mapped_column(sa.String(300))
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    text: Mapped[str] = mapped_column(sa.Text)  # the extracted plain text
    original: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # uploaded bytes (PDF...)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size_bytes: Mapped[int] = mapped_column(default=0)
    page_count: Mapped[int | None]
    chunk_count: Mapped[int] = mapped_column(default=0)
    embedding_model: Mapped[str | None] = mapped_column(sa.String(200))
    created_by: Mapped[str | None] = mapped_column(sa.String(36))


class KbChunk(TenantScoped, Base):
    __tablename__ = "kb_chunks"
    __table_args__ = (
        sa.Index("ix_kb_chunks_tenant_document", "tenant_id", "document_id", "ordinal"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    document_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("kb_documents.id", ondelete="CASCADE")
    )
    ordinal: Mapped[int]
    # The document's title, kept here so full text and vectors weigh it (0004_kbsearch).
    document_title: Mapped[str | None] = mapped_column(sa.String(300))
    heading: Mapped[str | None] = mapped_column(sa.String(500))  # "Returns > Refunds"
    text: Mapped[str] = mapped_column(sa.Text)
    start_offset: Mapped[int] = mapped_column(default=0)  # in the document's text
    end_offset: Mapped[int] = mapped_column(default=0)
    page: Mapped[int | None]
    token_count: Mapped[int] = mapped_column(default=0)
    embedding: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # float32, L2-normalised
    embedding_model: Mapped[str | None] = mapped_column(sa.String(200))
    meta: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
