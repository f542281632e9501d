"""Versioned prompt templates (files under ai/prompts/)."""

from __future__ import annotations
