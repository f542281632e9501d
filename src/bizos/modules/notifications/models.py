"""In-app notifications: what a user should look at, read or unread."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Entity


class Notification(Entity, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        sa.Index("ix_notifications_tenant_user_read", "tenant_id", "user_id", "read_at"),
    )

    user_id: Mapped[str] = mapped_column(sa.String(36))
    kind: Mapped[str] = mapped_column(sa.String(60))  # task.reminder, lead.hot, ...
    title: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str | None] = mapped_column(sa.Text)
    related_type: Mapped[str | None] = mapped_column(sa.String(20))
    related_id: Mapped[str | None] = mapped_column(sa.String(36))
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    read_at: Mapped[dt.datetime | None]
    # The email sent along with it, when the user's preferences ask for one.
    email_message_id: Mapped[str | None] = mapped_column(sa.String(36))
