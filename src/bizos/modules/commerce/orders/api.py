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
from bizos.modules.commerce.orders import service
from bizos.modules.commerce.orders.schemas import (
    OrderCancel,
    OrderCreate,
    OrderDraft,
    OrderFilters,
    OrderRead,
)
from bizos.modules.commerce.rows import with_etag

router = APIRouter(tags=["commerce"])

IdQuery = Annotated[str | None, Query(max_length=36)]
# A list's page (its sort and cursor) and filters, from the query string.
OrderPage = Annotated[PageParams, Depends(service.ORDERS_ORDER.dependency)]
OrderQuery = Annotated[OrderFilters, Query()]


@router.post("/api/v1/commerce/orders", status_code=201, response_model=OrderRead)
async def create_order(
    body: OrderCreate, _: CommerceWrite, session: DbSession, ctx: Ctx, response: Response
) -> OrderRead:
    """Place a sales order (``received``; order-to-cash starts from its event)."""
    draft = OrderDraft(**body.model_dump(), source="api", unknown_sku="reject")
    order, created = await service.place_order(session, ctx, draft)
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/api/v1/commerce/orders/{order.id}"
    return with_etag(response, await service.order_read(session, order))


@router.get("/api/v1/commerce/orders", response_model=Page[OrderRead])
async def list_orders(
    _: CommerceRead, session: DbSession, ctx: Ctx, page: OrderPage, filters: OrderQuery
) -> Page[OrderRead]:
    return Page[OrderRead].of(await service.list_orders(session, ctx, page=page, filters=filters))


@router.get("/api/v1/commerce/orders/{order_id}", response_model=OrderRead)
async def get_order(
    order_id: str, _: CommerceRead, session: DbSession, ctx: Ctx, response: Response
) -> OrderRead:
    order = await service.get_order(session, ctx, order_id)
    return with_etag(response, await service.order_read(session, order))


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
    return with_etag(response, await service.order_read(session, order))
