"""The fallback chain: primary -> secondary -> local, retrying only retryable failures."""

from __future__ import annotations
