"""The billing routers, assembled."""

from __future__ import annotations

from fastapi import APIRouter

from bizos.modules.billing.invoices.api import router as invoices_router
from bizos.modules.billing.metrics_api import router as metrics_router
from bizos.modules.billing.payments.api import router as payments_router
from bizos.modules.billing.stripe.api import router as stripe_router

router = APIRouter()
router.include_router(invoices_router)
router.include_router(payments_router)
router.include_router(stripe_router)
router.include_router(metrics_router)
