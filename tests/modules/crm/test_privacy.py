"""The CRM's privacy export: everything it holds about a contact, as the API reads it."""

from __future__ import annotations

import httpx
import pytest

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.errors import NotFound
from bizos.core.ports import ports
from bizos.modules.crm.manifest import MANIFEST
from tests.conftest import TenantLogin
from tests.modules.crm.contacts.helpers import (
    CONTACTS,
    add_company,
    add_contact,
    add_deal_row,
    add_lead_row,
)


async def test_export_holds_the_contact_its_company_leads_deals_and_notes(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    company = await add_company(client, tenant, name="Acme", domain="acme.example")
    ada = await add_contact(
        client, tenant, name="Ada Lovelace", email="ada@acme.example", company_id=company["id"]
    )
    other = await add_contact(client, tenant, name="Charles Babbage", email="cb@acme.example")
    lead_id = await add_lead_row(db, tenant.tenant_id, ada["id"], "ada@acme.example")
    deal_id = await add_deal_row(db, tenant.tenant_id, ada["id"], "Engines")
    r = await client.post(
        f"{CONTACTS}/{ada['id']}/notes", headers=tenant.headers, json={"body": "met at Kew"}
    )
    assert r.status_code == 201, r.text
    await add_lead_row(db, tenant.tenant_id, other["id"], "cb@acme.example")

    assert MANIFEST.privacy is not None
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        data = await MANIFEST.privacy.export(
            session, Context(tenant_id=tenant.tenant_id), ada["id"]
        )

    assert [c["id"] for c in data["contacts"]] == [ada["id"]]
    assert data["contacts"][0]["email"] == "ada@acme.example"
    assert [c["id"] for c in data["companies"]] == [company["id"]]
    assert [lead["id"] for lead in data["leads"]] == [lead_id]
    assert [deal["id"] for deal in data["deals"]] == [deal_id]
    assert [n["body"] for n in data["notes"]] == ["met at Kew"]
    assert data["attachments"] == []


async def test_export_of_another_tenants_contact_is_not_found(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin, db: Database
) -> None:
    theirs = await add_contact(client, other_tenant, name="Grace Hopper", email="g@navy.example")
    assert MANIFEST.privacy is not None
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        with pytest.raises(NotFound):
            await MANIFEST.privacy.export(
                session, Context(tenant_id=tenant.tenant_id), theirs["id"]
            )


def test_tasks_can_point_at_crm_contacts() -> None:
    assert ports.record_resolvers["contact"] is MANIFEST.record_resolvers["contact"]
