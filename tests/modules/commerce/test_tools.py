"""The copilot's commerce tools, as the copilot calls them (through the registry) and as
they say their answer: every figure is checked against a sum the test asks the database
for itself (or against the fixture's own numbers), and every number in the words is one
of the figures. Another tenant's orders and products never count."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.errors import Forbidden, Unprocessable
from bizos.core.money import cents
from bizos.core.tools import Figure, Said, ToolRegistry, ToolResult, unfigured_numbers
from bizos.modules.commerce.metrics.schemas import LowStockParams, LowStockValue
from bizos.modules.commerce.models import Order, OrderLine, Product
from bizos.modules.commerce.tools import TOOLS, speak_low_stock
from tests.conftest import TenantLogin
from tests.modules.commerce.test_metrics import Shop, at, seed_other_shop, seed_shop
from tests.modules.identity.helpers import assert_problem, create_key

D = Decimal
JAN_FEB = {"from": "2026-01-01", "to": "2026-02-28"}
START, END = at("2026-01-01", "00:00"), at("2026-03-01", "00:00")
TOOLS_BY_NAME = ToolRegistry(TOOLS)


def reader(tenant: TenantLogin, *scopes: str) -> Context:
    return Context(
        tenant_id=tenant.tenant_id, actor_type="user", scopes=frozenset(scopes or {"commerce:read"})
    )


async def ask(
    db: Database, tenant: TenantLogin, name: str, params: dict[str, Any]
) -> tuple[ToolResult, Said]:
    """Call tool ``name`` as the copilot does and let it say the result."""
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        result = await TOOLS_BY_NAME.call(s, reader(tenant), name, params)
    speak = TOOLS_BY_NAME.get(name).speak
    assert speak is not None
    said = speak(TOOLS_BY_NAME.validated(name, params), result)
    assert unfigured_numbers(said) == [], said.text
    return result, said


async def sql(db: Database, tenant: TenantLogin, query: sa.Select[Any]) -> list[Any]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        return list((await s.execute(query)).all())


def counted_orders(tenant: TenantLogin) -> list[sa.ColumnElement[bool]]:
    """The test's own statement of the revenue rule, January and February 2026."""
    return [
        Order.tenant_id == tenant.tenant_id,
        Order.status.not_in(["cancelled", "failed"]),
        Order.placed_at >= START,
        Order.placed_at < END,
    ]


def figure(said: Said, label: str) -> Figure:
    [found] = [f for f in said.figures if f.label == label]
    return found


@pytest.fixture
async def shop(db: Database, tenant: TenantLogin, other_tenant: TenantLogin) -> Shop:
    shop = await seed_shop(db, tenant.tenant_id)
    await seed_other_shop(db, other_tenant.tenant_id)
    return shop


# --- revenue and orders -----------------------------------------------------------------


async def test_revenue_says_each_currency_with_its_orders(
    db: Database, tenant: TenantLogin, shop: Shop
) -> None:
    result, said = await ask(db, tenant, "commerce.revenue", JAN_FEB)
    expected = await sql(
        db,
        tenant,
        sa.select(Order.currency, sa.func.sum(Order.total), sa.func.count())
        .where(*counted_orders(tenant))
        .group_by(Order.currency)
        .order_by(Order.currency),
    )
    assert [(c, cents(total), n) for c, total, n in expected] == [
        ("EUR", D("200.00"), 3),
        ("USD", D("300.00"), 1),
    ]
    for currency, total, n in expected:
        revenue = figure(said, f"Revenue ({currency})")
        assert (revenue.value, revenue.currency) == (cents(total), currency)
        assert revenue.period == (dt.date(2026, 1, 1), dt.date(2026, 2, 28))
        assert figure(said, f"Orders ({currency})").value == n
    assert said.text == (
        "Revenue for 1 Jan \u2013 28 Feb 2026 was €200.00 from 3 orders and $300.00 from "
        "1 order. Top months: in EUR, Jan 2026 €160.00; Feb 2026 €40.00."
    )
    february = figure(said, "Revenue of Feb 2026 (EUR)")
    assert (february.value, february.period) == (
        D("40.00"),
        (dt.date(2026, 2, 1), END.date() - dt.timedelta(days=1)),
    )
    assert result.records_total == 4


async def test_revenue_of_one_product_is_its_line_revenue(
    db: Database, tenant: TenantLogin, shop: Shop
) -> None:
    widget = shop.products["WIDGET"]
    result, said = await ask(db, tenant, "commerce.revenue", {**JAN_FEB, "product_id": widget})
    [(total, units, orders)] = await sql(
        db,
        tenant,
        sa.select(
            sa.func.sum(OrderLine.line_total),
            sa.func.sum(OrderLine.quantity),
            sa.func.count(sa.distinct(OrderLine.order_id)),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(*counted_orders(tenant), OrderLine.product_id == widget),
    )
    assert (cents(total), units, orders) == (D("120.00"), 6, 2)  # SO-1 4 x 20, SO-6 2 x 20
    assert figure(said, "Revenue from WIDGET Widget (EUR)").value == cents(total)
    assert figure(said, "Orders (EUR)").value == orders
    assert said.text.startswith(
        "Revenue from WIDGET Widget for 1 Jan \u2013 28 Feb 2026 was €120.00"
    )
    assert "before tax" in said.text
    assert set(result.records) == {shop.orders["SO-1"], shop.orders["SO-6"]}
    assert result.filters["product_id"] == widget


async def test_revenue_and_orders_of_one_customer(
    db: Database, tenant: TenantLogin, shop: Shop
) -> None:
    _result, said = await ask(db, tenant, "commerce.revenue", {**JAN_FEB, "contact_id": "c-ada"})
    [(total, n)] = await sql(
        db,
        tenant,
        sa.select(sa.func.sum(Order.total), sa.func.count()).where(
            *counted_orders(tenant), Order.contact_id == "c-ada"
        ),
    )
    assert (cents(total), n) == (D("140.00"), 2)  # SO-1 + SO-6; her cancelled SO-3 is no sale
    assert figure(said, "Revenue (EUR)").value == cents(total)
    assert said.text.startswith(
        "Revenue from this customer for 1 Jan \u2013 28 Feb 2026 was €140.00 from 2 orders."
    )
    result, said = await ask(db, tenant, "commerce.orders", {**JAN_FEB, "contact_id": "c-ada"})
    assert result.records == [shop.orders["SO-1"], shop.orders["SO-6"]]
    assert figure(said, "Average order value (EUR)").value == cents(total / n)
    assert said.text == (
        "2 orders from this customer were placed between 1 Jan and 28 Feb 2026, worth "
        "€140.00 in all; the average order value was €70.00."
    )


async def test_orders_containing_a_product_count_whole_orders(
    db: Database, tenant: TenantLogin, shop: Shop
) -> None:
    gadget = shop.products["GADGET"]
    result, said = await ask(db, tenant, "commerce.orders", {**JAN_FEB, "product_id": gadget})
    with_gadget = sa.select(OrderLine.order_id).where(OrderLine.product_id == gadget)
    [(total, n)] = await sql(
        db,
        tenant,
        sa.select(sa.func.sum(Order.total), sa.func.count()).where(
            *counted_orders(tenant), Order.id.in_(with_gadget)
        ),
    )
    # SO-2 only (its 60.00 total, shipping included); SO-4 failed.
    assert (cents(total), n) == (D("60.00"), 1)
    assert result.records == [shop.orders["SO-2"]]
    assert figure(said, "Orders").value == n
    assert figure(said, "Order value (EUR)").value == cents(total)
    assert said.text.startswith("1 order containing this product was placed between")


async def test_order_count_and_average_order_value_in_every_currency(
    db: Database, tenant: TenantLogin, shop: Shop
) -> None:
    _result, said = await ask(db, tenant, "commerce.orders", JAN_FEB)
    rows = await sql(
        db,
        tenant,
        sa.select(Order.currency, sa.func.sum(Order.total), sa.func.count())
        .where(*counted_orders(tenant))
        .group_by(Order.currency),
    )
    for currency, total, n in rows:
        assert figure(said, f"Average order value ({currency})").value == cents(total / n)
    assert figure(said, "Orders").value == sum(n for _c, _t, n in rows)
    assert said.text == (
        "4 orders were placed between 1 Jan and 28 Feb 2026: 3 orders worth €200.00, "
        "averaging €66.67; 1 order worth $300.00, averaging $300.00."
    )


# --- customers and products -------------------------------------------------------------


async def test_top_customers_name_each_customer_with_their_revenue(
    db: Database, tenant: TenantLogin, shop: Shop
) -> None:
    _result, said = await ask(db, tenant, "commerce.top_customers", JAN_FEB)
    [(ada,)] = await sql(
        db,
        tenant,
        sa.select(sa.func.sum(Order.total)).where(
            *counted_orders(tenant), Order.contact_id == "c-ada"
        ),
    )
    assert figure(said, "Revenue from Ada (EUR)").value == cents(ada)
    assert said.text == (
        "Top customers between 1 Jan and 28 Feb 2026: in EUR, Ada €140.00 (2 orders); "
        "Bob €60.00 (1 order); in USD, Cy $300.00 (1 order)."
    )
    assert [s.id for s in said.sources] == ["c-ada", "c-cy"]


async def test_top_products_rank_by_revenue_or_by_units(
    db: Database, tenant: TenantLogin, shop: Shop
) -> None:
    sold = await sql(
        db,
        tenant,
        sa.select(
            OrderLine.product_id, sa.func.sum(OrderLine.line_total), sa.func.sum(OrderLine.quantity)
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(*counted_orders(tenant), OrderLine.product_id.is_not(None))
        .group_by(OrderLine.product_id),
    )
    by_id = {pid: (cents(total), qty) for pid, total, qty in sold}
    widget, gadget = shop.products["WIDGET"], shop.products["GADGET"]
    assert by_id == {widget: (D("120.00"), 6), gadget: (D("50.00"), 1)}
    result, said = await ask(db, tenant, "commerce.top_products", {**JAN_FEB, "limit": 1})
    assert [(p.rank, p.product_id) for p in result.value.products] == [(1, widget)]
    assert figure(said, "Revenue of Widget (WIDGET) (EUR)").value == by_id[widget][0]
    assert figure(said, "Units of Widget (WIDGET) sold").value == by_id[widget][1]
    assert said.text == (
        "Top products by revenue before tax between 1 Jan and 28 Feb 2026: "
        "Widget (WIDGET) €120.00 (6 units)."
    )
    _result, said = await ask(db, tenant, "commerce.top_products", {**JAN_FEB, "by": "quantity"})
    assert said.text == (
        "Top products by units sold between 1 Jan and 28 Feb 2026: Widget (WIDGET) 6 units "
        "(€120.00); Gadget (GADGET) 1 unit (€50.00)."
    )
    assert [s.id for s in said.sources] == [widget, gadget]


# --- stock ------------------------------------------------------------------------------


async def test_low_stock_lists_products_below_their_reorder_point(
    db: Database, tenant: TenantLogin, shop: Shop
) -> None:
    low = await sql(
        db,
        tenant,
        sa.select(Product.sku, Product.reorder_point - (Product.stock_on_hand - Product.allocated))
        .where(
            Product.tenant_id == tenant.tenant_id,
            Product.active.is_(True),
            Product.tracks_stock.is_(True),
            Product.stock_on_hand - Product.allocated < Product.reorder_point,
        )
        .order_by(Product.sku),
    )
    # GADGET 2 available of 5; EMPTY 0 of 1. LAMP sits at its point; OLD is archived;
    # SUPPORT holds no stock.
    assert low == [("EMPTY", 1), ("GADGET", 3)]
    result, said = await ask(db, tenant, "commerce.low_stock", {})
    assert [p.sku for p in result.value.products] == ["GADGET", "EMPTY"]  # furthest below first
    assert result.records == [shop.products["GADGET"], shop.products["EMPTY"]]
    assert figure(said, "Products low on stock").value == len(low)
    assert figure(said, "Available units of Gadget (GADGET)").value == 2
    assert said.text == (
        "2 products are low on stock: Gadget (GADGET) has 2 available (reorder point 5); "
        "Sold out (EMPTY) has 0 available (reorder point 1)."
    )
    one, _said = await ask(db, tenant, "commerce.low_stock", {"limit": 1})
    assert one.value.count == 2 and len(one.value.products) == 1


async def test_stock_value_says_what_was_valued_at_price(
    db: Database, tenant: TenantLogin, shop: Shop
) -> None:
    [(value,)] = await sql(
        db,
        tenant,
        sa.select(
            sa.func.sum(Product.stock_on_hand * sa.func.coalesce(Product.cost, Product.price))
        ).where(
            Product.tenant_id == tenant.tenant_id,
            Product.active.is_(True),
            Product.tracks_stock.is_(True),
            Product.currency == "EUR",
        ),
    )
    _result, said = await ask(db, tenant, "commerce.stock_value", {"currency": "EUR"})
    assert figure(said, "Stock value (EUR)").value == cents(value) == D("230.00")
    assert said.text == (
        "Stock on hand is worth €230.00 at cost (13 units of 2 products; €150.00 of it at "
        "selling price, the cost being unknown). Most valuable: Gadget (GADGET) €150.00; "
        "Widget (WIDGET) €80.00."
    )


# --- nothing to count ---------------------------------------------------------------------


async def test_empty_results_say_so_with_a_zero_figure(
    db: Database, tenant: TenantLogin, shop: Shop
) -> None:
    year_before = {"from": "2025-01-01", "to": "2025-01-31"}
    _r, said = await ask(db, tenant, "commerce.revenue", {**year_before, "currency": "EUR"})
    assert said.text == "No orders were placed between 1 Jan and 31 Jan 2025: revenue was €0.00."
    assert [(f.value, f.currency) for f in said.figures] == [(D("0.00"), "EUR")]
    _r, said = await ask(db, tenant, "commerce.orders", year_before)
    assert said.text == "No orders were placed between 1 Jan and 31 Jan 2025."
    assert [f.value for f in said.figures] == [0]
    for name in ("commerce.top_customers", "commerce.top_products"):
        _r, said = await ask(db, tenant, name, year_before)
        assert said.text.startswith("No ") and [f.value for f in said.figures] == [0]
    empty = ToolResult(value=LowStockValue(count=0, products=[]), query="low stock")
    said = speak_low_stock(LowStockParams(), empty)
    assert said.text.startswith("No product is low on stock")
    assert [f.value for f in said.figures] == [0]


# --- tenants, parameters, scopes -----------------------------------------------------------


async def test_another_tenants_orders_and_products_never_count(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin, shop: Shop
) -> None:
    widget = shop.products["WIDGET"]
    result, said = await ask(
        db, other_tenant, "commerce.revenue", {**JAN_FEB, "product_id": widget}
    )
    assert result.records == [] and said.text.startswith("No orders containing this product")
    result, _said = await ask(
        db, other_tenant, "commerce.orders", {**JAN_FEB, "contact_id": "c-ada"}
    )
    assert result.value.order_count == 0
    result, said = await ask(db, other_tenant, "commerce.revenue", JAN_FEB)
    assert figure(said, "Revenue (EUR)").value == D("1000.00")  # their one order
    assert not set(result.records) & set(shop.orders.values())
    result, _said = await ask(db, other_tenant, "commerce.low_stock", {})
    assert [p.name for p in result.value.products] == ["Theirs"]
    mine, _said = await ask(db, tenant, "commerce.low_stock", {})
    assert "Theirs" not in [p.name for p in mine.value.products]


async def test_bad_parameters_are_422(db: Database, tenant: TenantLogin) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        for name, params in (
            ("commerce.top_products", {"by": "price"}),
            ("commerce.top_products", {"limit": 0}),
            ("commerce.top_products", {"from": "2026-02-01", "to": "2026-01-01"}),
            ("commerce.low_stock", {"limit": 101}),
            ("commerce.low_stock", {"sku": "WIDGET"}),
            ("commerce.revenue", {"product_id": ""}),
            ("commerce.orders", {"contact_id": "x" * 37}),
        ):
            with pytest.raises(Unprocessable):
                await TOOLS_BY_NAME.call(s, reader(tenant), name, params)


async def test_the_tools_need_commerce_read(db: Database, tenant: TenantLogin) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        for name in ("commerce.top_products", "commerce.low_stock", "commerce.revenue"):
            with pytest.raises(Forbidden):
                await TOOLS_BY_NAME.call(s, reader(tenant, "billing:read"), name, {})


# --- through the API ------------------------------------------------------------------------

METRICS = "/api/v1/commerce/metrics"


async def test_the_api_answers_top_products_and_low_stock(
    client: httpx.AsyncClient, tenant: TenantLogin, shop: Shop
) -> None:
    r = await client.get(
        f"{METRICS}/top-products", params={**JAN_FEB, "by": "quantity"}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    assert [p["sku"] for p in r.json()["value"]["products"]] == ["WIDGET", "GADGET"]
    r = await client.get(f"{METRICS}/low-stock", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["records"] == [shop.products["GADGET"], shop.products["EMPTY"]]
    r = await client.get(
        f"{METRICS}/revenue",
        params={**JAN_FEB, "product_id": shop.products["GADGET"]},
        headers=tenant.headers,
    )
    assert r.json()["value"]["totals"] == {"EUR": "50.00"}
    assert_problem(
        await client.get(f"{METRICS}/top-products", params={"by": "x"}, headers=tenant.headers),
        422,
    )
    key = await create_key(client, tenant, ["billing:read"])
    denied = {"Authorization": f"Bearer {key['key']}"}
    assert_problem(await client.get(f"{METRICS}/low-stock", headers=denied), 403)
