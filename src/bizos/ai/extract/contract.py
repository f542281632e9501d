"""Contract terms out of text: parties, amounts, dates (no network)."""

from __future__ import annotations
