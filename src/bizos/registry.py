"""The one registry: every module's manifest, and what the assembly builds from them.

``bizos serve``, ``bizos worker``, the CLI, the demo and the tests all start here. A
module becomes part of the product by being listed in :data:`MANIFESTS`; nothing in it
registers itself by being imported. The order is the order routers are included and
subscribers are registered in.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

from fastapi import FastAPI
from sqlalchemy import MetaData

from bizos.ai.manifest import MANIFEST as AI
from bizos.connectors.manifest import MANIFEST as CONNECTORS
from bizos.core import audit, dispatcher_models, events, idempotency, scheduler, sequences
from bizos.core.db import Base
from bizos.core.dispatcher import Dispatcher
from bizos.core.manifest import Manifest
from bizos.core.ports import ports
from bizos.core.scheduler import Job, check_unique
from bizos.core.sending import email_sending
from bizos.core.tools import ToolRegistry
from bizos.modules.audit.manifest import MANIFEST as AUDIT
from bizos.modules.billing.manifest import MANIFEST as BILLING
from bizos.modules.commerce.manifest import MANIFEST as COMMERCE
from bizos.modules.copilot.manifest import MANIFEST as COPILOT
from bizos.modules.crm.manifest import MANIFEST as CRM
from bizos.modules.events.manifest import MANIFEST as EVENTS
from bizos.modules.finance.manifest import MANIFEST as FINANCE
from bizos.modules.identity.manifest import MANIFEST as IDENTITY
from bizos.modules.knowledge.manifest import MANIFEST as KNOWLEDGE
from bizos.modules.notifications.manifest import MANIFEST as NOTIFICATIONS
from bizos.modules.outreach.manifest import MANIFEST as OUTREACH
from bizos.modules.support.manifest import MANIFEST as SUPPORT
from bizos.modules.webhooks.manifest import MANIFEST as WEBHOOKS
from bizos.modules.work.manifest import MANIFEST as WORK

# The platform first, then the business modules.
MANIFESTS: tuple[Manifest, ...] = (
    IDENTITY,
    EVENTS,
    WEBHOOKS,
    AUDIT,
    CONNECTORS,
    OUTREACH,
    WORK,
    NOTIFICATIONS,
    AI,
    CRM,
    COMMERCE,
    BILLING,
    FINANCE,
    KNOWLEDGE,
    SUPPORT,
    COPILOT,
)

# core's own tables (the event log, audit, the dispatcher's bookkeeping, …).
CORE_MODELS: tuple[ModuleType, ...] = (
    audit,
    dispatcher_models,
    events,
    idempotency,
    scheduler,
    sequences,
)


def manifest(name: str) -> Manifest:
    for m in MANIFESTS:
        if m.name == name:
            return m
    raise LookupError(f"no module is named {name!r}")


def install_ports() -> None:
    """Put every manifest's timeline sources, record resolvers, task triggers, name
    lookup, privacy hooks and email-sending check on the ports (idempotent: the same
    manifests give the same ports)."""
    ports.clear()
    email_sending.install(None)
    ports.tools = tools()
    for m in MANIFESTS:
        ports.add_timeline_sources(m.timeline_sources)
        ports.add_record_resolvers(m.record_resolvers)
        ports.task_triggers.extend(m.task_triggers)
        if m.name_lookup is not None:
            if ports.name_lookup is not None:
                raise ValueError("two modules provide the privacy name lookup")
            ports.name_lookup = m.name_lookup
        if m.privacy is not None:
            ports.privacy[m.name] = m.privacy
        if m.email_sending_allowed is not None:
            if email_sending.owner_verified is not None:
                raise ValueError("two modules decide whether a workspace may send email")
            email_sending.install(m.email_sending_allowed)


def include_routers(app: FastAPI) -> None:
    for m in MANIFESTS:
        for router in m.routers:
            app.include_router(router)


def register_subscribers(dispatcher: Dispatcher) -> None:
    for m in MANIFESTS:
        for register in m.subscribers:
            register(dispatcher)


def jobs() -> list[Job]:
    return check_unique(job for m in MANIFESTS for job in m.jobs)


def job(name: str) -> Job:
    for j in jobs():
        if j.name == name:
            return j
    raise LookupError(f"no scheduled job is named {name!r}")


def workflows() -> list[Any]:
    """Every durable workflow function (DBOS registers each where it is defined, so the
    manifests importing them is what makes them known before the executor launches)."""
    return [w for m in MANIFESTS for w in m.workflows]


def tools() -> ToolRegistry:
    return ToolRegistry(tool for m in MANIFESTS for tool in m.tools)


def model_modules() -> Iterator[ModuleType]:
    yield from CORE_MODELS
    for m in MANIFESTS:
        yield from m.models


def metadata() -> MetaData:
    """The complete schema: every table of every manifest (and core's)."""
    list(model_modules())
    return Base.metadata
