"""Products and their stock: the only writer of ``commerce_products`` and
``commerce_stock_movements``.

Stock is two counters on the product row, ``stock_on_hand`` and ``allocated``; every
change to them is one conditional ``UPDATE`` whose ``WHERE`` states the invariant
(``available >= quantity`` for an allocation, ``on_hand >= allocated`` for a
correction), so concurrent writers can never oversell: on SQLite writers take turns,
on PostgreSQL the second writer waits for the row lock and re-evaluates the ``WHERE``
against the committed row. The check constraints on the table back this up.

Every counter change writes one ``StockMovement`` with its deltas and the counters
after it, so a product's deltas sum to its counters (the ledger balances). An order's
movements also say what it holds, which makes release and shipment idempotent.

Counters are not part of the product's ``version`` (the ``If-Match`` guard): a sale
must not make a price edit fail.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Conflict, NotFound, Unprocessable, field_error
from bizos.core.money import cents
from bizos.core.pagination import ListOrder, PageParams
from bizos.core.versions import check_version
from bizos.modules.commerce.inventory import ledger
from bizos.modules.commerce.inventory.ledger import get_product as get_product
from bizos.modules.commerce.inventory.schemas import (
    MovementRead,
    ProductCreate,
    ProductFilters,
    ProductRead,
    ProductUpdate,
)
from bizos.modules.commerce.models import Product, StockMovement
from bizos.modules.commerce.rows import emit, page_of, pick, rows_among, tenant_row, where_equal
from bizos.modules.crm.deals.schemas import iso_currency

log = structlog.get_logger("bizos.commerce.inventory")

STOCK_KINDS = ("receipt", "adjustment", "return")
# What ``update_product`` may change: the fields a PATCH can send; of those, the ones
# that cannot be cleared.
_UPDATABLE = frozenset(ProductUpdate.model_fields)
_NOT_NULL = (
    "sku",
    "name",
    "price",
    "currency",
    "tax_rate",
    "tracks_stock",
    "active",
    "properties",
)

Lines = ledger.Lines


def product_read(row: Product) -> ProductRead:
    return ProductRead.model_validate(row)


def _stock_data(product: Product, delta: int = 0) -> dict[str, Any]:
    return {
        "product_id": product.id,
        "sku": product.sku,
        "on_hand": product.stock_on_hand,
        "allocated": product.allocated,
        "available": product.stock_on_hand - product.allocated,
        "delta": delta,
    }


# --- reads ----------------------------------------------------------------------------


async def get_products_by_sku(
    session: AsyncSession, ctx: Context, skus: Collection[str]
) -> dict[str, Product]:
    """The tenant's products among ``skus``, by SKU (unknown SKUs are simply absent)."""
    wanted = {s for s in skus if s}
    return {row.sku: row for row in await rows_among(session, ctx, Product, Product.sku, wanted)}


async def available_units(
    session: AsyncSession, ctx: Context, product_ids: Collection[str]
) -> dict[str, int]:
    """Units available now (on hand less allocated) of each of the tenant's products
    among ``product_ids``."""
    if not product_ids:
        return {}
    rows = await session.execute(
        sa.select(Product.id, Product.stock_on_hand - Product.allocated).where(
            Product.tenant_id == ctx.require_tenant(), Product.id.in_(list(product_ids))
        )
    )
    return {product_id: int(units) for product_id, units in rows.all()}


def low_on_stock() -> sa.ColumnElement[bool]:
    """Low on stock, as the reorder alert has it (``ledger.check_reorder_point``): a
    stock-tracked product whose available units (on hand less allocated) are below its
    reorder point. A product without a reorder point is never low."""
    return sa.and_(
        Product.tracks_stock.is_(True),
        Product.reorder_point.is_not(None),
        Product.stock_on_hand - Product.allocated < Product.reorder_point,
    )


PRODUCT_ORDER = ListOrder(
    "products",
    Product.id,
    [Product.created_at, Product.updated_at, Product.name, Product.sku, Product.stock_on_hand],
)
MOVEMENT_ORDER = ListOrder("stock_movements", StockMovement.id, [StockMovement.created_at])


async def list_products(
    session: AsyncSession, ctx: Context, *, page: PageParams, filters: ProductFilters
) -> tuple[list[ProductRead], str | None]:
    """The tenant's products in ``page``'s order (newest first by default); ``q`` matches
    name or SKU (case-insensitive),
    ``low_stock`` those whose available stock is below their reorder point
    (:func:`low_on_stock`)."""
    query = sa.select(Product).where(Product.tenant_id == ctx.require_tenant())
    q, low_stock = filters.q, filters.low_stock
    if q:
        pattern = (
            "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        query = query.where(
            sa.or_(
                sa.func.lower(Product.name).like(pattern, escape="\\"),
                sa.func.lower(Product.sku).like(pattern, escape="\\"),
            )
        )
    query = where_equal(query, Product, filters.model_dump(include={"sku", "active"}))
    if low_stock is not None:
        low = low_on_stock()
        query = query.where(low if low_stock else sa.not_(low))
    items, cursor = await page_of(session, PRODUCT_ORDER, query, page)
    return [product_read(r) for r in items], cursor


async def list_movements(
    session: AsyncSession, ctx: Context, product_id: str, *, page: PageParams
) -> tuple[list[MovementRead], str | None]:
    """The product's stock ledger, the latest movement first by default
    (``sort=created_at``: in the order it was written)."""
    await get_product(session, ctx, product_id)
    query = sa.select(StockMovement).where(
        StockMovement.tenant_id == ctx.require_tenant(),
        StockMovement.product_id == product_id,
    )
    items, cursor = await page_of(session, MOVEMENT_ORDER, query, page)
    return [MovementRead.model_validate(r) for r in items], cursor


async def ledger_totals(session: AsyncSession, ctx: Context, product_id: str) -> tuple[int, int]:
    """The sums of the product's movement deltas: (on hand, allocated). They equal its
    counters whenever the ledger balances."""
    on_hand, allocated = (
        await session.execute(
            sa.select(
                sa.func.coalesce(sa.func.sum(StockMovement.on_hand_delta), 0),
                sa.func.coalesce(sa.func.sum(StockMovement.allocated_delta), 0),
            ).where(
                StockMovement.tenant_id == ctx.require_tenant(),
                StockMovement.product_id == product_id,
            )
        )
    ).one()
    return int(on_hand), int(allocated)


# --- products -------------------------------------------------------------------------


def _duplicate_sku(sku: str) -> Conflict:
    return Conflict(
        f"a product with SKU {sku!r} already exists",
        errors=[field_error(["body", "sku"], "already used by another product")],
    )


async def _check_sku_free(
    session: AsyncSession, ctx: Context, sku: str, *, other_than: str | None = None
) -> None:
    query = sa.select(Product.id).where(
        Product.tenant_id == ctx.require_tenant(), Product.sku == sku
    )
    if other_than is not None:
        query = query.where(Product.id != other_than)
    if await session.scalar(query) is not None:
        raise _duplicate_sku(sku)


async def _flush_unique(session: AsyncSession, sku: str) -> None:
    """Flush in a savepoint so a concurrent writer's same SKU is a 409, not a 500."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise _duplicate_sku(sku) from None


def _refuse(fields: list[str], title: str, why: str) -> None:
    """422 ``title`` naming each of ``fields`` in the body with ``why``, if any."""
    if fields:
        raise Unprocessable(title, errors=[field_error(["body", k], why) for k in fields])


def checked_currency(currency: str, title: str | None = "invalid currency") -> str:
    """The ISO code ``currency`` names; 422 ``title`` (else what is wrong) if none."""
    try:
        return iso_currency(currency)
    except ValueError as exc:
        error = field_error(["body", "currency"], str(exc))
        raise Unprocessable(title or str(exc), errors=[error]) from None


async def create_product(session: AsyncSession, ctx: Context, *, data: ProductCreate) -> Product:
    """A new product (``commerce.product.created``); its opening stock is the ledger's
    ``initial`` movement. 409 when the tenant already has the SKU."""
    tenant_id = ctx.require_tenant()
    await _check_sku_free(session, ctx, data.sku)
    product = Product(
        tenant_id=tenant_id,
        sku=data.sku,
        name=data.name,
        description=data.description,
        category=data.category,
        price=cents(data.price),
        currency=checked_currency(data.currency),
        cost=cents(data.cost) if data.cost is not None else None,
        tax_rate=data.tax_rate,
        tracks_stock=data.tracks_stock,
        stock_on_hand=data.stock_on_hand,
        allocated=0,
        reorder_point=data.reorder_point,
        reorder_quantity=data.reorder_quantity,
        below_reorder_point=False,
        weight_grams=data.weight_grams,
        active=data.active,
        properties=data.properties or {},
    )
    session.add(product)
    await _flush_unique(session, data.sku)
    if data.stock_on_hand:
        ledger.record(
            session, ctx, product, "initial", on_hand_delta=data.stock_on_hand, reason=None
        )
    await emit(
        session,
        ctx,
        "commerce.product.created",
        product,
        "product",
        {
            "product_id": product.id,
            **pick(product, "sku", "name"),
            "price": str(product.price),
            "currency": product.currency,
            "stock_on_hand": product.stock_on_hand,
            "reorder_point": product.reorder_point,
        },
    )
    await ledger.check_reorder_point(session, ctx, product.id)
    await session.flush()
    log.info("commerce.product.created", product_id=product.id)
    return await get_product(session, ctx, product.id, fresh=True)


async def update_product(
    session: AsyncSession,
    ctx: Context,
    product_id: str,
    *,
    changes: dict[str, Any],
    expected_version: str | int | None = None,
) -> Product:
    """Apply ``changes`` (the fields a PATCH sent) under the row lock; ``expected_version``
    (``If-Match``) → 409 when stale; 422 for a field that cannot be cleared sent as null
    (before anything is read) or one that cannot be changed. A new reorder point re-arms
    or fires the alert."""
    nulls = [k for k in _NOT_NULL if k in changes and changes[k] is None]
    _refuse(nulls, "these fields cannot be cleared", "may not be null")
    product = await tenant_row(session, ctx, Product, product_id, what="product", lock=True)
    check_version(None if expected_version is None else str(expected_version), product.version)
    unknown = sorted(set(changes) - _UPDATABLE)
    _refuse(unknown, "these fields cannot be changed here", "not updatable")
    if "currency" in changes and changes["currency"] is not None:
        changes["currency"] = checked_currency(changes["currency"])
    for key in ("price", "cost"):
        if changes.get(key) is not None:
            changes[key] = cents(changes[key])
    changes = {k: v for k, v in changes.items() if getattr(product, k) != v}
    if not changes:
        return product
    if "sku" in changes:
        await _check_sku_free(session, ctx, changes["sku"], other_than=product.id)
    for key, value in changes.items():
        setattr(product, key, value)
    product.version += 1
    product.updated_at = utcnow()
    await _flush_unique(session, product.sku)
    await emit(
        session,
        ctx,
        "commerce.product.updated",
        product,
        "product",
        {"product_id": product.id, "sku": product.sku, "changed": sorted(changes)},
    )
    if "reorder_point" in changes:
        await ledger.check_reorder_point(session, ctx, product.id)
    return await get_product(session, ctx, product.id, fresh=True)


# --- the ledger -----------------------------------------------------------------------


async def receive_stock(
    session: AsyncSession,
    ctx: Context,
    product_id: str,
    *,
    quantity: int,
    reason: str | None = None,
    kind: str = "receipt",
) -> Product:
    """Stock arrives (``receipt``), comes back (``return``) or is corrected
    (``adjustment``, a signed delta). A correction that would leave fewer units on hand
    than are allocated (or fewer than none) is refused with 409 and writes nothing.
    Emits ``commerce.stock.received`` (receipt, return) or ``commerce.stock.adjusted``."""
    if kind not in STOCK_KINDS:
        raise Unprocessable(
            "unknown stock change", errors=[field_error(["body", "kind"], "unknown kind")]
        )
    if quantity == 0 or (kind != "adjustment" and quantity < 0):
        raise Unprocessable(
            "invalid quantity",
            errors=[
                field_error(
                    ["body", "quantity"],
                    "a non-zero delta" if kind == "adjustment" else "a positive quantity",
                )
            ],
        )
    product = await get_product(session, ctx, product_id)
    if not product.tracks_stock:
        raise Conflict(f"{product.sku} is a service: it keeps no stock")
    if not await ledger.change_counters(session, ctx, product_id, on_hand=quantity):
        product = await get_product(session, ctx, product_id, fresh=True)
        raise Conflict(
            f"{product.sku} has {product.stock_on_hand} on hand, {product.allocated} of them "
            f"allocated to orders: a change of {quantity:+d} would leave "
            f"{product.stock_on_hand + quantity} on hand, fewer than are allocated"
            if product.stock_on_hand + quantity >= 0
            else f"{product.sku} has {product.stock_on_hand} on hand: a change of "
            f"{quantity:+d} would take it below zero",
            errors=[field_error(["body", "quantity"], "would leave too little stock")],
        )
    product = await get_product(session, ctx, product_id, fresh=True)
    ledger.record(session, ctx, product, kind, on_hand_delta=quantity, reason=reason)
    event = "commerce.stock.adjusted" if kind == "adjustment" else "commerce.stock.received"
    await emit(
        session,
        ctx,
        event,
        product,
        "product",
        {**_stock_data(product, quantity), "kind": kind, "reason": reason},
    )
    await ledger.check_reorder_point(session, ctx, product.id)
    await session.flush()
    log.info(event, product_id=product.id, kind=kind, delta=quantity)
    return await get_product(session, ctx, product.id, fresh=True)


async def allocate_lines(
    session: AsyncSession, ctx: Context, *, order_id: str, lines: Lines
) -> bool:
    """Reserve every line's units for ``order_id``, or none of them: ``False`` (and
    nothing written) when any line lacks available stock. Units the order already holds
    count towards its lines, so a repeated call allocates nothing twice. Products that
    keep no stock need no allocation. Never oversells, however many run at once."""
    merged = ledger.merge(lines)
    if not merged:
        return True
    products = {
        p.id: p
        for p in await session.scalars(
            sa.select(Product).where(
                Product.tenant_id == ctx.require_tenant(),
                Product.id.in_([pid for pid, _ in merged]),
            )
        )
    }
    missing = [pid for pid, _ in merged if pid not in products]
    if missing:
        raise NotFound(f"no such product: {', '.join(missing)}")
    held = await ledger.held_by_order(session, ctx, order_id, products)
    wanted = [
        (pid, qty - held.get(pid, (0, 0))[0] - held.get(pid, (0, 0))[1])
        for pid, qty in merged
        if products[pid].tracks_stock
    ]
    wanted = [(pid, qty) for pid, qty in wanted if qty > 0]
    done: list[tuple[str, int]] = []
    for pid, qty in wanted:
        if not await ledger.change_counters(session, ctx, pid, allocated=qty):
            for undo_pid, undo_qty in done:
                await ledger.change_counters(session, ctx, undo_pid, allocated=-undo_qty)
            log.info("commerce.stock.allocation_refused", order_id=order_id, product_id=pid)
            return False
        done.append((pid, qty))
    for pid, qty in done:
        product = await get_product(session, ctx, pid, fresh=True)
        ledger.record(
            session, ctx, product, "allocation", allocated_delta=qty, order_id=order_id, reason=None
        )
        await ledger.check_reorder_point(session, ctx, pid)
    await session.flush()
    return True


async def release_lines(
    session: AsyncSession, ctx: Context, *, order_id: str, lines: Lines
) -> None:
    """Give back what ``order_id`` holds of these lines (``release`` movements). Releasing
    more than the order holds releases what it holds; nothing held is a no-op."""
    merged = ledger.merge(lines)
    if not merged:
        return
    held = await ledger.held_by_order(session, ctx, order_id, [pid for pid, _ in merged])
    for pid, qty in merged:
        units = min(qty, held.get(pid, (0, 0))[0])
        if units <= 0:
            continue
        if not await ledger.change_counters(session, ctx, pid, allocated=-units):
            raise Conflict(f"product {pid} has fewer units allocated than order holds")
        product = await get_product(session, ctx, pid, fresh=True)
        ledger.record(
            session, ctx, product, "release", allocated_delta=-units, order_id=order_id, reason=None
        )
        await ledger.check_reorder_point(session, ctx, pid)
    await session.flush()


async def ship_lines(session: AsyncSession, ctx: Context, *, order_id: str, lines: Lines) -> None:
    """The order's units leave the warehouse: on hand and allocated both drop
    (``shipment`` movements). Units already shipped for the order are not shipped
    again; shipping units the order does not hold allocated is a 409."""
    merged = ledger.merge(lines)
    if not merged:
        return
    held = await ledger.held_by_order(session, ctx, order_id, [pid for pid, _ in merged])
    for pid, qty in merged:
        allocated, shipped = held.get(pid, (0, 0))
        units = qty - shipped
        if units <= 0:
            continue
        if units > allocated:
            raise Conflict(
                f"order {order_id} holds {allocated} units of product {pid}; it cannot ship {units}"
            )
        if not await ledger.change_counters(session, ctx, pid, on_hand=-units, allocated=-units):
            raise Conflict(f"product {pid} has fewer units than order {order_id} holds")
        product = await get_product(session, ctx, pid, fresh=True)
        ledger.record(
            session,
            ctx,
            product,
            "shipment",
            on_hand_delta=-units,
            allocated_delta=-units,
            order_id=order_id,
            reason=None,
        )
    await session.flush()
