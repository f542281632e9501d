"""In-app notifications: each user sees, reads and clears only their own; a copy may go
out by email."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.modules.identity.models import User
from bizos.modules.notifications import service
from bizos.modules.outreach.delivery import deliver_due_messages
from tests.conftest import TenantLogin
from tests.connectors.helpers import api_key_headers
from tests.modules.identity.helpers import Member, add_member, assert_problem


async def _notify(
    db: Database, tenant_id: str, user_id: str, title: str, *, email: bool = False
) -> str:
    ctx = Context(tenant_id=tenant_id, actor_type="system")
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        row = await service.notify(
            session,
            ctx,
            user_id=user_id,
            kind="lead.hot",
            title=title,
            body="Score 91",
            related_type="lead",
            related_id="lead-1",
            data={"score": 91},
            email=email,
        )
        return row.id


async def _ids(
    client: httpx.AsyncClient, member: Member | TenantLogin, query: str = ""
) -> list[str]:
    r = await client.get(f"/api/v1/notifications{query}", headers=member.headers)
    assert r.status_code == 200, r.text
    return [n["id"] for n in r.json()["items"]]


async def test_users_see_and_read_only_their_own_notifications(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    alice = await add_member(client, tenant, "member", name="Alice")
    bob = await add_member(client, tenant, "viewer", name="Bob")
    first = await _notify(db, tenant.tenant_id, alice.id, "Hot lead: Ada")
    second = await _notify(db, tenant.tenant_id, alice.id, "Hot lead: Grace")
    bobs = await _notify(db, tenant.tenant_id, bob.id, "Hot lead: Linus")

    listed = (await client.get("/api/v1/notifications", headers=alice.headers)).json()
    assert [n["id"] for n in listed["items"]] == [second, first]  # newest first
    item = listed["items"][1]
    assert item["kind"] == "lead.hot" and item["title"] == "Hot lead: Ada"
    assert item["related"] == {"type": "lead", "id": "lead-1"}
    assert item["data"] == {"score": 91}
    assert (item["read"], item["read_at"], item["email_message_id"]) == (False, None, None)
    assert await _ids(client, bob) == [bobs]  # a viewer reads their own too
    assert await _ids(client, tenant) == []

    # Bob cannot read Alice's, nor can another workspace: as if it did not exist.
    assert_problem(
        await client.post(f"/api/v1/notifications/{first}/read", headers=bob.headers), 404
    )
    assert_problem(
        await client.post(f"/api/v1/notifications/{first}/read", headers=other_tenant.headers), 404
    )
    assert_problem(await client.post("/api/v1/notifications/nope/read", headers=alice.headers), 404)

    r = await client.post(f"/api/v1/notifications/{first}/read", headers=alice.headers)
    assert r.status_code == 200, r.text
    assert r.json()["read"] is True
    read_at = r.json()["read_at"]
    again = await client.post(f"/api/v1/notifications/{first}/read", headers=alice.headers)
    assert again.json()["read_at"] == read_at  # reading twice changes nothing

    assert await _ids(client, alice, "?unread=true") == [second]
    assert await _ids(client, alice, "?unread=false") == [first]
    count = await client.get("/api/v1/notifications/unread-count", headers=alice.headers)
    assert count.json() == {"unread": 1}

    # read-all clears the caller's only.
    r = await client.post("/api/v1/notifications/read-all", headers=alice.headers)
    assert r.json() == {"updated": 1}
    assert await _ids(client, alice, "?unread=true") == []
    assert await _ids(client, bob, "?unread=true") == [bobs]


async def test_notifications_page_newest_first(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    made = [await _notify(db, tenant.tenant_id, tenant.user_id, f"n{i}") for i in range(5)]
    first = (await client.get("/api/v1/notifications?limit=3", headers=tenant.headers)).json()
    assert [n["id"] for n in first["items"]] == made[:1:-1]
    rest = (
        await client.get(
            f"/api/v1/notifications?limit=3&cursor={first['next_cursor']}", headers=tenant.headers
        )
    ).json()
    assert [n["id"] for n in rest["items"]] == [made[1], made[0]]
    assert rest["next_cursor"] is None


async def test_api_keys_and_anonymous_callers_have_no_notifications(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    key = await api_key_headers(client, tenant, ["crm:read"])
    assert_problem(await client.get("/api/v1/notifications", headers=key), 403)
    assert_problem(await client.post("/api/v1/notifications/read-all", headers=key), 403)
    assert_problem(await client.get("/api/v1/notifications"), 401)


async def test_a_notification_with_email_sends_a_copy_to_the_user(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    alice = await add_member(client, tenant, "member", name="Alice")
    notification_id = await _notify(db, tenant.tenant_id, alice.id, "Hot lead: Ada", email=True)
    [item] = (await client.get("/api/v1/notifications", headers=alice.headers)).json()["items"]
    assert item["id"] == notification_id and item["email_message_id"]

    assert await deliver_due_messages(db) == 1
    r = await client.get(f"/api/v1/messages?to={alice.email}", headers=tenant.headers)
    [email] = r.json()["items"]
    assert email["id"] == item["email_message_id"]
    assert email["subject"] == "Hot lead: Ada"
    assert "Score 91" in email["body"]
    assert email["related"] == {"type": "lead", "id": "lead-1"}
    assert email["status"] == "sandboxed"

    # Nobody to write to: a deactivated user still gets the in-app one, no email.
    await client.patch(
        f"/api/v1/users/{alice.id}", json={"is_active": False}, headers=tenant.headers
    )
    await _notify(db, tenant.tenant_id, alice.id, "Hot lead: Grace", email=True)
    assert await deliver_due_messages(db) == 0


async def test_a_user_address_no_channel_can_send_to_gets_the_notification_in_app_only(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    alice = await add_member(client, tenant, "member", name="Alice")
    # An address written before the validator refused special-use domains (.local).
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await session.execute(
            sa.update(User).where(User.id == alice.id).values(email="alice@example.local")
        )

    notification_id = await _notify(db, tenant.tenant_id, alice.id, "Hot lead: Ada", email=True)

    [item] = (await client.get("/api/v1/notifications", headers=alice.headers)).json()["items"]
    assert item["id"] == notification_id
    assert item["email_message_id"] is None
    assert await deliver_due_messages(db) == 0
    r = await client.get("/api/v1/messages", headers=tenant.headers)
    assert r.json()["items"] == []
