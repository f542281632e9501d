"""Summaries made of documents."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Entity


class KbSummary(Entity, Base):
    __tablename__ = "kb_summaries"
    __table_args__ = (sa.Index("ix_kb_summaries_tenant_document", "tenant_id", "document_id"),)

    document_id: Mapped[str] = mapped_column(sa.String(36))
    query: Mapped[str | None] = mapped_column(sa.Text)
    summary: Mapped[str] = mapped_column(sa.Text)
    sources: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    # {provider, model, template, template_version, prompt_tokens, completion_tokens,
    #  call_ids: [..]}
    provenance: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_by: Mapped[str | None] = mapped_column(sa.String(36))
