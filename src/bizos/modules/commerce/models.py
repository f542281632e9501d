"""Commerce tables: products with their stock, the stock movement ledger, orders and
their lines, shipments, and per-tenant commerce settings.

Stock is two counters on the product row: ``stock_on_hand`` (physically in the
warehouse) and ``allocated`` (promised to orders not yet shipped); ``available`` is their
difference. Check constraints keep ``0 <= allocated <= stock_on_hand``, so no code path
can oversell even by mistake. Every change to either counter writes one
``StockMovement`` with its deltas and the counters after it: summing a product's deltas
gives its counters back (the ledger balances).

Money is ``Numeric(14, 2)`` with a ``currency``; tax rates are fractions (0.2 = 20%).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Entity, TenantScoped, utcnow
from bizos.core.ids import new_id

Money = sa.Numeric(14, 2)
Rate = sa.Numeric(6, 4)

ORDER_SOURCES = ("shopify", "api", "deal")
MOVEMENT_KINDS = ("initial", "receipt", "adjustment", "allocation", "release", "shipment", "return")


class Product(Entity, Base):
    __tablename__ = "commerce_products"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "sku"),
        sa.CheckConstraint("stock_on_hand >= 0", name="stock_on_hand_not_negative"),
        sa.CheckConstraint(
            "allocated >= 0 AND allocated <= stock_on_hand", name="allocated_within_stock"
        ),
        sa.Index("ix_commerce_products_tenant_name", "tenant_id", "name"),
    )

    sku: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str | None] = mapped_column(sa.Text)
    category: Mapped[str | None] = mapped_column(sa.String(100))
    price: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(sa.String(3))
    cost: Mapped[Decimal | None] = mapped_column(Money)  # unit cost, for stock value
    tax_rate: Mapped[Decimal] = mapped_column(Rate, default=Decimal("0"))
    # Physical goods have stock and ship; a service line (consulting, a subscription) not.
    tracks_stock: Mapped[bool] = mapped_column(default=True)
    stock_on_hand: Mapped[int] = mapped_column(default=0)
    allocated: Mapped[int] = mapped_column(default=0)
    reorder_point: Mapped[int | None]
    reorder_quantity: Mapped[int | None]
    # Armed/disarmed state of the low-stock alert: set when available falls below the
    # reorder point (one alert per crossing), cleared when it is back at or above it.
    below_reorder_point: Mapped[bool] = mapped_column(default=False)
    weight_grams: Mapped[int | None]
    active: Mapped[bool] = mapped_column(default=True)
    properties: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    @property
    def available(self) -> int:
        """Units on hand not promised to an order."""
        return self.stock_on_hand - self.allocated


class StockMovement(TenantScoped, Base):
    """One change to a product's counters, with why and the counters after it."""

    __tablename__ = "commerce_stock_movements"
    __table_args__ = (
        sa.Index("ix_commerce_stock_movements_product", "tenant_id", "product_id", "created_at"),
        sa.Index("ix_commerce_stock_movements_order", "tenant_id", "order_id"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    product_id: Mapped[str] = mapped_column(sa.String(36))
    kind: Mapped[str] = mapped_column(sa.String(20))  # MOVEMENT_KINDS
    on_hand_delta: Mapped[int] = mapped_column(default=0)
    allocated_delta: Mapped[int] = mapped_column(default=0)
    on_hand_after: Mapped[int]
    allocated_after: Mapped[int]
    order_id: Mapped[str | None] = mapped_column(sa.String(36))
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    actor_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Order(Entity, Base):
    __tablename__ = "commerce_orders"
    __table_args__ = (
        # One order per outside id and door: a repeated Shopify order is the same order.
        sa.Index(
            "uq_commerce_orders_tenant_source_external",
            "tenant_id",
            "source",
            "external_id",
            unique=True,
            sqlite_where=sa.text("external_id IS NOT NULL"),
            postgresql_where=sa.text("external_id IS NOT NULL"),
        ),
        sa.UniqueConstraint("tenant_id", "number"),
        sa.Index("ix_commerce_orders_tenant_status", "tenant_id", "status"),
        sa.Index("ix_commerce_orders_tenant_contact", "tenant_id", "contact_id"),
        sa.Index("ix_commerce_orders_tenant_placed", "tenant_id", "placed_at"),
    )

    number: Mapped[str] = mapped_column(sa.String(30))  # SO-000123, gapless per tenant
    source: Mapped[str] = mapped_column(sa.String(20))  # ORDER_SOURCES (the channel)
    external_id: Mapped[str | None] = mapped_column(sa.String(100))
    external_name: Mapped[str | None] = mapped_column(sa.String(100))  # Shopify "#1001"
    status: Mapped[str] = mapped_column(sa.String(20), default="received")  # OrderStatus
    contact_id: Mapped[str | None] = mapped_column(sa.String(36))
    email: Mapped[str | None] = mapped_column(sa.String(320))
    customer_name: Mapped[str | None] = mapped_column(sa.String(200))
    currency: Mapped[str] = mapped_column(sa.String(3))
    subtotal: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    discount_total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    tax_total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    shipping_total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    invoice_id: Mapped[str | None] = mapped_column(sa.String(36))
    shipment_id: Mapped[str | None] = mapped_column(sa.String(36))
    deal_id: Mapped[str | None] = mapped_column(sa.String(36))
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    failure_reason: Mapped[str | None] = mapped_column(sa.Text)
    cancel_reason: Mapped[str | None] = mapped_column(sa.String(500))
    placed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    allocated_at: Mapped[dt.datetime | None]
    invoiced_at: Mapped[dt.datetime | None]
    shipped_at: Mapped[dt.datetime | None]
    fulfilled_at: Mapped[dt.datetime | None]
    cancelled_at: Mapped[dt.datetime | None]
    failed_at: Mapped[dt.datetime | None]
    # How many times order-to-cash has been started for it (backorders restart it).
    fulfilment_attempts: Mapped[int] = mapped_column(default=0)
    properties: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class OrderLine(TenantScoped, Base):
    __tablename__ = "commerce_order_lines"
    __table_args__ = (
        sa.Index("ix_commerce_order_lines_order", "tenant_id", "order_id"),
        sa.Index("ix_commerce_order_lines_product", "tenant_id", "product_id"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(sa.String(36))
    position: Mapped[int]
    product_id: Mapped[str | None] = mapped_column(sa.String(36))  # None: a service line
    sku: Mapped[str | None] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    quantity: Mapped[int]
    unit_price: Mapped[Decimal] = mapped_column(Money)
    discount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    tax_rate: Mapped[Decimal] = mapped_column(Rate, default=Decimal("0"))
    tax_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    line_total: Mapped[Decimal] = mapped_column(Money)  # quantity * unit_price - discount
    tracks_stock: Mapped[bool] = mapped_column(default=True)
    external_id: Mapped[str | None] = mapped_column(sa.String(100))


class Shipment(Entity, Base):
    """A shipping label bought for an order (the sandbox records what it would buy)."""

    __tablename__ = "commerce_shipments"
    __table_args__ = (sa.Index("ix_commerce_shipments_order", "tenant_id", "order_id"),)

    order_id: Mapped[str] = mapped_column(sa.String(36))
    provider: Mapped[str] = mapped_column(sa.String(40))  # sandbox | shippo
    carrier: Mapped[str] = mapped_column(sa.String(60))
    service: Mapped[str | None] = mapped_column(sa.String(100))
    tracking_number: Mapped[str] = mapped_column(sa.String(100))
    label_url: Mapped[str] = mapped_column(sa.String(1000))
    status: Mapped[str] = mapped_column(sa.String(20), default="purchased")  # | voided
    cost: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    provider_ref: Mapped[str | None] = mapped_column(sa.String(100))  # label/transaction id
    request: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # what was sent
    voided_at: Mapped[dt.datetime | None]


class CommerceSettings(Entity, Base):
    """One row per tenant (absent = defaults)."""

    __tablename__ = "commerce_settings"
    __table_args__ = (sa.UniqueConstraint("tenant_id"),)

    # Seed 004 §3.8.2: a won deal becomes a sales order (and so an invoice).
    orders_from_won_deals: Mapped[bool] = mapped_column(default=False)
    default_tax_rate: Mapped[Decimal] = mapped_column(Rate, default=Decimal("0"))
    payment_terms_days: Mapped[int] = mapped_column(default=14)
    notify_customer: Mapped[bool] = mapped_column(default=True)
    # Who gets purchasing and failed-order tasks (None: the tenant owner).
    purchasing_assignee_id: Mapped[str | None] = mapped_column(sa.String(36))
    operations_assignee_id: Mapped[str | None] = mapped_column(sa.String(36))
    ship_from: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    default_parcel: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
