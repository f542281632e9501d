"""Dunning: overdue invoices remind their customer by email at 1, 7 and 14 days past due,
once per level, never twice on a rerun or when two workers race."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from bizos import registry
from bizos.core.db import Database
from bizos.core.scheduler import Scheduler
from bizos.modules.billing.dunning import jobs as dunning_module
from bizos.modules.billing.dunning.jobs import DUNNING_JOB, send_overdue_reminders
from bizos.modules.billing.invoices import amounts, service
from bizos.modules.billing.models import Invoice
from bizos.modules.billing.refunds import service as refunds
from bizos.modules.outreach.models import Message
from tests.conftest import TenantLogin
from tests.modules.billing.invoices.helpers import events_of, order_invoice, owner_ctx, reload


def days_after(due: dt.date | None, days: int, hour: int = 9) -> dt.datetime:
    assert due is not None
    return dt.datetime.combine(due + dt.timedelta(days=days), dt.time(hour), tzinfo=dt.UTC)


async def reminders_to(db: Database, tenant: TenantLogin, invoice_id: str) -> list[Message]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Message)
            .where(Message.related_type == "invoice", Message.related_id == invoice_id)
            .order_by(Message.created_at)
        )
        return list(rows)


async def test_reminders_go_out_at_1_7_and_14_days_once_each(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await order_invoice(db, tenant, email="late@example.com")
    due = invoice.due_date
    sent = []
    for day in (0, 1, 1, 3, 6, 7, 7, 13, 14, 15, 30):
        sent.append(await send_overdue_reminders(db, days_after(due, day)))
    assert sent == [0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0]

    messages = await reminders_to(db, tenant, invoice.id)
    assert [m.recipient for m in messages] == ["late@example.com"] * 3
    assert ["1 days overdue" in messages[0].subject, "14 days" in messages[2].subject] == [
        True,
        True,
    ]
    assert "INV-000001" in messages[0].body and "120.00 EUR" in messages[0].body
    events = await events_of(db, tenant, "billing.invoice.reminder_sent")
    assert [(e["level"], e["days_overdue"]) for e in events] == [(1, 1), (2, 7), (3, 14)]
    assert (await reload(db, tenant, invoice.id)).reminders_sent == 3


async def test_an_invoice_first_seen_long_overdue_gets_one_reminder(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await order_invoice(db, tenant)
    assert await send_overdue_reminders(db, days_after(invoice.due_date, 20)) == 1
    assert await send_overdue_reminders(db, days_after(invoice.due_date, 21)) == 0
    [event] = await events_of(db, tenant, "billing.invoice.reminder_sent")
    assert event["level"] == 3


async def test_paid_and_void_invoices_are_not_chased(db: Database, tenant: TenantLogin) -> None:
    paid = await order_invoice(db, tenant)
    void = await order_invoice(db, tenant)
    partly = await order_invoice(db, tenant)
    ctx = owner_ctx(tenant)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await service.apply_payment(session, ctx, paid.id, amount=Decimal("120"), currency="EUR")
        await service.apply_payment(session, ctx, partly.id, amount=Decimal("20"), currency="EUR")
        await service.void_invoice(session, ctx, void.id, reason="cancelled")
    assert await send_overdue_reminders(db, days_after(paid.due_date, 2)) == 1
    assert len(await reminders_to(db, tenant, partly.id)) == 1
    assert "100.00 EUR" in (await reminders_to(db, tenant, partly.id))[0].body


async def test_two_workers_racing_send_one_reminder(db: Database, tenant: TenantLogin) -> None:
    invoice = await order_invoice(db, tenant)
    now = days_after(invoice.due_date, 1)
    counts = await asyncio.gather(*(send_overdue_reminders(db, now) for _ in range(3)))
    assert sum(counts) == 1
    assert len(await reminders_to(db, tenant, invoice.id)) == 1


async def test_the_dunning_job_is_scheduled_hourly(db: Database, tenant: TenantLogin) -> None:
    job = registry.job(DUNNING_JOB)
    assert job.every == dt.timedelta(hours=1)
    invoice = await order_invoice(db, tenant)
    scheduler = Scheduler(db, jobs=[job])
    now = days_after(invoice.due_date, 1)
    assert await scheduler.run_due(now) == [DUNNING_JOB]
    assert await scheduler.run_due(now + dt.timedelta(minutes=30)) == []  # not due yet
    assert len(await reminders_to(db, tenant, invoice.id)) == 1
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        row = await session.scalar(sa.select(Invoice).where(Invoice.id == invoice.id))
    assert row is not None and row.last_reminder_at is not None


async def test_one_run_reaches_every_overdue_invoice_beyond_a_batch(
    db: Database, tenant: TenantLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Invoices already reminded at this level must not fill the batch and starve the rest.
    monkeypatch.setattr(dunning_module, "JOB_BATCH", 2)
    invoices = [await order_invoice(db, tenant) for _ in range(5)]
    now = days_after(invoices[0].due_date, 1)
    assert await send_overdue_reminders(db, now) == 5
    assert await send_overdue_reminders(db, now + dt.timedelta(hours=1)) == 0
    assert [len(await reminders_to(db, tenant, i.id)) for i in invoices] == [1] * 5


async def test_a_customer_we_refunded_is_not_chased_for_the_refund(
    db: Database, tenant: TenantLogin
) -> None:
    # Asking the customer to pay back the money we just returned (goods sent back, a
    # damaged item) is wrong: the refund comes with a credit note and the invoice stays
    # paid, so there is nothing to chase.
    refunded = await order_invoice(db, tenant)
    ctx = owner_ctx(tenant)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await service.apply_payment(
            session, ctx, refunded.id, amount=Decimal("120"), currency="EUR"
        )
        await refunds.apply_refund(session, ctx, refunded.id, amount=Decimal("20"))
    row = await reload(db, tenant, refunded.id)
    assert (row.status, amounts.balance_due(row)) == ("paid", Decimal("0.00"))
    assert await send_overdue_reminders(db, days_after(refunded.due_date, 8)) == 0
    assert await reminders_to(db, tenant, refunded.id) == []
