"""AI tables: one row per model call (metering and provenance) and per-tenant settings.

An ``AiCall`` is written for every completed generation or embedding batch, whichever
provider answered: it is both the usage ledger (tokens, cost) behind ``GET
/api/v1/ai/usage`` and the provenance record (provider, model, template and version,
sources, attempts) that every AI output points to by ``call_id``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Entity, TenantScoped, utcnow
from bizos.core.ids import new_id


class AiCall(TenantScoped, Base):
    __tablename__ = "ai_calls"
    __table_args__ = (
        sa.Index("ix_ai_calls_tenant_period", "tenant_id", "period"),
        sa.Index("ix_ai_calls_tenant_related", "tenant_id", "related_type", "related_id"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    period: Mapped[str] = mapped_column(sa.String(7))  # YYYY-MM (UTC) the call counts in
    feature: Mapped[str] = mapped_column(sa.String(60))  # kb.summarize, support.draft, ...
    task: Mapped[str] = mapped_column(sa.String(40))
    provider: Mapped[str] = mapped_column(sa.String(40))
    model: Mapped[str] = mapped_column(sa.String(200))
    template: Mapped[str | None] = mapped_column(sa.String(100))
    template_version: Mapped[str | None] = mapped_column(sa.String(20))
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    cost: Mapped[Decimal] = mapped_column(sa.Numeric(14, 6), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD")
    # [{document_id, chunk_id, title, kind, score}] (passages' text is not copied here)
    sources: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    # [{provider, model, outcome: ok|error, status, detail, retryable, latency_ms}]
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    redactions: Mapped[int] = mapped_column(default=0)  # PII tokens the proxy put in
    streamed: Mapped[bool] = mapped_column(default=False)
    latency_ms: Mapped[int] = mapped_column(default=0)
    related_type: Mapped[str | None] = mapped_column(sa.String(40))
    related_id: Mapped[str | None] = mapped_column(sa.String(36))
    actor_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AiSettings(Entity, Base):
    """Per-tenant AI settings: the provider chain and the monthly budget."""

    __tablename__ = "ai_settings"
    __table_args__ = (sa.UniqueConstraint("tenant_id"),)

    # Ordered provider names, e.g. ["anthropic", "openai", "local"]; local is always last.
    providers: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    embeddings: Mapped[str] = mapped_column(sa.String(40), default="local")
    monthly_token_budget: Mapped[int | None] = mapped_column(sa.BigInteger)
    monthly_cost_budget: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 2))
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD")
    # {"<provider>/<model>": {"prompt_per_million": "0.15", "completion_per_million": "0.6"}}
    prices: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
