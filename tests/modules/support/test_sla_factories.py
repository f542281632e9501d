"""Factories for the SLA and triage tests: tickets and messages written straight to the
database (the tickets module is another part's), contexts, and event readers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.events import Event
from bizos.core.ids import new_id
from bizos.modules.notifications.models import Notification
from bizos.modules.support.sla.service import apply_sla
from bizos.modules.support.tickets.models import Ticket, TicketMessage
from tests.conftest import TenantLogin

# Monday 8 June 2026, 10:00 UTC: inside the default office hours (weekdays 09-17 UTC).
MONDAY_10 = dt.datetime(2026, 6, 8, 10, 0, tzinfo=dt.UTC)


def owner_ctx(tenant: TenantLogin) -> Context:
    return Context(tenant_id=tenant.tenant_id, actor_id=tenant.user_id, actor_type="user")


async def make_ticket(
    db: Database,
    tenant: TenantLogin,
    *,
    priority: str = "normal",
    status: str = "open",
    created_at: dt.datetime = MONDAY_10,
    assignee_id: str | None = None,
    subject: str = "My order",
    with_sla: bool = True,
) -> Ticket:
    """A ticket as inbound email would leave it, with its SLA applied."""
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        ticket = Ticket(
            id=new_id(),
            tenant_id=tenant.tenant_id,
            number=f"T-{uuid.uuid4().int % 10**6:06d}",
            subject=subject,
            status=status,
            priority=priority,
            channel="email",
            customer_email="cus@example.com",
            assignee_id=assignee_id,
            created_at=created_at,
            updated_at=created_at,
        )
        session.add(ticket)
        await session.flush()
        if with_sla:
            await apply_sla(session, owner_ctx(tenant), ticket, created_at)
        await session.flush()
        return ticket


async def make_message(
    db: Database,
    tenant: TenantLogin,
    ticket_id: str,
    body: str,
    *,
    subject: str | None = None,
    created_at: dt.datetime = MONDAY_10,
    direction: str = "inbound",
) -> TicketMessage:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        message = TicketMessage(
            id=new_id(),
            tenant_id=tenant.tenant_id,
            ticket_id=ticket_id,
            direction=direction,
            from_address="cus@example.com",
            subject=subject,
            body=body,
            created_at=created_at,
        )
        session.add(message)
        await session.flush()
        return message


async def load_ticket(db: Database, tenant: TenantLogin, ticket_id: str) -> Ticket:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        ticket = await session.scalar(sa.select(Ticket).where(Ticket.id == ticket_id))
        assert ticket is not None
        return ticket


async def events_of(db: Database, tenant: TenantLogin, type_: str) -> list[dict[str, Any]]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Event.data).where(Event.type == type_).order_by(Event.sequence)
        )
        return list(rows)


async def notifications_of(db: Database, tenant: TenantLogin) -> list[Notification]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Notification)
            .where(Notification.kind == "support.sla_breached")
            .order_by(Notification.created_at)
        )
        return list(rows)
