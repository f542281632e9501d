"""Helpers for work tests: team members, tasks through the API, the event log."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core.db import Database
from bizos.core.events import Event
from tests.conftest import TenantLogin
from tests.modules.identity.helpers import Member, add_member

__all__ = [
    "Member",
    "add_member",
    "create_contact",
    "create_deal",
    "create_task",
    "event_types",
    "set_manager",
]


async def create_task(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    r = await client.post("/api/v1/tasks", json={"title": "Call Ada back", **body}, headers=headers)
    assert r.status_code == 201, r.text
    task: dict[str, Any] = r.json()
    return task


async def create_deal(client: httpx.AsyncClient, tenant: TenantLogin, name: str = "Renewal") -> str:
    r = await client.post(
        "/api/v1/crm/deals",
        json={"name": name, "amount": "1200.00", "currency": "EUR"},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    deal_id: str = r.json()["id"]
    return deal_id


async def set_manager(
    client: httpx.AsyncClient, admin: TenantLogin, user_id: str, manager_id: str | None
) -> None:
    r = await client.patch(
        f"/api/v1/users/{user_id}", json={"manager_id": manager_id}, headers=admin.headers
    )
    assert r.status_code == 200, r.text


async def event_types(db: Database, aggregate_id: str) -> list[str]:
    async with db.unit_of_work(system=True, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Event.type).where(Event.aggregate_id == aggregate_id).order_by(Event.position)
        )
        return list(rows)


async def events_of(db: Database, aggregate_id: str, type_: str) -> list[Event]:
    async with db.unit_of_work(system=True, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Event)
            .where(Event.aggregate_id == aggregate_id, Event.type == type_)
            .order_by(Event.position)
        )
        return list(rows)


async def create_contact(client: httpx.AsyncClient, admin: TenantLogin, name: str = "Ada") -> str:
    r = await client.post(
        "/api/v1/crm/contacts",
        json={"name": name, "email": f"{name.lower()}-{uuid.uuid4().hex[:6]}@customer.example"},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    contact_id: str = r.json()["id"]
    return contact_id
