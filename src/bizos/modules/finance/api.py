"""Expenses and budgets: /api/v1/finance/expenses, /api/v1/finance/budgets."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["finance"])
