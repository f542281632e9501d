"""Knowledge-base documents: create, update, delete, (re-)index."""

from __future__ import annotations
