"""The work module's scheduled jobs: task reminders and escalations, every minute."""

from __future__ import annotations

import datetime as dt

from bizos.core.config import get_settings
from bizos.core.db import Database
from bizos.core.scheduler import scheduled
from bizos.modules.work import service

REMINDERS_JOB = "work.task_reminders"
ESCALATIONS_JOB = "work.task_escalations"


@scheduled(REMINDERS_JOB, every=dt.timedelta(minutes=1))
async def task_reminders(db: Database, now: dt.datetime) -> None:
    await service.send_due_reminders(db, now)


@scheduled(ESCALATIONS_JOB, every=dt.timedelta(minutes=1))
async def task_escalations(db: Database, now: dt.datetime) -> None:
    grace = dt.timedelta(minutes=get_settings().task_escalation_grace_minutes)
    await service.escalate_overdue_tasks(db, now, grace=grace)
