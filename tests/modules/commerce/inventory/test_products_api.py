"""Products through the API as a shop sees them: create with opening stock, read the
counters, list and filter, edit under If-Match, receive and correct stock, read the
ledger — and the bad paths."""

from __future__ import annotations

import asyncio

import httpx

from bizos.core.db import Database
from tests.conftest import TenantLogin
from tests.modules.commerce.inventory.helpers import (
    PRODUCTS,
    assert_ledger_balances,
    events_of,
    post_product,
)
from tests.modules.identity.helpers import add_member, assert_problem, bearer, create_key


async def test_a_product_is_created_with_its_opening_stock(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    r = await client.post(
        PRODUCTS,
        json={
            "sku": "MUG-BLUE",
            "name": "Blue mug",
            "price": "12.5",
            "currency": "eur",
            "stock_on_hand": 25,
            "reorder_point": 5,
            "reorder_quantity": 50,
        },
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    product = r.json()
    assert r.headers["Location"] == f"{PRODUCTS}/{product['id']}"
    assert (product["price"], product["currency"]) == ("12.50", "EUR")
    assert (product["stock_on_hand"], product["allocated"], product["available"]) == (25, 0, 25)
    assert (product["reorder_point"], product["below_reorder_point"]) == (5, False)

    r = await client.get(f"{PRODUCTS}/{product['id']}", headers=tenant.headers)
    assert r.status_code == 200
    assert r.json()["available"] == 25
    assert r.headers["ETag"] == 'W/"1"'

    r = await client.get(f"{PRODUCTS}/{product['id']}/movements", headers=tenant.headers)
    [initial] = r.json()["items"]
    assert (initial["kind"], initial["on_hand_delta"], initial["on_hand_after"]) == (
        "initial",
        25,
        25,
    )
    assert [e["sku"] for e in await events_of(db, tenant, "commerce.product.created")] == [
        "MUG-BLUE"
    ]
    await assert_ledger_balances(db, tenant, product["id"])


async def test_a_duplicate_sku_is_a_conflict(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await post_product(client, tenant, sku="MUG-BLUE")
    r = await client.post(
        PRODUCTS,
        json={"sku": "MUG-BLUE", "name": "Another", "price": "1.00", "currency": "EUR"},
        headers=tenant.headers,
    )
    assert assert_problem(r, 409)["errors"][0]["loc"] == ["body", "sku"]
    # SKUs are per tenant: another shop may use the same one.
    await post_product(client, other_tenant, sku="MUG-BLUE")


async def test_malformed_products_are_refused_with_the_field_named(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    base = {"sku": "MUG", "name": "Mug", "price": "1.00", "currency": "EUR"}
    for change, field in (
        ({"price": "1.001"}, "price"),
        ({"price": "-1"}, "price"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"stock_on_hand": -1}, "stock_on_hand"),
        ({"sku": "has space"}, "sku"),
        ({"colour": "blue"}, "colour"),
    ):
        r = await client.post(PRODUCTS, json={**base, **change}, headers=tenant.headers)
        body = assert_problem(r, 422)
        assert any(field in e["loc"] for e in body["errors"]), (change, body)


async def test_products_are_listed_filtered_and_paged(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await post_product(client, tenant, sku="MUG-BLUE", name="Blue mug", stock_on_hand=10)
    low = await post_product(
        client, tenant, sku="MUG-RED", name="Red mug", stock_on_hand=2, reorder_point=5
    )
    await post_product(client, tenant, sku="TEE-L", name="T-shirt", stock_on_hand=0)

    r = await client.get(PRODUCTS, params={"q": "mug"}, headers=tenant.headers)
    assert [p["sku"] for p in r.json()["items"]] == ["MUG-RED", "MUG-BLUE"]  # newest first
    r = await client.get(PRODUCTS, params={"low_stock": "true"}, headers=tenant.headers)
    assert [p["id"] for p in r.json()["items"]] == [low["id"]]
    r = await client.get(PRODUCTS, params={"sku": "TEE-L"}, headers=tenant.headers)
    assert [p["sku"] for p in r.json()["items"]] == ["TEE-L"]

    r = await client.get(PRODUCTS, params={"limit": 2}, headers=tenant.headers)
    first = r.json()
    assert [p["sku"] for p in first["items"]] == ["TEE-L", "MUG-RED"]
    assert first["next_cursor"]
    r = await client.get(
        PRODUCTS, params={"limit": 2, "cursor": first["next_cursor"]}, headers=tenant.headers
    )
    assert [p["sku"] for p in r.json()["items"]] == ["MUG-BLUE"]
    assert r.json()["next_cursor"] is None


async def test_an_edit_with_a_stale_if_match_is_refused(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    product = await post_product(client, tenant)
    url = f"{PRODUCTS}/{product['id']}"
    r = await client.patch(
        url, json={"price": "14.00"}, headers={**tenant.headers, "If-Match": 'W/"1"'}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["price"], r.json()["version"]) == ("14.00", 2)

    r = await client.patch(url, json={"name": "Mug"}, headers={**tenant.headers, "If-Match": "1"})
    assert_problem(r, 409)
    assert (await client.get(url, headers=tenant.headers)).json()["name"] == "Blue mug"
    assert [e["changed"] for e in await events_of(db, tenant, "commerce.product.updated")] == [
        ["price"]
    ]


async def test_an_edit_cannot_clear_a_required_field_nor_take_a_used_sku(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await post_product(client, tenant, sku="MUG-RED")
    product = await post_product(client, tenant, sku="MUG-BLUE")
    url = f"{PRODUCTS}/{product['id']}"
    assert_problem(await client.patch(url, json={"price": None}, headers=tenant.headers), 422)
    assert_problem(await client.patch(url, json={"stock_on_hand": 3}, headers=tenant.headers), 422)
    assert_problem(await client.patch(url, json={"sku": "MUG-RED"}, headers=tenant.headers), 409)


async def test_received_and_corrected_stock_is_in_the_ledger(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    product = await post_product(client, tenant, stock_on_hand=10)
    stock = f"{PRODUCTS}/{product['id']}/stock"

    r = await client.post(stock, json={"quantity": 5, "reason": "PO 17"}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["stock_on_hand"] == 15
    r = await client.post(
        stock,
        json={"quantity": -3, "kind": "adjustment", "reason": "broken"},
        headers=tenant.headers,
    )
    assert r.json()["stock_on_hand"] == 12
    r = await client.post(stock, json={"quantity": 1, "kind": "return"}, headers=tenant.headers)
    assert r.json()["available"] == 13

    r = await client.get(
        f"{PRODUCTS}/{product['id']}/movements",
        params={"sort": "created_at"},  # the ledger in the order it was written
        headers=tenant.headers,
    )
    assert [(m["kind"], m["on_hand_delta"], m["on_hand_after"]) for m in r.json()["items"]] == [
        ("initial", 10, 10),
        ("receipt", 5, 15),
        ("adjustment", -3, 12),
        ("return", 1, 13),
    ]
    received = await events_of(db, tenant, "commerce.stock.received")
    assert [(e["delta"], e["on_hand"], e["kind"]) for e in received] == [
        (5, 15, "receipt"),
        (1, 13, "return"),
    ]
    [adjusted] = await events_of(db, tenant, "commerce.stock.adjusted")
    assert (adjusted["delta"], adjusted["available"]) == (-3, 12)
    await assert_ledger_balances(db, tenant, product["id"])


async def test_a_correction_below_zero_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    product = await post_product(client, tenant, stock_on_hand=4)
    stock = f"{PRODUCTS}/{product['id']}/stock"
    r = await client.post(
        stock, json={"quantity": -5, "kind": "adjustment"}, headers=tenant.headers
    )
    assert "below zero" in assert_problem(r, 409)["detail"]
    for bad in ({"quantity": 0}, {"quantity": -2, "kind": "receipt"}, {"quantity": 1, "kind": "x"}):
        assert_problem(await client.post(stock, json=bad, headers=tenant.headers), 422)

    assert (await client.get(f"{PRODUCTS}/{product['id']}", headers=tenant.headers)).json()[
        "stock_on_hand"
    ] == 4
    r = await client.get(f"{PRODUCTS}/{product['id']}/movements", headers=tenant.headers)
    assert [m["kind"] for m in r.json()["items"]] == ["initial"]
    assert await events_of(db, tenant, "commerce.stock.adjusted") == []


async def test_another_tenants_product_is_not_found(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    product = await post_product(client, tenant)
    url = f"{PRODUCTS}/{product['id']}"
    h = other_tenant.headers
    assert_problem(await client.get(url, headers=h), 404)
    assert_problem(await client.patch(url, json={"name": "Mine"}, headers=h), 404)
    assert_problem(await client.post(f"{url}/stock", json={"quantity": 1}, headers=h), 404)
    assert_problem(await client.get(f"{url}/movements", headers=h), 404)
    assert (await client.get(PRODUCTS, headers=h)).json()["items"] == []


async def test_reading_and_writing_need_the_commerce_scopes(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    product = await post_product(client, tenant)
    url = f"{PRODUCTS}/{product['id']}"
    reader = bearer((await create_key(client, tenant, ["commerce:read"]))["key"])
    assert (await client.get(url, headers=reader)).status_code == 200
    assert_problem(await client.post(f"{url}/stock", json={"quantity": 1}, headers=reader), 403)
    assert_problem(await client.patch(url, json={"name": "x"}, headers=reader), 403)

    crm_only = bearer((await create_key(client, tenant, ["crm:read"]))["key"])
    assert_problem(await client.get(url, headers=crm_only), 403)
    assert_problem(await client.get(PRODUCTS, headers=crm_only), 403)

    viewer = await add_member(client, tenant, "viewer")
    assert (await client.get(url, headers=viewer.headers)).status_code == 200
    assert_problem(
        await client.post(
            PRODUCTS,
            json={"sku": "X", "name": "X", "price": "1.00", "currency": "EUR"},
            headers=viewer.headers,
        ),
        403,
    )


async def test_two_shops_assistants_adding_the_same_sku_at_once_get_one_product(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    body = {"sku": "MUG-BLUE", "name": "Blue mug", "price": "1.00", "currency": "EUR"}
    responses = await asyncio.gather(
        *(client.post(PRODUCTS, json=body, headers=tenant.headers) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    r = await client.get(PRODUCTS, headers=tenant.headers)
    assert [p["sku"] for p in r.json()["items"]] == ["MUG-BLUE"]


async def test_concurrent_edits_of_the_same_version_let_one_win(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    product = await post_product(client, tenant)
    url = f"{PRODUCTS}/{product['id']}"
    headers = {**tenant.headers, "If-Match": 'W/"1"'}
    responses = await asyncio.gather(
        client.patch(url, json={"price": "20.00"}, headers=headers),
        client.patch(url, json={"price": "30.00"}, headers=headers),
    )
    assert sorted(r.status_code for r in responses) == [200, 409]
    winner = next(r for r in responses if r.status_code == 200).json()
    assert (await client.get(url, headers=tenant.headers)).json()["price"] == winner["price"]
