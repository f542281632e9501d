"""The VectorIndex port and its exact numpy implementation."""

from __future__ import annotations
