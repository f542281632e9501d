"""Triage: classification to priority."""

from __future__ import annotations
