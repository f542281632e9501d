"""Factories for deal, forecast and next-best-action tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.events import Event
from bizos.modules.crm.contacts import service as contacts_service
from bizos.modules.crm.deals import service as deals_service
from tests.conftest import TenantLogin

DEALS = "/api/v1/crm/deals"
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def owner_ctx(tenant: TenantLogin) -> Context:
    return Context(tenant_id=tenant.tenant_id, actor_id=tenant.user_id, actor_type="user")


async def make_contact(
    db: Database, tenant: TenantLogin, email: str, name: str | None = None, **state: Any
) -> str:
    """A contact; ``state`` sets fields other parts maintain (activity times, flags)."""
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        contact, _ = await contacts_service.find_or_create_contact(
            session, owner_ctx(tenant), email=email, name=name
        )
        for key, value in state.items():
            setattr(contact, key, value)
        return contact.id


async def post_deal(client: httpx.AsyncClient, tenant: TenantLogin, **body: Any) -> dict[str, Any]:
    payload = {"name": "Website redesign", "amount": "1000.00", "currency": "EUR", **body}
    r = await client.post(DEALS, json=payload, headers=tenant.headers)
    assert r.status_code == 201, r.text
    deal: dict[str, Any] = r.json()
    return deal


async def patch_deal(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    deal_id: str,
    body: dict[str, Any],
    if_match: int | None = None,
) -> httpx.Response:
    headers = dict(tenant.headers)
    if if_match is not None:
        headers["If-Match"] = str(if_match)
    return await client.patch(f"{DEALS}/{deal_id}", json=body, headers=headers)


async def seed_deal(
    db: Database,
    tenant: TenantLogin,
    *,
    path: list[tuple[str, dt.datetime]],
    amount: str = "1000.00",
    currency: str = "EUR",
    close_date: dt.date | None = None,
    contact_id: str | None = None,
    probability: float | None = None,
    name: str = "Deal",
) -> str:
    """A deal created at ``path[0]`` and moved through the rest, each at its time."""
    ctx = owner_ctx(tenant)
    (first_stage, created_at), *moves = path
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        deal = await deals_service.create_deal(
            session,
            ctx,
            name=name,
            amount=Decimal(amount),
            currency=currency,
            stage=first_stage,
            close_date=close_date,
            contact_id=contact_id,
            probability=probability,
            close_reason="price" if first_stage == "lost" else None,
            at=created_at,
        )
        for stage, at in moves:
            changes: dict[str, Any] = {"stage": stage}
            if stage == "lost":
                changes["close_reason"] = "went with a competitor"
            if stage in ("won", "lost") and close_date is not None:
                changes["close_date"] = close_date
            await deals_service.update_deal(session, ctx, deal.id, changes=changes, at=at)
        return deal.id


async def events_of(db: Database, aggregate_id: str, type_: str | None = None) -> list[Event]:
    async with db.unit_of_work(system=True, readonly=True) as session:
        query = sa.select(Event).where(Event.aggregate_id == aggregate_id)
        if type_:
            query = query.where(Event.type == type_)
        return list(await session.scalars(query.order_by(Event.position)))
