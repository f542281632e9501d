"""How a payment finds its invoice: invoice number, else email and amount; and what a
payment that does not fit does."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bizos.core.db import Database
from bizos.modules.billing.invoices import service as invoices
from bizos.modules.billing.models import Payment
from bizos.modules.billing.payments import service
from tests.conftest import TenantLogin
from tests.modules.billing.payments.helpers import (
    events_of,
    invoice_row,
    issued_invoice,
    owner_ctx,
    payments_of,
    tasks_of,
)


async def pay(db: Database, tenant: TenantLogin, amount: str, **kw: Any) -> Payment:
    kw.setdefault("currency", "EUR")
    kw.setdefault("provider", "stripe")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        recorded = await service.record_payment(
            session, owner_ctx(tenant), amount=Decimal(amount), **kw
        )
        return recorded.payment


async def test_the_invoice_number_in_metadata_wins(db: Database, tenant: TenantLogin) -> None:
    invoice = await issued_invoice(db, tenant, total="50.00", email="a@example.com")
    payment = await pay(
        db, tenant, "50.00", invoice_number=invoice.number.lower(), customer_email="b@x.org"
    )
    assert payment.status == "matched" and payment.invoice_id == invoice.id
    assert payment.match_method == "metadata"
    assert (await invoice_row(db, tenant, invoice.id)).status == "paid"


async def test_without_a_number_email_and_exact_balance_match_whatever_the_case(
    db: Database, tenant: TenantLogin
) -> None:
    await issued_invoice(db, tenant, total="75.00", email="maria@example.com")
    invoice = await issued_invoice(db, tenant, total="49.90", email="maria@example.com")
    payment = await pay(db, tenant, "49.90", customer_email="  Maria@EXAMPLE.com ")
    assert payment.invoice_id == invoice.id and payment.match_method == "email_amount"
    assert payment.customer_email == "maria@example.com"


async def test_an_unknown_invoice_number_falls_back_to_email_and_amount(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, tenant, total="20.00", email="c@example.com")
    payment = await pay(
        db, tenant, "20.00", invoice_number="INV-999999", customer_email="c@example.com"
    )
    assert payment.invoice_id == invoice.id
    assert "INV-999999" in (payment.match_detail or "")


async def test_an_unknown_customer_is_unmatched_with_an_event_and_a_task(
    db: Database, tenant: TenantLogin
) -> None:
    await issued_invoice(db, tenant, total="20.00", email="c@example.com")
    payment = await pay(db, tenant, "20.00", customer_email="stranger@example.com")
    assert payment.status == "unmatched" and payment.invoice_id is None
    [event] = await events_of(db, tenant, "billing.payment.unmatched")
    assert event.data["payment_id"] == payment.id
    [task] = await tasks_of(db, tenant)
    assert task.related_type == "payment" and task.related_id == payment.id
    assert task.assignee_id == tenant.user_id


async def test_two_open_invoices_with_the_same_balance_are_ambiguous(
    db: Database, tenant: TenantLogin
) -> None:
    first = await issued_invoice(db, tenant, total="30.00", email="d@example.com")
    second = await issued_invoice(db, tenant, total="30.00", email="d@example.com")
    payment = await pay(db, tenant, "30.00", customer_email="d@example.com")
    assert payment.status == "unmatched"
    assert first.number in (payment.match_detail or "")
    assert second.number in (payment.match_detail or "")


async def test_an_email_match_needs_the_exact_balance(db: Database, tenant: TenantLogin) -> None:
    await issued_invoice(db, tenant, total="30.00", email="e@example.com")
    payment = await pay(db, tenant, "29.00", customer_email="e@example.com")
    assert payment.status == "unmatched"
    assert "none with a balance of 29.00" in (payment.match_detail or "")


async def test_the_balance_left_after_a_partial_payment_matches_by_email(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, tenant, total="100.00", email="f@example.com")
    await pay(db, tenant, "40.00", invoice_number=invoice.number)
    rest = await pay(db, tenant, "60.00", customer_email="f@example.com")
    assert rest.invoice_id == invoice.id
    assert (await invoice_row(db, tenant, invoice.id)).status == "paid"


async def test_a_payment_for_a_void_invoice_is_a_discrepancy_carried_by_the_payment(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, tenant, total="10.00")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await invoices.void_invoice(session, owner_ctx(tenant), invoice.id, reason="duplicate")
    payment = await pay(db, tenant, "10.00", invoice_number=invoice.number)
    assert payment.status == "discrepancy" and not payment.applied
    row = await invoice_row(db, tenant, invoice.id)
    assert row.status == "void" and row.amount_paid == 0
    [event] = await events_of(db, tenant, "billing.payment.discrepancy_detected")
    assert event.data["payment_id"] == payment.id and event.data["number"] == invoice.number
    assert [t.related_id for t in await tasks_of(db, tenant)] == [payment.id]


async def test_a_second_payment_for_a_paid_invoice_is_an_overpayment(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, tenant, total="10.00")
    await pay(db, tenant, "10.00", invoice_number=invoice.number, external_id="pi_a")
    again = await pay(db, tenant, "10.00", invoice_number=invoice.number, external_id="pi_b")
    assert again.status == "discrepancy"
    row = await invoice_row(db, tenant, invoice.id)
    assert row.status == "discrepancy" and row.amount_paid == Decimal("20.00")


async def test_the_same_outside_payment_is_recorded_once(db: Database, tenant: TenantLogin) -> None:
    invoice = await issued_invoice(db, tenant, total="10.00")
    for _ in range(3):
        await pay(db, tenant, "10.00", invoice_number=invoice.number, external_id="pi_same")
    assert len(await payments_of(db, tenant)) == 1
    assert (await invoice_row(db, tenant, invoice.id)).amount_paid == Decimal("10.00")


async def test_an_invoice_number_is_read_however_it_was_typed(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, tenant, total="31.00", email="typed@example.com")
    short = str(int(invoice.number.split("-")[1]))
    for i, written in enumerate(
        (f"#{invoice.number.lower()}", f"INV {short}", f"Invoice {invoice.number}.")
    ):
        payment = await pay(
            db, tenant, "1.00", invoice_number=written, customer_email=f"payer{i}@else.org"
        )
        assert (payment.invoice_id, payment.match_method) == (invoice.id, "metadata"), written


async def test_a_bare_number_counts_only_when_payer_or_amount_agree(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, tenant, total="44.00", email="bare@example.com")
    digits = invoice.number.split("-")[1]
    stranger = await pay(
        db, tenant, "12.00", invoice_number=digits, customer_email="someone@else.org"
    )
    assert stranger.status == "unmatched" and "not one of our invoices" in (
        stranger.match_detail or ""
    )
    owner = await pay(db, tenant, "12.00", invoice_number=digits, customer_email="bare@example.com")
    assert owner.invoice_id == invoice.id and owner.status == "matched"


async def test_a_reference_naming_two_invoices_is_left_for_a_person(
    db: Database, tenant: TenantLogin
) -> None:
    a = await issued_invoice(db, tenant, total="10.00", email="two@example.com")
    b = await issued_invoice(db, tenant, total="15.00", email="two@example.com")
    payment = await pay(
        db,
        tenant,
        "25.00",
        invoice_number=f"{a.number}, {b.number}",
        customer_email="two@example.com",
    )
    assert payment.status == "unmatched" and "several invoices" in (payment.match_detail or "")
    assert [len(await tasks_of(db, tenant))] == [1]


async def test_money_for_a_voided_and_reissued_invoice_goes_to_the_reissue(
    db: Database, tenant: TenantLogin
) -> None:
    old = await issued_invoice(db, tenant, total="60.00", email="re@example.com")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await invoices.void_invoice(session, owner_ctx(tenant), old.id, reason="reissued")
    new = await issued_invoice(db, tenant, total="60.00", email="re@example.com")
    payment = await pay(db, tenant, "60.00", invoice_number=old.number)
    assert (payment.invoice_id, payment.status) == (new.id, "matched")
    assert (await invoice_row(db, tenant, new.id)).status == "paid"
    assert (await invoice_row(db, tenant, old.id)).status == "void"
