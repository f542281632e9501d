"""The Stripe webhook receiver: POST /webhooks/stripe/{tenant_slug}."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["webhooks"])
