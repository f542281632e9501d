"""Sales orders: /api/v1/commerce/orders.

A manual sales order names its customer (``contact_id`` or an ``email``, which finds or
creates the contact) and lines by SKU; prices default to the catalogue's. A second POST
with the same ``external_id`` returns the first order (200 instead of 201).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import CommerceRead, CommerceWrite
from bizos.core.pagination import Page, PageParams
from bizos.core.versions import version_etag
from bizos.modules.commerce.orders import service
from bizos.modules.commerce.orders.schemas import (
    OrderCancel,
    OrderCreate,
    OrderDraft,
    OrderFilters,
    OrderLineInput,
    OrderRead,
)

router = APIRouter(tags=["commerce"])

IdQuery = Annotated[str | None, Query(max_length=36)]


def _etag(response: Response, order: OrderRead) -> OrderRead:
    response.headers["ETag"] = version_etag(order.version)
    return order


@router.post("/api/v1/commerce/orders", status_code=201, response_model=OrderRead)
async def create_order(
    body: OrderCreate, _: CommerceWrite, session: DbSession, ctx: Ctx, response: Response
) -> OrderRead:
    """Place a sales order (``received``; order-to-cash starts from its event)."""
    order, created = await service.place_order(
        session,
        ctx,
        OrderDraft(
            source="api",
            currency=body.currency,
            lines=[
                OrderLineInput(
                    sku=ln.sku, quantity=ln.quantity, unit_price=ln.unit_price, discount=ln.discount
                )
                for ln in body.lines
            ],
            contact_id=body.contact_id,
            email=body.email,
            customer_name=body.customer_name,
            external_id=body.external_id,
            shipping_address=body.shipping_address,
            billing_address=body.billing_address,
            shipping_total=body.shipping_total,
            discount_total=body.discount_total,
            unknown_sku="reject",
        ),
    )
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/api/v1/commerce/orders/{order.id}"
    return _etag(response, await service.order_read(session, order))


@router.get("/api/v1/commerce/orders", response_model=Page[OrderRead])
async def list_orders(
    _: CommerceRead,
    session: DbSession,
    ctx: Ctx,
    page: Annotated[PageParams, Depends(service.ORDERS_ORDER.dependency)],
    filters: Annotated[OrderFilters, Query()],
) -> Page[OrderRead]:
    return Page[OrderRead].of(await service.list_orders(session, ctx, page=page, filters=filters))


@router.get("/api/v1/commerce/orders/{order_id}", response_model=OrderRead)
async def get_order(
    order_id: str, _: CommerceRead, session: DbSession, ctx: Ctx, response: Response
) -> OrderRead:
    order = await service.get_order(session, ctx, order_id)
    return _etag(response, await service.order_read(session, order))


@router.post("/api/v1/commerce/orders/{order_id}/cancel", response_model=OrderRead)
async def cancel_order(
    order_id: str,
    _: CommerceWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    body: OrderCancel | None = None,
) -> OrderRead:
    """Cancel an order that has not shipped: its stock is released and its invoice
    voided. Shipped → 409; already cancelled → the order as it is."""
    order = await service.cancel_order(
        session, ctx, order_id, reason=body.reason if body is not None else None
    )
    return _etag(response, await service.order_read(session, order))
