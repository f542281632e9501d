"""Event subscribers of CRM imports: a queued import is processed after its commit.

Where durable workflows run, ``crm.import.queued`` starts the ``crm.import`` workflow
(its id derived from the event id, so a redelivered event starts it once), which
processes the file batch by batch. Where they do not (``BIZOS_WORKFLOWS_ENABLED=false``,
and the test suite), the dispatcher itself carries the import: each delivery processes
one batch in the handler's transaction and, unless the file is done, appends
``crm.import.continued`` for the next. Either way every batch commits with its offset,
so a crash resumes where the last batch ended.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.dispatcher import Dispatcher, EventRecord
from bizos.core.workflows import WorkflowsNotRunning, start_workflow, workflow_id_for_event
from bizos.modules.crm.imports import service
from bizos.modules.crm.imports.workflows import IMPORT_WORKFLOW, run_import


async def start_import(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    import_id = event.aggregate_id
    try:
        await start_workflow(
            run_import,
            ctx.require_tenant(),
            import_id,
            ctx.correlation_id,
            event.id,
            workflow_id=workflow_id_for_event(event.id, IMPORT_WORKFLOW),
        )
    except WorkflowsNotRunning:
        await service.import_batch_and_continue(session, ctx, import_id)
        return
    await service.set_runner(session, ctx, import_id, runner="workflow")


async def continue_import(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    await service.import_batch_and_continue(session, ctx, event.aggregate_id)


def register(dispatcher: Dispatcher) -> None:
    dispatcher.subscribe("crm.imports.start", "crm.import.queued", start_import)
    dispatcher.subscribe("crm.imports.continue", "crm.import.continued", continue_import)
