"""Knowledge-base API shapes."""

from __future__ import annotations
