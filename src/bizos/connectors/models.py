"""Per-tenant connector configuration. Secrets are stored only as encrypted blobs."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Entity


class ConnectorConfig(Entity, Base):
    __tablename__ = "connector_configs"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "provider"),)

    provider: Mapped[str] = mapped_column(sa.String(40))
    config: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # name -> blob from core.crypto.encrypt, bound to (tenant, provider, name)
    secrets: Mapped[dict[str, str]] = mapped_column(sa.JSON, default=dict)
