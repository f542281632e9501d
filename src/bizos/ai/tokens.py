"""Token estimates for providers that do not report them (the local provider)."""

from __future__ import annotations
