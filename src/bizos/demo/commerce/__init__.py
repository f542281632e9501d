"""A year of Northwind Coffee Roasters' trade: the catalogue, its stock ledger, and the
orders from the web shop, the wholesale desk and won deals, each with the invoice,
shipment and payments that order-to-cash would have produced.

Like the CRM history it writes rows directly with the models (commerce's here, billing's
in :mod:`bizos.demo.billing`, and the web shop's customers as CRM contacts), stamped with
the moment each thing happened, next to the domain event the service would have
appended (see :mod:`bizos.demo.story`).

What the rows promise, and ``tests/demo/commerce/test_trade_year.py`` checks:

* every product's counters are the sum of its ledger's deltas; two products ended the
  year below their reorder point, with the alert and an open purchasing task (one of
  them with a wholesale order backordered on it);
* ``SO-`` and ``INV-``/``CN-`` numbers are gapless, in date order, and each number
  series stands at its last number, so live orders and invoices continue the series;
* an order's total is its lines less discounts plus tax and shipping, its invoice bills
  the same amounts, and its status agrees with its timestamps, invoice and shipment;
* the history is already handled: its events are recorded as processed for every
  subscriber, so starting the server does not re-run a year of order-to-cash.

Everything is drawn from the ``random.Random`` handed in (ids aside), so the same seed
and moment give the same year.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.demo.billing import TERMS_DAYS
from bizos.demo.commerce.catalogue import YEAR, build_catalogue
from bizos.demo.commerce.customers import (
    crm_customers,
    read_crm,
    web_shop_buyers,
    web_shop_contacts,
)
from bizos.demo.commerce.orders import Orders
from bizos.demo.commerce.plans import (
    DEAL_ORDERS_SINCE_DAYS,
    deal_plans,
    draw_fates,
    low_stock_plans,
    shopify_plans,
    space_out,
    wholesale_plans,
)
from bizos.demo.commerce.stock import Stock
from bizos.demo.story import Story, load_team, set_series, stamped, write_story
from bizos.modules.commerce.models import CommerceSettings

log = structlog.get_logger("bizos.demo.commerce")

SHIP_FROM = {
    "name": "Northwind Coffee Roasters",
    "line1": "1200 NW Naito Pkwy",
    "city": "Portland",
    "postal_code": "97209",
    "country": "US",
}


async def seed_commerce_history(
    session: AsyncSession, ctx: Context, rng: random.Random, *, now: dt.datetime | None = None
) -> None:
    """Write a year of Northwind's catalogue, stock, orders and billing into ``ctx``'s
    tenant (after the CRM history, whose customers it sells to)."""
    now = now or utcnow()
    story = Story(rng, now, await load_team(session, ctx))
    products, stock = build_catalogue(story)
    crm = await read_crm(session, ctx)
    wholesale, retail = crm_customers(story, crm)
    consumers = web_shop_buyers(story, crm, YEAR)
    by_contact = {c.contact_id: c for c in wholesale}
    plans = space_out(
        [
            *shopify_plans(story, products, [*consumers, *retail]),
            *wholesale_plans(story, products, wholesale),
            *deal_plans(story, crm.won, by_contact),
            *low_stock_plans(story, wholesale),
        ],
        now,
    )
    draw_fates(story, plans)
    orders = Orders(story, products, stock)
    for plan in plans:
        orders.place(plan)
    _close_year(stock)
    web_shop_contacts(story, consumers, orders.orders)
    orders.billing.settle(orders.orders)
    story.rows.append(_settings(story))
    await write_story(session, ctx, story)
    await set_series(
        session,
        ctx,
        sales_order=orders.numbers,
        invoice=orders.billing.invoice_numbers,
        credit_note=orders.billing.credit_numbers,
    )
    log.info(
        "commerce.demo.seeded",
        products=len(products),
        orders=orders.numbers,
        invoices=orders.billing.invoice_numbers,
        rows=len(story.rows),
        events=len(story.events),
    )


def _close_year(stock: dict[str, Stock]) -> None:
    """Deliveries due by now arrive, the rest keep their open purchasing tasks, and each
    product's counters are what its ledger says."""
    for counter in stock.values():
        counter.close_year()
        counter.open_tasks()
        product = counter.product
        product.stock_on_hand, product.allocated = counter.on_hand, counter.allocated
        product.below_reorder_point, product.version = counter.below, counter.version


def _settings(story: Story) -> CommerceSettings:
    """The commerce settings as the owner set them when orders from won deals began."""
    at = story.now - dt.timedelta(days=DEAL_ORDERS_SINCE_DAYS)
    return CommerceSettings(
        orders_from_won_deals=True,
        default_tax_rate=Decimal("0"),
        payment_terms_days=TERMS_DAYS,
        notify_customer=True,
        purchasing_assignee_id=story.team.get("purchasing"),
        operations_assignee_id=story.team.get("operations"),
        ship_from=SHIP_FROM,
        default_parcel={"length_cm": 30, "width_cm": 20, "height_cm": 12},
        **stamped(at),
    )
