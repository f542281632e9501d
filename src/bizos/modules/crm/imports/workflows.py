"""The import as a durable workflow: one checkpointed step per batch.

Each step runs :func:`service.process_next_batch` in a unit of work of its own, which
saves the byte offset and counts with the batch. A crash between a batch's commit and
its checkpoint replays that step, which finds the offset already advanced and carries on
from there: no row is imported twice.
"""

from __future__ import annotations

from bizos.core.context import Context
from bizos.core.db import get_database
from bizos.core.workflows import RetryPolicy, step, workflow
from bizos.modules.crm.imports import service

IMPORT_WORKFLOW = "crm.import"


def _context(tenant_id: str, correlation_id: str, event_id: str) -> Context:
    return Context(
        tenant_id=tenant_id,
        actor_type="system",
        correlation_id=correlation_id,
        causation_id=event_id,
    )


@step("crm.import.batch", retry=RetryPolicy(max_attempts=5, interval_seconds=1.0))
async def import_next_batch(
    tenant_id: str, import_id: str, correlation_id: str, event_id: str
) -> bool:
    """One batch; True once the import is finished (completed or failed)."""
    ctx = _context(tenant_id, correlation_id, event_id)
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        progress = await service.process_next_batch(session, ctx, import_id)
    return progress.status in service.FINISHED


@step("crm.import.give_up")
async def give_up_import(
    tenant_id: str, import_id: str, correlation_id: str, event_id: str, reason: str
) -> None:
    ctx = _context(tenant_id, correlation_id, event_id)
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        await service.fail_import(session, ctx, import_id, reason=reason)


@workflow(IMPORT_WORKFLOW)
async def run_import(tenant_id: str, import_id: str, correlation_id: str, event_id: str) -> str:
    """Batches until the import is finished; a batch that keeps failing fails the import
    (with its counts so far) rather than leaving it running for ever."""
    try:
        while not await import_next_batch(tenant_id, import_id, correlation_id, event_id):
            pass
    except Exception as exc:
        await give_up_import(
            tenant_id, import_id, correlation_id, event_id, f"{type(exc).__name__}: {exc}"[:500]
        )
        raise
    return import_id
