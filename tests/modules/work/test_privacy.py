"""A contact's personal data in work: the tasks about them, exported through the privacy
port the manifest declares."""

from __future__ import annotations

import httpx

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.ports import ports
from tests.conftest import TenantLogin
from tests.modules.work.helpers import create_contact, create_task


async def test_the_tasks_about_a_contact_are_exported(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    contact_id = await create_contact(client, tenant)
    by_contact = await create_task(client, tenant.headers, title="Call Ada", contact_id=contact_id)
    by_related = await create_task(
        client, tenant.headers, title="Send brochure", related={"type": "contact", "id": contact_id}
    )
    await create_task(client, tenant.headers, title="Unrelated")

    ctx = Context(actor_type="system").with_tenant(tenant.tenant_id)
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        exported = await ports.privacy["work"].export(session, ctx, contact_id)

    assert sorted(t["id"] for t in exported["tasks"]) == sorted(
        [by_contact["id"], by_related["id"]]
    )
    [ada] = [t for t in exported["tasks"] if t["id"] == by_contact["id"]]
    assert ada == by_contact  # as the API shows it
