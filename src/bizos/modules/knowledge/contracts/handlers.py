"""Contract subscribers: a document saved with the ``contract`` tag starts the
extraction workflow; a document deleted or untagged loses its contract and open tasks."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.config import get_settings
from bizos.core.context import Context
from bizos.core.dispatcher import Dispatcher, EventRecord
from bizos.core.errors import NotFound
from bizos.core.workflows import WorkflowsNotRunning, start_workflow, workflow_id_for_event
from bizos.modules.knowledge.contracts import service as contracts
from bizos.modules.knowledge.contracts.workflows import extract_contract_terms
from bizos.modules.knowledge.documents import service as documents

log = structlog.get_logger("bizos.knowledge.contracts")


def _document_id(event: EventRecord) -> str:
    data = event.data or {}
    return str(data.get("document_id") or event.aggregate_id)


async def on_document_saved(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    """A document created or updated: extract if it is a contract whose content is new
    to us; a document no longer tagged ``contract`` loses its contract and open task."""
    document_id = _document_id(event)
    try:
        document = await documents.get_document(session, ctx, document_id)
    except NotFound:
        return
    if not contracts.is_contract(document.tags):
        await contracts.forget(session, ctx, document_id)
        return
    contract = await contracts.contract_row(session, ctx, document_id, lock=True)
    done = (contract.provenance or {}).get("document_sha256") == document.sha256
    if done and contract.status == "extracted":
        return  # a title or tag change: the terms still hold
    if contract.status != "pending":
        contract.status = "pending"
        contract.version += 1
    await _start(event, document_id)


async def on_document_deleted(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    await contracts.forget(session, ctx, _document_id(event))


async def _start(event: EventRecord, document_id: str) -> None:
    try:
        await start_workflow(
            extract_contract_terms,
            event.tenant_id,
            document_id,
            event.correlation_id,
            workflow_id=workflow_id_for_event(event.id, contracts.WORKFLOW_NAME),
        )
    except WorkflowsNotRunning:
        if get_settings().workflows_enabled:
            raise  # the dispatcher retries once workflows are up
        log.info("kb.contract.not_started", document_id=document_id, reason="workflows disabled")


def register(dispatcher: Dispatcher) -> None:
    dispatcher.subscribe(
        "kb.contracts.extract", ("kb.document.created", "kb.document.updated"), on_document_saved
    )
    dispatcher.subscribe("kb.contracts.forget", "kb.document.deleted", on_document_deleted)
