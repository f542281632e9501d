"""Task templates: managed through the API, turned into tasks when their trigger fires
(a deal entering a stage calls ``create_tasks_from_templates``)."""

from __future__ import annotations

import datetime as dt

import httpx

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.modules.work import service
from tests.conftest import TenantLogin
from tests.modules.identity.helpers import assert_problem
from tests.modules.work.helpers import add_member, create_contact

NOW = dt.datetime(2031, 2, 3, 10, 0, tzinfo=dt.UTC)


async def _template(
    client: httpx.AsyncClient, tenant: TenantLogin, **body: object
) -> dict[str, object]:
    r = await client.post(
        "/api/v1/task-templates",
        json={"trigger": "deal.stage:proposal", "title": "Send proposal for {deal}", **body},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    result: dict[str, object] = r.json()
    return result


async def test_templates_are_managed_through_the_api(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    created = await _template(client, tenant, priority="high", due_in_hours=48)
    assert created["assign_to"] == "owner"
    assert (created["priority"], created["due_in_hours"], created["active"]) == ("high", 48, True)
    await _template(client, tenant, trigger="deal.stage:won", title="Kick-off call")
    url = f"/api/v1/task-templates/{created['id']}"

    listed = await client.get(
        "/api/v1/task-templates?trigger=deal.stage:proposal", headers=tenant.headers
    )
    assert [t["id"] for t in listed.json()["items"]] == [created["id"]]

    stale = await client.patch(
        url, json={"active": False}, headers={**tenant.headers, "If-Match": "7"}
    )
    assert_problem(stale, 409)
    r = await client.patch(url, json={"active": False}, headers={**tenant.headers, "If-Match": "1"})
    assert r.status_code == 200, r.text
    assert (r.json()["active"], r.json()["version"]) == (False, 2)

    assert_problem(await client.get(url, headers=other_tenant.headers), 404)
    assert_problem(await client.delete(url, headers=other_tenant.headers), 404)
    assert (await client.delete(url, headers=tenant.headers)).status_code == 204
    assert_problem(await client.get(url, headers=tenant.headers), 404)


async def test_invalid_templates_and_missing_scopes_are_refused(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/task-templates",
        json={"trigger": "Deal Stage", "title": "", "due_in_hours": -1, "priority": "soon"},
        headers=tenant.headers,
    )
    locs = {tuple(e["loc"]) for e in assert_problem(r, 422)["errors"]}
    assert {
        ("body", "trigger"),
        ("body", "title"),
        ("body", "due_in_hours"),
        ("body", "priority"),
    } <= locs

    r = await client.post(
        "/api/v1/task-templates",
        json={"trigger": "deal.stage:won", "title": "x", "assign_to": other_tenant.user_id},
        headers=tenant.headers,
    )
    assert assert_problem(r, 422)["errors"] == [
        {"loc": ["body", "assign_to"], "msg": "no such active user"}
    ]

    viewer = await add_member(client, tenant, "viewer")
    r = await client.post(
        "/api/v1/task-templates",
        json={"trigger": "deal.stage:won", "title": "x"},
        headers=viewer.headers,
    )
    assert_problem(r, 403)
    assert (await client.get("/api/v1/task-templates", headers=viewer.headers)).status_code == 200


async def test_a_trigger_creates_one_task_per_active_template(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    closer = await add_member(client, tenant, "member", name="Cleo")
    rep = await add_member(client, tenant, "member", name="Rey")
    for_owner = await _template(client, tenant, due_in_hours=24, priority="high")
    for_closer = await _template(
        client,
        tenant,
        title="Review pricing of {deal} ({amount}) {unknown}",
        assign_to=closer.id,
        due_in_hours=2,
    )
    paused = await _template(client, tenant, title="Paused")
    await client.patch(
        f"/api/v1/task-templates/{paused['id']}", json={"active": False}, headers=tenant.headers
    )
    await _template(client, tenant, trigger="deal.stage:won", title="Not this trigger")

    contact_id = await create_contact(client, tenant)
    ctx = Context(tenant_id=tenant.tenant_id, actor_type="system")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        tasks = await service.create_tasks_from_templates(
            session,
            ctx,
            trigger="deal.stage:proposal",
            owner_id=rep.id,
            related_type="deal",
            related_id="deal-42",
            contact_id=contact_id,
            values={"deal": "Acme renewal", "amount": "12000.00 EUR"},
            now=NOW,
        )
        made = [service.task_read(t) for t in tasks]

    assert [(t.title, t.assignee_id, t.priority, t.due_at, t.template_id) for t in made] == [
        (
            "Send proposal for Acme renewal",
            rep.id,
            "high",
            NOW + dt.timedelta(hours=24),
            for_owner["id"],
        ),
        (
            "Review pricing of Acme renewal (12000.00 EUR) {unknown}",
            closer.id,
            "normal",
            NOW + dt.timedelta(hours=2),
            for_closer["id"],
        ),
    ]
    for task in made:
        assert task.related is not None and (task.related.type, task.related.id) == (
            "deal",
            "deal-42",
        )
        assert task.contact_id == contact_id
        assert task.origin == "deal.stage:proposal"
    listed = await client.get(
        "/api/v1/tasks?related_type=deal&related_id=deal-42", headers=tenant.headers
    )
    assert len(listed.json()["items"]) == 2

    # A template's user who has left: the task goes to the record's owner instead.
    await client.patch(
        f"/api/v1/users/{closer.id}", json={"is_active": False}, headers=tenant.headers
    )
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        again = await service.create_tasks_from_templates(
            session,
            ctx,
            trigger="deal.stage:proposal",
            owner_id=rep.id,
            related_type="deal",
            related_id="deal-43",
            now=NOW,
        )
        assert [t.assignee_id for t in again] == [rep.id, rep.id]
        none = await service.create_tasks_from_templates(
            session,
            ctx,
            trigger="deal.stage:negotiation",
            owner_id=rep.id,
            related_type="deal",
            related_id="deal-43",
            now=NOW,
        )
        assert none == []


async def test_a_template_for_a_trigger_that_never_fires_is_refused(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for trigger in ("nonsense", "deal.stage:propsal", "ticket.created"):
        r = await client.post(
            "/api/v1/task-templates",
            json={"trigger": trigger, "title": "Never made"},
            headers=tenant.headers,
        )
        [error] = assert_problem(r, 422)["errors"]
        assert error["loc"] == ["body", "trigger"]
        assert "deal.stage:proposal" in error["msg"]

    created = await _template(client, tenant)
    r = await client.patch(
        f"/api/v1/task-templates/{created['id']}",
        json={"trigger": "deal.stage:propsal"},
        headers=tenant.headers,
    )
    assert [e["loc"] for e in assert_problem(r, 422)["errors"]] == [["body", "trigger"]]
    listed = await client.get("/api/v1/task-templates", headers=tenant.headers)
    assert [t["trigger"] for t in listed.json()["items"]] == ["deal.stage:proposal"]
