"""Ports: what a lower floor asks of the modules above it.

The platform must not import the business modules, yet it needs a few things only they
know: the entries a contact's timeline shows, whether a record a task points at exists,
which names in a prompt belong to the tenant's contacts, and what personal data each
module holds. Each module declares what it provides in its manifest; the assembly
(:mod:`bizos.registry`) puts it here once, before the application or a worker runs.
Nothing registers itself by being imported.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.timeline import TimelineSource, TimelineSourceFn
from bizos.core.tools import ToolRegistry

# ``(session, ctx, record_id) -> record``; raises :class:`bizos.core.errors.NotFound` when
# the tenant has no such record.
RecordResolver = Callable[[AsyncSession, Context, str], Awaitable[object]]


# ``(session, ctx, texts) -> ([KnownEntity], phone region)``: the tenant's names that occur
# in the texts, and the region its national phone numbers are written for.
NameLookup = Callable[
    [AsyncSession, Context, Sequence[str]], Awaitable[tuple[Sequence[Any], str | None]]
]


@dataclass(frozen=True, slots=True)
class PrivacyHooks:
    """What personal data a module holds about a contact, and how to hand it over.

    ``export(session, ctx, contact_id)`` returns the module's records about the contact
    as plain JSON-ready data, keyed by record kind.
    """

    export: Callable[[AsyncSession, Context, str], Awaitable[Mapping[str, list[dict[str, Any]]]]]


class Ports:
    def __init__(self) -> None:
        self.timeline_sources: dict[str, TimelineSource] = {}
        self.record_resolvers: dict[str, RecordResolver] = {}
        # What fires task templates (work refuses a template for any other trigger).
        self.task_triggers: list[str] = []
        self.name_lookup: NameLookup | None = None
        self.privacy: dict[str, PrivacyHooks] = {}
        # Every manifest's tools, for callers outside a request (the copilot's service
        # when MCP calls it, jobs); a request uses ``app.state.tools``.
        self.tools: ToolRegistry | None = None

    def add_timeline_sources(self, sources: Mapping[str, TimelineSourceFn]) -> None:
        for name, source in sources.items():
            self.timeline_sources[name] = TimelineSource.of(name, source)

    def add_record_resolvers(self, resolvers: Mapping[str, RecordResolver]) -> None:
        for record_type, resolver in resolvers.items():
            existing = self.record_resolvers.get(record_type)
            if existing is not None and existing is not resolver:
                raise ValueError(f"two modules resolve records of type {record_type!r}")
            self.record_resolvers[record_type] = resolver

    def sources(self) -> Iterable[TimelineSource]:
        return list(self.timeline_sources.values())

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]


ports = Ports()
