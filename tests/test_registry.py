"""The manifests are the product: what each module declares is live in a running app,
and nothing becomes live any other way."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from bizos import registry
from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.core.dispatcher import Dispatcher
from bizos.core.ports import ports
from bizos.core.workflows import _workflows
from bizos.runtime import Runtime


def _operations(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_every_module_has_one_manifest_with_a_unique_name() -> None:
    names = [m.name for m in registry.MANIFESTS]
    assert len(names) == len(set(names))
    for expected in ("crm", "commerce", "billing", "finance", "knowledge", "support"):
        assert expected in names


async def test_every_manifest_router_is_served(app: FastAPI) -> None:
    served = _operations(app)
    for manifest in registry.MANIFESTS:
        alone = FastAPI()
        for router in manifest.routers:
            alone.include_router(router)
        declared = _operations(alone)
        assert declared or not manifest.routers, f"{manifest.name} declares no operation"
        missing = declared - served
        assert not missing, f"{manifest.name}: {sorted(missing)[:3]} not served"


async def test_every_manifest_subscriber_runs_in_the_worker(
    settings: Settings, db: Database
) -> None:
    runtime = Runtime(settings, db, workers=False)
    live = {s.name for s in runtime.dispatcher.subscriptions}
    for manifest in registry.MANIFESTS:
        declared = Dispatcher(db, settings)
        for register in manifest.subscribers:
            register(declared)
        names = {s.name for s in declared.subscriptions}
        assert not manifest.subscribers or names, f"{manifest.name} subscribes to nothing"
        assert names <= live, f"{manifest.name}: {sorted(names - live)} not running"


async def test_every_manifest_job_is_scheduled(settings: Settings, db: Database) -> None:
    runtime = Runtime(settings, db, workers=False)
    scheduled = {job.name for job in runtime.scheduler.jobs}
    declared = {job.name for m in registry.MANIFESTS for job in m.jobs}
    assert declared == scheduled
    assert {"billing.dunning", "work.task_reminders", "support.sla_breaches"} <= scheduled


async def test_every_manifest_tool_is_callable_through_the_app(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    live = app.state.tools
    declared = {tool.name for m in registry.MANIFESTS for tool in m.tools}
    assert declared and set(live.names()) == declared


def test_every_manifest_workflow_is_registered_for_recovery() -> None:
    for manifest in registry.MANIFESTS:
        for workflow in manifest.workflows:
            assert workflow in _workflows.values(), f"{manifest.name}: {workflow!r}"


def test_ports_hold_exactly_what_the_manifests_declare() -> None:
    registry.install_ports()
    sources = {name for m in registry.MANIFESTS for name in m.timeline_sources}
    assert set(ports.timeline_sources) == sources
    resolvers = {kind for m in registry.MANIFESTS for kind in m.record_resolvers}
    assert set(ports.record_resolvers) == resolvers
    assert ports.name_lookup is not None
    assert set(ports.privacy) == {m.name for m in registry.MANIFESTS if m.privacy is not None}


def test_importing_every_module_registers_nothing() -> None:
    """Importing every file of the product, without the assembly, leaves the ports empty:
    only the registry fills them."""
    script = textwrap.dedent(
        """
        import importlib, pkgutil
        import bizos
        from bizos.core.ports import ports
        for info in pkgutil.walk_packages(bizos.__path__, "bizos."):
            if info.name not in ("bizos.registry", "bizos.app", "bizos.runtime"):
                importlib.import_module(info.name)
        assert not ports.timeline_sources, ports.timeline_sources
        assert not ports.record_resolvers, ports.record_resolvers
        assert ports.name_lookup is None
        assert not ports.privacy
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]


async def test_every_migrated_table_belongs_to_a_manifest(db: Database) -> None:
    """The schema the migrations build and the tables the manifests declare are the same:
    a module's tables are part of the product because its manifest lists them."""
    async with db.engine.connect() as conn:
        migrated = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    migrated -= {"alembic_version"}
    # Full-text search shadow tables (SQLite FTS5) are made by the migrations, not mapped.
    migrated = {t for t in migrated if "_fts" not in t and not t.startswith("dbos")}
    declared = set(registry.metadata().tables)
    assert declared - migrated == set()
    assert migrated - declared == set()
