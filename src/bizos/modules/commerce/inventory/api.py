"""Products and stock: /api/v1/commerce/products."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["commerce"])
