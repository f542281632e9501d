"""Per-tenant AI settings: provider chain, embeddings, budget, prices."""

from __future__ import annotations
