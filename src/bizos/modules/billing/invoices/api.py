"""Invoices and credit notes: /api/v1/billing/invoices."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["billing"])
