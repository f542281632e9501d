"""Where durable workflows run, a queued import is carried by the ``crm.import`` workflow."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.core.workflows import Workflows, get_workflow_status, get_workflow_steps
from tests.conftest import TenantLogin
from tests.modules.crm.imports.helpers import csv_text, run_imports, upload


@pytest.fixture
async def workflows(settings: Settings, db: Database) -> AsyncIterator[Workflows]:
    runtime = Workflows(
        settings.model_copy(
            update={"workflows_enabled": True, "executor_id": f"test-{uuid.uuid4().hex[:8]}"}
        )
    )
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def test_the_import_workflow_processes_batches_as_steps(
    workflows: Workflows,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    db: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bizos.modules.crm.imports import service

    monkeypatch.setattr(service, "BATCH_SIZE", 4)
    rows = [f"w{i}@example.com,Person {i}" for i in range(10)]
    r = await upload(client, tenant, csv_text("email,name", *rows))
    assert r.status_code == 202
    import_id = r.json()["id"]

    await run_imports(db, settings)  # the queued event starts the workflow
    async with asyncio.timeout(60):
        while True:
            r = await client.get(f"/api/v1/crm/imports/{import_id}", headers=tenant.headers)
            if r.json()["status"] == "completed":
                break
            await asyncio.sleep(0.05)

    job = r.json()
    assert job["runner"] == "workflow"
    assert job["counts"]["created"] == 10
    events = await client.get(
        "/api/v1/events", params={"aggregate_id": import_id}, headers=tenant.headers
    )
    types = [e["type"] for e in events.json()["items"]]
    assert types == ["crm.import.queued", "crm.import.completed"]  # no dispatcher hops
    workflow_id = f"crm.import:{events.json()['items'][0]['id']}"
    state = await get_workflow_status(workflow_id)
    assert state is not None and state.status == "succeeded"
    steps = [s.name for s in await get_workflow_steps(workflow_id)]
    assert steps == ["crm.import.batch"] * 3  # 4 + 4 + 2 rows
