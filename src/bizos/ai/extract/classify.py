"""Sentiment and intent of a customer message (no network)."""

from __future__ import annotations
