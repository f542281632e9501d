"""Anthropic Messages API: messages and streaming."""

from __future__ import annotations
