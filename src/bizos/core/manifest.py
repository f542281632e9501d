"""A module's manifest: everything it contributes to the running product, in one place.

Each module (``modules/<name>/manifest.py``, ``ai/manifest.py``, ``connectors/…``)
exports ``MANIFEST``. The assembly (:mod:`bizos.registry`) collects them and builds the
API, the workers, the copilot's tools and the ports from them. Listing a thing here is
what makes it live; importing a file does not register anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from fastapi import APIRouter

from bizos.core.dispatcher import Dispatcher
from bizos.core.ports import NameLookup, PrivacyHooks, RecordResolver
from bizos.core.scheduler import Job
from bizos.core.sending import OwnerVerified
from bizos.core.timeline import TimelineSourceFn
from bizos.core.tools import Tool


@dataclass(frozen=True)
class Manifest:
    """``name`` is the module's short name (``crm``, ``billing``).

    - ``models``: the modules defining its tables (so the schema is complete);
    - ``routers``: its HTTP routers, included under the app in manifest order;
    - ``subscribers``: ``register(dispatcher)`` functions adding its event subscribers;
    - ``workflows``: its durable workflow functions (``@workflow``);
    - ``jobs``: its scheduled jobs;
    - ``tools``: what the copilot may ask and do here;
    - ``timeline_sources``: entries it adds to a contact's timeline, by source name;
    - ``record_resolvers``: record types it owns that tasks may point at;
    - ``task_triggers``: the triggers it fires task templates with (``deal.stage:won``);
    - ``name_lookup``: the privacy proxy's lookup of the tenant's names (the CRM's);
    - ``privacy``: the personal data it holds and how to export it;
    - ``email_sending_allowed``: whether a workspace may send real email yet (identity's).
    """

    name: str
    models: tuple[ModuleType, ...] = ()
    routers: tuple[APIRouter, ...] = ()
    subscribers: tuple[Callable[[Dispatcher], None], ...] = ()
    workflows: tuple[Callable[..., Any], ...] = ()
    jobs: tuple[Job, ...] = ()
    tools: tuple[Tool, ...] = ()
    timeline_sources: Mapping[str, TimelineSourceFn] = field(default_factory=dict)
    record_resolvers: Mapping[str, RecordResolver] = field(default_factory=dict)
    task_triggers: tuple[str, ...] = ()
    name_lookup: NameLookup | None = None
    privacy: PrivacyHooks | None = None
    email_sending_allowed: OwnerVerified | None = None
