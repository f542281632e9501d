"""``/openapi.json`` agrees with API.md "Commerce and billing": the documented paths and
methods exist with their status codes, bodies and responses carry the named fields, and
every error a route can answer is documented as problem+json.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bizos.app import create_app
from bizos.core.config import get_settings
from tests.api.conftest import assert_problem
from tests.conftest import TenantLogin

PROBLEM = "application/problem+json"

# (method, path, success status) as API.md names them.
DOCUMENTED = [
    ("post", "/api/v1/commerce/products", "201"),
    ("get", "/api/v1/commerce/products/{product_id}", "200"),
    ("post", "/api/v1/commerce/orders", "201"),
    ("get", "/api/v1/commerce/orders", "200"),
    ("get", "/api/v1/commerce/orders/{order_id}", "200"),
    ("get", "/api/v1/billing/invoices", "200"),
    ("get", "/api/v1/billing/invoices/{invoice_id}", "200"),
    ("post", "/webhooks/shopify/{tenant_slug}", "200"),
    ("post", "/webhooks/stripe/{tenant_slug}", "200"),
]
PRODUCT_FIELDS = {"id", "sku", "name", "price", "currency", "stock_on_hand", "allocated"}
PRODUCT_FIELDS |= {"available", "reorder_point"}
ORDER_FIELDS = {"id", "external_id", "status", "lines", "total", "currency", "invoice_id"}
ORDER_FIELDS |= {"shipment"}
INVOICE_FIELDS = {"id", "number", "order_id", "contact_id", "status", "currency", "total"}
INVOICE_FIELDS |= {"amount_paid", "lines", "due_date"}
ORDER_STATUSES = {"received", "allocated", "backordered", "invoiced", "shipped"}
ORDER_STATUSES |= {"fulfilled", "cancelled", "failed"}
INVOICE_STATUSES = {"draft", "open", "paid", "partially_paid", "void", "discrepancy"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    """The document ``/openapi.json`` serves (its paths depend on the code only, so it is
    built once per module; ``test_the_served_document_is_the_one_checked`` ties the two)."""
    return create_app(get_settings(), workers=False).openapi()


async def test_the_served_document_is_the_one_checked(
    client: httpx.AsyncClient, spec: dict[str, Any]
) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    served = r.json()["paths"]
    # The served app also carries this package's test-only routes (tests/api/conftest.py).
    assert {p: set(served[p]) for p in spec["paths"]} == {
        p: set(ops) for p, ops in spec["paths"].items()
    }
    assert all(p.startswith("/api/v1/test/") for p in set(served) - set(spec["paths"]))


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` (and a nullable ``anyOf``) to the object schema."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return resolve(doc, doc["components"]["schemas"][name])
    for option in schema.get("anyOf", ()):
        if option.get("type") != "null":
            return resolve(doc, option)
    return schema


def operation(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    assert path in doc["paths"], f"{path} is not in /openapi.json"
    assert method in doc["paths"][path], f"{method.upper()} {path} is not in /openapi.json"
    op: dict[str, Any] = doc["paths"][path][method]
    return op


def response_schema(doc: dict[str, Any], method: str, path: str, status: str) -> dict[str, Any]:
    responses = operation(doc, method, path)["responses"]
    assert status in responses, f"{method.upper()} {path} does not document {status}"
    return resolve(doc, responses[status]["content"]["application/json"]["schema"])


def request_fields(doc: dict[str, Any], method: str, path: str) -> set[str]:
    body = operation(doc, method, path)["requestBody"]["content"]["application/json"]
    return set(resolve(doc, body["schema"])["properties"])


def query_names(doc: dict[str, Any], method: str, path: str) -> set[str]:
    params = operation(doc, method, path).get("parameters", [])
    return {p["name"] for p in params if p["in"] == "query"}


def named_fields(schema: dict[str, Any]) -> set[str]:
    """Fields the response always carries (required), so a client can rely on them."""
    return set(schema.get("required", ())) & set(schema["properties"])


@pytest.mark.parametrize(("method", "path", "status"), DOCUMENTED)
def test_documented_operation_exists_with_its_status(
    spec: dict[str, Any], method: str, path: str, status: str
) -> None:
    responses = operation(spec, method, path)["responses"]
    assert status in responses


@pytest.mark.parametrize(("method", "path", "_status"), DOCUMENTED)
def test_every_documented_error_is_problem_json(
    spec: dict[str, Any], method: str, path: str, _status: str
) -> None:
    responses = operation(spec, method, path)["responses"]
    for status in ("401", "404", "422", "429"):
        assert status in responses, f"{method.upper()} {path} does not document {status}"
        assert list(responses[status]["content"]) == [PROBLEM]
    problem = resolve(spec, responses["422"]["content"][PROBLEM]["schema"])
    assert {"type", "title", "status", "detail"} <= named_fields(problem)
    assert "errors" in problem["properties"]
    if path.startswith("/api/v1/"):
        assert "403" in responses
    if method == "post":
        assert {"409", "413"} <= responses.keys()


def test_product_create_and_read_carry_stock_fields(spec: dict[str, Any]) -> None:
    assert {"sku", "name", "price", "currency", "stock_on_hand", "reorder_point"} <= (
        request_fields(spec, "post", "/api/v1/commerce/products")
    )
    created = response_schema(spec, "post", "/api/v1/commerce/products", "201")
    read = response_schema(spec, "get", "/api/v1/commerce/products/{product_id}", "200")
    assert named_fields(created) >= PRODUCT_FIELDS
    assert named_fields(read) >= PRODUCT_FIELDS


def test_order_create_list_and_read_carry_the_named_fields(spec: dict[str, Any]) -> None:
    create = request_fields(spec, "post", "/api/v1/commerce/orders")
    assert {"contact_id", "email", "lines", "currency"} <= create
    body = operation(spec, "post", "/api/v1/commerce/orders")["requestBody"]
    lines = resolve(spec, body["content"]["application/json"]["schema"])["properties"]["lines"]
    assert {"sku", "quantity"} <= set(resolve(spec, lines["items"])["properties"])
    assert "external_id" in query_names(spec, "get", "/api/v1/commerce/orders")

    page = response_schema(spec, "get", "/api/v1/commerce/orders", "200")
    assert {"items", "next_cursor"} <= named_fields(page)
    listed = resolve(spec, page["properties"]["items"]["items"])
    for schema in (
        listed,
        response_schema(spec, "post", "/api/v1/commerce/orders", "201"),
        response_schema(spec, "get", "/api/v1/commerce/orders/{order_id}", "200"),
    ):
        assert named_fields(schema) >= ORDER_FIELDS
        assert set(schema["properties"]["status"]["enum"]) == ORDER_STATUSES
        shipment = schema["properties"]["shipment"]
        assert {"type": "null"} in shipment["anyOf"]  # shipment: {...} | null
        assert {"carrier", "tracking_number", "label_url"} <= set(
            resolve(spec, shipment)["properties"]
        )


def test_invoice_list_and_read_carry_the_named_fields(spec: dict[str, Any]) -> None:
    assert "order_id" in query_names(spec, "get", "/api/v1/billing/invoices")
    page = response_schema(spec, "get", "/api/v1/billing/invoices", "200")
    assert {"items", "next_cursor"} <= named_fields(page)
    listed = resolve(spec, page["properties"]["items"]["items"])
    read = response_schema(spec, "get", "/api/v1/billing/invoices/{invoice_id}", "200")
    for schema in (listed, read):
        assert named_fields(schema) >= INVOICE_FIELDS
        assert set(schema["properties"]["status"]["enum"]) == INVOICE_STATUSES


@pytest.mark.parametrize("provider", ["shopify", "stripe"])
def test_webhook_receivers_document_their_signature_failure(
    spec: dict[str, Any], provider: str
) -> None:
    responses = operation(spec, "post", f"/webhooks/{provider}/{{tenant_slug}}")["responses"]
    assert {"200", "401"} <= responses.keys()
    assert list(responses["401"]["content"]) == [PROBLEM]


async def test_documented_errors_are_what_the_routes_answer(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    """The documented shapes are the real ones: unauthenticated, unknown id, bad body."""
    assert_problem(await client.get("/api/v1/commerce/orders"), 401)
    r = await client.get("/api/v1/billing/invoices/no-such-invoice", headers=tenant.headers)
    assert_problem(r, 404)
    r = await client.post("/api/v1/commerce/products", headers=tenant.headers, json={"sku": 1})
    body = assert_problem(r, 422)
    assert all({"loc", "msg"} <= e.keys() for e in body["errors"])
    assert_problem(await client.post("/webhooks/shopify/nobody", content=b"{}"), 401)
    assert_problem(await client.post("/webhooks/stripe/nobody", content=b"{}"), 401)


async def test_wrong_method_lists_every_method_the_path_serves(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.delete("/api/v1/commerce/orders", headers=tenant.headers)
    assert_problem(r, 405)
    assert {"GET", "POST"} <= {m.strip() for m in r.headers["allow"].split(",")}


async def test_a_body_that_is_not_utf8_is_a_422_problem(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/commerce/products",
        headers={**tenant.headers, "Content-Type": "application/json"},
        content=b'{"sku": "\xff\xfe"}',
    )
    body = assert_problem(r, 422)
    assert body["errors"][0]["loc"] == ["body"]
