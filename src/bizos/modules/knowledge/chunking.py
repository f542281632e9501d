"""Structure-aware chunking with overlap."""

from __future__ import annotations
