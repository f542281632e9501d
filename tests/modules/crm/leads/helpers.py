"""Shared steps of the lead tests: capture a lead, read it, read the event log."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core.db import Database
from bizos.core.events import Event
from bizos.modules.crm.models import Contact
from tests.conftest import TenantLogin


async def post_lead(
    client: httpx.AsyncClient, tenant: TenantLogin, **fields: Any
) -> dict[str, Any]:
    body = {"email": "ada@contoso.com", "name": "Ada Lovelace", **fields}
    r = await client.post("/api/v1/crm/leads", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    lead: dict[str, Any] = r.json()
    return lead


async def get_lead(client: httpx.AsyncClient, tenant: TenantLogin, lead_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/crm/leads/{lead_id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    lead: dict[str, Any] = r.json()
    return lead


async def patch_lead(
    client: httpx.AsyncClient, tenant: TenantLogin, lead_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.patch(f"/api/v1/crm/leads/{lead_id}", json=body, headers=tenant.headers)


async def event_types(db: Database, tenant_id: str, aggregate_id: str) -> list[str]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Event.type).where(Event.aggregate_id == aggregate_id).order_by(Event.sequence)
        )
        return list(rows)


async def contacts_with_email(db: Database, tenant_id: str, email: str) -> list[Contact]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Contact).where(Contact.email_normalized == email.lower())
        )
        return list(rows)
