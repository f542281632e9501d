"""The labelled reconciliation set, end to end through the Stripe door: each delivery
signed by Stripe's library, stored, processed by the dispatcher and matched. The match
accuracy (correct outcome / cases) must reach the seed's 98 %."""

from __future__ import annotations

import httpx

from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.modules.billing.invoices import service as invoices
from bizos.modules.billing.invoices.schemas import InvoiceLineInput
from bizos.modules.billing.models import Invoice, Payment
from tests.conftest import TenantLogin
from tests.fixtures.stripe.reconciliation import Observed, full_set, plan_deliveries, score
from tests.modules.billing.payments.helpers import (
    configure_stripe,
    deliver,
    owner_ctx,
    process,
    rows,
)


async def test_the_labelled_set_is_reconciled_with_at_least_98_percent_accuracy(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await configure_stripe(client, tenant)
    cases = full_set()
    assert len(cases) >= 150
    ids: dict[str, dict[str, str]] = {}
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        ctx = owner_ctx(tenant)
        for case in cases:
            ids[case.name] = {}
            numbers = {}
            for spec in case.invoices:
                draft = await invoices.create_invoice(
                    session,
                    ctx,
                    currency=spec.currency,
                    lines=[InvoiceLineInput.model_validate(spec.line())],
                    customer_email=spec.email,
                )
                issued = await invoices.issue_invoice(session, ctx, draft.id)
                if spec.void:
                    await invoices.void_invoice(session, ctx, issued.id, reason="reissued")
                ids[case.name][spec.key] = issued.id
                numbers[spec.key] = issued.number or ""
            plan_deliveries(case, numbers)

    for case in cases:
        for payload in case.deliveries:
            r = await deliver(client, tenant, payload)
            assert r.status_code == 200, r.text
    await process(db, settings)

    payments = await rows(db, tenant, Payment)
    invoice_status = {i.id: i.status for i in await rows(db, tenant, Invoice)}
    observed = {}
    for case in cases:
        key_of = {invoice_id: key for key, invoice_id in ids[case.name].items()}
        mine = [p for p in payments if p.external_id in case.payment_ids]
        observed[case.name] = Observed(
            payment_statuses=tuple(sorted(p.status for p in mine)),
            invoice_statuses={k: invoice_status[i] for k, i in ids[case.name].items()},
            invoice_keys=tuple(key_of.get(p.invoice_id or "") for p in mine),
        )
    result = score(cases, observed)
    print("\n" + result.report())
    assert len(payments) == sum(len(c.payment_ids) for c in cases)  # nothing counted twice
    assert result.accuracy >= 0.98, "\n".join(result.wrong)
