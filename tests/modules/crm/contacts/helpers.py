"""Helpers for contact tests: creating records through the API, direct rows for the
records other parts own (leads, deals), and problem assertions."""

from __future__ import annotations

from typing import Any

import httpx

from bizos.core.db import Database
from bizos.modules.crm.models import Deal, Lead
from tests.conftest import TenantLogin
from tests.modules.identity.helpers import assert_problem

__all__ = ["add_company", "add_contact", "add_deal_row", "add_lead_row", "assert_problem"]

CONTACTS = "/api/v1/crm/contacts"
COMPANIES = "/api/v1/crm/companies"


async def add_contact(client: httpx.AsyncClient, who: TenantLogin, **fields: Any) -> dict[str, Any]:
    r = await client.post(CONTACTS, headers=who.headers, json=fields)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def add_company(client: httpx.AsyncClient, who: TenantLogin, **fields: Any) -> dict[str, Any]:
    r = await client.post(COMPANIES, headers=who.headers, json=fields)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def add_lead_row(db: Database, tenant_id: str, contact_id: str, email: str) -> str:
    """A lead row as the leads part would write it (only its reference matters here)."""
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        lead = Lead(tenant_id=tenant_id, contact_id=contact_id, email=email, source="api")
        session.add(lead)
        await session.flush()
        return lead.id


async def add_deal_row(db: Database, tenant_id: str, contact_id: str, name: str) -> str:
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        deal = Deal(
            tenant_id=tenant_id, contact_id=contact_id, name=name, amount=1000, currency="EUR"
        )
        session.add(deal)
        await session.flush()
        return deal.id
