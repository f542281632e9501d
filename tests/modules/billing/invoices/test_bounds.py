"""An invoice too large to store is refused with a 422 naming the line or the total, on
SQLite and PostgreSQL alike (money columns hold 14 digits, 2 after the point)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import TenantLogin
from tests.modules.billing.invoices.helpers import INVOICES
from tests.modules.identity.helpers import assert_problem


def body(*lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"currency": "EUR", "customer_email": "a@example.com", "lines": list(lines), **extra}


async def test_a_line_too_large_to_store_is_refused_naming_the_line(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    huge = {"description": "x", "unit_price": "99999999999.99", "quantity": "9999"}
    r = await client.post(
        INVOICES, json=body({"description": "ok", "unit_price": "1"}, huge), headers=tenant.headers
    )
    problem = assert_problem(r, 422)
    assert ["body", "lines", 1, "quantity"] in [e["loc"] for e in problem["errors"]]


async def test_a_tax_too_large_to_store_is_refused_naming_the_line(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    line = {"description": "x", "unit_price": "1", "tax_amount": "999999999999.99"}
    ok = await client.post(INVOICES, json=body(line), headers=tenant.headers)
    problem = assert_problem(ok, 422)
    assert ["body", "lines", 0, "tax_amount"] in [e["loc"] for e in problem["errors"]]


async def test_a_total_too_large_to_store_is_refused_naming_the_lines(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    line = {"description": "x", "unit_price": "600000000000.00"}
    r = await client.post(INVOICES, json=body(line, line), headers=tenant.headers)
    problem = assert_problem(r, 422)
    assert ["body", "lines"] in [e["loc"] for e in problem["errors"]]
    r = await client.post(
        INVOICES, json=body(line, shipping_total="600000000000.00"), headers=tenant.headers
    )
    assert ["body", "lines"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]


async def test_the_largest_storable_invoice_is_accepted(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    line = {"description": "x", "unit_price": "999999999999.99"}
    r = await client.post(INVOICES, json=body(line), headers=tenant.headers)
    assert r.status_code == 201, r.text
    assert r.json()["total"] == "999999999999.99"
    r = await client.get(f"{INVOICES}/{r.json()['id']}", headers=tenant.headers)
    assert r.json()["subtotal"] == "999999999999.99"


async def test_a_too_large_discount_names_its_line(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    line = {"description": "x", "unit_price": "1", "discount": "2"}
    r = await client.post(
        INVOICES, json=body({"description": "y", "unit_price": "1"}, line), headers=tenant.headers
    )
    assert ["body", "lines", 1, "discount"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]
