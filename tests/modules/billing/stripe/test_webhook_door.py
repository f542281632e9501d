"""The Stripe door: only deliveries Stripe's library signed with the tenant's secret,
within the tolerance, are stored; each event is processed once."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import httpx

from bizos.core.config import Settings
from bizos.core.db import Database
from tests.conftest import TenantLogin
from tests.fixtures.stripe.events import dumps, event, payment_intent, sign
from tests.modules.billing.payments.helpers import (
    SECRET,
    configure_stripe,
    deliver,
    events_of,
    inbound_of,
    issued_invoice,
    payments_of,
    process,
)


def paid_event(amount: str = "120.00", number: str | None = None) -> dict[str, object]:
    metadata = {"invoice_number": number} if number else {}
    return event(
        "payment_intent.succeeded",
        payment_intent(amount=amount, email="buyer@example.com", metadata=metadata),
    )


async def test_a_signed_event_is_stored_answered_and_processed_later(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await configure_stripe(client, tenant)
    invoice = await issued_invoice(db, tenant)
    payload = paid_event(number=invoice.number)

    r = await deliver(client, tenant, payload)

    assert r.status_code == 200, r.text
    assert r.json() == {"status": "accepted", "event_id": payload["id"]}
    [stored] = await inbound_of(db, tenant)
    assert stored.provider == "stripe" and stored.external_id == payload["id"]
    assert stored.body == dumps(payload).encode()
    assert stored.status == "received"
    assert await payments_of(db, tenant) == []  # processing is not on the request path

    await process(db, settings)
    [stored] = await inbound_of(db, tenant)
    assert stored.status == "processed"
    [payment] = await payments_of(db, tenant)
    assert payment.status == "matched" and payment.invoice_id == invoice.id


async def test_a_replayed_event_is_answered_duplicate_and_processed_once(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await configure_stripe(client, tenant)
    invoice = await issued_invoice(db, tenant)
    payload = paid_event(number=invoice.number)

    first = await deliver(client, tenant, payload)
    await process(db, settings)
    again = await deliver(client, tenant, payload)
    await process(db, settings)

    assert first.json()["status"] == "accepted"
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert len(await payments_of(db, tenant)) == 1
    assert len(await events_of(db, tenant, "billing.payment.received")) == 1
    [stored] = await inbound_of(db, tenant)
    assert stored.duplicates == 1


async def test_a_tampered_body_is_401_and_nothing_is_stored(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_stripe(client, tenant)
    body = dumps(paid_event("120.00"))
    header = sign(body, SECRET)
    tampered = body.replace("12000", "1200")

    r = await client.post(
        f"/webhooks/stripe/{tenant.slug}",
        content=tampered.encode(),
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )

    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await inbound_of(db, tenant) == []


async def test_a_signature_with_another_secret_is_401(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_stripe(client, tenant)
    r = await deliver(client, tenant, paid_event(), secret="whsec_someone_else")
    assert r.status_code == 401
    assert await inbound_of(db, tenant) == []


async def test_a_missing_or_malformed_signature_is_401(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_stripe(client, tenant)
    body = dumps(paid_event()).encode()
    for headers in (
        {},
        {"Stripe-Signature": ""},
        {"Stripe-Signature": "garbage"},
        {"Stripe-Signature": f"t={int(time.time())}"},
        {"Stripe-Signature": "v1=abc"},
        {"Stripe-Signature": f"t=soon,v1={'0' * 64}"},
    ):
        r = await client.post(f"/webhooks/stripe/{tenant.slug}", content=body, headers=headers)
        assert r.status_code == 401, headers
    assert await inbound_of(db, tenant) == []


async def test_an_old_signed_delivery_replayed_outside_the_tolerance_is_401(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_stripe(client, tenant)
    six_minutes_ago = int(time.time()) - 360
    r = await deliver(client, tenant, paid_event(), timestamp=six_minutes_ago)
    assert r.status_code == 401
    four_minutes_ago = int(time.time()) - 240
    ok = await deliver(client, tenant, paid_event(), timestamp=four_minutes_ago)
    assert ok.status_code == 200
    assert len(await inbound_of(db, tenant)) == 1


async def test_the_tolerance_comes_from_the_connector_config(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_stripe(client, tenant, tolerance_seconds=60)
    r = await deliver(client, tenant, paid_event(), timestamp=int(time.time()) - 120)
    assert r.status_code == 401


async def test_a_rolled_secret_signs_alongside_the_old_one(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    """While a secret is rolled Stripe sends a v1 per secret (and a v0 we ignore)."""
    await configure_stripe(client, tenant)
    body = dumps(paid_event())
    now = int(time.time())
    ours = sign(body, SECRET, timestamp=now).split("v1=")[1]
    old = sign(body, "whsec_old", timestamp=now).split("v1=")[1]
    header = f"t={now},v1={old},v1={ours},v0={'f' * 64}"
    r = await client.post(
        f"/webhooks/stripe/{tenant.slug}",
        content=body.encode(),
        headers={"Stripe-Signature": header},
    )
    assert r.status_code == 200, r.text


async def test_an_unknown_tenant_or_a_tenant_without_a_secret_gets_the_same_401(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await configure_stripe(client, tenant)
    body = dumps(paid_event())
    headers = {"Stripe-Signature": sign(body, SECRET)}
    unknown = await client.post("/webhooks/stripe/no-such-shop", content=body, headers=headers)
    unset = await client.post(
        f"/webhooks/stripe/{other_tenant.slug}", content=body, headers=headers
    )
    assert unknown.status_code == unset.status_code == 401
    assert unknown.json()["detail"] == unset.json()["detail"]
    assert await inbound_of(db, other_tenant) == []


async def test_a_signed_body_that_is_not_an_event_is_422(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_stripe(client, tenant)
    body = '{"hello": "world"}'
    r = await client.post(
        f"/webhooks/stripe/{tenant.slug}",
        content=body.encode(),
        headers={"Stripe-Signature": sign(body, SECRET)},
    )
    assert r.status_code == 422
    assert await inbound_of(db, tenant) == []


async def test_event_types_we_do_not_act_on_are_ignored(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await configure_stripe(client, tenant)
    r = await deliver(client, tenant, event("customer.created", {"id": "cus_1"}))
    assert r.status_code == 200
    await process(db, settings)
    [stored] = await inbound_of(db, tenant)
    assert stored.status == "ignored"
    assert await payments_of(db, tenant) == []


async def test_the_same_event_delivered_concurrently_is_stored_and_paid_once(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await configure_stripe(client, tenant)
    invoice = await issued_invoice(db, tenant)
    payload = paid_event(number=invoice.number)

    answers = await asyncio.gather(*(deliver(client, tenant, payload) for _ in range(5)))
    await process(db, settings)

    assert sorted(r.json()["status"] for r in answers) == ["accepted"] + ["duplicate"] * 4
    [payment] = await payments_of(db, tenant)
    assert payment.amount == Decimal("120.00")
