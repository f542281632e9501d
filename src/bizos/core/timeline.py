"""The timeline port: how any module adds what it knows to a contact's timeline.

A module declares its sources in its manifest (``timeline_sources``); the assembly puts
them on :data:`bizos.core.ports.ports`, and the CRM's timeline reads them from there. The
CRM therefore imports none of the modules that feed it.

A source is ``async def source(session, ctx, contact_ids, email, limit)`` returning its
newest ``limit`` entries. ``contact_ids`` holds the contact and every contact merged into
it; ``email`` is the contact's address (or None). A source may also take a keyword
``before: datetime | None``: it then returns only entries at or before that time, which
keeps deep pages cheap.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

TimelineSourceFn = Callable[..., Awaitable[list["TimelineEntry"]]]


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    kind: str
    title: str
    summary: str | None
    ref_type: str
    ref_id: str
    data: dict[str, Any] = field(default_factory=dict)
    link: str | None = None  # the API path of the record (``/api/v1/commerce/orders/..``)

    def key(self) -> tuple[dt.datetime, str, str, str]:
        return (self.at, self.ref_type, self.ref_id, self.kind)


@dataclass(frozen=True)
class TimelineSource:
    """A registered source: its name, the coroutine, and whether it takes ``before``."""

    name: str
    source: TimelineSourceFn
    takes_before: bool

    @classmethod
    def of(cls, name: str, source: TimelineSourceFn) -> TimelineSource:
        try:
            takes_before = "before" in inspect.signature(source).parameters
        except (TypeError, ValueError):
            takes_before = False
        return cls(name, source, takes_before)


def newest_first(query: Any, at: Any, *, limit: int, before: dt.datetime | None = None) -> Any:
    """``query`` narrowed to rows whose ``at`` column is set and at or before ``before``,
    newest first, at most ``limit``: what every timeline source reads."""
    query = query.where(at.is_not(None))
    if before is not None:
        query = query.where(at <= before)
    return query.order_by(at.desc()).limit(limit)
