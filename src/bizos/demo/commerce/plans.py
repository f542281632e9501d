"""When the year's orders came, through which door and for what: the web shop's daily
trickle (growing, with a December rush), the wholesale accounts' regular orders, won
deals once orders from deals were switched on, and the orders that took the LOW_STOCK
products under their reorder point. A few are cancelled; two fail on the retired blend."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bizos.demo.commerce.catalogue import CATALOGUE, LOW_STOCK, YEAR
from bizos.demo.commerce.customers import Customer
from bizos.demo.commerce.orders import Plan
from bizos.demo.story import Story
from bizos.modules.commerce.models import Product
from bizos.modules.crm.deals.schemas import DealRead

# The web shop took orders from the start; won deals became orders once enabled.
DEAL_ORDERS_SINCE_DAYS = 45


def _daily_rate(days_back: float) -> float:
    """Web shop orders a day: the shop grew over the year, with a December rush."""
    growth = 0.9 + 1.1 * (1 - days_back / YEAR)
    return growth


def shopify_plans(story: Story, products: dict[str, Product], buyers: list[Customer]) -> list[Plan]:
    rng, now = story.rng, story.now
    retail = [p for p in products.values() if p.active and Decimal(p.price) < 200]
    weights = [next(i.popularity for i in CATALOGUE if i.sku == p.sku) for p in retail]
    plans = []
    for day in range(YEAR, 0, -1):
        start = now - dt.timedelta(days=day)
        rate = _daily_rate(day) * (1.6 if start.month == 12 else 1.0)
        count = sum(1 for _ in range(6) if rng.random() < rate / 6)
        for _ in range(count):
            at = start + dt.timedelta(minutes=rng.randint(0, 24 * 60 - 1))
            if at >= now - dt.timedelta(hours=1):
                continue
            buyer = rng.choices(buyers, weights=[b.weight for b in buyers])[0]
            picks: dict[str, tuple[Product, int]] = {}
            for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
                product = rng.choices(retail, weights=weights)[0]
                quantity = (
                    1
                    if not product.tracks_stock or product.weight_grams != 250
                    else (rng.choice((1, 1, 2, 2, 3)))
                )
                picks[product.sku] = (product, quantity)
            plans.append(
                Plan(at, "shopify", buyer, list(picks.values()), discount_code=rng.random() < 0.08)
            )
    return plans


def wholesale_plans(
    story: Story, products: dict[str, Product], customers: list[Customer]
) -> list[Plan]:
    rng, now = story.rng, story.now
    kilos = [p for p in products.values() if p.sku.endswith("-1K")]
    plans = []
    for customer in customers:
        assert customer.since is not None
        at = customer.since + dt.timedelta(days=rng.uniform(2, 10))
        usual = rng.sample(kilos, rng.randint(2, 4))
        size = max(1.0, customer.weight)
        while at < now - dt.timedelta(hours=3):
            lines: list[tuple[Product | None, int]] = [
                (p, max(2, round(rng.uniform(2, 8) * size))) for p in usual
            ]
            if rng.random() < 0.25:
                lines.append((products["NW-EQ-FILTERS"], rng.choice((5, 10, 20))))
            if rng.random() < 0.05:
                lines.append((products["NW-EQ-GRINDER"], 1))
            if rng.random() < 0.04:
                lines.append((products["NW-SVC-TRAINING"], 1))
            plans.append(Plan(at, "api", customer, lines))
            at += dt.timedelta(days=rng.uniform(18, 55))
    return plans


def deal_plans(story: Story, won: list[DealRead], customers: dict[str, Customer]) -> list[Plan]:
    since = story.now - dt.timedelta(days=DEAL_ORDERS_SINCE_DAYS)
    plans = []
    for deal in won:
        if deal.closed_at is None or deal.closed_at < since or deal.contact_id not in customers:
            continue
        at = deal.closed_at + dt.timedelta(seconds=story.rng.randint(3, 30))
        if at < story.now:
            plans.append(Plan(at, "deal", customers[deal.contact_id], [(None, 1)], deal=deal))
    return plans


def space_out(plans: list[Plan], now: dt.datetime) -> list[Plan]:
    """Time order, at least ten minutes apart (one order is through before the next)."""
    plans.sort(key=lambda p: p.at)
    last: dt.datetime | None = None
    kept = []
    for plan in plans:
        if last is not None and plan.at < last + dt.timedelta(minutes=10):
            plan.at = last + dt.timedelta(minutes=10)
        if plan.at >= now - dt.timedelta(minutes=30):
            continue
        kept.append(plan)
        last = plan.at
    return kept


def draw_fates(story: Story, plans: list[Plan]) -> None:
    """Most orders are fulfilled; some are cancelled, two fail on the retired blend."""
    rng, now = story.rng, story.now
    shop = [p for p in plans if p.source == "shopify"]
    for plan in shop:
        if rng.random() < 0.03:
            plan.fate = "cancelled"
    wholesale = [p for p in plans if p.source == "api"]
    for plan in rng.sample(wholesale, min(2, len(wholesale))):
        plan.fate = "cancelled"
    # The retired seasonal blend, still listed in the shop: an old order and a recent one.
    for days in (200.0, 2.0):
        target = now - dt.timedelta(days=days)
        plan = min(shop, key=lambda p: abs((p.at - target).total_seconds()))
        plan.lines = [(None, 1), *plan.lines[:1]]
        plan.fate = "failed"


def low_stock_plans(story: Story, wholesale: list[Customer]) -> list[Plan]:
    """The LOW_STOCK products end below their point: a big wholesale order takes each
    under it (sized when it is placed), and a café's order for the Kenyan waits as a
    backorder for the delivery."""
    rng, now = story.rng, story.now
    regulars = [c for c in wholesale if c.since and c.since < now - dt.timedelta(days=30)]
    plans = [
        Plan(
            now - dt.timedelta(days=4 - n, minutes=rng.randint(0, 300)),
            "api",
            rng.choice(regulars),
            [],
            low_stock=("take", sku),
        )
        for n, sku in enumerate(LOW_STOCK)
    ]
    at = now - dt.timedelta(hours=rng.uniform(5, 20))
    plans.append(Plan(at, "api", rng.choice(regulars), [], low_stock=("backorder", LOW_STOCK[0])))
    return plans
