"""Sales and stock figures against a small set of orders written straight into the
tables, every expected number worked out by hand in the comments: cancelled and failed
orders never count, currencies are never added together, other tenants never show."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bizos.core.context import system_context
from bizos.core.db import Database
from bizos.core.tools import ToolResult
from bizos.modules.commerce.metrics import service as metrics
from bizos.modules.commerce.models import Order, OrderLine, Product
from tests.conftest import TenantLogin
from tests.modules.identity.helpers import assert_problem, create_key

JAN = dt.date(2026, 1, 1)
FEB_END = dt.date(2026, 2, 28)
D = Decimal


def at(day: str, time: str = "10:00") -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}:00+00:00")


@dataclass
class Shop:
    """The ids a test needs to name the fixture's rows."""

    orders: dict[str, str]
    products: dict[str, str]


def _order(
    number: str, status: str, source: str, currency: str, placed: dt.datetime, **kw: Any
) -> Order:
    total = D(kw.pop("total"))
    return Order(
        number=number,
        status=status,
        source=source,
        currency=currency,
        placed_at=placed,
        subtotal=total - D(kw.get("tax_total", "0")) - D(kw.get("shipping_total", "0")),
        total=total,
        **kw,
    )


def _line(order: Order, pos: int, product: Product | None, qty: int, price: str) -> OrderLine:
    return OrderLine(
        order_id=order.id,
        position=pos,
        product_id=product.id if product else None,
        sku=product.sku if product else None,
        name=product.name if product else "Consulting day",
        quantity=qty,
        unit_price=D(price),
        line_total=D(price) * qty,
        tracks_stock=product is not None,
    )


async def seed_shop(db: Database, tenant_id: str) -> Shop:
    """Products and orders of January-March 2026 (see each row's comment)."""
    async with db.unit_of_work(tenant_id=tenant_id) as s:
        widget = Product(
            sku="WIDGET",
            name="Widget",
            price=D("20.00"),
            cost=D("8.00"),
            currency="EUR",
            stock_on_hand=10,
            reorder_point=2,
        )  # 10 x 8 at cost = 80; well above its reorder point
        gadget = Product(
            sku="GADGET",
            name="Gadget",
            price=D("50.00"),
            cost=None,
            currency="EUR",
            stock_on_hand=3,
            allocated=1,
            reorder_point=5,
            reorder_quantity=20,
        )  # 3 x 50 at price = 150; 2 available, below its reorder point of 5
        service = Product(
            sku="SUPPORT",
            name="Support plan",
            price=D("99.00"),
            currency="EUR",
            tracks_stock=False,
            stock_on_hand=0,
            reorder_point=1,
        )  # holds no stock: never low
        lamp = Product(
            sku="LAMP",
            name="Lamp",
            price=D("15.00"),
            cost=D("5.00"),
            currency="USD",
            stock_on_hand=4,
            reorder_point=4,
        )  # 4 x 5 = 20 USD; at its reorder point, not below it
        old = Product(
            sku="OLD",
            name="Archived",
            price=D("1.00"),
            cost=D("1.00"),
            currency="EUR",
            stock_on_hand=100,
            reorder_point=500,
            active=False,
        )  # only if asked; archived, so never low
        empty = Product(
            sku="EMPTY",
            name="Sold out",
            price=D("9.00"),
            cost=D("3.00"),
            currency="EUR",
            stock_on_hand=0,
            reorder_point=1,
        )  # nothing left: 1 below its reorder point
        s.add_all([widget, gadget, service, lamp, old, empty])
        await s.flush()
        o1 = _order(
            "SO-1",
            "fulfilled",
            "api",
            "EUR",
            at("2026-01-05"),
            total="100.00",
            tax_total="20.00",
            contact_id="c-ada",
            email="ada@example.com",
            customer_name="Ada",
        )  # Monday
        o2 = _order(
            "SO-2",
            "invoiced",
            "shopify",
            "EUR",
            at("2026-01-20"),
            total="60.00",
            shipping_total="10.00",
            email="Bob@Example.com",
            customer_name="Bob",
        )
        o3 = _order(
            "SO-3",
            "cancelled",
            "shopify",
            "EUR",
            at("2026-01-21"),
            total="999.00",
            contact_id="c-ada",
        )  # never counts
        o4 = _order(
            "SO-4",
            "failed",
            "api",
            "EUR",
            at("2026-01-22"),
            total="500.00",
            email="eve@example.com",
        )  # never counts
        o5 = _order(
            "SO-5",
            "received",
            "deal",
            "USD",
            at("2026-01-06"),
            total="300.00",
            contact_id="c-cy",
            customer_name="Cy",
        )
        o6 = _order(
            "SO-6",
            "shipped",
            "api",
            "EUR",
            at("2026-02-02", "23:59"),
            total="40.00",
            contact_id="c-ada",
            customer_name="Ada",
        )
        o7 = _order(
            "SO-7",
            "fulfilled",
            "api",
            "EUR",
            at("2026-03-01", "00:00"),
            total="70.00",
            contact_id="c-ada",
        )  # after the range
        s.add_all([o1, o2, o3, o4, o5, o6, o7])
        await s.flush()
        s.add_all(
            [
                _line(o1, 1, widget, 4, "20.00"),  # 80
                _line(o2, 1, gadget, 1, "50.00"),  # 50
                _line(o3, 1, widget, 10, "99.90"),
                _line(o4, 1, gadget, 10, "50.00"),
                _line(o5, 1, None, 1, "300.00"),  # a service line, no product
                _line(o6, 1, widget, 2, "20.00"),  # 40
                _line(o7, 1, widget, 3, "20.00"),
            ]
        )
        orders = {o.number: o.id for o in (o1, o2, o3, o4, o5, o6, o7)}
        products = {p.sku: p.id for p in (widget, gadget, service, lamp, old, empty)}
    return Shop(orders=orders, products=products)


async def seed_other_shop(db: Database, tenant_id: str) -> None:
    async with db.unit_of_work(tenant_id=tenant_id) as s:
        s.add(
            Product(
                sku="WIDGET",
                name="Theirs",
                price=D("5.00"),
                cost=D("5.00"),
                currency="EUR",
                stock_on_hand=1000,
                reorder_point=2000,
            )  # low on stock, in the other tenant only
        )
        s.add(
            _order(
                "SO-1",
                "fulfilled",
                "api",
                "EUR",
                at("2026-01-10"),
                total="1000.00",
                contact_id="c-theirs",
            )
        )


async def run(db: Database, tenant: TenantLogin, fn: Any, params: Any) -> ToolResult:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        result: ToolResult = await fn(s, system_context(tenant.tenant_id), params)
        return result


@pytest.fixture
async def shop(db: Database, tenant: TenantLogin, other_tenant: TenantLogin) -> Shop:
    shop = await seed_shop(db, tenant.tenant_id)
    await seed_other_shop(db, other_tenant.tenant_id)
    return shop


def rows(result: ToolResult) -> list[tuple[Any, ...]]:
    return [(r.key, r.currency, str(r.revenue), r.orders) for r in result.value.rows]


async def test_revenue_by_month_keeps_currencies_apart_and_skips_cancelled_and_failed(
    db: Database, tenant: TenantLogin, shop: Shop
) -> None:
    params = metrics.RevenueParams.model_validate({"from": JAN, "to": FEB_END})
    result = await run(db, tenant, metrics.revenue, params)
    # January EUR: SO-1 100 + SO-2 60 (SO-3 cancelled, SO-4 failed); USD: SO-5 300.
    assert rows(result) == [
        ("2026-01-01", "EUR", "160.00", 2),
        ("2026-01-01", "USD", "300.00", 1),
        ("2026-02-01", "EUR", "40.00", 1),
    ]
    assert [str(r.net) for r in result.value.rows] == ["140.00", "300.00", "40.00"]
    assert result.value.totals == {"EUR": D("200.00"), "USD": D("300.00")}
    o = shop.orders
    assert result.records == [o["SO-1"], o["SO-5"], o["SO-2"], o["SO-6"]]
    assert result.records_total == 4
    assert result.filters["from"] == "2026-01-01" and result.filters["to"] == "2026-02-28"
    assert "cancelled or failed" in result.query


async def test_revenue_by_week_starts_weeks_on_monday_and_by_day_on_utc_days(
    db: Database, tenant: TenantLogin, shop: Shop
) -> None:
    week = metrics.RevenueParams.model_validate({"from": JAN, "to": FEB_END, "interval": "week"})
    assert rows(await run(db, tenant, metrics.revenue, week)) == [
        ("2026-01-05", "EUR", "100.00", 1),
        ("2026-01-05", "USD", "300.00", 1),  # Tuesday the 6th: the same week
        ("2026-01-19", "EUR", "60.00", 1),
        ("2026-02-02", "EUR", "40.00", 1),  # 23:59 UTC is still Monday the 2nd
    ]
    day = metrics.RevenueParams.model_validate({"from": JAN, "to": FEB_END, "interval": "day"})
    assert [r[0] for r in rows(await run(db, tenant, metrics.revenue, day))] == [
        "2026-01-05",
        "2026-01-06",
        "2026-01-20",
        "2026-02-02",
    ]
    # The last day is inclusive: the order at midnight on 1 March joins with to=March 1.
    march = metrics.RevenueParams.model_validate({"from": "2026-03-01", "to": "2026-03-01"})
    assert rows(await run(db, tenant, metrics.revenue, march)) == [
        ("2026-03-01", "EUR", "70.00", 1)
    ]


async def test_revenue_by_channel_and_product(
    db: Database, tenant: TenantLogin, shop: Shop
) -> None:
    channel = metrics.RevenueParams.model_validate(
        {"from": JAN, "to": FEB_END, "group_by": "channel"}
    )
    # api EUR: SO-1 100 + SO-6 40; deal USD: SO-5; shopify EUR: SO-2.
    assert rows(await run(db, tenant, metrics.revenue, channel)) == [
        ("api", "EUR", "140.00", 2),
        ("deal", "USD", "300.00", 1),
        ("shopify", "EUR", "60.00", 1),
    ]
    product = metrics.RevenueParams.model_validate(
        {"from": JAN, "to": FEB_END, "group_by": "product"}
    )
    result = await run(db, tenant, metrics.revenue, product)
    # Widget: 4 x 20 (SO-1) + 2 x 20 (SO-6); Gadget: 1 x 50 (SO-2, shipping left out).
    p = shop.products
    assert [
        (r.key, r.currency, str(r.revenue), r.quantity, r.orders) for r in result.value.rows
    ] == [
        (p["WIDGET"], "EUR", "120.00", 6, 2),
        (p["GADGET"], "EUR", "50.00", 1, 1),
        (None, "USD", "300.00", 1, 1),
    ]
    assert result.value.rows[0].label == "WIDGET Widget"


async def test_order_count_and_average_order_value_per_currency(
    db: Database, tenant: TenantLogin, shop: Shop
) -> None:
    params = metrics.OrdersParams.model_validate({"from": JAN, "to": FEB_END})
    value = (await run(db, tenant, metrics.orders_summary, params)).value
    assert value.order_count == 4
    # EUR: (100 + 60 + 40) / 3 = 66.666.. -> 66.67; USD: 300 / 1.
    assert [
        (c.currency, c.orders, str(c.revenue), str(c.average_order_value))
        for c in value.by_currency
    ] == [
        ("EUR", 3, "200.00", "66.67"),
        ("USD", 1, "300.00", "300.00"),
    ]
    usd = metrics.OrdersParams.model_validate({"from": JAN, "to": FEB_END, "currency": "usd"})
    result = await run(db, tenant, metrics.orders_summary, usd)
    assert result.value.order_count == 1 and result.records == [shop.orders["SO-5"]]


async def test_top_customers_rank_within_each_currency(
    db: Database, tenant: TenantLogin, shop: Shop
) -> None:
    params = metrics.TopCustomersParams.model_validate({"from": JAN, "to": FEB_END})
    value = (await run(db, tenant, metrics.top_customers, params)).value
    # Ada: SO-1 100 + SO-6 40 (her cancelled SO-3 is not a purchase); Bob by e-mail: 60.
    assert [
        (c.rank, c.currency, c.contact_id, c.email, str(c.revenue), c.orders)
        for c in value.customers
    ] == [
        (1, "EUR", "c-ada", "ada@example.com", "140.00", 2),
        (2, "EUR", None, "bob@example.com", "60.00", 1),
        (1, "USD", "c-cy", None, "300.00", 1),
    ]
    one = metrics.TopCustomersParams.model_validate({"from": JAN, "to": FEB_END, "limit": 1})
    assert len((await run(db, tenant, metrics.top_customers, one)).value.customers) == 2


async def test_stock_value_at_cost_falls_back_to_price_and_says_so(
    db: Database, tenant: TenantLogin, shop: Shop
) -> None:
    result = await run(db, tenant, metrics.stock_value, metrics.StockValueParams())
    eur, usd = result.value.by_currency
    # EUR: Widget 10 x 8.00 at cost + Gadget 3 x 50.00 at price; service and empty: none.
    assert (eur.currency, str(eur.value), str(eur.value_at_cost), str(eur.value_at_price)) == (
        "EUR",
        "230.00",
        "80.00",
        "150.00",
    )
    assert (eur.products, eur.products_at_price, eur.units) == (2, 1, 13)
    assert (usd.currency, str(usd.value)) == ("USD", "20.00")
    assert [(r.sku, r.basis, str(r.value)) for r in result.value.products] == [
        ("GADGET", "price", "150.00"),
        ("WIDGET", "cost", "80.00"),
        ("LAMP", "cost", "20.00"),
    ]
    assert result.records == [shop.products[s] for s in ("GADGET", "WIDGET", "LAMP")]
    everything = metrics.StockValueParams(include_inactive=True, currency="EUR")
    [eur] = (await run(db, tenant, metrics.stock_value, everything)).value.by_currency
    assert str(eur.value) == "330.00"  # + 100 archived x 1.00


async def test_another_tenants_orders_never_count(
    db: Database, other_tenant: TenantLogin, shop: Shop
) -> None:
    params = metrics.RevenueParams.model_validate({"from": JAN, "to": FEB_END})
    result = await run(db, other_tenant, metrics.revenue, params)
    assert rows(result) == [("2026-01-01", "EUR", "1000.00", 1)]
    assert not set(result.records) & set(shop.orders.values())
    stock = await run(db, other_tenant, metrics.stock_value, metrics.StockValueParams())
    assert [str(c.value) for c in stock.value.by_currency] == ["5000.00"]


# --- through the API ------------------------------------------------------------------

METRICS = "/api/v1/commerce/metrics"


async def test_the_api_answers_with_figures_query_filters_and_records(
    client: httpx.AsyncClient, tenant: TenantLogin, shop: Shop
) -> None:
    r = await client.get(
        f"{METRICS}/revenue",
        params={
            "from": "2026-01-01",
            "to": "2026-02-28",
            "group_by": "period",
            "interval": "month",
        },
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["value"]["rows"][0] == {
        "key": "2026-01-01",
        "label": None,
        "currency": "EUR",
        "revenue": "160.00",
        "net": "140.00",
        "orders": 2,
        "quantity": None,
    }
    assert body["value"]["totals"] == {"EUR": "200.00", "USD": "300.00"}
    assert body["records_total"] == 4 and len(body["records"]) == 4
    assert body["filters"]["interval"] == "month" and body["query"]
    for path, key in (
        ("orders", "order_count"),
        ("top-customers", "customers"),
        ("stock-value", "by_currency"),
    ):
        params = {} if path == "stock-value" else {"from": "2026-01-01", "to": "2026-02-28"}
        r = await client.get(f"{METRICS}/{path}", params=params, headers=tenant.headers)
        assert r.status_code == 200, r.text
        assert key in r.json()["value"]
    r = await client.get(
        f"{METRICS}/orders",
        params={"from": "2026-01-01", "to": "2026-02-28"},
        headers=tenant.headers,
    )
    assert r.json()["value"]["by_currency"][0]["average_order_value"] == "66.67"


async def test_bad_query_parameters_are_422_problems(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for params in (
        {"group_by": "colour"},
        {"interval": "year"},
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"from": "not-a-date"},
        {"currency": "EURO"},
        {"from": "2000-01-01", "to": "2026-01-01"},
    ):
        r = await client.get(f"{METRICS}/revenue", params=params, headers=tenant.headers)
        assert_problem(r, 422)
    assert_problem(
        await client.get(f"{METRICS}/top-customers", params={"limit": 0}, headers=tenant.headers),
        422,
    )


async def test_metrics_need_commerce_read(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    key = await create_key(client, tenant, ["crm:read"])
    headers = {"Authorization": f"Bearer {key['key']}"}
    assert_problem(await client.get(f"{METRICS}/revenue", headers=headers), 403)
    assert_problem(await client.get(f"{METRICS}/revenue"), 401)
