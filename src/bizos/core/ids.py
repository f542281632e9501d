"""Identifiers: UUIDv7 strings, time-ordered so indexes stay compact."""

from __future__ import annotations

import uuid_utils


def new_id() -> str:
    return str(uuid_utils.uuid7())
