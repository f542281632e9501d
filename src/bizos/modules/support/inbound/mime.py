"""RFC 5322/MIME messages to a parsed, normalised form."""

from __future__ import annotations
