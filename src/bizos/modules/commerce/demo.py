"""A year of Northwind Coffee Roasters' trade: the catalogue, its stock ledger, and the
orders from the web shop, the wholesale desk and won deals, each with the invoice,
shipment and payments that order-to-cash would have produced.

The demo is a seeder, not a module: like the CRM history it writes rows directly with
the models (commerce's here, billing's in ``billing/demo.py``, and the web shop's
customers as CRM contacts), stamped with the moment each thing happened, next to the
domain event the service would have appended. The rule that a module never imports
another module's models does not bind it.

What the rows promise, and ``tests/modules/commerce/test_demo.py`` checks:

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
import math
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.connectors.shipping.sandbox import CARRIER, LABEL_BASE_URL, RATE, SERVICE
from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.dispatcher_models import PROCESSED
from bizos.core.events import NewEvent, append_events
from bizos.core.sequences import NumberSeries, format_number
from bizos.modules.billing import demo as billing_demo
from bizos.modules.commerce.models import (
    CommerceSettings,
    Order,
    OrderLine,
    Product,
    Shipment,
    StockMovement,
)
from bizos.modules.commerce.orders import backorders
from bizos.modules.crm.demo import data as crm_data
from bizos.modules.crm.demo.history import ascii_word, historical_id
from bizos.modules.crm.models import Company, Contact, Deal
from bizos.modules.crm.normalize import normalize_email
from bizos.modules.identity.models import User
from bizos.modules.notifications.models import Notification
from bizos.modules.work.models import Task

log = structlog.get_logger("bizos.commerce.demo")

CURRENCY = "USD"
CENT = Decimal("0.01")
DAY = dt.timedelta(days=1)
YEAR = 365
SHOPIFY_FIRST_ORDER = 1001
SHOPIFY_SHIP = Decimal("6.95")  # under the free-shipping threshold
FREE_SHIPPING_FROM = Decimal("50")
WHOLESALE_SHIP = Decimal("15.00")
WHOLESALE_DISCOUNT = Decimal("0.15")
# The web shop took orders from the start; won deals became orders once enabled.
DEAL_ORDERS_SINCE_DAYS = 45
# A seasonal blend the shop still listed after it left the catalogue: its orders fail.
RETIRED_SKU = ("NW-PUMPKIN-SPICE-250", "Pumpkin Spice Blend 250 g", Decimal("16.00"))
# Ended the year below their reorder point, the supplier's delivery still on its way.
LOW_STOCK = ("NW-KEN-NYERI-1K", "NW-EQ-GRINDER")
CONSUMERS = 60
STREETS = ["Alder St", "Bay Rd", "Cedar Ave", "Dock Ln", "Elm Row", "Ferry Way", "Grove Pl"]


@dataclass(frozen=True, slots=True)
class Item:
    sku: str
    name: str
    category: str
    price: str
    cost: str
    tax_rate: str
    grams: int | None  # None: a service line (no stock)
    stock: int = 0  # opening stock a year ago
    reorder_point: int | None = None
    reorder_quantity: int | None = None
    popularity: float = 1.0  # relative pick weight in the web shop


_COFFEES = [  # code, origin, roast, notes, 250 g price, popularity
    ("ETH-YIRG", "Ethiopia Yirgacheffe", "light", "jasmine, bergamot, peach", "17.50", 1.3),
    ("COL-HUILA", "Colombia Huila", "medium", "red apple, caramel, cocoa", "15.50", 1.6),
    ("GUA-ANTIGUA", "Guatemala Antigua", "medium", "milk chocolate, orange", "15.00", 1.0),
    ("BRA-CERRADO", "Brazil Cerrado", "medium-dark", "hazelnut, dark chocolate", "13.50", 1.2),
    ("SUM-MANDH", "Sumatra Mandheling", "dark", "cedar, molasses, spice", "15.00", 0.7),
    ("KEN-NYERI", "Kenya Nyeri", "light", "blackcurrant, grapefruit", "18.50", 0.9),
    ("HOUSE-ESP", "House Espresso Blend", "dark", "cocoa, brown sugar, cherry", "14.50", 2.0),
    ("DECAF-COL", "Decaf Colombia (Swiss Water)", "medium", "toffee, plum", "15.50", 0.6),
]


def _coffee_items() -> list[Item]:
    items = []
    for code, origin, roast, notes, small, popularity in _COFFEES:
        price = Decimal(small)
        big = (price * Decimal("3.2")).quantize(Decimal("1")) - Decimal("0.50")
        for size, grams, unit, stock, point, quantity, pop in (
            ("250", 250, price, 220, 40, 160, popularity),
            ("1K", 1000, big, 140, 30, 120, popularity * 0.35),
        ):
            label = "250 g" if grams == 250 else "1 kg"
            items.append(
                Item(
                    sku=f"NW-{code}-{size}",
                    name=f"{origin} {label}",
                    category=f"coffee/{roast}",
                    price=str(unit),
                    cost=str((unit * Decimal("0.38")).quantize(CENT)),
                    tax_rate="0.05",
                    grams=grams,
                    stock=stock,
                    reorder_point=point,
                    reorder_quantity=quantity,
                    popularity=pop,
                )
            )
            _NOTES[f"NW-{code}-{size}"] = f"{roast.capitalize()} roast. Notes of {notes}."
    return items


_NOTES: dict[str, str] = {}
CATALOGUE: list[Item] = [
    *_coffee_items(),
    Item("NW-EQ-GRINDER", "Conical Burr Grinder", "equipment", "189.00", "104.00", "0.08",
         3200, 18, 5, 12, 0.25),
    Item("NW-EQ-KETTLE", "Gooseneck Kettle 1 L", "equipment", "59.00", "27.00", "0.08",
         1100, 30, 8, 24, 0.35),
    Item("NW-EQ-DRIPPER", "Ceramic Pour-Over Dripper", "equipment", "26.00", "9.50", "0.08",
         450, 50, 10, 40, 0.5),
    Item("NW-EQ-FILTERS", "Paper Filters (100)", "equipment", "7.50", "2.10", "0.08",
         180, 300, 60, 300, 1.1),
    Item("NW-EQ-PRESS", "French Press 8 Cup", "equipment", "39.00", "16.00", "0.08",
         900, 30, 8, 24, 0.35),
    Item("NW-EQ-SCALE", "Brew Scale with Timer", "equipment", "45.00", "21.00", "0.08",
         600, 25, 6, 20, 0.3),
    Item("NW-EQ-COLDBREW", "Cold Brew Kit", "equipment", "34.00", "13.00", "0.08",
         1300, 25, 6, 20, 0.25),
    Item("NW-SUB-MONTHLY-250", "Monthly Subscription: 2 x 250 g", "subscription", "29.00",
         "11.50", "0.05", None, popularity=0.5),
    Item("NW-SUB-MONTHLY-1K", "Monthly Subscription: 1 kg", "subscription", "44.00",
         "17.00", "0.05", None, popularity=0.25),
    Item("NW-SVC-TRAINING", "Barista Training (half day, on site)", "service", "350.00",
         "120.00", "0.00", None, popularity=0.0),
]  # fmt: skip


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money(value: Decimal) -> str:
    return str(cents(value))


class Story:
    """Rows and events of the year, built in memory in the order things happened."""

    def __init__(self, rng: random.Random, now: dt.datetime, team: dict[str, str]) -> None:
        self.rng = rng
        self.now = now
        self.team = team  # user id by name ("owner" for the tenant owner)
        self.rows: list[Any] = []
        self.events: list[NewEvent] = []

    def event(
        self,
        type_: str,
        aggregate: str,
        aggregate_id: str,
        at: dt.datetime,
        *,
        actor_id: str | None = None,
        version: int | None = None,
        **payload: Any,
    ) -> None:
        self.events.append(
            NewEvent(
                type=type_,
                aggregate_type=aggregate,
                aggregate_id=aggregate_id,
                data=payload,
                occurred_at=at,
                actor_id=actor_id,
                version=version or 1,
            )
        )

    def token(self, prefix: str, length: int = 24) -> str:
        """A Stripe-style id (``pi_3Nq...``) drawn from the story's rng."""
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return prefix + "".join(self.rng.choice(alphabet) for _ in range(length))

    def notify(
        self,
        *,
        user_id: str,
        kind: str,
        title: str,
        body: str,
        at: dt.datetime,
        related: tuple[str, str],
        data: dict[str, Any] | None = None,
    ) -> None:
        """A notification a service sent back then: read a day later, unless it came in
        the last three days (those are still waiting in the inbox)."""
        read = at + DAY if at < self.now - 3 * DAY else None
        row = Notification(
            id=historical_id(at),
            user_id=user_id,
            kind=kind,
            title=title[:300],
            body=body,
            related_type=related[0],
            related_id=related[1],
            data=data or {},
            read_at=read,
            created_at=at,
            updated_at=at,
        )
        self.rows.append(row)
        self.event(
            "notifications.notification.created",
            "notification",
            row.id,
            at,
            user_id=user_id,
            kind=kind,
            title=row.title,
            related={"type": related[0], "id": related[1]},
            email_message_id=None,
        )

    def task(
        self,
        *,
        title: str,
        description: str,
        assignee_id: str | None,
        created: dt.datetime,
        done_at: dt.datetime | None,
        related: tuple[str, str],
        origin: str,
        contact_id: str | None = None,
        priority: str = "high",
    ) -> Task:
        """A task a handler made back then: done at ``done_at`` if that has passed."""
        done = done_at is not None and done_at < self.now
        task = Task(
            id=historical_id(created),
            title=title[:300],
            description=description,
            assignee_id=assignee_id,
            priority=priority,
            status="done" if done else "open",
            completed_at=done_at if done else None,
            related_type=related[0],
            related_id=related[1],
            contact_id=contact_id,
            origin=origin,
            created_at=created,
            updated_at=done_at if done and done_at is not None else created,
        )
        self.rows.append(task)
        where = {"type": related[0], "id": related[1]}
        self.event(
            "work.task.created",
            "task",
            task.id,
            created,
            actor_id=assignee_id,
            title=task.title,
            assignee_id=assignee_id,
            priority=priority,
            due_at=None,
            related=where,
            contact_id=contact_id,
            origin=origin,
        )
        if done and done_at is not None:
            self.event(
                "work.task.completed",
                "task",
                task.id,
                done_at,
                actor_id=assignee_id,
                completed_at=done_at.isoformat(),
                related=where,
                contact_id=contact_id,
            )
        return task


# --- stock ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """A purchase order placed when stock fell below the reorder point."""

    arrives: dt.datetime
    quantity: int
    ordered: dt.datetime  # when the alert fired
    available: int  # what was available then


@dataclass(slots=True)
class Stock:
    """One product's counters and ledger as the year unfolds."""

    story: Story
    product: Product
    on_hand: int = 0
    allocated: int = 0
    below: bool = False
    held: bool = False  # the last delivery has not arrived (LOW_STOCK)
    pending: list[Delivery] = field(default_factory=list)
    version: int = 1
    last: dt.datetime | None = None  # the latest movement

    @property
    def available(self) -> int:
        return self.on_hand - self.allocated

    def move(
        self,
        kind: str,
        at: dt.datetime,
        *,
        on_hand: int = 0,
        allocated: int = 0,
        order_id: str | None = None,
        reason: str | None = None,
        actor_id: str | None = None,
    ) -> None:
        if self.last is not None and at <= self.last:
            # Two moves in one instant: the later one a millisecond on, so the ledger
            # reads in the order it was written (ids sort by millisecond, then by chance).
            at = self.last + dt.timedelta(milliseconds=1)
        self.on_hand += on_hand
        self.allocated += allocated
        self.last = at
        assert 0 <= self.allocated <= self.on_hand, self.product.sku
        self.story.rows.append(
            StockMovement(
                id=historical_id(at),
                product_id=self.product.id,
                kind=kind,
                on_hand_delta=on_hand,
                allocated_delta=allocated,
                on_hand_after=self.on_hand,
                allocated_after=self.allocated,
                order_id=order_id,
                reason=reason,
                actor_id=actor_id,
                created_at=at,
            )
        )
        self._check_reorder_point(at)

    def _data(self, delta: int = 0) -> dict[str, Any]:
        return {
            "product_id": self.product.id,
            "sku": self.product.sku,
            "on_hand": self.on_hand,
            "allocated": self.allocated,
            "available": self.available,
            "delta": delta,
        }

    def _check_reorder_point(self, at: dt.datetime) -> None:
        point = self.product.reorder_point
        if point is None:
            return
        if self.below and self.available >= point:
            self.below = False
            return
        if self.below or self.available >= point:
            return
        self.below = True
        story, product = self.story, self.product
        story.event(
            "commerce.stock.reorder_needed",
            "product",
            product.id,
            at,
            version=self.version,
            product_id=product.id,
            sku=product.sku,
            name=product.name,
            available=self.available,
            reorder_point=point,
            reorder_quantity=product.reorder_quantity,
        )
        recent = at > story.now - dt.timedelta(days=20)
        arrives = (
            story.now + dt.timedelta(days=story.rng.uniform(3, 6))
            if self.held and recent
            else at + dt.timedelta(days=story.rng.uniform(3, 7))
        )
        self.pending.append(Delivery(arrives, product.reorder_quantity or 0, at, self.available))

    def purchasing_task(self, delivery: Delivery, arrived: dt.datetime | None) -> None:
        """The task the low-stock alert made; done when the delivery arrived."""
        story, product = self.story, self.product
        if delivery.ordered < story.now - dt.timedelta(days=90):
            return  # older purchasing tasks were archived
        story.task(
            title=f"Reorder {product.sku}",
            description=(
                f"{product.name} ({product.sku}) is low on stock: {delivery.available} "
                f"available, reorder point {product.reorder_point}.\n"
                f"Suggested order: {product.reorder_quantity} units."
            ),
            assignee_id=story.team.get("purchasing") or story.team["owner"],
            created=delivery.ordered + dt.timedelta(seconds=1),
            done_at=arrived,
            related=("product", product.id),
            origin="commerce.stock.reorder_needed",
        )

    def receive(self, at: dt.datetime, quantity: int, reason: str) -> None:
        self.version += 1
        buyer = self.story.team.get("purchasing")
        self.move("receipt", at, on_hand=quantity, reason=reason, actor_id=buyer)
        self.story.event(
            "commerce.stock.received",
            "product",
            self.product.id,
            at,
            actor_id=buyer,
            version=self.version,
            **self._data(quantity),
            kind="receipt",
            reason=reason,
        )

    def _arrive(self, delivery: Delivery, at: dt.datetime, reason: str) -> None:
        self.purchasing_task(delivery, at)
        self.receive(at, delivery.quantity, reason)

    def advance(self, at: dt.datetime) -> None:
        """Deliveries that arrived by ``at`` go on the shelf."""
        while self.pending and self.pending[0].arrives <= at:
            delivery = self.pending.pop(0)
            self._arrive(delivery, delivery.arrives, "supplier delivery (purchase order)")

    def close_year(self) -> None:
        """Deliveries due by now arrive; only a held product still waits for its own
        (any other late one turned up just after the last order)."""
        now = self.story.now
        self.advance(now)
        if self.held or not self.pending:
            return
        for delivery in list(self.pending):
            self.pending.remove(delivery)
            assert self.last is not None
            at = min(self.last + dt.timedelta(minutes=5), now - dt.timedelta(minutes=1))
            self._arrive(delivery, at, "supplier delivery (purchase order)")

    def open_tasks(self) -> None:
        """The purchasing tasks of deliveries still on their way."""
        for delivery in self.pending:
            self.purchasing_task(delivery, None)

    def make_room(self, at: dt.datetime, quantity: int) -> bool:
        """Enough available for ``quantity`` at ``at``: a delivery due soon is pulled
        forward, else an urgent roast is booked just before. False for a held product."""
        self.advance(at)
        if self.available >= quantity:
            return True
        if self.held and at > self.story.now - dt.timedelta(days=20):
            return False
        while self.pending and self.available < quantity:
            delivery = self.pending.pop(0)
            early = at - dt.timedelta(minutes=2)  # after the previous order's moves
            self._arrive(delivery, early, "supplier delivery (purchase order), expedited")
        if self.available < quantity:
            extra = quantity - self.available + (self.product.reorder_point or 0)
            self.receive(at - dt.timedelta(minutes=1), extra, "urgent roast for a large order")
        return True


# --- customers --------------------------------------------------------------------------


@dataclass(slots=True)
class Customer:
    contact_id: str
    email: str
    name: str
    address: dict[str, Any]
    company: str | None = None
    weight: float = 1.0
    since: dt.datetime | None = None  # a wholesale customer since their deal was won
    contact: Contact | None = None  # a web shop customer created by the Shopify door


def _address(rng: random.Random, name: str, city: str, country: str) -> dict[str, Any]:
    return {
        "name": name,
        "line1": f"{rng.randint(2, 980)} {rng.choice(STREETS)}",
        "city": city,
        "postal_code": f"{rng.randint(10000, 99999)}",
        "country": country,
    }


async def _crm_customers(
    session: AsyncSession, story: Story
) -> tuple[list[Customer], list[Customer], list[Deal]]:
    """(wholesale customers, web shop buyers already in the CRM, won deals)."""
    rng = story.rng
    contacts = list(await session.scalars(sa.select(Contact).order_by(Contact.created_at)))
    companies = {c.id: c for c in await session.scalars(sa.select(Company))}
    won = list(
        await session.scalars(
            sa.select(Deal).where(Deal.stage == "won").order_by(Deal.closed_at, Deal.id)
        )
    )
    first_win: dict[str, dt.datetime] = {}
    for deal in won:
        if deal.contact_id and deal.closed_at:
            first_win.setdefault(deal.contact_id, deal.closed_at)
    wholesale, retail = [], []
    for contact in contacts:
        if not contact.email:
            continue
        company: Company | None = companies.get(contact.company_id or "")
        city, country = contact.city or "Portland", contact.country or "US"
        who = Customer(
            contact_id=contact.id,
            email=contact.email,
            name=contact.name or contact.email,
            address=_address(rng, company.name if company else (contact.name or ""), city, country),
            company=company.name if company else contact.company_name,
        )
        if contact.id in first_win:
            who.since = first_win[contact.id]
            who.weight = math.log10(max(company.employees or 5, 5)) if company else 0.6
            wholesale.append(who)
        elif company is None and contact.email.split("@")[1] in crm_data.FREE_MAIL:
            who.weight = rng.paretovariate(2.0)
            retail.append(who)
    return wholesale, retail, won


def _consumers(story: Story, taken: set[str]) -> list[Customer]:
    """Home brewers who found the web shop; the Shopify door makes them contacts."""
    rng, out = story.rng, []
    for _ in range(CONSUMERS):
        first, last = rng.choice(crm_data.FIRST_NAMES), rng.choice(crm_data.LAST_NAMES)
        city, country, _pattern = rng.choice(crm_data.CITIES)
        local = f"{ascii_word(first)}.{ascii_word(last)}{rng.randint(1, 99)}".lower()
        email = f"{local}@{rng.choice(crm_data.FREE_MAIL)}"
        if normalize_email(email) in taken:
            continue
        taken.add(normalize_email(email))
        name = f"{first} {last}"
        contact = Contact(
            name=name,
            email=email,
            email_normalized=normalize_email(email),
            source="shopify",
            lifecycle_stage="lead",
            owner_id=None,
            country=country,
            city=city,
            tags=[],
            properties={},
            do_not_contact=False,
        )
        out.append(
            Customer(
                contact_id="",
                email=email,
                name=name,
                address=_address(rng, name, city, country),
                weight=rng.paretovariate(1.6),
                contact=contact,
            )
        )
    return out


# --- orders -----------------------------------------------------------------------------


@dataclass(slots=True)
class Plan:
    """An order before it happens: when, through which door, for whom, what."""

    at: dt.datetime
    source: str
    customer: Customer
    lines: list[tuple[Product | None, int]]
    deal: Deal | None = None
    fate: str = "fulfilled"  # fulfilled | cancelled | failed | backordered
    discount_code: bool = False
    low_stock: tuple[str, str] | None = None  # ("take" | "backorder", sku): sized late


class Orders:
    """Turns plans into orders with their lines, ledger moves, invoice and shipment."""

    def __init__(self, story: Story, products: dict[str, Product], stock: dict[str, Stock]) -> None:
        self.story = story
        self.products = products
        self.stock = stock
        self.billing = billing_demo.Billing(story)
        self.numbers = 0
        self.shopify_numbers = SHOPIFY_FIRST_ORDER - 1
        self.shopify_id = 5_480_000_000_000 + story.rng.randint(0, 9_999_999)
        self.orders: list[Order] = []
        self.products_by_id = {p.id: p for p in products.values()}

    def _lines(self, order: Order, plan: Plan) -> list[OrderLine]:
        out = []
        for position, (product, quantity) in enumerate(plan.lines, start=1):
            if plan.deal is not None:  # the deal door: one service line for the deal
                name, sku, price, rate, tracks, pid = (
                    plan.deal.name,
                    None,
                    Decimal(plan.deal.amount),
                    Decimal("0"),
                    False,
                    None,
                )
            elif product is None:  # the retired blend: unknown to the catalogue
                sku, name, price = RETIRED_SKU
                rate, tracks, pid = Decimal("0"), False, None
            else:
                name, sku, price = product.name, product.sku, Decimal(product.price)
                rate, tracks, pid = Decimal(product.tax_rate), product.tracks_stock, product.id
            gross = cents(price * quantity)
            discount = cents(gross * WHOLESALE_DISCOUNT) if plan.source == "api" else Decimal(0)
            line_total = gross - discount
            out.append(
                OrderLine(
                    id=historical_id(plan.at),
                    order_id=order.id,
                    position=position,
                    product_id=pid,
                    sku=sku,
                    name=name,
                    quantity=quantity,
                    unit_price=cents(price),
                    discount=discount,
                    tax_rate=rate,
                    tax_amount=cents(line_total * rate),
                    line_total=line_total,
                    tracks_stock=tracks,
                    external_id=(
                        str(self.shopify_id * 10 + position) if plan.source == "shopify" else None
                    ),
                )
            )
        return out

    def _event(self, order: Order, type_: str, at: dt.datetime, **data: Any) -> None:
        self.story.event(
            type_,
            "order",
            order.id,
            at,
            actor_id=order.properties.get("placed_by") if type_.endswith("received") else None,
            version=order.version,
            order_id=order.id,
            number=order.number,
            status=order.status,
            **data,
        )

    def _step(self, order: Order, status: str, at: dt.datetime) -> None:
        order.status, order.updated_at = status, at
        order.version += 1

    def _size(self, plan: Plan) -> bool:
        """Lines of a LOW_STOCK plan from the stock at its moment; False: not needed."""
        assert plan.low_stock is not None
        action, sku = plan.low_stock
        counter = next(s for s in self.stock.values() if s.product.sku == sku)
        counter.advance(plan.at)
        if action == "backorder":
            plan.lines, plan.fate = [(counter.product, counter.available + 12)], "backordered"
            return True
        point = counter.product.reorder_point or 0
        if counter.below or counter.available < point:
            return False
        quantity = counter.available - point + self.story.rng.randint(2, 4)
        plan.lines = [(counter.product, quantity)]
        return True

    def place(self, plan: Plan) -> Order | None:
        story, rng = self.story, self.story.rng
        if plan.low_stock is not None and not self._size(plan):
            return None
        self.numbers += 1
        customer = plan.customer
        order = Order(
            id=historical_id(plan.at),
            number=format_number("SO", self.numbers),
            source=plan.source,
            status="received",
            contact_id=customer.contact_id,
            email=customer.email,
            customer_name=customer.name,
            currency=CURRENCY,
            deal_id=plan.deal.id if plan.deal else None,
            shipping_address=customer.address if plan.deal is None else None,
            billing_address=customer.address,
            placed_at=plan.at,
            fulfilment_attempts=1,
            version=1,
            properties={},
            created_at=plan.at,
            updated_at=plan.at,
        )
        if plan.source == "shopify":
            self.shopify_numbers += 1
            self.shopify_id += rng.randint(40_000, 9_000_000)
            order.external_id = str(self.shopify_id)
            order.external_name = f"#{self.shopify_numbers}"
            order.properties = {"shop_domain": "northwind-coffee.myshopify.com"}
        elif plan.source == "deal" and plan.deal is not None:
            order.external_id = plan.deal.id
        else:
            order.properties = {"placed_by": story.team.get("sales") or story.team["owner"]}
        lines = self._lines(order, plan)
        subtotal = sum((cents(ln.unit_price * ln.quantity) for ln in lines), Decimal(0))
        discounts = sum((ln.discount for ln in lines), Decimal(0))
        if plan.discount_code:
            discounts += cents(subtotal * Decimal("0.10"))
            order.properties["discount_codes"] = ["WELCOME10"]
        tax = sum((ln.tax_amount for ln in lines), Decimal(0))
        shipping = Decimal(0)
        if plan.source == "shopify" and any(ln.tracks_stock for ln in lines):
            shipping = SHOPIFY_SHIP if subtotal - discounts < FREE_SHIPPING_FROM else Decimal(0)
        elif plan.source == "api" and subtotal - discounts < Decimal("300"):
            shipping = WHOLESALE_SHIP
        order.subtotal, order.discount_total, order.tax_total = subtotal, discounts, tax
        order.shipping_total = shipping
        order.total = subtotal - discounts + tax + shipping
        story.rows.append(order)
        story.rows.extend(lines)
        self.orders.append(order)
        if plan.fate == "failed":
            self._fail(order, plan)
            return order
        self._event(
            order,
            "commerce.order.received",
            plan.at,
            source=order.source,
            total=money(order.total),
            currency=CURRENCY,
            contact_id=order.contact_id,
            email=order.email,
            external_id=order.external_id,
        )
        self._fulfil(order, lines, plan)
        return order

    def _fail(self, order: Order, plan: Plan) -> None:
        story = self.story
        sku = RETIRED_SKU[0]
        order.status = "failed"
        order.failure_reason = f"unknown SKU {sku!r}"
        order.failed_at = plan.at
        title = f"Order {order.external_name or order.number} failed"
        description = (
            f"Order {order.number} ({order.source} {order.external_name}) could not be "
            f"fulfilled: {order.failure_reason}."
        )
        fixed = plan.at + dt.timedelta(hours=story.rng.uniform(2, 30))
        assignee = story.team.get("operations") or story.team["owner"]
        story.notify(
            user_id=assignee,
            kind="commerce.order.failed",
            title=title,
            body=description,
            at=plan.at + dt.timedelta(seconds=2),
            related=("order", order.id),
        )
        story.task(
            title=title,
            description=description,
            assignee_id=assignee,
            created=plan.at + dt.timedelta(seconds=2),
            done_at=fixed,
            related=("order", order.id),
            origin="commerce.order.failed",
            contact_id=order.contact_id,
        )
        self._event(
            order, "commerce.order.failed", plan.at, reason=order.failure_reason, source="shopify"
        )

    def _fulfil(self, order: Order, lines: list[OrderLine], plan: Plan) -> None:
        rng = self.story.rng
        at = plan.at + dt.timedelta(seconds=rng.randint(2, 40))
        stock_lines = [ln for ln in lines if ln.tracks_stock and ln.product_id]
        if plan.fate == "backordered" or not all(
            self.stock[ln.product_id].make_room(at, ln.quantity)
            for ln in stock_lines
            if ln.product_id
        ):
            self._backorder(order, stock_lines, at)
            return
        for line in stock_lines:
            assert line.product_id is not None
            self.stock[line.product_id].move(
                "allocation", at, allocated=line.quantity, order_id=order.id
            )
        self._step(order, "allocated", at)
        order.allocated_at = at
        self._event(order, "commerce.order.allocated", at, lines=len(stock_lines))
        at += dt.timedelta(seconds=rng.randint(1, 5))
        invoice = self.billing.issue(order, lines, at)
        self._step(order, "invoiced", at)
        order.invoice_id, order.invoiced_at = invoice.id, at
        self._event(order, "commerce.order.invoiced", at, invoice_id=invoice.id)
        if plan.fate == "cancelled":
            self._cancel(order, stock_lines, plan)
            return
        if stock_lines:
            at += dt.timedelta(seconds=rng.randint(2, 20))
            shipment = self._ship(order, stock_lines, at)
            self._step(order, "shipped", at)
            order.shipment_id, order.shipped_at = shipment.id, at
            self._event(order, "commerce.order.shipped", at, shipment_id=shipment.id)
        at += dt.timedelta(seconds=rng.randint(1, 6))
        self._step(order, "fulfilled", at)
        order.fulfilled_at = at
        self._event(
            order,
            "commerce.order.fulfilled",
            at,
            source=order.source,
            total=money(order.total),
            currency=CURRENCY,
            contact_id=order.contact_id,
            invoice_id=order.invoice_id,
            shipment_id=order.shipment_id,
        )

    def _backorder(self, order: Order, lines: list[OrderLine], at: dt.datetime) -> None:
        """Backordered, with the alert the live handler raises: a task for purchasing
        and a notification naming what is missing (still open: the stock is due)."""
        self._step(order, "backordered", at)
        missing = backorders.shortage_of(
            [(ln.product_id, ln.quantity) for ln in lines if ln.product_id],
            {
                pid: backorders.Stocked(pid, c.product.sku, c.product.name, c.available)
                for pid, c in self.stock.items()
            },
        )
        self._event(
            order,
            "commerce.order.backordered",
            at,
            lines=len(lines),
            missing=[m.as_json() for m in missing],
        )
        if not missing:
            return
        title, description = backorders.alert_text(order, missing)
        assignee = self.story.team.get("purchasing") or self.story.team["owner"]
        told = at + dt.timedelta(seconds=1)
        task = self.story.task(
            title=title,
            description=description,
            assignee_id=assignee,
            created=told,
            done_at=None,
            related=("order", order.id),
            origin=backorders.ORIGIN,
            contact_id=order.contact_id,
        )
        self.story.notify(
            user_id=assignee,
            kind=backorders.NOTIFICATION_KIND,
            title=title,
            body=description,
            at=told,
            related=("order", order.id),
            data={"task_id": task.id, "missing": [m.as_json() for m in missing]},
        )

    def _ship(self, order: Order, lines: list[OrderLine], at: dt.datetime) -> Shipment:
        rng = self.story.rng
        tracking = "SBX" + "".join(rng.choice("0123456789ABCDEF") for _ in range(18))
        grams = sum(
            (self.products_by_id[ln.product_id].weight_grams or 0) * ln.quantity
            for ln in lines
            if ln.product_id
        )
        shipment = Shipment(
            id=historical_id(at),
            order_id=order.id,
            provider="sandbox",
            carrier=CARRIER,
            service=SERVICE,
            tracking_number=tracking,
            label_url=f"{LABEL_BASE_URL}/{tracking}.pdf",
            status="purchased",
            cost=RATE,
            currency=CURRENCY,
            provider_ref=f"sandbox-{tracking}",
            request={
                "reference": order.number,
                "to": order.shipping_address,
                "parcel": {"weight_grams": grams + 150},
            },
            created_at=at,
            updated_at=at,
        )
        self.story.rows.append(shipment)
        for line in lines:
            assert line.product_id is not None
            self.stock[line.product_id].move(
                "shipment",
                at,
                on_hand=-line.quantity,
                allocated=-line.quantity,
                order_id=order.id,
            )
        return shipment

    def _cancel(self, order: Order, lines: list[OrderLine], plan: Plan) -> None:
        at = order.invoiced_at or plan.at
        at += dt.timedelta(minutes=self.story.rng.randint(3, 50))
        for line in lines:
            assert line.product_id is not None
            self.stock[line.product_id].move(
                "release", at, allocated=-line.quantity, order_id=order.id
            )
        reason = (
            "customer cancelled in Shopify"
            if order.source == "shopify"
            else "customer changed the order by phone"
        )
        self.billing.void(order, at, f"order {order.number} cancelled")
        self._step(order, "cancelled", at)
        order.cancelled_at, order.cancel_reason = at, reason
        self._event(
            order,
            "commerce.order.cancelled",
            at,
            reason=reason,
            previous_status="invoiced",
            invoice_id=order.invoice_id,
            source=order.source,
        )


def _daily_rate(days_back: float) -> float:
    """Web shop orders a day: the shop grew over the year, with a December rush."""
    growth = 0.9 + 1.1 * (1 - days_back / YEAR)
    return growth


def _shopify_plans(
    story: Story, products: dict[str, Product], buyers: list[Customer]
) -> list[Plan]:
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


def _wholesale_plans(
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


def _deal_plans(story: Story, won: list[Deal], customers: dict[str, Customer]) -> list[Plan]:
    since = story.now - dt.timedelta(days=DEAL_ORDERS_SINCE_DAYS)
    plans = []
    for deal in won:
        if deal.closed_at is None or deal.closed_at < since or deal.contact_id not in customers:
            continue
        at = deal.closed_at + dt.timedelta(seconds=story.rng.randint(3, 30))
        if at < story.now:
            plans.append(Plan(at, "deal", customers[deal.contact_id], [(None, 1)], deal=deal))
    return plans


def _space_out(plans: list[Plan], now: dt.datetime) -> list[Plan]:
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


def _fates(story: Story, plans: list[Plan]) -> None:
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


async def load_team(session: AsyncSession) -> dict[str, str]:
    users = list(await session.scalars(sa.select(User).where(User.is_active.is_(True))))
    owner = next(u.id for u in users if u.role == "owner")
    by_name = {u.name: u.id for u in users}
    team = {"owner": owner}
    for role, name in (("purchasing", "Luis Romero"), ("operations", "Maya Okafor")):
        if name in by_name:
            team[role] = by_name[name]
    team["sales"] = by_name.get("Hana Sato", owner)
    return team


def _catalogue(story: Story) -> tuple[dict[str, Product], dict[str, Stock]]:
    opened = story.now - dt.timedelta(days=YEAR + 20)
    products: dict[str, Product] = {}
    stock: dict[str, Stock] = {}
    for n, item in enumerate(CATALOGUE):
        at = opened + dt.timedelta(minutes=7 * n)
        product = Product(
            id=historical_id(at),
            sku=item.sku,
            name=item.name,
            description=_NOTES.get(item.sku, f"{item.name}."),
            category=item.category,
            price=Decimal(item.price),
            currency=CURRENCY,
            cost=Decimal(item.cost),
            tax_rate=Decimal(item.tax_rate),
            tracks_stock=item.grams is not None,
            stock_on_hand=0,
            allocated=0,
            reorder_point=item.reorder_point,
            reorder_quantity=item.reorder_quantity,
            below_reorder_point=False,
            weight_grams=item.grams,
            active=True,
            properties={"origin": item.name.split(" 250")[0].split(" 1 kg")[0]}
            if item.category.startswith("coffee")
            else {},
            version=1,
            created_at=at,
            updated_at=at,
        )
        products[item.sku] = product
        story.rows.append(product)
        story.event(
            "commerce.product.created",
            "product",
            product.id,
            at,
            actor_id=story.team.get("purchasing"),
            version=1,
            product_id=product.id,
            sku=product.sku,
            name=product.name,
            price=money(product.price),
            currency=CURRENCY,
            stock_on_hand=item.stock,
            reorder_point=item.reorder_point,
        )
        if product.tracks_stock:
            counter = Stock(story, product, held=item.sku in LOW_STOCK)
            stock[product.id] = counter
            if item.stock:
                counter.move("initial", at, on_hand=item.stock)
    return products, stock


def _low_stock_plans(story: Story, wholesale: list[Customer]) -> list[Plan]:
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


async def seed_commerce_history(
    session: AsyncSession, ctx: Context, rng: random.Random, *, now: dt.datetime | None = None
) -> None:
    """Write a year of Northwind's catalogue, stock, orders and billing into ``ctx``'s
    tenant (after the CRM history, whose customers it sells to)."""
    now = now or utcnow()
    story = Story(rng, now, await load_team(session))
    products, stock = _catalogue(story)
    wholesale, retail, won = await _crm_customers(session, story)
    taken = set(await session.scalars(sa.select(Contact.email_normalized)))
    consumers = _consumers(story, {t for t in taken if t})
    by_contact = {c.contact_id: c for c in wholesale}
    for consumer in consumers:  # ids now, so orders can point at them
        assert consumer.contact is not None
        consumer.contact.id = historical_id(now - dt.timedelta(days=YEAR))
        consumer.contact_id = consumer.contact.id
    plans = _space_out(
        [
            *_shopify_plans(story, products, [*consumers, *retail]),
            *_wholesale_plans(story, products, wholesale),
            *_deal_plans(story, won, by_contact),
            *_low_stock_plans(story, wholesale),
        ],
        now,
    )
    _fates(story, plans)
    orders = Orders(story, products, stock)
    for plan in plans:
        orders.place(plan)
    for counter in stock.values():
        counter.close_year()
        counter.open_tasks()
        product = counter.product
        product.stock_on_hand, product.allocated = counter.on_hand, counter.allocated
        product.below_reorder_point, product.version = counter.below, counter.version
    _web_shop_contacts(story, consumers, orders.orders)
    orders.billing.settle(orders.orders)
    story.rows.append(
        CommerceSettings(
            orders_from_won_deals=True,
            default_tax_rate=Decimal("0"),
            payment_terms_days=billing_demo.TERMS_DAYS,
            notify_customer=True,
            purchasing_assignee_id=story.team.get("purchasing"),
            operations_assignee_id=story.team.get("operations"),
            ship_from={
                "name": "Northwind Coffee Roasters",
                "line1": "1200 NW Naito Pkwy",
                "city": "Portland",
                "postal_code": "97209",
                "country": "US",
            },
            default_parcel={"length_cm": 30, "width_cm": 20, "height_cm": 12},
            created_at=now - dt.timedelta(days=DEAL_ORDERS_SINCE_DAYS),
            updated_at=now - dt.timedelta(days=DEAL_ORDERS_SINCE_DAYS),
        )
    )
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


def _web_shop_contacts(story: Story, consumers: list[Customer], orders: list[Order]) -> None:
    """The web shop's buyers became contacts with their first order (as the Shopify door
    makes them); those who never ordered are left out."""
    first: dict[str, dt.datetime] = {}
    last: dict[str, dt.datetime] = {}
    for order in orders:
        if order.contact_id:
            first.setdefault(order.contact_id, order.placed_at)
            last[order.contact_id] = order.placed_at
    for consumer in consumers:
        contact = consumer.contact
        assert contact is not None
        if contact.id not in first:
            continue
        at = first[contact.id] - dt.timedelta(milliseconds=1)
        contact.created_at, contact.updated_at = at, last[contact.id]
        contact.last_activity_at = last[contact.id]
        story.rows.append(contact)
        story.event(
            "crm.contact.created",
            "contact",
            contact.id,
            at,
            email=contact.email,
            name=contact.name,
            source="shopify",
        )


async def write_story(session: AsyncSession, ctx: Context, story: Story) -> int:
    """Rows in bulk, events in the order things happened, and those events recorded as
    handled by every subscriber (they already had their effects). Returns the events."""
    await insert_rows(session, ctx, story.rows)
    ordered = sorted(story.events, key=lambda e: e.occurred_at or story.now)
    written = await append_events(session, ctx, ordered)
    await mark_handled(session, ctx, [(row["id"], row["type"]) for row in written])
    return len(written)


async def insert_rows(session: AsyncSession, ctx: Context, rows: list[Any]) -> None:
    """ORM bulk inserts, a statement per table and batch: the unit of work's bookkeeping
    for thousands of objects that are never read back would cost seconds."""
    tenant_id = ctx.require_tenant()
    by_model: dict[type[Any], list[dict[str, Any]]] = {}
    for row in rows:
        mapper = sa.inspect(type(row))
        values = {
            attr.key: getattr(row, attr.key)
            for attr in mapper.column_attrs
            if attr.key in row.__dict__
        }
        values["tenant_id"] = tenant_id
        by_model.setdefault(type(row), []).append(values)
    for model, values_list in by_model.items():
        for start in range(0, len(values_list), 1000):
            await session.execute(sa.insert(model), values_list[start : start + 1000])


async def mark_handled(session: AsyncSession, ctx: Context, events: list[tuple[str, str]]) -> int:
    """Record ``events`` as processed by every subscriber they match, so the dispatcher
    does not start order-to-cash, purchasing tasks or budget alerts for history."""
    # The runtime's subscriber registry (imported here: it pulls in every module).
    from bizos.core.db import get_database
    from bizos.core.dispatcher import Dispatcher
    from bizos.registry import register_subscribers

    registry = Dispatcher(get_database())
    register_subscribers(registry)
    tenant_id, now = ctx.require_tenant(), utcnow()
    records = [
        {"subscriber": sub.name, "event_id": event_id, "tenant_id": tenant_id, "processed_at": now}
        for event_id, type_ in events
        for sub in registry.subscriptions
        if sub.matches(type_)
    ]
    for start in range(0, len(records), 5000):
        await session.execute(sa.insert(PROCESSED), records[start : start + 5000])
    return len(records)


async def set_series(session: AsyncSession, ctx: Context, **values: int) -> None:
    """Each number series stands at its last number: the next live one follows on."""
    tenant_id = ctx.require_tenant()
    for name, value in values.items():
        await session.execute(
            sa.insert(NumberSeries).values(tenant_id=tenant_id, name=name, value=value)
        )
