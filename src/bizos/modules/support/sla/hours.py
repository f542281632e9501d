"""Business-hours arithmetic."""

from __future__ import annotations
