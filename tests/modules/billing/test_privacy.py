"""Billing's privacy export: what it holds about a contact, as the API shows it."""

from __future__ import annotations

import httpx

from bizos import registry
from bizos.core.db import Database
from bizos.modules.billing import privacy
from tests.conftest import TenantLogin
from tests.modules.billing.invoices.helpers import INVOICES, owner_ctx, post_draft
from tests.modules.crm.contacts.helpers import add_contact


async def issued(client: httpx.AsyncClient, tenant: TenantLogin, **body: object) -> dict[str, str]:
    draft = await post_draft(client, tenant, **body)
    r = await client.post(f"{INVOICES}/{draft['id']}/issue", headers=tenant.headers)
    assert r.status_code == 200, r.text
    invoice: dict[str, str] = r.json()
    return invoice


async def test_export_holds_the_contacts_invoices_payments_refunds_and_credit_notes(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    cleo = await add_contact(client, tenant, name="Cleo Client", email="cleo@example.com")
    mine = await issued(client, tenant, contact_id=cleo["id"])
    other = await issued(client, tenant, customer_email="someone@example.com")
    r = await client.post(
        f"{INVOICES}/{mine['id']}/payments",
        headers=tenant.headers,
        json={"amount": mine["total"], "currency": "EUR", "reference": "BANK-1"},
    )
    assert r.status_code == 201, r.text
    payment = r.json()
    r = await client.post(
        f"/api/v1/billing/payments/{payment['id']}/refunds",
        headers=tenant.headers,
        json={"amount": "20.00", "reason": "damaged"},
    )
    assert r.status_code == 201, r.text
    refund = r.json()

    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        exported = await privacy.export(session, owner_ctx(tenant), cleo["id"])

    assert [i["id"] for i in exported["invoices"]] == [mine["id"]]
    assert exported["invoices"][0]["contact_id"] == cleo["id"]
    assert other["id"] not in str(exported)
    assert [p["id"] for p in exported["payments"]] == [payment["id"]]
    assert exported["payments"][0]["invoice_number"] == mine["number"]
    assert [(r["id"], r["amount"]) for r in exported["refunds"]] == [(refund["id"], "20.00")]
    [note] = exported["credit_notes"]
    assert (note["invoice_id"], note["amount"]) == (mine["id"], "20.00")


async def test_a_contact_without_billing_exports_empty_lists(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    nobody = await add_contact(client, tenant, name="Nora None")
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        exported = await privacy.export(session, owner_ctx(tenant), nobody["id"])
    assert exported == {"invoices": [], "payments": [], "refunds": [], "credit_notes": []}


def test_the_manifest_declares_the_export() -> None:
    hooks = registry.manifest("billing").privacy
    assert hooks is not None and hooks.export is privacy.export
