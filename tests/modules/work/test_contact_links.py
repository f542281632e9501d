"""Tasks on a contact: shown in its timeline, and moved to the survivor when the
contact is merged into another."""

from __future__ import annotations

import asyncio

import httpx

from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.core.dispatcher import Dispatcher
from bizos.modules.work import handlers as work_handlers
from tests.conftest import TenantLogin
from tests.modules.work.helpers import create_contact, create_task, events_of


async def test_a_contacts_tasks_are_in_its_timeline(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    contact_id = await create_contact(client, tenant)
    open_task = await create_task(client, tenant.headers, title="Call Ada", contact_id=contact_id)
    done = await create_task(
        client,
        tenant.headers,
        title="Send brochure",
        related={"type": "contact", "id": contact_id},
    )
    await client.patch(
        f"/api/v1/tasks/{done['id']}", json={"status": "done"}, headers=tenant.headers
    )
    await create_task(client, tenant.headers, title="Unrelated")

    r = await client.get(
        f"/api/v1/crm/contacts/{contact_id}/timeline?kind=task", headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    entries = [(e["kind"], e["ref_id"], e["title"]) for e in r.json()["items"]]
    assert entries == [
        ("task.completed", done["id"], "Task done: Send brochure"),
        ("task", done["id"], "Task: Send brochure"),
        ("task", open_task["id"], "Task: Call Ada"),
    ]


async def test_merging_contacts_moves_their_tasks_to_the_survivor(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    survivor = await create_contact(client, tenant, "Ada")
    duplicate = await create_contact(client, tenant, "Adah")
    by_contact = await create_task(client, tenant.headers, contact_id=duplicate)
    by_related = await create_task(
        client, tenant.headers, related={"type": "contact", "id": duplicate}
    )
    elsewhere = await create_task(client, tenant.headers, contact_id=survivor)

    r = await client.post(
        f"/api/v1/crm/contacts/{survivor}/merge",
        json={"duplicate_ids": [duplicate]},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text

    async def task(task_id: str) -> dict[str, object]:
        got: dict[str, object] = (
            await client.get(f"/api/v1/tasks/{task_id}", headers=tenant.headers)
        ).json()
        return got

    # The work module's subscriber handles crm.contact.merged. On PostgreSQL an event is
    # read once no older transaction anywhere is still open, so poll until it is handled.
    dispatcher = Dispatcher(db, settings)
    work_handlers.register(dispatcher)
    for _ in range(500):
        await dispatcher.run_once()
        if await events_of(db, by_contact["id"], "work.task.updated"):
            break
        await asyncio.sleep(0.02)

    assert (await task(by_contact["id"]))["contact_id"] == survivor
    moved = await task(by_related["id"])
    assert (moved["contact_id"], moved["related"]) == (
        survivor,
        {"type": "contact", "id": survivor},
    )
    assert (await task(elsewhere["id"]))["version"] == 1
    [updated] = await events_of(db, by_contact["id"], "work.task.updated")
    assert updated.data["reason"] == "contact_merged"
    listed = await client.get(f"/api/v1/tasks?contact_id={survivor}", headers=tenant.headers)
    assert len(listed.json()["items"]) == 3

    # A task made for the merged-away contact afterwards lands on the survivor.
    late = await create_task(client, tenant.headers, contact_id=duplicate)
    assert late["contact_id"] == survivor
