"""Summaries: map-reduce over chunks, progress, provenance."""

from __future__ import annotations
