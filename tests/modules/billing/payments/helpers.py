"""Factories for payment tests: issued invoices, a configured Stripe door, signed
deliveries and a dispatcher that processes them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import sqlalchemy as sa

from bizos import registry
from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.dispatcher import Dispatcher
from bizos.core.events import Event
from bizos.modules.billing.invoices import service as invoices
from bizos.modules.billing.invoices.schemas import InvoiceLineInput
from bizos.modules.billing.models import Invoice, Payment, Refund
from bizos.modules.webhooks.models import InboundWebhook
from bizos.modules.work.models import Task
from tests.conftest import TenantLogin
from tests.fixtures.stripe.events import dumps, sign

PAYMENTS = "/api/v1/billing/payments"
SECRET = "whsec_test_5f2b0c7e9a1d4c3b8e6f"


def owner_ctx(tenant: TenantLogin) -> Context:
    return Context(tenant_id=tenant.tenant_id, actor_id=tenant.user_id, actor_type="user")


@dataclass(frozen=True)
class IssuedInvoice:
    id: str
    number: str
    total: Decimal
    currency: str
    email: str | None


async def issued_invoice(
    db: Database,
    tenant: TenantLogin,
    *,
    total: str = "120.00",
    currency: str = "EUR",
    email: str | None = "buyer@example.com",
) -> IssuedInvoice:
    """An open invoice of one line for ``total``."""
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        ctx = owner_ctx(tenant)
        draft = await invoices.create_invoice(
            session,
            ctx,
            currency=currency,
            lines=[InvoiceLineInput(description="Consulting", unit_price=Decimal(total))],
            customer_email=email,
            customer_name="Bea Buyer",
        )
        issued = await invoices.issue_invoice(session, ctx, draft.id)
        assert issued.number is not None
        return IssuedInvoice(issued.id, issued.number, Decimal(total), currency, email)


async def invoice_row(db: Database, tenant: TenantLogin, invoice_id: str) -> Invoice:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        row = await session.get(Invoice, invoice_id)
        assert row is not None
        return row


async def rows(db: Database, tenant: TenantLogin, model: Any, *where: Any) -> list[Any]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        return list(await session.scalars(sa.select(model).where(*where).order_by(model.id)))


async def payments_of(db: Database, tenant: TenantLogin) -> list[Payment]:
    return await rows(db, tenant, Payment)


async def refunds_of(db: Database, tenant: TenantLogin) -> list[Refund]:
    return await rows(db, tenant, Refund)


async def inbound_of(db: Database, tenant: TenantLogin) -> list[InboundWebhook]:
    return await rows(db, tenant, InboundWebhook)


async def tasks_of(db: Database, tenant: TenantLogin) -> list[Task]:
    return await rows(db, tenant, Task)


async def events_of(db: Database, tenant: TenantLogin, type_: str) -> list[Event]:
    return await rows(db, tenant, Event, Event.type == type_)


async def configure_stripe(
    client: httpx.AsyncClient, tenant: TenantLogin, *, secret: str = SECRET, **config: Any
) -> None:
    r = await client.put(
        "/api/v1/connectors/stripe",
        json={"config": config, "secrets": {"webhook_secret": secret}},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text


async def deliver(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    payload: dict[str, Any],
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
    header: str | None = None,
) -> httpx.Response:
    """POST one event to the tenant's Stripe door, signed by Stripe's library."""
    body = dumps(payload)
    signature = header if header is not None else sign(body, secret, timestamp=timestamp)
    return await client.post(
        f"/webhooks/stripe/{tenant.slug}",
        content=body.encode(),
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
    )


async def readable(db: Database) -> None:
    """On PostgreSQL, wait until committed events are behind the dispatcher's horizon
    (it reads only rows no running transaction can still precede)."""
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


async def process(db: Database, settings: Settings) -> None:
    """Run the billing subscribers over everything committed so far (and what that
    work appends in turn)."""
    dispatcher = Dispatcher(db, settings)
    for register in registry.manifest("billing").subscribers:
        register(dispatcher)
    for _ in range(200):
        await readable(db)
        if await dispatcher.run_once() == 0:
            return
    raise AssertionError("the dispatcher did not catch up")
