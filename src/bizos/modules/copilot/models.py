"""The copilot's tables: a user's conversations, their turns, and proposed actions.

A conversation belongs to one user (``user_id`` is the actor who opened it); another
user's or tenant's conversation answers 404 like a missing one. An action is written as
``proposed`` when the copilot plans a change and only runs on ``confirm``: its row moves
to ``executed`` (with the tool's result) in the transaction that made the change, so a
repeat or a concurrent confirm finds it executed and returns the first result.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Entity


class Conversation(Entity, Base):
    __tablename__ = "copilot_conversations"
    __table_args__ = (
        sa.Index("ix_copilot_conversations_tenant_user", "tenant_id", "user_id", "updated_at"),
    )

    user_id: Mapped[str] = mapped_column(sa.String(64))
    title: Mapped[str] = mapped_column(sa.String(200))
    turn_count: Mapped[int] = mapped_column(default=0)


class Turn(Entity, Base):
    """One question and its answer; ``answer`` is the whole response body as sent."""

    __tablename__ = "copilot_turns"
    __table_args__ = (
        sa.Index("ix_copilot_turns_tenant_conversation", "tenant_id", "conversation_id", "seq"),
    )

    conversation_id: Mapped[str] = mapped_column(sa.String(36))
    seq: Mapped[int] = mapped_column(default=1)
    question: Mapped[str] = mapped_column(sa.Text)
    intent: Mapped[str] = mapped_column(sa.String(30))
    entities: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    answer: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class Action(Entity, Base):
    """A change the copilot proposed: ``status`` is proposed, executed, cancelled."""

    __tablename__ = "copilot_actions"
    __table_args__ = (
        sa.Index("ix_copilot_actions_tenant_conversation", "tenant_id", "conversation_id"),
    )

    conversation_id: Mapped[str | None] = mapped_column(sa.String(36))
    proposed_by: Mapped[str | None] = mapped_column(sa.String(64))
    tool: Mapped[str] = mapped_column(sa.String(80))
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    summary: Mapped[str] = mapped_column(sa.Text)
    before: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    after: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    status: Mapped[str] = mapped_column(sa.String(20), default="proposed")
    result: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    decided_by: Mapped[str | None] = mapped_column(sa.String(64))
    decided_at: Mapped[dt.datetime | None]
