"""Contracts: extraction and the notice-date task."""

from __future__ import annotations
