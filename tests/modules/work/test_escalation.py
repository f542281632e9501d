"""Escalation (seed 004 §3.6): an open high or urgent task past due by more than the
grace period goes once to the assignee's manager, or to the owner without one."""

from __future__ import annotations

import datetime as dt

import httpx

from bizos import registry
from bizos.core.db import Database
from bizos.core.scheduler import Scheduler
from bizos.modules.outreach.delivery import deliver_due_messages
from bizos.modules.work import jobs as service
from bizos.modules.work.jobs import ESCALATIONS_JOB
from tests.conftest import TenantLogin
from tests.modules.work.helpers import add_member, create_task, events_of, set_manager

DUE = dt.datetime(2031, 6, 1, 9, 0, tzinfo=dt.UTC)
GRACE = dt.timedelta(hours=1)


async def _inbox(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, object]]:
    items: list[dict[str, object]] = (
        await client.get("/api/v1/notifications?kind=task.escalated", headers=headers)
    ).json()["items"]
    return items


async def test_an_overdue_urgent_task_escalates_once_to_the_assignees_manager(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    manager = await add_member(client, tenant, "member", name="Manon")
    rep = await add_member(client, tenant, "member", name="Rey")
    await set_manager(client, tenant, rep.id, manager.id)
    task = await create_task(
        client,
        tenant.headers,
        title="Send the contract",
        assignee_id=rep.id,
        priority="urgent",
        due_at=DUE.isoformat(),
    )
    normal = await create_task(
        client, tenant.headers, assignee_id=rep.id, priority="normal", due_at=DUE.isoformat()
    )
    scheduler = Scheduler(db, [registry.job(ESCALATIONS_JOB)])  # grace: one hour (default)

    assert await scheduler.run_due(DUE + GRACE - dt.timedelta(minutes=1)) == [ESCALATIONS_JOB]
    assert await _inbox(client, manager.headers) == []
    assert await scheduler.run_due(DUE + GRACE + dt.timedelta(minutes=1)) == [ESCALATIONS_JOB]

    got = (await client.get(f"/api/v1/tasks/{task['id']}", headers=tenant.headers)).json()
    assert got["escalated_to"] == manager.id
    assert dt.datetime.fromisoformat(got["escalated_at"]) == DUE + GRACE + dt.timedelta(minutes=1)
    [escalated] = await events_of(db, task["id"], "work.task.escalated")
    assert escalated.data["escalated_to"] == manager.id
    assert escalated.data["reason"] == "manager"
    assert escalated.data["assignee_id"] == rep.id
    [note] = await _inbox(client, manager.headers)
    assert note["title"] == "Overdue urgent task: Send the contract"
    assert note["related"] == {"type": "task", "id": task["id"]}
    assert await _inbox(client, tenant.headers) == []

    # Once: later passes leave it alone; a normal-priority task never escalates.
    assert await service.escalate_overdue_tasks(db, DUE + dt.timedelta(days=2), grace=GRACE) == 0
    assert await events_of(db, normal["id"], "work.task.escalated") == []

    assert await deliver_due_messages(db) >= 1
    r = await client.get(
        f"/api/v1/messages?to={manager.email}&related_type=task&related_id={task['id']}",
        headers=tenant.headers,
    )
    [email] = r.json()["items"]
    assert email["status"] == "sandboxed"
    assert email["subject"] == "Overdue urgent task: Send the contract"


async def test_without_a_manager_the_task_escalates_to_the_owner(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    rep = await add_member(client, tenant, "member", name="Rey")
    task = await create_task(
        client, tenant.headers, assignee_id=rep.id, priority="high", due_at=DUE.isoformat()
    )
    # A manager who has left counts as none.
    gone = await add_member(client, tenant, "member")
    await set_manager(client, tenant, rep.id, gone.id)
    await client.patch(
        f"/api/v1/users/{gone.id}", json={"is_active": False}, headers=tenant.headers
    )

    assert await service.escalate_overdue_tasks(db, DUE + 2 * GRACE, grace=GRACE) == 1
    got = (await client.get(f"/api/v1/tasks/{task['id']}", headers=tenant.headers)).json()
    assert got["escalated_to"] == tenant.user_id
    [escalated] = await events_of(db, task["id"], "work.task.escalated")
    assert escalated.data["reason"] == "owner"
    assert [n["related"] for n in await _inbox(client, tenant.headers)] == [
        {"type": "task", "id": task["id"]}
    ]


async def test_finished_tasks_and_a_new_due_date_reset_escalation(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    done = await create_task(client, tenant.headers, priority="urgent", due_at=DUE.isoformat())
    await client.patch(
        f"/api/v1/tasks/{done['id']}", json={"status": "done"}, headers=tenant.headers
    )
    moving = await create_task(client, tenant.headers, priority="high", due_at=DUE.isoformat())
    assert await service.escalate_overdue_tasks(db, DUE + 2 * GRACE, grace=GRACE) == 1

    new_due = DUE + dt.timedelta(days=3)
    r = await client.patch(
        f"/api/v1/tasks/{moving['id']}",
        json={"due_at": new_due.isoformat()},
        headers=tenant.headers,
    )
    assert r.json()["escalated_at"] is None
    assert await service.escalate_overdue_tasks(db, new_due, grace=GRACE) == 0
    assert await service.escalate_overdue_tasks(db, new_due + 2 * GRACE, grace=GRACE) == 1
    assert await events_of(db, done["id"], "work.task.escalated") == []
