"""The demo's buyers are customers, with their whole story on their timeline: a web shop
regular with a handful of orders reads as a customer since their first paid order, and
their timeline shows the orders, invoices, payments and tickets, not just one entry."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.core.events import Event
from bizos.demo import DEMO_SLUG
from bizos.modules.billing.models import Invoice, Payment
from bizos.modules.commerce.models import Order
from bizos.modules.crm.models import Contact
from bizos.modules.identity.models import Tenant
from bizos.modules.support.tickets.models import Ticket


async def _demo_tenant(db: Database) -> str:
    async with db.unit_of_work(system=True, readonly=True) as session:
        tenant_id = await session.scalar(sa.select(Tenant.id).where(Tenant.slug == DEMO_SLUG))
    assert tenant_id is not None
    return tenant_id


async def _owner(client: httpx.AsyncClient, settings: Settings) -> dict[str, str]:
    r = await client.post(
        "/api/v1/auth/login",
        json={"email": settings.demo_email, "password": settings.demo_password, "tenant": "demo"},
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _timeline(
    client: httpx.AsyncClient, headers: dict[str, str], contact_id: str
) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 200}
    while True:
        r = await client.get(
            f"/api/v1/crm/contacts/{contact_id}/timeline", headers=headers, params=params
        )
        assert r.status_code == 200, r.text
        entries += r.json()["items"]
        if r.json()["next_cursor"] is None:
            return entries
        params["cursor"] = r.json()["next_cursor"]


@pytest.mark.demo
async def test_everyone_who_paid_is_a_customer_from_their_first_payment(db: Database) -> None:
    tenant_id = await _demo_tenant(db)
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        paid = (
            await s.execute(
                sa.select(Event.data, Event.occurred_at)
                .where(Event.type == "billing.invoice.paid")
                .order_by(Event.occurred_at)
            )
        ).all()
        contacts = {c.id: c for c in await s.scalars(sa.select(Contact))}
        promoted = Counter(
            await s.scalars(
                sa.select(Event.aggregate_id).where(Event.type == "crm.contact.became_customer")
            )
        )
    first_paid: dict[str, dt.datetime] = {}
    for data, at in paid:
        if data.get("contact_id"):
            first_paid.setdefault(data["contact_id"], at)
    assert len(first_paid) >= 50
    for contact_id, at in first_paid.items():
        contact = contacts[contact_id]
        assert contact.lifecycle_stage == "customer", contact.email
        assert contact.became_customer_at is not None and contact.became_customer_at <= at
    customers = {c.id for c in contacts.values() if c.lifecycle_stage == "customer"}
    assert set(promoted) == customers and set(promoted.values()) == {1}


@pytest.mark.demo
async def test_a_demo_regular_has_every_order_on_their_timeline(
    settings: Settings, db: Database, client: httpx.AsyncClient
) -> None:
    tenant_id = await _demo_tenant(db)
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        counts = (
            await s.execute(
                sa.select(Order.contact_id, sa.func.count())
                .where(Order.source == "shopify")
                .group_by(Order.contact_id)
                .order_by(sa.func.count().desc(), Order.contact_id)
            )
        ).all()
    regular, orders = counts[0]
    assert orders >= 5
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        invoices = list(
            await s.scalars(
                sa.select(Invoice.id).where(
                    Invoice.contact_id == regular, Invoice.issued_at.is_not(None)
                )
            )
        )
        payments = await s.scalar(
            sa.select(sa.func.count()).select_from(Payment).where(Payment.invoice_id.in_(invoices))
        )
    headers = await _owner(client, settings)

    r = await client.get(f"/api/v1/crm/contacts/{regular}", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["lifecycle_stage"] == "customer" and r.json()["became_customer_at"]

    entries = await _timeline(client, headers, regular)
    kinds = Counter(e["kind"] for e in entries)
    assert kinds["order"] == orders
    assert kinds["invoice"] == len(invoices) and kinds["payment"] == payments
    assert kinds["crm.contact.became_customer"] == 1
    times = [e["at"] for e in entries]
    assert times == sorted(times, reverse=True)


@pytest.mark.demo
async def test_a_demo_customer_who_wrote_in_has_the_ticket_on_their_timeline(
    settings: Settings, db: Database, client: httpx.AsyncClient
) -> None:
    tenant_id = await _demo_tenant(db)
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        ticket = await s.scalar(
            sa.select(Ticket).where(Ticket.contact_id.is_not(None)).order_by(Ticket.number)
        )
    assert ticket is not None and ticket.contact_id is not None
    headers = await _owner(client, settings)
    entries = await _timeline(client, headers, ticket.contact_id)
    mine = [e for e in entries if e["data"].get("ticket_id") == ticket.id]
    assert {e["kind"] for e in mine} >= {"ticket", "ticket.message.inbound"}
