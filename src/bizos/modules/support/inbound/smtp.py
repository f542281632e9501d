"""The optional built-in SMTP receiver."""

from __future__ import annotations
