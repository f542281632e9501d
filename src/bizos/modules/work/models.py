"""Work tables: tasks and the templates that create them."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Entity


class Task(Entity, Base):
    __tablename__ = "tasks"
    __table_args__ = (
        sa.Index("ix_tasks_tenant_assignee_status", "tenant_id", "assignee_id", "status"),
        sa.Index("ix_tasks_tenant_related", "tenant_id", "related_type", "related_id"),
        sa.Index("ix_tasks_tenant_contact", "tenant_id", "contact_id"),
        # The reminder and escalation scans: open tasks by due time.
        sa.Index("ix_tasks_status_due", "status", "due_at"),
    )

    title: Mapped[str] = mapped_column(sa.String(300))
    description: Mapped[str | None] = mapped_column(sa.Text)
    assignee_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_by: Mapped[str | None] = mapped_column(sa.String(36))
    # low | normal | high | urgent
    priority: Mapped[str] = mapped_column(sa.String(10), default="normal")
    # open | in_progress | done | cancelled
    status: Mapped[str] = mapped_column(sa.String(12), default="open")
    due_at: Mapped[dt.datetime | None]
    remind_at: Mapped[dt.datetime | None]
    reminded_at: Mapped[dt.datetime | None]
    escalated_at: Mapped[dt.datetime | None]
    escalated_to: Mapped[str | None] = mapped_column(sa.String(36))
    completed_at: Mapped[dt.datetime | None]
    # What the task is about (contact, lead, deal, order, ticket ...).
    related_type: Mapped[str | None] = mapped_column(sa.String(20))
    related_id: Mapped[str | None] = mapped_column(sa.String(36))
    contact_id: Mapped[str | None] = mapped_column(sa.String(36))
    template_id: Mapped[str | None] = mapped_column(sa.String(36))
    # Why it exists when a flow made it: "deal.stage:proposal", "lead.hot", ...
    origin: Mapped[str | None] = mapped_column(sa.String(60))


class TaskTemplate(Entity, Base):
    """A task to create when something happens, e.g. a deal entering ``proposal``."""

    __tablename__ = "task_templates"
    __table_args__ = (sa.Index("ix_task_templates_trigger", "tenant_id", "trigger"),)

    trigger: Mapped[str] = mapped_column(sa.String(60))  # e.g. "deal.stage:proposal"
    title: Mapped[str] = mapped_column(sa.String(300))
    description: Mapped[str | None] = mapped_column(sa.Text)
    priority: Mapped[str] = mapped_column(sa.String(10), default="normal")
    due_in_hours: Mapped[int] = mapped_column(default=24)
    # "owner" (the record's owner) or a user id
    assign_to: Mapped[str] = mapped_column(sa.String(36), default="owner")
    active: Mapped[bool] = mapped_column(default=True)
