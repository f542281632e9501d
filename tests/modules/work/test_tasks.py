"""Tasks through the API: create, read, list with filters, update with If-Match,
complete, reassign; validation, tenancy and scopes."""

from __future__ import annotations

import datetime as dt

import httpx

from bizos.core.db import Database
from tests.conftest import TenantLogin
from tests.connectors.helpers import api_key_headers
from tests.modules.identity.helpers import assert_problem
from tests.modules.work.helpers import (
    add_member,
    create_contact,
    create_deal,
    create_task,
    event_types,
    events_of,
)

DUE = "2031-05-04T16:00:00+00:00"


async def test_a_task_is_created_with_its_fields_and_defaults(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    member = await add_member(client, tenant, "member", name="Mia")
    contact_id = await create_contact(client, tenant)
    deal_id = await create_deal(client, tenant)
    r = await client.post(
        "/api/v1/tasks",
        json={
            "title": "  Send the proposal  ",
            "description": "Include the volume discount.",
            "assignee_id": member.id,
            "due_at": DUE,
            "priority": "high",
            "related": {"type": "deal", "id": deal_id},
            "contact_id": contact_id,
        },
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["title"] == "Send the proposal"
    assert task["assignee_id"] == member.id
    assert task["created_by"] == tenant.user_id
    assert (task["priority"], task["status"]) == ("high", "open")
    assert task["due_at"] == task["remind_at"]  # the reminder defaults to the due time
    assert dt.datetime.fromisoformat(task["due_at"]) == dt.datetime.fromisoformat(DUE)
    assert task["related"] == {"type": "deal", "id": deal_id}
    assert task["contact_id"] == contact_id
    assert task["overdue"] is False
    assert task["completed_at"] is None and task["reminded_at"] is None
    assert task["version"] == 1
    assert r.headers["ETag"] == 'W/"1"'
    assert await event_types(db, task["id"]) == ["work.task.created", "work.task.assigned"]

    # The assignee hears about it in the app; the creator assigning to themself does not.
    inbox = (await client.get("/api/v1/notifications", headers=member.headers)).json()["items"]
    assert [(n["kind"], n["related"]) for n in inbox] == [
        ("task.assigned", {"type": "task", "id": task["id"]})
    ]

    mine = await create_task(client, tenant.headers, remind_at=None, due_at=DUE)
    assert mine["assignee_id"] == tenant.user_id  # no assignee given: the caller's
    assert mine["remind_at"] is None  # explicitly no reminder
    own_inbox = (await client.get("/api/v1/notifications", headers=tenant.headers)).json()
    assert own_inbox["items"] == []

    got = await client.get(f"/api/v1/tasks/{task['id']}", headers=member.headers)
    assert got.status_code == 200
    assert got.json() == task


async def test_invalid_tasks_are_refused_with_the_fields_named(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/tasks",
        json={"title": "   ", "priority": "asap", "due_at": "2031-05-04T16:00:00"},
        headers=tenant.headers,
    )
    body = assert_problem(r, 422)
    locs = {tuple(e["loc"]) for e in body["errors"]}
    assert {("body", "title"), ("body", "priority"), ("body", "due_at")} <= locs

    r = await client.post(
        "/api/v1/tasks", json={"title": "x", "unknown": 1}, headers=tenant.headers
    )
    assert ("body", "unknown") in {tuple(e["loc"]) for e in assert_problem(r, 422)["errors"]}

    r = await client.post(
        "/api/v1/tasks",
        json={"title": "x", "related": {"type": "Deal Type!", "id": "1"}},
        headers=tenant.headers,
    )
    assert ("body", "related", "type") in {
        tuple(e["loc"]) for e in assert_problem(r, 422)["errors"]
    }


async def test_the_assignee_must_be_an_active_user_of_the_workspace(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    for assignee in (other_tenant.user_id, "no-such-user"):
        r = await client.post(
            "/api/v1/tasks", json={"title": "x", "assignee_id": assignee}, headers=tenant.headers
        )
        body = assert_problem(r, 422)
        assert body["errors"] == [{"loc": ["body", "assignee_id"], "msg": "no such active user"}]

    leaver = await add_member(client, tenant, "member")
    r = await client.patch(
        f"/api/v1/users/{leaver.id}", json={"is_active": False}, headers=tenant.headers
    )
    assert r.status_code == 200
    r = await client.post(
        "/api/v1/tasks", json={"title": "x", "assignee_id": leaver.id}, headers=tenant.headers
    )
    assert_problem(r, 422)

    foreign_contact = await create_contact(client, other_tenant)
    r = await client.post(
        "/api/v1/tasks",
        json={"title": "x", "contact_id": foreign_contact},
        headers=tenant.headers,
    )
    assert assert_problem(r, 422)["errors"] == [
        {"loc": ["body", "contact_id"], "msg": "no such contact"}
    ]
    r = await client.post(
        "/api/v1/tasks",
        json={"title": "x", "related": {"type": "contact", "id": foreign_contact}},
        headers=tenant.headers,
    )
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "related", "id"]

    task = await create_task(client, tenant.headers)
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}",
        json={"assignee_id": other_tenant.user_id},
        headers=tenant.headers,
    )
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "assignee_id"]


async def test_another_tenants_task_is_not_found(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    task = await create_task(client, tenant.headers)
    assert_problem(
        await client.get(f"/api/v1/tasks/{task['id']}", headers=other_tenant.headers), 404
    )
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"status": "done"}, headers=other_tenant.headers
    )
    assert_problem(r, 404)
    listed = await client.get("/api/v1/tasks", headers=other_tenant.headers)
    assert listed.json() == {"items": [], "next_cursor": None}
    # Unchanged for its own tenant.
    got = await client.get(f"/api/v1/tasks/{task['id']}", headers=tenant.headers)
    assert got.json()["status"] == "open"


async def test_update_honours_if_match_and_records_completion(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    task = await create_task(client, tenant.headers, due_at=DUE)
    url = f"/api/v1/tasks/{task['id']}"

    r = await client.patch(
        url, json={"status": "in_progress"}, headers={**tenant.headers, "If-Match": '"1"'}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["version"]) == ("in_progress", 2)

    stale = await client.patch(
        url, json={"status": "done"}, headers={**tenant.headers, "If-Match": "1"}
    )
    assert_problem(stale, 409)

    done = await client.patch(
        url, json={"status": "done"}, headers={**tenant.headers, "If-Match": r.headers["ETag"]}
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done"
    assert done.json()["completed_at"] is not None
    assert done.json()["version"] == 3
    [completed] = await events_of(db, task["id"], "work.task.completed")
    assert completed.version == 3

    reopened = await client.patch(url, json={"status": "open"}, headers=tenant.headers)
    assert reopened.json()["completed_at"] is None

    same = await client.patch(url, json={"status": "open"}, headers=tenant.headers)
    assert same.json()["version"] == reopened.json()["version"]  # nothing changed

    r = await client.patch(url, json={"status": "archived"}, headers=tenant.headers)
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "status"]
    r = await client.patch(url, json={"title": None}, headers=tenant.headers)
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "title"]


async def test_moving_the_due_time_moves_the_default_reminder(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    task = await create_task(client, tenant.headers, due_at=DUE)
    later = "2031-05-06T09:00:00+00:00"
    moved = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"due_at": later}, headers=tenant.headers
    )
    assert moved.json()["remind_at"] == moved.json()["due_at"]

    custom = await create_task(
        client, tenant.headers, due_at=DUE, remind_at="2031-05-04T08:00:00+00:00"
    )
    moved = await client.patch(
        f"/api/v1/tasks/{custom['id']}", json={"due_at": later}, headers=tenant.headers
    )
    assert moved.json()["remind_at"] == custom["remind_at"]  # a chosen reminder stays


async def test_reassigning_notifies_the_new_assignee(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    member = await add_member(client, tenant, "member")
    task = await create_task(client, tenant.headers)
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"assignee_id": member.id}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    [assigned, reassigned] = await events_of(db, task["id"], "work.task.assigned")
    assert assigned.data == {"assignee_id": tenant.user_id, "previous_assignee_id": None}
    assert reassigned.data == {"assignee_id": member.id, "previous_assignee_id": tenant.user_id}
    inbox = (await client.get("/api/v1/notifications", headers=member.headers)).json()["items"]
    assert [n["kind"] for n in inbox] == ["task.assigned"]

    unassigned = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"assignee_id": None}, headers=tenant.headers
    )
    assert unassigned.json()["assignee_id"] is None


async def test_scopes_viewer_reads_but_cannot_write(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    viewer = await add_member(client, tenant, "viewer")
    task = await create_task(client, tenant.headers)
    assert_problem(
        await client.post("/api/v1/tasks", json={"title": "x"}, headers=viewer.headers), 403
    )
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"status": "done"}, headers=viewer.headers
    )
    assert_problem(r, 403)
    assert (
        await client.get(f"/api/v1/tasks/{task['id']}", headers=viewer.headers)
    ).status_code == 200

    support_key = await api_key_headers(client, tenant, ["support:read", "support:write"])
    by_key = await create_task(client, support_key)
    assert by_key["assignee_id"] is None  # an API key is nobody to assign to
    commerce_key = await api_key_headers(client, tenant, ["commerce:read"])
    assert_problem(await client.get("/api/v1/tasks", headers=commerce_key), 403)
    assert_problem(await client.get("/api/v1/tasks", headers={}), 401)
    r = await client.get("/api/v1/tasks?mine=true", headers=support_key)
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["query", "mine"]


async def test_list_filters_and_pages(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    member = await add_member(client, tenant, "member")
    deal_id = await create_deal(client, tenant)
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    overdue = await create_task(
        client, tenant.headers, title="Overdue", due_at=past, priority="urgent"
    )
    theirs = await create_task(
        client,
        tenant.headers,
        title="Theirs",
        assignee_id=member.id,
        due_at=DUE,
        related={"type": "deal", "id": deal_id},
    )
    done = await create_task(client, tenant.headers, title="Done", due_at=past)
    await client.patch(
        f"/api/v1/tasks/{done['id']}", json={"status": "done"}, headers=tenant.headers
    )
    undated = await create_task(client, tenant.headers, title="Undated", priority="low")

    async def ids(query: str, headers: dict[str, str] = tenant.headers) -> list[str]:
        r = await client.get(f"/api/v1/tasks?{query}&sort=created_at", headers=headers)
        assert r.status_code == 200, r.text
        return [t["id"] for t in r.json()["items"]]

    assert await ids("overdue=true") == [overdue["id"]]
    assert await ids("overdue=false") == [theirs["id"], done["id"], undated["id"]]
    assert await ids("mine=true", member.headers) == [theirs["id"]]
    assert await ids(f"assignee_id={member.id}") == [theirs["id"]]
    assert await ids("status=done") == [done["id"]]
    assert await ids("status=open&status=done") == [
        overdue["id"],
        theirs["id"],
        done["id"],
        undated["id"],
    ]
    assert await ids("priority=urgent&priority=low") == [overdue["id"], undated["id"]]
    assert await ids(f"related_type=deal&related_id={deal_id}") == [theirs["id"]]
    assert await ids("due_before=2031-01-01T00:00:00%2B00:00") == [overdue["id"], done["id"]]
    r = await client.get("/api/v1/tasks?status=waiting", headers=tenant.headers)
    assert assert_problem(r, 422)["errors"][0]["loc"][:2] == ["query", "status"]

    first = (await client.get("/api/v1/tasks?limit=3", headers=tenant.headers)).json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    rest = await client.get(
        f"/api/v1/tasks?limit=3&cursor={first['next_cursor']}", headers=tenant.headers
    )
    assert [t["id"] for t in rest.json()["items"]] == [overdue["id"]]  # newest first
    assert rest.json()["next_cursor"] is None


async def test_a_task_about_a_deal_lead_or_company_the_workspace_lacks_is_refused(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    foreign_deal = await create_deal(client, other_tenant)
    r = await client.post(
        "/api/v1/crm/leads", json={"email": "ada@contoso.com"}, headers=other_tenant.headers
    )
    foreign_lead = r.json()["id"]
    for related in (
        {"type": "deal", "id": foreign_deal},
        {"type": "deal", "id": "no-such-deal"},
        {"type": "lead", "id": foreign_lead},
        {"type": "company", "id": "no-such-company"},
    ):
        r = await client.post(
            "/api/v1/tasks", json={"title": "x", "related": related}, headers=tenant.headers
        )
        errors = assert_problem(r, 422)["errors"]
        assert errors == [{"loc": ["body", "related", "id"], "msg": f"no such {related['type']}"}]

    task = await create_task(client, tenant.headers)
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}",
        json={"related": {"type": "deal", "id": foreign_deal}},
        headers=tenant.headers,
    )
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "related", "id"]
    listed = (await client.get("/api/v1/tasks", headers=tenant.headers)).json()["items"]
    assert [t["related"] for t in listed] == [None]

    # Records of modules the CRM does not know are taken as given.
    other = await create_task(client, tenant.headers, related={"type": "order", "id": "o-1"})
    assert other["related"] == {"type": "order", "id": "o-1"}
