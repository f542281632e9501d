"""The terms extracted from contracts (``kb_contracts``, one row per document)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Entity


class KbContract(Entity, Base):
    """The terms extracted from a document tagged ``contract``."""

    __tablename__ = "kb_contracts"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "document_id"),)

    document_id: Mapped[str] = mapped_column(sa.String(36))
    status: Mapped[str] = mapped_column(sa.String(20), default="extracted")  # or failed
    parties: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    amounts: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    start_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    end_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    renewal_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    termination_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    notice_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    notice_period_days: Mapped[int | None]
    auto_renews: Mapped[bool | None]
    evidence: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # field -> quote
    task_id: Mapped[str | None] = mapped_column(sa.String(36))
    task_due_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    provenance: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    error: Mapped[str | None] = mapped_column(sa.Text)
