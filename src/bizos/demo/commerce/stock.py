"""One product's stock through the year: its ledger of moves, the reorder alerts when it
falls below its point, and the supplier's deliveries those alerts ordered."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from bizos.core.events import payload
from bizos.demo.story import Story, historical_id
from bizos.modules.commerce.models import Product, StockMovement

SUPPLIER_DELIVERY = "supplier delivery (purchase order)"


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
        **about: str | None,
    ) -> None:
        """A ledger row; ``about`` names its ``order_id``, ``reason`` and ``actor_id``
        where it has them."""
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
                created_at=at,
                **about,
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
            **payload(product, "sku", "name"),
            available=self.available,
            **payload(product, "reorder_point", "reorder_quantity"),
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
            assignee_id=story.assignee("purchasing"),
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
            self._arrive(delivery, delivery.arrives, SUPPLIER_DELIVERY)

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
            self._arrive(delivery, at, SUPPLIER_DELIVERY)

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
            self._arrive(delivery, early, f"{SUPPLIER_DELIVERY}, expedited")
        if self.available < quantity:
            extra = quantity - self.available + (self.product.reorder_point or 0)
            self.receive(at - dt.timedelta(minutes=1), extra, "urgent roast for a large order")
        return True
