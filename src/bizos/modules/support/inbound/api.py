"""POST /webhooks/email/{tenant_slug}."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["webhooks"])
