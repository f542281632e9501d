"""The durable AI draft workflow."""

from __future__ import annotations
