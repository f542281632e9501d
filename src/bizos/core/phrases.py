"""Small pieces of the sentences tools speak (``Tool.speak``): counts with their noun,
lists joined with "; ", a range of days. Pure functions, no I/O.

Every number these put in a sentence is one the caller passed in, so the caller keeps
the rule of :class:`bizos.core.tools.Said`: it makes a figure of each count it states.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """``"1 deal"``, ``"3 deals"``, ``"0 deals"`` (``plural`` for irregular nouns)."""
    noun = singular if count == 1 else (plural or f"{singular}s")
    return f"{count:,} {noun}" if count >= 10_000 else f"{count} {noun}"


def noun(count: int, singular: str, plural: str | None = None) -> str:
    """The noun alone, agreeing with ``count``."""
    return singular if count == 1 else (plural or f"{singular}s")


def listed(parts: Iterable[str]) -> str:
    """Items joined with ``"; "`` (never a numbered list: ranks would be numbers)."""
    return "; ".join(p for p in parts if p)


def days(start: dt.date, end: dt.date) -> str:
    """``"on 2026-12-07"`` for one day, ``"from 2026-11-08 to 2026-12-07"`` for a range."""
    if start == end:
        return f"on {start.isoformat()}"
    return f"from {start.isoformat()} to {end.isoformat()}"


def period_of(filters: dict[str, object]) -> tuple[dt.date, dt.date] | None:
    """The ``(from, to)`` days a tool result's filters name, when they name both."""
    start, end = filters.get("from"), filters.get("to")
    if not isinstance(start, str) or not isinstance(end, str):
        return None
    return dt.date.fromisoformat(start), dt.date.fromisoformat(end)


def quoted(text: str, limit: int = 80) -> str:
    """``text`` on one line, cut at ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def digit_free(text: str | None) -> str | None:
    """``text`` when it holds no digit, else None: an answer writes only the numbers it
    can back with a figure or a record's title, so a stray one is left out."""
    return text if text and not any(c.isdigit() for c in text) else None


def named(words: str) -> str:
    """What a person asked for, quoted (``"acme"``), or ``that`` when it holds a number
    the answer could not back with a figure."""
    return f'"{words}"' if digit_free(words) else "that"
