"""Factories for invoice tests: contexts, lines, order invoices and manual drafts."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.events import Event
from bizos.modules.billing.invoices import service
from bizos.modules.billing.invoices.schemas import InvoiceLineInput
from bizos.modules.billing.models import Invoice
from tests.conftest import TenantLogin

INVOICES = "/api/v1/billing/invoices"


def owner_ctx(tenant: TenantLogin) -> Context:
    return Context(tenant_id=tenant.tenant_id, actor_id=tenant.user_id, actor_type="user")


def line(
    description: str = "Widget",
    quantity: str = "1",
    unit_price: str = "10.00",
    tax_rate: str = "0",
    discount: str = "0",
    sku: str | None = None,
) -> InvoiceLineInput:
    return InvoiceLineInput(
        description=description,
        quantity=Decimal(quantity),
        unit_price=Decimal(unit_price),
        tax_rate=Decimal(tax_rate),
        discount=Decimal(discount),
        sku=sku,
    )


async def order_invoice(
    db: Database,
    tenant: TenantLogin,
    *,
    order_id: str | None = None,
    lines: list[InvoiceLineInput] | None = None,
    email: str = "buyer@example.com",
    **kw: Any,
) -> Invoice:
    """An issued invoice for an order, made the way the order-to-cash workflow makes it."""
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        return await service.create_invoice_for_order(
            session,
            owner_ctx(tenant),
            order_id=order_id or str(uuid.uuid4()),
            currency=kw.pop("currency", "EUR"),
            lines=lines or [line(unit_price="100.00", tax_rate="0.2")],
            customer_email=email,
            customer_name=kw.pop("customer_name", "Bea Buyer"),
            **kw,
        )


async def reload(db: Database, tenant: TenantLogin, invoice_id: str) -> Invoice:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        return await service.get_invoice(session, owner_ctx(tenant), invoice_id)


async def events_of(db: Database, tenant: TenantLogin, type_: str) -> list[dict[str, Any]]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Event.data).where(Event.type == type_).order_by(Event.sequence)
        )
        return list(rows)


async def post_draft(client: httpx.AsyncClient, tenant: TenantLogin, **body: Any) -> dict[str, Any]:
    payload = {
        "currency": "EUR",
        "customer_email": "client@example.com",
        "customer_name": "Cleo Client",
        "lines": [
            {
                "description": "Consulting",
                "quantity": "2",
                "unit_price": "150.00",
                "tax_rate": "0.2",
            }
        ],
        **body,
    }
    r = await client.post(INVOICES, json=payload, headers=tenant.headers)
    assert r.status_code == 201, r.text
    invoice: dict[str, Any] = r.json()
    return invoice
