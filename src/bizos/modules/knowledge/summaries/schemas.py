"""Summary and contract API shapes."""

from __future__ import annotations
