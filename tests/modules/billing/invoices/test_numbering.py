"""Invoice and credit note numbers are gapless per tenant: a rolled-back issue gives its
number back, concurrent issues get distinct consecutive numbers, drafts have none."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa

from bizos.core.db import Database
from bizos.modules.billing.credit_notes import service as credit_notes
from bizos.modules.billing.invoices import service
from bizos.modules.billing.models import Invoice
from tests.conftest import TenantLogin
from tests.modules.billing.invoices.helpers import line, order_invoice, owner_ctx


class Boom(Exception):
    pass


async def test_a_rolled_back_invoice_leaves_no_gap(db: Database, tenant: TenantLogin) -> None:
    first = await order_invoice(db, tenant)
    assert first.number == "INV-000001"

    with pytest.raises(Boom):
        async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
            doomed = await service.create_invoice_for_order(
                session,
                owner_ctx(tenant),
                order_id=str(uuid.uuid4()),
                currency="EUR",
                lines=[line()],
            )
            assert doomed.number == "INV-000002"
            raise Boom

    second = await order_invoice(db, tenant)
    assert second.number == "INV-000002"
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        numbers = list(await session.scalars(sa.select(Invoice.number).order_by(Invoice.number)))
    assert numbers == ["INV-000001", "INV-000002"]


async def test_concurrent_invoices_get_distinct_consecutive_numbers(
    db: Database, tenant: TenantLogin
) -> None:
    invoices = await asyncio.gather(*(order_invoice(db, tenant) for _ in range(20)))
    numbers = sorted(i.number or "" for i in invoices)
    assert numbers == [f"INV-{n:06d}" for n in range(1, 21)]


async def test_numbers_are_per_tenant(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    assert (await order_invoice(db, tenant)).number == "INV-000001"
    assert (await order_invoice(db, other_tenant)).number == "INV-000001"
    assert (await order_invoice(db, tenant)).number == "INV-000002"


async def test_a_draft_takes_a_number_only_when_issued(db: Database, tenant: TenantLogin) -> None:
    ctx = owner_ctx(tenant)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        draft = await service.create_invoice(session, ctx, currency="EUR", lines=[line()])
        assert draft.number is None and draft.status == "draft"
    await order_invoice(db, tenant)  # INV-000001
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        issued = await service.issue_invoice(session, ctx, draft.id)
        assert (issued.number, issued.status) == ("INV-000002", "open")


async def test_credit_notes_have_their_own_gapless_series(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await order_invoice(db, tenant)  # 120.00 due
    ctx = owner_ctx(tenant)
    with pytest.raises(Boom):
        async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
            note = await credit_notes.issue_credit_note(
                session, ctx, invoice.id, amount=Decimal("5.00"), reason="x"
            )
            assert note.number == "CN-000001"
            raise Boom
    for expected in ("CN-000001", "CN-000002"):
        async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
            note = await credit_notes.issue_credit_note(
                session, ctx, invoice.id, amount=Decimal("5.00"), reason="x"
            )
        assert note.number == expected


async def test_racing_invoices_for_one_order_make_one_invoice_and_no_gap(
    db: Database, tenant: TenantLogin
) -> None:
    invoices = await asyncio.gather(*(order_invoice(db, tenant, order_id="o-1") for _ in range(5)))
    assert {i.id for i in invoices} == {invoices[0].id}
    assert invoices[0].number == "INV-000001"
    assert (await order_invoice(db, tenant)).number == "INV-000002"
