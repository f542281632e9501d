"""Factories for scoring and assignment tests: leads (with their contact), tracked
activity, closed outcomes, and a dispatcher that runs the CRM's subscribers."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from bizos.core.config import Settings
from bizos.core.context import system_context
from bizos.core.db import Database, utcnow
from bizos.core.dispatcher import Dispatcher
from bizos.core.events import NewEvent, append_events
from bizos.core.ids import new_id
from bizos.modules.crm.models import Contact, Deal, Lead
from bizos.modules.crm.scoring import handlers as scoring_handlers
from bizos.modules.identity.models import User


async def add_user(db: Database, tenant_id: str, *, role: str = "member", name: str) -> str:
    """A team member who never logs in (no password to hash): for assignment pools."""
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        user = User(
            id=new_id(),
            tenant_id=tenant_id,
            email=f"{uuid.uuid4().hex[:10]}@example.com",
            name=name,
            role=role,
            password_hash="!",
            is_active=True,
        )
        session.add(user)
    return user.id


async def add_lead(
    db: Database,
    tenant_id: str,
    *,
    email: str | None = None,
    source: str = "web",
    phone: str | None = None,
    message: str | None = None,
    enrichment: dict[str, Any] | None = None,
    country: str | None = None,
    status: str = "new",
    owner_id: str | None = None,
    score: int | None = None,
    created_at: dt.datetime | None = None,
) -> str:
    """A lead and its contact, written straight to the tables; returns the lead id."""
    email = email or f"lead-{uuid.uuid4().hex[:10]}@example-corp.com"
    created = created_at or utcnow()
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        contact = Contact(
            id=new_id(),
            tenant_id=tenant_id,
            email=email,
            email_normalized=email.lower(),
            country=country,
            tags=[],
            properties={},
        )
        lead = Lead(
            id=new_id(),
            tenant_id=tenant_id,
            contact_id=contact.id,
            email=email,
            phone=phone,
            source=source,
            message=message,
            properties={},
            status=status,
            owner_id=owner_id,
            score=score,
            score_factors=[],
            enrichment=enrichment,
            created_at=created,
            updated_at=created,
        )
        session.add_all([contact, lead])
    return lead.id


async def contact_of(db: Database, tenant_id: str, lead_id: str) -> str:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        contact_id = await session.scalar(sa.select(Lead.contact_id).where(Lead.id == lead_id))
    assert contact_id is not None
    return contact_id


async def track(
    db: Database, tenant_id: str, key: str, times: list[dt.datetime], kind: str = "page_viewed"
) -> None:
    """Tracked activity of the contact ``key`` (its id or email) at ``times``."""
    events = [
        NewEvent(f"activity.{kind}", "contact", key, {"properties": {}}, occurred_at=at)
        for at in times
    ]
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        await append_events(session, system_context(tenant_id), events)


async def close_lead(
    db: Database, tenant_id: str, lead_id: str, *, won: bool | None, at: dt.datetime
) -> None:
    """End a lead's story: converted into a won or lost deal, or (``won=None``)
    disqualified."""
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        lead = await session.scalar(sa.select(Lead).where(Lead.id == lead_id))
        assert lead is not None
        if won is None:
            lead.status, lead.status_changed_at, lead.status_reason = "disqualified", at, "no fit"
            return
        deal = Deal(
            id=new_id(),
            tenant_id=tenant_id,
            name=f"Deal for {lead.email}",
            lead_id=lead.id,
            contact_id=lead.contact_id,
            amount=Decimal("1000.00"),
            currency="EUR",
            stage="won" if won else "lost",
            created_at=at,
            closed_at=at + dt.timedelta(days=10),
        )
        session.add(deal)
        lead.status, lead.status_changed_at = "converted", at
        lead.deal_id, lead.converted_at = deal.id, at


async def readable(db: Database) -> None:
    """On PostgreSQL, wait until committed events are behind the dispatcher's horizon."""
    if db.is_sqlite:
        return
    horizon = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
    for _ in range(500):
        async with db.unit_of_work(system=True, readonly=True) as s:
            behind = await s.scalar(
                sa.text(f"SELECT count(*) FROM events WHERE tx_id >= {horizon}")
            )
        if not behind:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("committed events stayed behind a running transaction")


async def run_scoring_handlers(db: Database, settings: Settings) -> None:
    """Run the scoring subscribers over everything committed so far."""
    dispatcher = Dispatcher(db, settings)
    scoring_handlers.register(dispatcher)
    for _ in range(50):
        await readable(db)
        if await dispatcher.run_once() == 0:
            return
    raise AssertionError("the dispatcher did not catch up")
