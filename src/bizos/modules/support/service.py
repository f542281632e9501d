"""Tickets: create from messages, read, list, update."""

from __future__ import annotations
