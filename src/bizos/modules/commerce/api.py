"""The commerce routers, assembled."""

from __future__ import annotations

from fastapi import APIRouter

from bizos.modules.commerce.fulfilment.api import router as fulfilment_router
from bizos.modules.commerce.inventory.api import router as inventory_router
from bizos.modules.commerce.metrics_api import router as metrics_router
from bizos.modules.commerce.orders.api import router as orders_router
from bizos.modules.commerce.shopify.api import router as shopify_router

router = APIRouter()
router.include_router(inventory_router)
router.include_router(orders_router)
router.include_router(shopify_router)
router.include_router(fulfilment_router)
router.include_router(metrics_router)
