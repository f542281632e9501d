"""Invoice states: payments settle it, a refund is matched by a credit note (the customer
owes no more: a paid invoice stays paid) except where it gives back an overpayment,
credit notes reduce what is due, a paid invoice cannot be voided until refunded, and a
payment discrepancy raises a task and a notification for the owner."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
import sqlalchemy as sa

from bizos.core.db import Database
from bizos.core.errors import Conflict, Unprocessable
from bizos.modules.billing.credit_notes import service as credit_notes_service
from bizos.modules.billing.discrepancies import service as discrepancies
from bizos.modules.billing.invoices import amounts, service
from bizos.modules.billing.models import Invoice
from bizos.modules.billing.refunds import service as refunds
from bizos.modules.notifications.models import Notification
from bizos.modules.work.models import Task
from tests.conftest import TenantLogin
from tests.modules.billing.invoices.helpers import (
    events_of,
    order_invoice,
    owner_ctx,
    reload,
)


async def pay(db: Database, tenant: TenantLogin, invoice_id: str, amount: str) -> Invoice:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        return await service.apply_payment(
            session, owner_ctx(tenant), invoice_id, amount=Decimal(amount), currency="EUR"
        )


async def refund(
    db: Database, tenant: TenantLogin, invoice_id: str, amount: str, ref: str | None = None
) -> Invoice:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        return await refunds.apply_refund(
            session, owner_ctx(tenant), invoice_id, amount=Decimal(amount), refund_ref=ref
        )


async def credit_notes(db: Database, tenant: TenantLogin, invoice_id: str) -> list[tuple[str, str]]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        notes = await credit_notes_service.list_credit_notes(session, owner_ctx(tenant), invoice_id)
    return [(str(n.amount), n.reason) for n in notes]


async def void(db: Database, tenant: TenantLogin, invoice_id: str) -> Invoice:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        return await service.void_invoice(
            session, owner_ctx(tenant), invoice_id, reason="order cancelled"
        )


async def test_payments_move_an_invoice_to_partially_paid_then_paid(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await order_invoice(db, tenant)  # 120.00 EUR
    assert (invoice.status, amounts.balance_due(invoice)) == ("open", Decimal("120.00"))

    invoice = await pay(db, tenant, invoice.id, "20.00")
    assert (invoice.status, amounts.balance_due(invoice)) == ("partially_paid", Decimal("100.00"))
    invoice = await pay(db, tenant, invoice.id, "100.00")
    assert (invoice.status, amounts.balance_due(invoice)) == ("paid", Decimal("0.00"))
    assert invoice.paid_at is not None

    partial = await events_of(db, tenant, "billing.invoice.partially_paid")
    paid = await events_of(db, tenant, "billing.invoice.paid")
    assert [e["payment_amount"] for e in partial] == ["20.00"]
    assert [(e["payment_amount"], e["balance_due"]) for e in paid] == [("100.00", "0.00")]


async def test_a_payment_in_another_currency_or_on_a_void_invoice_is_refused(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await order_invoice(db, tenant)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        with pytest.raises(Conflict):
            await service.apply_payment(
                session, owner_ctx(tenant), invoice.id, amount=Decimal("1"), currency="USD"
            )
    await void(db, tenant, invoice.id)
    with pytest.raises(Conflict):
        await pay(db, tenant, invoice.id, "1.00")


async def test_an_overpayment_is_applied_as_given(db: Database, tenant: TenantLogin) -> None:
    # Whether it is a discrepancy is the payments module's call (flag_discrepancy).
    invoice = await order_invoice(db, tenant)
    invoice = await pay(db, tenant, invoice.id, "150.00")
    assert (invoice.status, amounts.balance_due(invoice)) == ("paid", Decimal("-30.00"))


async def test_a_paid_invoice_cannot_be_voided_until_refunded(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await order_invoice(db, tenant)
    await pay(db, tenant, invoice.id, "50.00")
    with pytest.raises(Conflict, match="refund"):
        await void(db, tenant, invoice.id)
    await pay(db, tenant, invoice.id, "70.00")
    with pytest.raises(Conflict, match="refund"):
        await void(db, tenant, invoice.id)

    # Refunded in two parts, each matched by a credit note: still paid, nothing due.
    invoice = await refund(db, tenant, invoice.id, "100.00")
    assert (invoice.status, amounts.balance_due(invoice)) == ("paid", Decimal("0.00"))
    with pytest.raises(Conflict, match="refund"):
        await void(db, tenant, invoice.id)
    invoice = await refund(db, tenant, invoice.id, "20.00")
    assert (invoice.status, amounts.net_paid(invoice)) == ("paid", Decimal("0.00"))
    invoice = await void(db, tenant, invoice.id)
    assert invoice.status == "void"


async def test_a_full_refund_of_a_paid_invoice_is_matched_by_a_credit_note(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await order_invoice(db, tenant)  # 120.00
    await pay(db, tenant, invoice.id, "120.00")
    invoice = await refund(db, tenant, invoice.id, "120.00", ref="re_123")

    assert (invoice.status, amounts.balance_due(invoice)) == ("paid", Decimal("0.00"))
    assert (invoice.amount_refunded, invoice.amount_credited) == (
        Decimal("120.00"),
        Decimal("120.00"),
    )
    assert await credit_notes(db, tenant, invoice.id) == [("120.00", "Refund re_123")]
    [issued] = await events_of(db, tenant, "billing.credit_note.issued")
    assert (issued["number"], issued["amount"], issued["reason"]) == (
        "CN-000001",
        "120.00",
        "Refund re_123",
    )
    # Nothing was reopened: no second "paid", no "reopened".
    assert len(await events_of(db, tenant, "billing.invoice.paid")) == 1
    assert await events_of(db, tenant, "billing.invoice.reopened") == []


async def test_a_partial_refund_credits_the_part_and_keeps_the_balance(
    db: Database, tenant: TenantLogin
) -> None:
    paid = await order_invoice(db, tenant)  # 120.00
    await pay(db, tenant, paid.id, "120.00")
    paid = await refund(db, tenant, paid.id, "20.00", ref="re_part")
    assert (paid.status, amounts.balance_due(paid)) == ("paid", Decimal("0.00"))
    assert await credit_notes(db, tenant, paid.id) == [("20.00", "Refund re_part")]

    # On a partially paid invoice the customer still owes what they owed before.
    part = await order_invoice(db, tenant)
    await pay(db, tenant, part.id, "50.00")
    part = await refund(db, tenant, part.id, "30.00", ref="re_half")
    assert (part.status, amounts.balance_due(part)) == ("partially_paid", Decimal("70.00"))
    assert await credit_notes(db, tenant, part.id) == [("30.00", "Refund re_half")]


async def test_refunding_an_overpayment_needs_no_credit_note(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await order_invoice(db, tenant)  # 120.00
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await service.apply_payment(
            session, owner_ctx(tenant), invoice.id, amount=Decimal("150.00"), currency="EUR"
        )
        await discrepancies.flag_discrepancy(
            session, owner_ctx(tenant), invoice.id, reason="overpayment", payment_id="p"
        )
    invoice = await refund(db, tenant, invoice.id, "10.00", ref="re_a")
    assert (invoice.status, amounts.balance_due(invoice)) == ("discrepancy", Decimal("-20.00"))
    invoice = await refund(db, tenant, invoice.id, "20.00", ref="re_b")
    assert (invoice.status, amounts.balance_due(invoice)) == ("discrepancy", Decimal("0.00"))
    assert invoice.amount_credited == Decimal("0.00")
    assert await credit_notes(db, tenant, invoice.id) == []
    assert await events_of(db, tenant, "billing.credit_note.issued") == []


async def test_a_refund_beyond_the_overpayment_credits_only_the_rest(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await order_invoice(db, tenant)  # 120.00, paid 150.00: 30.00 overpaid
    await pay(db, tenant, invoice.id, "150.00")
    invoice = await refund(db, tenant, invoice.id, "50.00", ref="re_over")
    assert (invoice.status, amounts.balance_due(invoice)) == ("paid", Decimal("0.00"))
    assert await credit_notes(db, tenant, invoice.id) == [("20.00", "Refund re_over")]
    # The rest of the payment, refunded: all credit, never more than the invoice.
    invoice = await refund(db, tenant, invoice.id, "100.00", ref="re_rest")
    assert (invoice.status, amounts.balance_due(invoice)) == ("paid", Decimal("0.00"))
    assert invoice.amount_credited == invoice.total == Decimal("120.00")
    assert await credit_notes(db, tenant, invoice.id) == [
        ("20.00", "Refund re_over"),
        ("100.00", "Refund re_rest"),
    ]


async def test_a_refund_beyond_what_was_paid_is_refused(db: Database, tenant: TenantLogin) -> None:
    invoice = await order_invoice(db, tenant)
    await pay(db, tenant, invoice.id, "10.00")
    with pytest.raises(Unprocessable):
        await refund(db, tenant, invoice.id, "10.01")


async def test_voiding_twice_is_a_no_op(db: Database, tenant: TenantLogin) -> None:
    invoice = await order_invoice(db, tenant)
    first = await void(db, tenant, invoice.id)
    second = await void(db, tenant, invoice.id)
    assert first.status == second.status == "void"
    assert second.version == first.version
    assert len(await events_of(db, tenant, "billing.invoice.voided")) == 1
    # A voided order invoice frees the order for a new one (a restarted workflow).
    fresh = await order_invoice(db, tenant, order_id=invoice.order_id)
    assert fresh.id != invoice.id and fresh.number == "INV-000002"


async def test_a_credit_note_cannot_exceed_the_balance(db: Database, tenant: TenantLogin) -> None:
    invoice = await order_invoice(db, tenant)  # 120.00
    await pay(db, tenant, invoice.id, "100.00")
    ctx = owner_ctx(tenant)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        with pytest.raises(Unprocessable, match="balance due"):
            await credit_notes_service.issue_credit_note(
                session, ctx, invoice.id, amount=Decimal("20.01"), reason="damaged"
            )
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        note = await credit_notes_service.issue_credit_note(
            session, ctx, invoice.id, amount=Decimal("20.00"), reason="damaged"
        )
    invoice = await reload(db, tenant, invoice.id)
    assert (invoice.status, amounts.balance_due(invoice)) == ("paid", Decimal("0.00"))
    assert invoice.amount_credited == Decimal("20.00")
    [issued] = await events_of(db, tenant, "billing.credit_note.issued")
    assert issued == {
        "credit_note_id": note.id,
        "number": "CN-000001",
        "invoice_id": invoice.id,
        "invoice_number": "INV-000001",
        "amount": "20.00",
        "currency": "EUR",
        "reason": "damaged",
    }


async def test_a_void_invoice_takes_no_credit_note(db: Database, tenant: TenantLogin) -> None:
    invoice = await order_invoice(db, tenant)
    await void(db, tenant, invoice.id)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        with pytest.raises(Conflict):
            await credit_notes_service.issue_credit_note(
                session, owner_ctx(tenant), invoice.id, amount=Decimal("1"), reason="x"
            )


async def test_a_discrepancy_raises_an_event_a_task_and_a_notification(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await order_invoice(db, tenant)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        flagged = await discrepancies.flag_discrepancy(
            session,
            owner_ctx(tenant),
            invoice.id,
            reason="paid 99.00, expected 120.00",
            payment_id="pay-1",
            received=Decimal("99.00"),
        )
    assert flagged.status == "discrepancy"
    [event] = await events_of(db, tenant, "billing.payment.discrepancy_detected")
    assert event == {
        "invoice_id": invoice.id,
        "number": "INV-000001",
        "payment_id": "pay-1",
        "expected": "120.00",
        "received": "99.00",
        "currency": "EUR",
        "reason": "paid 99.00, expected 120.00",
    }
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        task = await session.scalar(sa.select(Task).where(Task.related_id == invoice.id))
        note = await session.scalar(
            sa.select(Notification).where(Notification.related_id == invoice.id)
        )
    assert task is not None and task.assignee_id == tenant.user_id
    assert task.priority == "high" and "INV-000001" in task.title
    assert note is not None and note.user_id == tenant.user_id


async def test_a_payment_in_discrepancy_counts_but_the_status_waits_for_resolution(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await order_invoice(db, tenant)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await discrepancies.flag_discrepancy(
            session, owner_ctx(tenant), invoice.id, reason="wrong amount", payment_id="p"
        )
    invoice = await pay(db, tenant, invoice.id, "99.00")
    assert (invoice.status, invoice.amount_paid) == ("discrepancy", Decimal("99.00"))
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        resolved = await discrepancies.resolve_discrepancy(session, owner_ctx(tenant), invoice.id)
    assert resolved.status == "partially_paid"
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        with pytest.raises(Conflict):
            await discrepancies.resolve_discrepancy(session, owner_ctx(tenant), invoice.id)


async def test_open_invoices_are_found_by_email_and_currency(
    db: Database, tenant: TenantLogin
) -> None:
    a = await order_invoice(db, tenant, email="Ann@Example.com")
    await order_invoice(db, tenant, email="ann@example.com", currency="USD")
    paid = await order_invoice(db, tenant, email="ann@example.com")
    await pay(db, tenant, paid.id, "120.00")
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        found = await service.find_open_invoices(
            session, owner_ctx(tenant), email=" ANN@example.com", currency="eur"
        )
        by_number = await service.get_invoice_by_number(session, owner_ctx(tenant), "inv-000001")
    assert [i.id for i in found] == [a.id]
    assert by_number.id == a.id


async def test_concurrent_payments_are_all_counted(db: Database, tenant: TenantLogin) -> None:
    invoice = await order_invoice(db, tenant)  # 120.00
    await asyncio.gather(*(pay(db, tenant, invoice.id, "10.00") for _ in range(6)))
    invoice = await reload(db, tenant, invoice.id)
    assert (invoice.amount_paid, invoice.status) == (Decimal("60.00"), "partially_paid")
    assert invoice.version == 7
