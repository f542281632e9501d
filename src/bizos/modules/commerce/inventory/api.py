"""Products and stock: /api/v1/commerce/products.

A product's stock is ``stock_on_hand`` (in the warehouse), ``allocated`` (promised to
orders not yet shipped) and ``available`` (their difference). Stock changes only
through ``POST /products/{id}/stock`` and orders, each one a row of the product's
ledger (``GET /products/{id}/movements``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import CommerceRead, CommerceWrite
from bizos.core.pagination import Page, PageParams
from bizos.modules.commerce.inventory import service
from bizos.modules.commerce.inventory.schemas import (
    MovementRead,
    ProductCreate,
    ProductFilters,
    ProductRead,
    ProductUpdate,
    StockChange,
)
from bizos.modules.commerce.rows import with_etag

router = APIRouter(tags=["commerce"])

# A list's page (its sort and cursor) and filters, from the query string.
ProductPage = Annotated[PageParams, Depends(service.PRODUCT_ORDER.dependency)]
ProductQuery = Annotated[ProductFilters, Query()]
MovementPage = Annotated[PageParams, Depends(service.MOVEMENT_ORDER.dependency)]


@router.post("/api/v1/commerce/products", status_code=201, response_model=ProductRead)
async def create_product(
    body: ProductCreate, _: CommerceWrite, session: DbSession, ctx: Ctx, response: Response
) -> ProductRead:
    """A new product with its opening stock; 409 when the SKU is taken."""
    product = await service.create_product(session, ctx, data=body)
    response.headers["Location"] = f"/api/v1/commerce/products/{product.id}"
    return with_etag(response, service.product_read(product))


@router.get("/api/v1/commerce/products", response_model=Page[ProductRead])
async def list_products(
    _: CommerceRead, session: DbSession, ctx: Ctx, page: ProductPage, filters: ProductQuery
) -> Page[ProductRead]:
    return Page[ProductRead].of(
        await service.list_products(session, ctx, page=page, filters=filters)
    )


@router.get("/api/v1/commerce/products/{product_id}", response_model=ProductRead)
async def get_product(
    product_id: str, _: CommerceRead, session: DbSession, ctx: Ctx, response: Response
) -> ProductRead:
    product = await service.get_product(session, ctx, product_id)
    return with_etag(response, service.product_read(product))


@router.patch("/api/v1/commerce/products/{product_id}", response_model=ProductRead)
async def update_product(
    product_id: str,
    body: ProductUpdate,
    _: CommerceWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> ProductRead:
    """Change the product's details; ``If-Match: <version>`` → 409 when stale."""
    changes = body.model_dump(exclude_unset=True)
    product = await service.update_product(
        session, ctx, product_id, changes=changes, expected_version=if_match
    )
    return with_etag(response, service.product_read(product))


@router.post("/api/v1/commerce/products/{product_id}/stock", response_model=ProductRead)
async def change_stock(
    product_id: str,
    body: StockChange,
    _: CommerceWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
) -> ProductRead:
    """Receive, take back or correct stock; 409 when it would leave fewer units on hand
    than are allocated to orders."""
    product = await service.receive_stock(
        session, ctx, product_id, quantity=body.quantity, reason=body.reason, kind=body.kind
    )
    return with_etag(response, service.product_read(product))


@router.get("/api/v1/commerce/products/{product_id}/movements", response_model=Page[MovementRead])
async def list_movements(
    product_id: str, _: CommerceRead, session: DbSession, ctx: Ctx, page: MovementPage
) -> Page[MovementRead]:
    """The product's stock ledger, the latest movement first (`sort=created_at`: oldest
    first)."""
    return Page[MovementRead].of(await service.list_movements(session, ctx, product_id, page=page))
