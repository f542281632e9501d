"""The invoices API as a user sees it: drafts, issuing, voiding, credit notes, filters,
and the bad paths (another tenant's ids, missing scope, stale If-Match, bad bodies)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx
import sqlalchemy as sa

from bizos.core.db import Database
from bizos.modules.billing.invoices import service
from bizos.modules.billing.models import Invoice
from tests.conftest import TenantLogin
from tests.modules.billing.invoices.helpers import INVOICES, order_invoice, owner_ctx, post_draft
from tests.modules.identity.helpers import assert_problem, bearer


async def test_a_manual_invoice_is_drafted_then_issued(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    draft = await post_draft(client, tenant, shipping_total="5.00", due_days=30)
    assert draft["status"] == "draft" and draft["number"] is None
    assert (draft["subtotal"], draft["tax_total"], draft["total"]) == ("300.00", "60.00", "365.00")
    assert draft["lines"][0]["tax_amount"] == "60.00"

    r = await client.post(
        f"{INVOICES}/{draft['id']}/issue", headers={**tenant.headers, "If-Match": "1"}
    )
    assert r.status_code == 200, r.text
    issued = r.json()
    assert issued["number"] == "INV-000001" and issued["status"] == "open"
    assert issued["balance_due"] == "365.00" and issued["amount_paid"] == "0.00"
    assert (
        issued["due_date"]
        == (dt.date.fromisoformat(issued["issued_at"][:10]) + dt.timedelta(days=30)).isoformat()
    )
    assert r.headers["ETag"] == f'W/"{issued["version"]}"'

    again = await client.post(f"{INVOICES}/{draft['id']}/issue", headers=tenant.headers)
    assert again.json()["number"] == "INV-000001"


async def test_an_order_invoice_reads_as_the_contract_says(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    invoice = await order_invoice(db, tenant, order_id="ord-42")
    r = await client.get(INVOICES, params={"order_id": "ord-42"}, headers=tenant.headers)
    assert r.status_code == 200
    [item] = r.json()["items"]
    assert r.json()["next_cursor"] is None
    for field in (
        "id",
        "number",
        "order_id",
        "contact_id",
        "status",
        "currency",
        "total",
        "amount_paid",
        "lines",
        "due_date",
        "balance_due",
        "payments",
    ):
        assert field in item
    assert (item["id"], item["number"], item["total"]) == (invoice.id, "INV-000001", "120.00")
    one = await client.get(f"{INVOICES}/{invoice.id}", headers=tenant.headers)
    assert one.json()["customer_email"] == "buyer@example.com"


async def test_lists_filter_by_status_contact_and_overdue(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    late = await order_invoice(db, tenant, due_days=0)
    await order_invoice(db, tenant, due_days=30)
    draft = await post_draft(client, tenant)

    async def ids(**params: str) -> list[str]:
        r = await client.get(INVOICES, params=params, headers=tenant.headers)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await ids(status="draft") == [draft["id"]]
    assert len(await ids(status="open")) == 2
    # Due today is not overdue yet; a day later it is.
    assert await ids(overdue="true") == []
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await session.execute(
            sa.update(Invoice)
            .where(Invoice.id == late.id)
            .values(due_date=dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))
        )
    assert await ids(overdue="true") == [late.id]
    assert late.id not in await ids(overdue="false")
    assert len(await ids(limit="1")) == 1
    assert_problem(
        await client.get(INVOICES, params={"status": "lost"}, headers=tenant.headers), 422
    )


async def test_void_and_credit_note_through_the_api(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    invoice = await order_invoice(db, tenant)
    r = await client.post(
        f"{INVOICES}/{invoice.id}/credit-notes",
        json={"amount": "20.00", "reason": "late delivery"},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    assert (r.json()["number"], r.json()["amount"]) == ("CN-000001", "20.00")
    too_much = await client.post(
        f"{INVOICES}/{invoice.id}/credit-notes",
        json={"amount": "100.01", "reason": "x"},
        headers=tenant.headers,
    )
    assert_problem(too_much, 422)
    listed = await client.get(f"{INVOICES}/{invoice.id}/credit-notes", headers=tenant.headers)
    assert [n["number"] for n in listed.json()["items"]] == ["CN-000001"]

    r = await client.post(
        f"{INVOICES}/{invoice.id}/void", json={"reason": "duplicate"}, headers=tenant.headers
    )
    assert r.status_code == 200
    body = r.json()
    assert (body["status"], body["void_reason"], body["balance_due"]) == (
        "void",
        "duplicate",
        "0.00",
    )
    assert body["credit_notes"][0]["number"] == "CN-000001"


async def test_a_stale_if_match_is_a_conflict(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    draft = await post_draft(client, tenant)
    issued = await client.post(f"{INVOICES}/{draft['id']}/issue", headers=tenant.headers)
    stale = {**tenant.headers, "If-Match": str(draft["version"])}
    assert issued.json()["version"] != draft["version"]
    r = await client.post(f"{INVOICES}/{draft['id']}/void", json={"reason": "x"}, headers=stale)
    assert_problem(r, 409)
    r = await client.post(
        f"{INVOICES}/{draft['id']}/credit-notes",
        json={"amount": "1.00", "reason": "x"},
        headers=stale,
    )
    assert_problem(r, 409)


async def test_voiding_a_paid_invoice_is_a_conflict(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    invoice = await order_invoice(db, tenant)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await service.apply_payment(
            session, owner_ctx(tenant), invoice.id, amount=Decimal("120.00"), currency="EUR"
        )
    r = await client.post(
        f"{INVOICES}/{invoice.id}/void", json={"reason": "x"}, headers=tenant.headers
    )
    assert "refund" in assert_problem(r, 409)["detail"]


async def test_another_tenants_invoice_is_not_found(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    theirs = await order_invoice(db, other_tenant)
    for method, path, body in (
        ("GET", f"{INVOICES}/{theirs.id}", None),
        ("GET", f"{INVOICES}/{theirs.id}/pdf", None),
        ("GET", f"{INVOICES}/{theirs.id}/credit-notes", None),
        ("POST", f"{INVOICES}/{theirs.id}/issue", None),
        ("POST", f"{INVOICES}/{theirs.id}/void", {"reason": "x"}),
        ("POST", f"{INVOICES}/{theirs.id}/credit-notes", {"amount": "1.00", "reason": "x"}),
    ):
        r = await client.request(method, path, json=body, headers=tenant.headers)
        assert_problem(r, 404)
    listed = await client.get(
        INVOICES, params={"order_id": theirs.order_id}, headers=tenant.headers
    )
    assert listed.json()["items"] == []
    # Nor can a draft bill another tenant's contact.
    r = await client.post(
        INVOICES,
        json={
            "currency": "EUR",
            "contact_id": theirs.id,
            "lines": [{"description": "x", "unit_price": "1.00"}],
        },
        headers=tenant.headers,
    )
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "contact_id"]


async def test_billing_scopes_are_required(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    invoice = await order_invoice(db, tenant)
    r = await client.post(
        "/api/v1/api-keys",
        json={"name": "reader", "scopes": ["billing:read"]},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    reader = bearer(r.json()["key"])
    r = await client.post(
        "/api/v1/api-keys", json={"name": "crm", "scopes": ["crm:read"]}, headers=tenant.headers
    )
    crm_only = bearer(r.json()["key"])

    assert (await client.get(f"{INVOICES}/{invoice.id}", headers=reader)).status_code == 200
    assert_problem(await client.get(f"{INVOICES}/{invoice.id}", headers=crm_only), 403)
    assert_problem(await client.get(f"{INVOICES}/{invoice.id}/pdf", headers=crm_only), 403)
    assert_problem(
        await client.post(f"{INVOICES}/{invoice.id}/void", json={"reason": "x"}, headers=reader),
        403,
    )
    assert_problem(
        await client.post(INVOICES, json={"currency": "EUR", "lines": []}, headers=reader), 403
    )


async def test_malformed_bodies_are_422_with_field_paths(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    cases = [
        ({"currency": "EUR", "lines": []}, ["body", "lines"]),
        (
            {"currency": "XYZ", "lines": [{"description": "x", "unit_price": "1"}]},
            ["body", "currency"],
        ),
        (
            {"currency": "EUR", "lines": [{"description": "x", "unit_price": "1.001"}]},
            ["body", "lines", 0, "unit_price"],
        ),
        (
            {
                "currency": "EUR",
                "lines": [{"description": "x", "unit_price": "1", "tax_rate": "2"}],
            },
            ["body", "lines", 0, "tax_rate"],
        ),
        (
            {"currency": "EUR", "lines": [{"description": "x", "unit_price": "-1"}]},
            ["body", "lines", 0, "unit_price"],
        ),
        (
            {"currency": "EUR", "lines": [{"description": "x", "unit_price": "1", "qty": 2}]},
            ["body", "lines", 0, "qty"],
        ),
    ]
    for body, loc in cases:
        r = await client.post(INVOICES, json=body, headers=tenant.headers)
        problem = assert_problem(r, 422)
        assert loc in [e["loc"] for e in problem["errors"]], (body, problem["errors"])
    draft = await post_draft(client, tenant)
    r = await client.post(f"{INVOICES}/{draft['id']}/void", json={}, headers=tenant.headers)
    assert_problem(r, 422)
    r = await client.post(
        f"{INVOICES}/{draft['id']}/credit-notes",
        json={"amount": "0", "reason": "x"},
        headers=tenant.headers,
    )
    assert_problem(r, 422)


async def test_a_draft_for_a_contact_bills_the_contacts_address(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/crm/contacts",
        json={"email": "Dora@Example.com", "name": "Dora Diaz"},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    contact_id = r.json()["id"]
    draft = await post_draft(
        client, tenant, contact_id=contact_id, customer_email=None, customer_name=None
    )
    assert (draft["contact_id"], draft["customer_email"], draft["customer_name"]) == (
        contact_id,
        "dora@example.com",
        "Dora Diaz",
    )
    r = await client.get(INVOICES, params={"contact_id": contact_id}, headers=tenant.headers)
    assert [i["id"] for i in r.json()["items"]] == [draft["id"]]
