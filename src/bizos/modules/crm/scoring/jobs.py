"""CRM scoring's scheduled job: retrain every tenant's lead scoring model daily."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import structlog

from bizos.core.context import system_context
from bizos.core.db import Database
from bizos.core.scheduler import scheduled
from bizos.modules.crm.models import Lead
from bizos.modules.crm.scoring import service

log = structlog.get_logger("bizos.crm.scoring")

RETRAIN_JOB = "crm.scoring.retrain"


@scheduled(RETRAIN_JOB, every=dt.timedelta(days=1), lease=dt.timedelta(hours=1))
async def retrain_scoring_models(db: Database, now: dt.datetime) -> None:
    """One tenant at a time, each in its own transaction: a tenant whose training fails
    is logged and keeps its current model; the others still retrain."""
    async with db.unit_of_work(system=True, readonly=True) as session:
        tenant_ids = list(
            await session.scalars(sa.select(Lead.tenant_id).distinct().order_by(Lead.tenant_id))
        )
    for tenant_id in tenant_ids:
        ctx = system_context(tenant_id)
        try:
            async with db.unit_of_work(tenant_id=tenant_id) as session:
                attempt = await service.retrain(session, ctx, now=now)
            log.info("crm.scoring.retrain_ran", tenant_id=tenant_id, status=attempt.status)
        except Exception:
            log.exception("crm.scoring.retrain_failed", tenant_id=tenant_id)
