"""What ``/openapi.json`` says commerce, billing and finance accept is what they accept:
currencies are three letters (and ISO 4217), amounts are decimal strings (never ``""``),
update bodies do not offer ``null`` for fields that cannot be cleared, and metrics dates
are strict ``YYYY-MM-DD``."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.modules.identity.helpers import assert_problem

CURRENCY_PATTERN = "^[A-Za-z]{3}$"
# Request bodies with a currency: (method, path).
WITH_CURRENCY = [
    ("post", "/api/v1/commerce/products"),
    ("patch", "/api/v1/commerce/products/{product_id}"),
    ("post", "/api/v1/commerce/orders"),
    ("post", "/api/v1/billing/invoices"),
    ("post", "/api/v1/billing/invoices/{invoice_id}/payments"),
    ("post", "/api/v1/finance/expenses"),
    ("post", "/api/v1/finance/budgets"),
]
# Fields an update may leave out but not clear, per update operation.
NOT_NULLABLE = {
    ("patch", "/api/v1/commerce/products/{product_id}"): {
        "sku", "name", "price", "currency", "tax_rate", "tracks_stock", "active", "properties"
    },
    ("patch", "/api/v1/finance/budgets/{budget_id}"): {"name", "amount", "active"},
    ("put", "/api/v1/commerce/settings"): {
        "orders_from_won_deals", "default_tax_rate", "payment_terms_days", "notify_customer"
    },
}  # fmt: skip
CLEARABLE = {
    ("patch", "/api/v1/commerce/products/{product_id}"): {"reorder_point", "cost"},
    ("patch", "/api/v1/finance/budgets/{budget_id}"): {"owner_id"},
    ("put", "/api/v1/commerce/settings"): {"purchasing_assignee_id", "ship_from"},
}


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    return doc


def deref(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return deref(doc, doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]])
    return schema


def body_properties(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    content = doc["paths"][path][method]["requestBody"]["content"]["application/json"]
    properties: dict[str, Any] = deref(doc, content["schema"])["properties"]
    return properties


def options(doc: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives a field's schema allows (itself when it has none)."""
    return [deref(doc, s) for s in schema.get("anyOf", [schema])]


@pytest.mark.parametrize(("method", "path"), WITH_CURRENCY)
def test_currencies_are_documented_as_three_letters(
    spec: dict[str, Any], method: str, path: str
) -> None:
    currency = body_properties(spec, method, path)["currency"]
    strings = [o for o in options(spec, currency) if o.get("type") == "string"]
    assert strings and all(o.get("pattern") == CURRENCY_PATTERN for o in strings), currency


@pytest.mark.parametrize(("method", "path", "field"), [
    ("post", "/api/v1/commerce/orders", "shipping_total"),
    ("post", "/api/v1/billing/invoices", "shipping_total"),
    ("post", "/api/v1/billing/invoices", "discount_total"),
])  # fmt: skip
def test_amounts_are_documented_as_decimal_strings(
    spec: dict[str, Any], method: str, path: str, field: str
) -> None:
    amount = body_properties(spec, method, path)[field]
    strings = [o for o in options(spec, amount) if o.get("type") == "string"]
    assert strings, amount
    for option in strings:
        pattern = re.compile(option["pattern"])
        assert pattern.search("49.90") and pattern.search("0") and pattern.search("12")
        assert not pattern.search("") and not pattern.search("abc") and not pattern.search("1e3")


@pytest.mark.parametrize("operation", sorted(NOT_NULLABLE))
def test_update_fields_that_cannot_be_cleared_are_not_nullable(
    spec: dict[str, Any], operation: tuple[str, str]
) -> None:
    properties = body_properties(spec, *operation)
    for field in NOT_NULLABLE[operation]:
        kinds = [o.get("type") for o in options(spec, properties[field])]
        assert "null" not in kinds, (field, properties[field])
    for field in CLEARABLE[operation]:
        kinds = [o.get("type") for o in options(spec, properties[field])]
        assert "null" in kinds, (field, properties[field])


async def test_null_for_a_field_that_cannot_be_cleared_is_still_a_422(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.put(
        "/api/v1/commerce/settings", json={"payment_terms_days": None}, headers=tenant.headers
    )
    problem = assert_problem(r, 422)
    assert ["body", "payment_terms_days"] in [e["loc"] for e in problem["errors"]]


async def test_currencies_and_amounts_are_refused_as_documented(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    line = {"description": "x", "unit_price": "10"}
    price = ["body", "lines", 0, "unit_price"]
    cases = [
        ({"currency": "E1R", "lines": [line]}, ["body", "currency"]),
        ({"currency": "XYZ", "lines": [line]}, ["body", "currency"]),
        ({"currency": "EUR", "lines": [{**line, "unit_price": ""}]}, price),
        ({"currency": "EUR", "lines": [{**line, "unit_price": "1e3"}]}, price),
        ({"currency": "EUR", "lines": [line], "shipping_total": ""}, ["body", "shipping_total"]),
    ]  # fmt: skip
    for body, loc in cases:
        r = await client.post("/api/v1/billing/invoices", json=body, headers=tenant.headers)
        assert loc in [e["loc"] for e in assert_problem(r, 422)["errors"]], body
    r = await client.post(
        "/api/v1/commerce/orders",
        json={"currency": "EUR", "email": "a@example.com", "lines": [{"sku": "X", "quantity": 1}],
              "shipping_total": ""},
        headers=tenant.headers,
    )  # fmt: skip
    assert ["body", "shipping_total"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]
    ok = {"currency": "eur", "lines": [{**line, "unit_price": 10.5}], "shipping_total": "4.90"}
    r = await client.post("/api/v1/billing/invoices", json=ok, headers=tenant.headers)
    assert r.status_code == 201, r.text
    assert (r.json()["currency"], r.json()["total"]) == ("EUR", "15.40")


@pytest.mark.parametrize(("path", "param"), [
    ("/api/v1/commerce/metrics/revenue", "from"),
    ("/api/v1/commerce/metrics/orders", "to"),
    ("/api/v1/commerce/metrics/top-customers", "from"),
    ("/api/v1/billing/metrics/refunds", "to"),
    ("/api/v1/billing/metrics/receivables", "as_of"),
])  # fmt: skip
async def test_metrics_dates_are_strict_iso_days(
    client: httpx.AsyncClient, tenant: TenantLogin, path: str, param: str
) -> None:
    for bad in ("0", "20260301", "1700000000", "2026-3-1", "2026-03-01T00:00:00"):
        r = await client.get(path, params={param: bad}, headers=tenant.headers)
        problem = assert_problem(r, 422)
        assert ["query", param] in [e["loc"] for e in problem["errors"]], (bad, problem)
    r = await client.get(path, params={param: "2026-03-01"}, headers=tenant.headers)
    assert r.status_code == 200, r.text
