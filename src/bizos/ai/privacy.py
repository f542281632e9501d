"""The privacy proxy: PII to reversible tokens before external providers."""

from __future__ import annotations
