"""The built-in local provider: no network, extractive and grounded, honest."""

from __future__ import annotations
