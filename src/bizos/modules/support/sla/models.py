"""SLA policies: first-response and resolution targets per priority, in business hours."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Entity, unique_where


class SlaPolicy(Entity, Base):
    __tablename__ = "support_sla_policies"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "name"),
        # One default per tenant, even when two admins flip it at once.
        unique_where("uq_support_sla_policies_default", "tenant_id", where="is_default"),
    )

    name: Mapped[str] = mapped_column(sa.String(100))
    # {"urgent": {"first_response_minutes": 60, "resolution_minutes": 480}, "high": ...}
    targets: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # {"timezone": "Europe/Berlin", "days": {"mon": [["09:00", "17:00"]], ...},
    #  "holidays": ["2026-12-25"]}; null = around the clock
    business_hours: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    is_default: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
