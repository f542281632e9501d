"""Hybrid search: full text + vectors, reciprocal rank fusion."""

from __future__ import annotations

from sqlalchemy.engine import Connection


def install(bind: Connection) -> None:
    """Create the full-text index over ``kb_chunks`` (called by the migration)."""


def uninstall(bind: Connection) -> None:
    """Drop what :func:`install` made."""
