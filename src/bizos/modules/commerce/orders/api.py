"""Sales orders and commerce settings: /api/v1/commerce/orders, /api/v1/commerce/settings."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["commerce"])
