"""Small pieces of the sentences tools speak (``Tool.speak``): counts with their noun,
lists joined with "; ", a range of days (``1 Nov - 30 Nov 2026``, with an en dash).
Pure functions, no I/O.

Every number these put in a sentence is one the caller passed in, so the caller keeps
the rule of :class:`bizos.core.tools.Said`: it makes a figure of each count it states.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

DASH = "\u2013"  # the en dash between a period's first and last day
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def period_text(start: dt.date, end: dt.date) -> str:
    """Inclusive days as an answer writes them, :data:`DASH` between: ``1 Nov - 30 Nov
    2026``, ``15 Dec 2025 - 14 Jan 2026``, or ``3 Mar 2026`` for one day
    (``core.tools.unfigured_numbers`` allows them)."""

    def day(d: dt.date, year: bool) -> str:
        return f"{d.day} {_MONTHS[d.month - 1]}" + (f" {d.year}" if year else "")

    if start == end:
        return day(start, True)
    return f"{day(start, start.year != end.year)} {DASH} {day(end, True)}"


def between_text(start: dt.date, end: dt.date) -> str:
    """Inclusive days after a verb: ``between 1 Nov and 30 Nov 2026`` (``on 3 Mar 2026``)."""
    if start == end:
        return f"on {period_text(start, end)}"
    first, last = period_text(start, end).split(f" {DASH} ")
    return f"between {first} and {last}"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 order``, ``3 orders`` (``plural`` where adding an s is wrong)."""
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


def noun(count: int, singular: str, plural: str | None = None) -> str:
    """The noun alone, agreeing with ``count``."""
    return singular if count == 1 else (plural or f"{singular}s")


def listed(parts: Iterable[str]) -> str:
    """Items joined with ``"; "`` (never a numbered list: ranks would be numbers)."""
    return "; ".join(p for p in parts if p)


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
