"""Inbound webhooks are stored byte for byte once; a repeat is counted, not re-processed."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.events import Event
from bizos.modules.webhooks.inbound.service import INBOUND_RECEIVED, finish_inbound, store_inbound
from bizos.modules.webhooks.models import InboundWebhook
from tests.conftest import TenantLogin

BODY = b'{"id": 820982911946154508, "note": "caf\xc3\xa9"}\n'


async def store(db: Database, tenant_id: str, external_id: str = "wh-1") -> tuple[str, bool]:
    async with db.unit_of_work(tenant_id=tenant_id) as s:
        stored = await store_inbound(
            s,
            Context(tenant_id=tenant_id),
            provider="shopify",
            external_id=external_id,
            topic="orders/create",
            body=BODY,
            headers={"X-Shopify-Topic": "orders/create", "Authorization": "Bearer nope"},
        )
        return stored.inbound_id, stored.duplicate


async def received_events(db: Database, tenant_id: str) -> list[Event]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        return list(await s.scalars(sa.select(Event).where(Event.type == INBOUND_RECEIVED)))


async def test_a_delivery_is_stored_raw_with_one_event_and_no_credentials(
    db: Database, tenant: TenantLogin
) -> None:
    inbound_id, duplicate = await store(db, tenant.tenant_id)
    assert not duplicate
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        row = await s.get(InboundWebhook, inbound_id)
        assert row is not None
        assert row.body == BODY
        assert row.status == "received"
        assert row.headers == {"x-shopify-topic": "orders/create"}
    [event] = await received_events(db, tenant.tenant_id)
    assert event.data == {
        "inbound_id": inbound_id,
        "provider": "shopify",
        "topic": "orders/create",
        "external_id": "wh-1",
    }


async def test_repeats_are_counted_and_raise_no_second_event_even_concurrently(
    db: Database, tenant: TenantLogin
) -> None:
    results = await asyncio.gather(*(store(db, tenant.tenant_id) for _ in range(8)))
    assert len({inbound_id for inbound_id, _ in results}) == 1
    assert sorted(duplicate for _, duplicate in results) == [False] + [True] * 7
    assert len(await received_events(db, tenant.tenant_id)) == 1
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        row = await s.get(InboundWebhook, results[0][0])
        assert row is not None and row.duplicates == 7


async def test_the_same_delivery_id_is_separate_per_tenant(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    first, _ = await store(db, tenant.tenant_id)
    second, duplicate = await store(db, other_tenant.tenant_id)
    assert not duplicate and first != second


async def test_finishing_records_the_outcome(db: Database, tenant: TenantLogin) -> None:
    inbound_id, _ = await store(db, tenant.tenant_id)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        await finish_inbound(s, inbound_id, status="failed", error="unknown SKU BEAN-9")
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        row = await s.get(InboundWebhook, inbound_id)
        assert row is not None
        assert (row.status, row.error) == ("failed", "unknown SKU BEAN-9")
        assert row.processed_at is not None
