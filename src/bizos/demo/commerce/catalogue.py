"""Northwind's catalogue: eight coffees in two sizes, brewing equipment, subscriptions
and barista training, each product created a year ago with its opening stock."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from bizos.core.events import payload
from bizos.core.money import CENT, text
from bizos.demo.commerce.stock import Stock
from bizos.demo.story import CURRENCY, Story, historical_id, stamped
from bizos.modules.commerce.models import Product

YEAR = 365
# Ended the year below their reorder point, the supplier's delivery still on its way.
LOW_STOCK = ("NW-KEN-NYERI-1K", "NW-EQ-GRINDER")


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
            sku, label = f"NW-{code}-{size}", "250 g" if grams == 250 else "1 kg"
            cost = str((unit * Decimal("0.38")).quantize(CENT))
            listing = (sku, f"{origin} {label}", f"coffee/{roast}", str(unit), cost, "0.05")
            items.append(Item(*listing, grams, stock, point, quantity, pop))
            _NOTES[sku] = f"{roast.capitalize()} roast. Notes of {notes}."
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


def build_catalogue(story: Story) -> tuple[dict[str, Product], dict[str, Stock]]:
    """The products by SKU, created three weeks before the year began, and the stock
    counters (by product id) of those that track stock, with their opening stock."""
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
            **stamped(at),
        )
        products[item.sku] = product
        story.add(
            product,
            "commerce.product.created",
            "product",
            at,
            actor_id=story.team.get("purchasing"),
            version=1,
            product_id=product.id,
            **payload(product, "sku", "name"),
            price=text(product.price),
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
