"""The Shopify webhook receiver: POST /webhooks/shopify/{tenant_slug}."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["webhooks"])
