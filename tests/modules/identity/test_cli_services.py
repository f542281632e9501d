"""The service functions behind ``bizos tenant create`` and ``bizos user create``."""

from __future__ import annotations

import httpx
import pytest

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.errors import Conflict, Unprocessable
from bizos.modules.identity import service
from tests.modules.identity.helpers import login

CLI = Context(actor_type="system", actor_id="cli")


async def test_tenant_created_from_the_command_line_can_log_in(
    client: httpx.AsyncClient, db: Database
) -> None:
    async with db.unit_of_work(system=True) as session:
        tenant, owner = await service.create_tenant_with_owner(
            session,
            CLI,
            company_name="Corner Shop",
            email="Boss@Corner.local",
            name="Bo",
            password="shop owner pw",
            slug="corner",
        )
    r = await login(client, "boss@corner.local", "shop owner pw", tenant="corner")
    assert r.status_code == 200, r.text
    assert r.json()["user"] == {**r.json()["user"], "id": owner.id, "role": "owner"}
    assert r.json()["tenant"]["id"] == tenant.id


async def test_user_added_from_the_command_line_joins_the_tenant(
    client: httpx.AsyncClient, db: Database
) -> None:
    async with db.unit_of_work(system=True) as session:
        await service.create_tenant_with_owner(
            session,
            CLI,
            company_name="Corner",
            email="o@corner.test",
            name="O",
            password="owner password",
            slug="corner",
        )
    async with db.unit_of_work(system=True) as session:
        tenant = await service.get_tenant_by_slug(session, slug="corner")
        await service.create_user(
            session,
            CLI.with_tenant(tenant.id),
            tenant_id=tenant.id,
            email="clerk@corner.test",
            name="Cleo",
            role="viewer",
            password="clerk password",
        )
    r = await login(client, "clerk@corner.test", "clerk password")
    assert r.status_code == 200
    assert r.json()["user"]["role"] == "viewer"


async def test_command_line_rejects_a_taken_slug(db: Database) -> None:
    async with db.unit_of_work(system=True) as session:
        await service.create_tenant(session, CLI, name="Corner", slug="corner")
        with pytest.raises(Conflict):
            await service.create_tenant(session, CLI, name="Corner Two", slug="corner")


async def test_command_line_rejects_an_unknown_role_and_short_password(db: Database) -> None:
    async with db.unit_of_work(system=True) as session:
        tenant = await service.create_tenant(session, CLI, name="Corner")
        with pytest.raises(Unprocessable) as caught:
            await service.create_user(
                session,
                CLI,
                tenant_id=tenant.id,
                email="a@b.test",
                name="A",
                role="boss",
                password="short",
            )
    assert {tuple(e["loc"]) for e in caught.value.errors or []} == {
        ("body", "role"),
        ("body", "password"),
    }
