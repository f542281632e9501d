"""Summarize (JSON or SSE) and contract endpoints."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["knowledge"])
