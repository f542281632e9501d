"""What Stripe events do to payments, refunds and invoices."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from bizos.core.config import Settings
from bizos.core.db import Database
from tests.conftest import TenantLogin
from tests.fixtures.stripe.events import charge, event, payment_intent, stripe_id
from tests.modules.billing.payments.helpers import (
    configure_stripe,
    deliver,
    events_of,
    inbound_of,
    invoice_row,
    issued_invoice,
    payments_of,
    process,
    refunds_of,
    tasks_of,
)


@pytest.fixture
async def stripe_tenant(client: httpx.AsyncClient, tenant: TenantLogin) -> TenantLogin:
    await configure_stripe(client, tenant)
    return tenant


async def send(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: TenantLogin,
    *payloads: dict[str, object],
) -> None:
    for payload in payloads:
        r = await deliver(client, tenant, payload)
        assert r.status_code == 200, r.text
    await process(db, settings)


async def test_a_payment_intent_and_its_charge_are_one_payment_whichever_comes_first(
    client: httpx.AsyncClient, db: Database, settings: Settings, stripe_tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, stripe_tenant, total="80.00")
    first_pi, first_ch = stripe_id("pi"), stripe_id("ch")
    second_pi, second_ch = stripe_id("pi"), stripe_id("ch")
    meta = {"invoice_number": invoice.number}
    await send(
        client,
        db,
        settings,
        stripe_tenant,
        event(
            "payment_intent.succeeded",
            payment_intent(amount="40.00", metadata=meta, intent_id=first_pi, charge_id=first_ch),
        ),
        event(
            "charge.succeeded",
            charge(amount="40.00", metadata=meta, intent_id=first_pi, charge_id=first_ch),
        ),
        # the other order: the charge arrives before its intent
        event(
            "charge.succeeded",
            charge(amount="40.00", metadata=meta, intent_id=second_pi, charge_id=second_ch),
        ),
        event(
            "payment_intent.succeeded",
            payment_intent(amount="40.00", metadata=meta, intent_id=second_pi, charge_id=second_ch),
        ),
    )

    payments = await payments_of(db, stripe_tenant)
    assert sorted(p.external_id for p in payments) == sorted([first_pi, second_pi])
    assert {p.charge_id for p in payments} == {first_ch, second_ch}
    row = await invoice_row(db, stripe_tenant, invoice.id)
    assert row.status == "paid" and row.amount_paid == Decimal("80.00")
    assert {i.status for i in await inbound_of(db, stripe_tenant)} == {"processed"}


async def test_an_underpayment_leaves_the_invoice_partially_paid(
    client: httpx.AsyncClient, db: Database, settings: Settings, stripe_tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, stripe_tenant, total="100.00")
    await send(
        client,
        db,
        settings,
        stripe_tenant,
        event(
            "payment_intent.succeeded",
            payment_intent(amount="30.00", metadata={"invoice_number": invoice.number}),
        ),
    )
    row = await invoice_row(db, stripe_tenant, invoice.id)
    assert row.status == "partially_paid" and row.amount_paid == Decimal("30.00")
    [payment] = await payments_of(db, stripe_tenant)
    assert payment.status == "matched" and payment.match_method == "metadata"


async def test_an_overpayment_marks_the_invoice_discrepancy_with_a_task_and_notification(
    client: httpx.AsyncClient, db: Database, settings: Settings, stripe_tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, stripe_tenant, total="100.00")
    await send(
        client,
        db,
        settings,
        stripe_tenant,
        event(
            "payment_intent.succeeded",
            payment_intent(amount="150.00", metadata={"invoice_number": invoice.number}),
        ),
    )

    row = await invoice_row(db, stripe_tenant, invoice.id)
    assert row.status == "discrepancy"
    assert row.amount_paid == Decimal("150.00")  # what was received, a 50.00 credit
    [payment] = await payments_of(db, stripe_tenant)
    assert payment.status == "discrepancy" and payment.applied
    [flagged] = await events_of(db, stripe_tenant, "billing.payment.discrepancy_detected")
    assert flagged.data["expected"] == "100.00" and flagged.data["received"] == "150.00"
    assert flagged.data["payment_id"] == payment.id
    assert any(t.related_id == invoice.id for t in await tasks_of(db, stripe_tenant))
    assert await events_of(db, stripe_tenant, "notifications.notification.created")


async def test_a_payment_in_another_currency_is_a_discrepancy_and_not_booked(
    client: httpx.AsyncClient, db: Database, settings: Settings, stripe_tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, stripe_tenant, total="100.00", currency="EUR")
    await send(
        client,
        db,
        settings,
        stripe_tenant,
        event(
            "payment_intent.succeeded",
            payment_intent(
                amount="100.00", currency="usd", metadata={"invoice_number": invoice.number}
            ),
        ),
    )
    row = await invoice_row(db, stripe_tenant, invoice.id)
    assert row.status == "discrepancy" and row.amount_paid == 0
    [payment] = await payments_of(db, stripe_tenant)
    assert payment.status == "discrepancy" and not payment.applied
    assert "currency" in (payment.match_detail or "")


async def test_zero_decimal_currencies_are_whole_units(
    client: httpx.AsyncClient, db: Database, settings: Settings, stripe_tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, stripe_tenant, total="5000", currency="JPY")
    obj = payment_intent(amount="5000", currency="jpy", metadata={"invoice_number": invoice.number})
    assert obj["amount"] == 5000  # yen, not "cents of yen"
    await send(client, db, settings, stripe_tenant, event("payment_intent.succeeded", obj))
    row = await invoice_row(db, stripe_tenant, invoice.id)
    assert row.status == "paid" and row.amount_paid == Decimal("5000")


async def test_partial_then_full_refunds_follow_the_charge_and_are_credited(
    client: httpx.AsyncClient, db: Database, settings: Settings, stripe_tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, stripe_tenant, total="100.00")
    pi, ch = stripe_id("pi"), stripe_id("ch")
    meta = {"invoice_number": invoice.number}
    first_refund = stripe_id("re")
    partial = event(
        "charge.refunded",
        charge(
            amount="100.00",
            metadata=meta,
            intent_id=pi,
            charge_id=ch,
            refunded="25.00",
            refunds=[(first_refund, "25.00")],
        ),
    )
    await send(
        client,
        db,
        settings,
        stripe_tenant,
        event(
            "payment_intent.succeeded",
            payment_intent(amount="100.00", metadata=meta, intent_id=pi, charge_id=ch),
        ),
        partial,
    )
    # The refund is matched by a credit note: the customer owes nothing more.
    row = await invoice_row(db, stripe_tenant, invoice.id)
    assert row.amount_refunded == Decimal("25.00") and row.status == "paid"
    assert row.amount_credited == Decimal("25.00")
    [payment] = await payments_of(db, stripe_tenant)
    assert payment.status == "partially_refunded"

    # A newer API version lists no refunds: the cumulative amount_refunded still counts.
    full = event(
        "charge.refunded",
        charge(amount="100.00", metadata=meta, intent_id=pi, charge_id=ch, refunded="100.00"),
    )
    await send(client, db, settings, stripe_tenant, full)
    [payment] = await payments_of(db, stripe_tenant)
    assert payment.status == "refunded" and payment.amount_refunded == Decimal("100.00")
    refunds = await refunds_of(db, stripe_tenant)
    assert sorted(r.amount for r in refunds) == [Decimal("25.00"), Decimal("75.00")]
    assert first_refund in {r.external_id for r in refunds}
    row = await invoice_row(db, stripe_tenant, invoice.id)
    assert row.amount_refunded == Decimal("100.00") and row.status == "paid"
    assert row.amount_credited == Decimal("100.00")
    assert len(await events_of(db, stripe_tenant, "billing.payment.refunded")) == 2
    notes = await events_of(db, stripe_tenant, "billing.credit_note.issued")
    assert [(e.data["amount"], e.data["reason"]) for e in notes] == [
        ("25.00", f"Refund {first_refund}"),
        ("75.00", f"Refund {ch}:refunded:10000"),
    ]


async def test_refunding_a_stripe_overpayment_credits_only_what_was_for_the_invoice(
    client: httpx.AsyncClient, db: Database, settings: Settings, stripe_tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, stripe_tenant, total="120.00")
    pi, ch = stripe_id("pi"), stripe_id("ch")
    re_over, re_more = stripe_id("re"), stripe_id("re")
    meta = {"invoice_number": invoice.number}
    paid = event(
        "payment_intent.succeeded",
        payment_intent(amount="150.00", metadata=meta, intent_id=pi, charge_id=ch),
    )
    await send(client, db, settings, stripe_tenant, paid)
    row = await invoice_row(db, stripe_tenant, invoice.id)
    assert row.status == "discrepancy" and row.amount_paid == Decimal("150.00")

    # The 30.00 overpaid, given back: the balance is back to zero with no credit note.
    over = [(re_over, "30.00")]
    refund_over = charge(
        amount="150.00", metadata=meta, intent_id=pi, charge_id=ch, refunded="30.00", refunds=over
    )
    await send(client, db, settings, stripe_tenant, event("charge.refunded", refund_over))
    row = await invoice_row(db, stripe_tenant, invoice.id)
    assert (row.amount_refunded, row.amount_credited) == (Decimal("30.00"), Decimal("0.00"))
    assert row.total - row.amount_paid + row.amount_refunded - row.amount_credited == 0
    assert await events_of(db, stripe_tenant, "billing.credit_note.issued") == []

    # A further refund is money for the invoice: credited.
    more = [(re_over, "30.00"), (re_more, "40.00")]
    refund_more = charge(
        amount="150.00", metadata=meta, intent_id=pi, charge_id=ch, refunded="70.00", refunds=more
    )
    await send(client, db, settings, stripe_tenant, event("charge.refunded", refund_more))
    row = await invoice_row(db, stripe_tenant, invoice.id)
    assert (row.amount_refunded, row.amount_credited) == (Decimal("70.00"), Decimal("40.00"))
    assert row.total - row.amount_paid + row.amount_refunded - row.amount_credited == 0
    [note] = await events_of(db, stripe_tenant, "billing.credit_note.issued")
    assert (note.data["amount"], note.data["reason"]) == ("40.00", f"Refund {re_more}")


async def test_a_refund_event_before_the_charge_event_records_both_once(
    client: httpx.AsyncClient, db: Database, settings: Settings, stripe_tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, stripe_tenant, total="60.00")
    pi, ch, re = stripe_id("pi"), stripe_id("ch"), stripe_id("re")
    meta = {"invoice_number": invoice.number}
    await send(
        client,
        db,
        settings,
        stripe_tenant,
        event(
            "charge.refunded",
            charge(
                amount="60.00",
                metadata=meta,
                intent_id=pi,
                charge_id=ch,
                refunded="10.00",
                refunds=[(re, "10.00")],
            ),
        ),
        event(
            "charge.succeeded", charge(amount="60.00", metadata=meta, intent_id=pi, charge_id=ch)
        ),
        event(
            "payment_intent.succeeded",
            payment_intent(amount="60.00", metadata=meta, intent_id=pi, charge_id=ch),
        ),
    )
    [payment] = await payments_of(db, stripe_tenant)
    assert payment.amount_refunded == Decimal("10.00")
    row = await invoice_row(db, stripe_tenant, invoice.id)
    assert row.amount_paid == Decimal("60.00") and row.amount_refunded == Decimal("10.00")
    assert row.amount_credited == Decimal("10.00") and row.status == "paid"


async def test_an_uncaptured_charge_is_ignored(
    client: httpx.AsyncClient, db: Database, settings: Settings, stripe_tenant: TenantLogin
) -> None:
    obj = charge(amount="10.00", email="buyer@example.com")
    obj["captured"] = False
    await send(client, db, settings, stripe_tenant, event("charge.succeeded", obj))
    [stored] = await inbound_of(db, stripe_tenant)
    assert stored.status == "ignored" and "captured" in (stored.error or "")
    assert await payments_of(db, stripe_tenant) == []


async def test_an_event_that_cannot_be_mapped_fails_with_a_task_not_a_crash_loop(
    client: httpx.AsyncClient, db: Database, settings: Settings, stripe_tenant: TenantLogin
) -> None:
    broken = payment_intent(amount="10.00")
    broken["amount"] = broken["amount_received"] = "ten euros"
    await send(client, db, settings, stripe_tenant, event("payment_intent.succeeded", broken))
    [stored] = await inbound_of(db, stripe_tenant)
    assert stored.status == "failed" and "amount" in (stored.error or "")
    assert await payments_of(db, stripe_tenant) == []
    [task] = await tasks_of(db, stripe_tenant)
    assert task.related_id == stored.id and task.assignee_id == stripe_tenant.user_id
