"""Drafts and replies."""

from __future__ import annotations
