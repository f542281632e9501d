"""Reminders: when a task's remind_at comes, its assignee gets one in-app notification
and one email, exactly once, even with two workers running the job."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx

from bizos import registry
from bizos.core.db import Database
from bizos.core.scheduler import Scheduler
from bizos.modules.outreach.delivery import deliver_due_messages
from bizos.modules.work import jobs as service
from bizos.modules.work.jobs import REMINDERS_JOB
from tests.conftest import TenantLogin
from tests.modules.work.helpers import add_member, create_task, events_of

REMIND = dt.datetime(2031, 6, 1, 9, 0, tzinfo=dt.UTC)


async def test_a_due_reminder_reaches_the_assignee_once_in_the_app_and_by_email(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    member = await add_member(client, tenant, "member", name="Mia")
    task = await create_task(
        client,
        tenant.headers,
        title="Call Ada back",
        assignee_id=member.id,
        remind_at=REMIND.isoformat(),
        due_at=(REMIND + dt.timedelta(hours=2)).isoformat(),
    )
    job = registry.job(REMINDERS_JOB)
    first, second = Scheduler(db, [job]), Scheduler(db, [job])

    assert await first.run_due(REMIND - dt.timedelta(minutes=1)) == [REMINDERS_JOB]
    assert (await client.get(f"/api/v1/tasks/{task['id']}", headers=tenant.headers)).json()[
        "reminded_at"
    ] is None

    # Two workers' schedulers race at the reminder time: one runs the job.
    ran = await asyncio.gather(first.run_due(REMIND), second.run_due(REMIND))
    assert sorted(ran) == [[], [REMINDERS_JOB]]
    # And the job itself racing with itself still reminds once.
    later = REMIND + dt.timedelta(minutes=5)
    assert await asyncio.gather(
        service.send_due_reminders(db, later), service.send_due_reminders(db, later)
    ) == [0, 0]

    got = (await client.get(f"/api/v1/tasks/{task['id']}", headers=tenant.headers)).json()
    assert dt.datetime.fromisoformat(got["reminded_at"]) == REMIND
    inbox = (await client.get("/api/v1/notifications", headers=member.headers)).json()["items"]
    reminders = [n for n in inbox if n["kind"] == "task.reminder"]
    assert len(reminders) == 1
    assert reminders[0]["title"] == "Reminder: Call Ada back"
    assert reminders[0]["related"] == {"type": "task", "id": task["id"]}
    assert reminders[0]["email_message_id"]
    [reminded] = await events_of(db, task["id"], "work.task.reminded")
    assert reminded.data["notification_id"] == reminders[0]["id"]

    assert await deliver_due_messages(db) == 1
    r = await client.get(
        f"/api/v1/messages?to={member.email}&related_type=task&related_id={task['id']}",
        headers=tenant.headers,
    )
    [email] = r.json()["items"]
    assert email["id"] == reminders[0]["email_message_id"]
    assert email["status"] == "sandboxed"
    assert email["subject"] == "Reminder: Call Ada back"
    assert "Call Ada back" in email["body"]

    # A new reminder time is a new reminder, again once.
    new_time = REMIND + dt.timedelta(days=1)
    await client.patch(
        f"/api/v1/tasks/{task['id']}",
        json={"remind_at": new_time.isoformat()},
        headers=tenant.headers,
    )
    assert await service.send_due_reminders(db, new_time) == 1
    assert await service.send_due_reminders(db, new_time) == 0


async def test_done_unassigned_and_future_tasks_are_not_reminded(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    done = await create_task(client, tenant.headers, remind_at=REMIND.isoformat())
    await client.patch(
        f"/api/v1/tasks/{done['id']}", json={"status": "done"}, headers=tenant.headers
    )
    await create_task(client, tenant.headers, assignee_id=None, remind_at=REMIND.isoformat())
    future = await create_task(
        client, tenant.headers, remind_at=(REMIND + dt.timedelta(hours=1)).isoformat()
    )
    assert await service.send_due_reminders(db, REMIND) == 0
    assert await service.send_due_reminders(db, REMIND + dt.timedelta(hours=1)) == 1
    inbox = (await client.get("/api/v1/notifications", headers=tenant.headers)).json()["items"]
    assert [(n["kind"], n["related"]["id"]) for n in inbox] == [("task.reminder", future["id"])]
