"""The payments API: listing, manual payments, refunds and matching by hand — and the
bad paths (another tenant's ids, missing scopes, malformed bodies, stale versions)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from bizos.core.db import Database
from bizos.modules.billing import service as metrics
from bizos.modules.billing.invoices import service as invoices
from bizos.modules.billing.payments import service
from bizos.modules.billing.schemas import (
    ReceivablesParams,
    ReceivablesValue,
    RefundsParams,
    RefundsValue,
)
from tests.conftest import TenantLogin
from tests.modules.billing.payments.helpers import (
    PAYMENTS,
    invoice_row,
    issued_invoice,
    owner_ctx,
)


def pay_url(invoice_id: str) -> str:
    return f"/api/v1/billing/invoices/{invoice_id}/payments"


async def unmatched_payment(db: Database, tenant: TenantLogin, amount: str = "42.00") -> str:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        recorded = await service.record_payment(
            session,
            owner_ctx(tenant),
            provider="stripe",
            amount=Decimal(amount),
            currency="EUR",
            external_id="pi_unmatched",
            customer_email="nobody@example.com",
        )
        return recorded.payment.id


async def api_key(client: httpx.AsyncClient, tenant: TenantLogin, *scopes: str) -> dict[str, str]:
    r = await client.post(
        "/api/v1/api-keys", json={"name": "k", "scopes": list(scopes)}, headers=tenant.headers
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['key']}"}


async def post(
    client: httpx.AsyncClient, url: str, tenant: TenantLogin, body: dict[str, Any], **headers: str
) -> httpx.Response:
    return await client.post(url, json=body, headers={**tenant.headers, **headers})


async def test_a_manual_payment_pays_the_invoice_and_is_listed(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, tenant, total="99.50")
    r = await post(
        client, pay_url(invoice.id), tenant,
        {"amount": "99.50", "currency": "eur", "reference": "BANK-7781"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    payment = r.json()
    assert payment["amount"] == "99.50" and payment["currency"] == "EUR"
    assert payment["status"] == "matched" and payment["match_method"] == "manual"
    assert payment["invoice_number"] == invoice.number and payment["provider"] == "manual"
    assert (await invoice_row(db, tenant, invoice.id)).status == "paid"

    listed = (await client.get(PAYMENTS, headers=tenant.headers)).json()
    assert [p["id"] for p in listed["items"]] == [payment["id"]]
    assert listed["next_cursor"] is None
    one = await client.get(f"{PAYMENTS}/{payment['id']}", headers=tenant.headers)
    assert one.status_code == 200 and one.json()["id"] == payment["id"]


async def test_repeating_a_reference_returns_the_first_payment_and_a_different_one_is_409(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, tenant, total="100.00")
    body = {"amount": "40.00", "currency": "EUR", "reference": "CHQ-1"}
    first = await post(client, pay_url(invoice.id), tenant, body)
    again = await post(client, pay_url(invoice.id), tenant, body)
    other = await post(client, pay_url(invoice.id), tenant, {**body, "amount": "41.00"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 409
    assert (await invoice_row(db, tenant, invoice.id)).amount_paid == Decimal("40.00")


async def test_manual_payments_that_cannot_be_booked_are_refused(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    paid = await issued_invoice(db, tenant, total="10.00")
    await post(client, pay_url(paid.id), tenant, {"amount": "10.00", "currency": "EUR"})
    void = await issued_invoice(db, tenant, total="10.00")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await invoices.void_invoice(session, owner_ctx(tenant), void.id, reason="sent twice")
    other_currency = await issued_invoice(db, tenant, total="10.00")

    to_paid = await post(client, pay_url(paid.id), tenant, {"amount": "1.00", "currency": "EUR"})
    to_void = await post(client, pay_url(void.id), tenant, {"amount": "10.00", "currency": "EUR"})
    in_usd = await post(
        client, pay_url(other_currency.id), tenant, {"amount": "10.00", "currency": "USD"}
    )
    assert (to_paid.status_code, to_void.status_code, in_usd.status_code) == (409, 409, 422)
    listed = (await client.get(PAYMENTS, headers=tenant.headers)).json()["items"]
    assert len(listed) == 1  # nothing half-recorded


async def test_a_manual_overpayment_is_booked_and_flags_the_invoice(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, tenant, total="10.00")
    r = await post(client, pay_url(invoice.id), tenant, {"amount": "12.00", "currency": "EUR"})
    assert r.status_code == 201 and r.json()["status"] == "discrepancy"
    assert (await invoice_row(db, tenant, invoice.id)).status == "discrepancy"


async def test_malformed_bodies_are_422_problems(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, tenant)
    for body in (
        {"amount": "-1.00", "currency": "EUR"},
        {"amount": "0", "currency": "EUR"},
        {"amount": "1.001", "currency": "EUR"},
        {"amount": "ten", "currency": "EUR"},
        {"amount": "1.00", "currency": "EURO"},
        {"amount": "1.00", "currency": "XYZ"},
        {"amount": "1.00", "currency": "EUR", "surprise": True},
        {"currency": "EUR"},
    ):
        r = await post(client, pay_url(invoice.id), tenant, body)
        assert r.status_code == 422, body
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"]
    bad_status = await client.get(PAYMENTS, params={"status": "lost"}, headers=tenant.headers)
    assert bad_status.status_code == 422


async def test_refunds_default_to_the_rest_and_cannot_exceed_it(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, tenant, total="50.00")
    payment = (
        await post(client, pay_url(invoice.id), tenant, {"amount": "50.00", "currency": "EUR"})
    ).json()
    url = f"{PAYMENTS}/{payment['id']}/refunds"

    part = await post(client, url, tenant, {"amount": "20.00", "reason": "damaged"})
    too_much = await post(client, url, tenant, {"amount": "30.01"})
    rest = await post(client, url, tenant, {})
    after = await post(client, url, tenant, {})

    assert part.status_code == 201 and part.json()["amount"] == "20.00"
    assert too_much.status_code == 422
    assert rest.status_code == 201 and rest.json()["amount"] == "30.00"
    assert after.status_code == 422
    detail = (await client.get(f"{PAYMENTS}/{payment['id']}", headers=tenant.headers)).json()
    assert detail["status"] == "refunded" and detail["amount_refunded"] == "50.00"
    assert [r["amount"] for r in detail["refunds"]] == ["20.00", "30.00"]
    # Each refund is matched by a credit note naming it: the invoice stays paid.
    row = await invoice_row(db, tenant, invoice.id)
    assert row.amount_refunded == Decimal("50.00") and row.status == "paid"
    assert row.amount_credited == Decimal("50.00")
    shown = await client.get(f"/api/v1/billing/invoices/{invoice.id}", headers=tenant.headers)
    assert shown.json()["balance_due"] == "0.00"
    notes = [(n["amount"], n["reason"]) for n in shown.json()["credit_notes"]]
    assert notes == [
        ("20.00", f"Refund {part.json()['id']}"),
        ("30.00", f"Refund {rest.json()['id']}"),
    ]


async def test_an_unmatched_payment_is_matched_by_hand(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, tenant, total="100.00")
    payment_id = await unmatched_payment(db, tenant, "42.00")
    queue = await client.get(PAYMENTS, params={"status": "unmatched"}, headers=tenant.headers)
    assert [p["id"] for p in queue.json()["items"]] == [payment_id]
    url = f"{PAYMENTS}/{payment_id}/match"

    stale = await post(client, url, tenant, {"invoice_id": invoice.id}, **{"If-Match": "7"})
    missing = await post(client, url, tenant, {"invoice_id": "no-such-invoice"})
    matched = await post(client, url, tenant, {"invoice_id": invoice.id}, **{"If-Match": "1"})
    twice = await post(client, url, tenant, {"invoice_id": invoice.id})

    assert stale.status_code == 409
    assert missing.status_code == 422
    assert matched.status_code == 200, matched.text
    body = matched.json()
    assert body["status"] == "matched" and body["match_method"] == "manual"
    assert body["invoice_id"] == invoice.id and body["version"] == 2
    assert twice.status_code == 409
    row = await invoice_row(db, tenant, invoice.id)
    assert row.status == "partially_paid" and row.amount_paid == Decimal("42.00")
    queue = await client.get(PAYMENTS, params={"status": "unmatched"}, headers=tenant.headers)
    assert queue.json()["items"] == []


async def test_another_tenants_payments_and_invoices_are_404(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, tenant, total="10.00")
    payment_id = await unmatched_payment(db, tenant)
    theirs = other_tenant.headers

    get = await client.get(f"{PAYMENTS}/{payment_id}", headers=theirs)
    pay = await client.post(
        pay_url(invoice.id), json={"amount": "1.00", "currency": "EUR"}, headers=theirs
    )
    refund = await client.post(f"{PAYMENTS}/{payment_id}/refunds", json={}, headers=theirs)
    match = await client.post(
        f"{PAYMENTS}/{payment_id}/match", json={"invoice_id": invoice.id}, headers=theirs
    )
    listed = await client.get(PAYMENTS, headers=theirs)

    assert [r.status_code for r in (get, pay, refund, match)] == [404, 404, 404, 404]
    assert listed.json()["items"] == []
    # and their own unmatched payment cannot be matched to our invoice
    their_payment = await unmatched_payment(db, other_tenant)
    cross = await client.post(
        f"{PAYMENTS}/{their_payment}/match", json={"invoice_id": invoice.id}, headers=theirs
    )
    assert cross.status_code == 422


async def test_reading_and_writing_need_their_billing_scopes(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    invoice = await issued_invoice(db, tenant, total="10.00")
    payment_id = await unmatched_payment(db, tenant)
    reader = await api_key(client, tenant, "billing:read")
    outsider = await api_key(client, tenant, "crm:read")

    assert (await client.get(PAYMENTS, headers=reader)).status_code == 200
    assert (await client.get(PAYMENTS, headers=outsider)).status_code == 403
    assert (await client.get(f"{PAYMENTS}/{payment_id}", headers=outsider)).status_code == 403
    writes = [
        (pay_url(invoice.id), {"amount": "1.00", "currency": "EUR"}),
        (f"{PAYMENTS}/{payment_id}/refunds", {}),
        (f"{PAYMENTS}/{payment_id}/match", {"invoice_id": invoice.id}),
    ]
    for url, body in writes:
        r = await client.post(url, json=body, headers=reader)
        assert r.status_code == 403, url
    assert (await client.get(PAYMENTS)).status_code == 401


async def test_refunds_count_as_refunds_but_never_grow_receivables(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    paid = await issued_invoice(db, tenant, total="80.00")
    part = await issued_invoice(db, tenant, total="100.00")
    payments = [
        (await post(client, pay_url(i.id), tenant, {"amount": a, "currency": "EUR"})).json()
        for i, a in ((paid, "80.00"), (part, "40.00"))
    ]

    async def owed() -> list[tuple[str, str, int]]:
        async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
            result = await metrics.receivables(session, owner_ctx(tenant), ReceivablesParams())
        value = result.value
        assert isinstance(value, ReceivablesValue)
        return [(c.currency, str(c.outstanding), c.invoices) for c in value.by_currency]

    before = await owed()
    assert before == [("EUR", "60.00", 1)]
    for payment, amount in zip(payments, ("80.00", "15.00"), strict=True):
        r = await post(client, f"{PAYMENTS}/{payment['id']}/refunds", tenant, {"amount": amount})
        assert r.status_code == 201, r.text

    assert await owed() == before
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        given = await metrics.refunds(session, owner_ctx(tenant), RefundsParams())
    assert isinstance(given.value, RefundsValue)
    assert [(c.currency, str(c.amount), c.count) for c in given.value.by_currency] == [
        ("EUR", "95.00", 2)
    ]
    assert [(await invoice_row(db, tenant, i.id)).status for i in (paid, part)] == [
        "paid",
        "partially_paid",
    ]
