"""Document and search endpoints."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["knowledge"])
