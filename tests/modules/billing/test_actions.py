"""The copilot's ``billing.send_dunning_reminder``: proposed with the reminder that would
go out (writing nothing), sent once confirmed through dunning (the email queued, the
level taken so the hourly run never sends it again, its event and audit rows), refused
plainly for paid, void and not yet overdue invoices, 404 for another workspace's invoice,
403 for a viewer."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from bizos.core.db import Database, utcnow
from bizos.core.errors import Forbidden, NotFound, Unprocessable
from bizos.core.tools import Figure
from bizos.modules.billing.dunning.jobs import send_overdue_reminders
from bizos.modules.billing.invoices import service as invoices
from bizos.modules.billing.invoices.schemas import InvoiceRead
from bizos.modules.billing.models import Invoice
from bizos.modules.billing.tools import TOOLS
from bizos.modules.outreach.models import Message
from tests.conftest import TenantLogin
from tests.modules.action_helpers import (
    VIEWER,
    audit_of,
    events_about,
    member_ctx,
    propose,
    row_counts,
    run,
    said_by_figures,
)
from tests.modules.billing.invoices.helpers import order_invoice, owner_ctx

ACTION = "billing.send_dunning_reminder"


async def overdue_invoice(db: Database, tenant: TenantLogin, days: int = 3) -> Invoice:
    """An issued invoice of 120.00 EUR to late@example.com, ``days`` past its due date."""
    invoice = await order_invoice(db, tenant, email="late@example.com")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        row = await invoices.get_invoice(session, owner_ctx(tenant), invoice.id)
        row.due_date = utcnow().date() - dt.timedelta(days=days)
        return row


async def reminders_to(db: Database, tenant: TenantLogin, invoice_id: str) -> list[Message]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Message)
            .where(Message.related_type == "invoice", Message.related_id == invoice_id)
            .order_by(Message.created_at)
        )
        return list(rows)


async def test_proposing_a_reminder_shows_it_and_writes_nothing(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await overdue_invoice(db, tenant)
    before = await row_counts(db)

    proposal = await propose(db, TOOLS, member_ctx(tenant), ACTION, {"invoice_id": invoice.id})

    assert await row_counts(db) == before
    assert proposal.summary == (
        "Send reminder 1 of 3 for invoice INV-000001 (€120.00 due, 3 days overdue) "
        "to late@example.com"
    )
    # Every number written is one of its figures, exactly.
    assert proposal.figures == [
        Figure("reminder level for invoice INV-000001", 1, unit="reminder"),
        Figure("reminder levels", 3, unit="reminders"),
        Figure("balance due on invoice INV-000001", Decimal("120.00"), currency="EUR"),
        Figure("days invoice INV-000001 is overdue", 3, unit="days"),
    ]
    assert said_by_figures(proposal)
    assert proposal.before is not None
    assert (proposal.before["reminders_sent"], proposal.after["reminders_sent"]) == (0, 1)
    assert proposal.after["reminder"] == {
        "level": 1,
        "to": "late@example.com",
        "subject": "Reminder: invoice INV-000001 is 3 days overdue",
    }
    assert proposal.before["balance_due"] == "120.00"


async def test_confirming_sends_the_reminder_once_with_its_event_and_audit_rows(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await overdue_invoice(db, tenant)

    result = await run(db, TOOLS, member_ctx(tenant), ACTION, {"invoice_id": invoice.id})

    sent = result.value
    assert isinstance(sent, InvoiceRead)
    assert (sent.reminders_sent, result.records) == (1, [invoice.id])
    [message] = await reminders_to(db, tenant, invoice.id)
    assert message.recipient == "late@example.com"
    assert message.subject == "Reminder: invoice INV-000001 is 3 days overdue"
    reminders = [
        e.data for e in await events_about(db, invoice.id) if e.type.endswith("reminder_sent")
    ]
    assert [(r["level"], r["message_id"]) for r in reminders] == [(1, message.id)]
    updates = [e for e in await audit_of(db, invoice.id) if e.action == "update"]
    assert [u.changed_fields["reminders_sent"] for u in updates] == [[0, 1]]
    assert [e.action for e in await audit_of(db, message.id)] == ["create"]
    # The hourly run finds the level taken and sends nothing more today.
    assert await send_overdue_reminders(db, utcnow()) == 0
    assert len(await reminders_to(db, tenant, invoice.id)) == 1


async def test_each_confirmation_sends_the_next_level_until_none_is_left(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await overdue_invoice(db, tenant)
    levels = []
    for _ in range(3):
        proposal = await propose(db, TOOLS, member_ctx(tenant), ACTION, {"invoice_id": invoice.id})
        assert said_by_figures(proposal), proposal.summary
        result = await run(db, TOOLS, member_ctx(tenant), ACTION, {"invoice_id": "INV-000001"})
        levels.append(result.value.reminders_sent)
    assert levels == [1, 2, 3]
    with pytest.raises(Unprocessable, match="all 3 reminders have been sent"):
        await propose(db, TOOLS, member_ctx(tenant), ACTION, {"invoice_id": invoice.id})


async def test_paid_and_void_invoices_are_refused_plainly(
    db: Database, tenant: TenantLogin
) -> None:
    paid = await overdue_invoice(db, tenant)
    void = await overdue_invoice(db, tenant)
    ctx = owner_ctx(tenant)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await invoices.apply_payment(session, ctx, paid.id, amount=Decimal("120"), currency="EUR")
        await invoices.void_invoice(session, ctx, void.id, reason="cancelled")
    before = await row_counts(db)

    for invoice, why in ((paid, "the invoice is paid"), (void, "the invoice is void")):
        with pytest.raises(Unprocessable, match=why) as refused:
            await propose(db, TOOLS, member_ctx(tenant), ACTION, {"invoice_id": invoice.id})
        assert refused.value.errors == [{"loc": ["params", "invoice_id"], "msg": why}]
        with pytest.raises(Unprocessable, match=why):
            await run(db, TOOLS, member_ctx(tenant), ACTION, {"invoice_id": invoice.id})
    assert await row_counts(db) == before


async def test_an_invoice_not_yet_overdue_is_refused(db: Database, tenant: TenantLogin) -> None:
    invoice = await order_invoice(db, tenant)  # due in 14 days
    with pytest.raises(Unprocessable, match="not overdue"):
        await run(db, TOOLS, member_ctx(tenant), ACTION, {"invoice_id": invoice.id})
    assert await reminders_to(db, tenant, invoice.id) == []


async def test_another_workspaces_invoice_is_404_and_a_viewer_cannot_send(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    theirs = await overdue_invoice(db, other_tenant)
    with pytest.raises(NotFound, match="invoice"):
        await propose(db, TOOLS, member_ctx(tenant), ACTION, {"invoice_id": theirs.id})
    with pytest.raises(NotFound, match="invoice"):
        await run(db, TOOLS, member_ctx(tenant), ACTION, {"invoice_id": theirs.id})

    ours = await overdue_invoice(db, tenant)
    with pytest.raises(Forbidden, match="billing:write"):
        await run(db, TOOLS, member_ctx(tenant, VIEWER), ACTION, {"invoice_id": ours.id})
    assert await reminders_to(db, tenant, ours.id) == []
    assert await reminders_to(db, other_tenant, theirs.id) == []


@pytest.mark.parametrize("params", [{}, {"invoice_id": ""}, {"invoice_id": "x", "force": True}])
async def test_bad_reminder_parameters_are_422(
    db: Database, tenant: TenantLogin, params: dict[str, object]
) -> None:
    with pytest.raises(Unprocessable, match="invalid tool parameters"):
        await run(db, TOOLS, member_ctx(tenant), ACTION, params)
