"""Payments and refunds: /api/v1/billing/payments."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["billing"])
