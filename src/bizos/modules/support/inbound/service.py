"""Ingest a parsed message: thread, link contact, open or update a ticket."""

from __future__ import annotations
