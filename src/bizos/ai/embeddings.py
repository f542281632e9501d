"""Embedders: built-in local, sentence-transformers (optional), provider."""

from __future__ import annotations
