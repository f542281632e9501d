"""Event subscribers of CRM leads: a new lead starts the lead flow."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.config import get_settings
from bizos.core.context import Context
from bizos.core.dispatcher import Dispatcher, EventRecord
from bizos.core.workflows import WorkflowsNotRunning, start_workflow, workflow_id_for_event
from bizos.modules.crm.leads.workflows import WORKFLOW_NAME, FlowContext, lead_flow

log = structlog.get_logger("bizos.crm.leads")


async def start_lead_flow(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    """Start the lead's flow once per ``crm.lead.created`` (the run id derives from the
    event id). Where workflows are switched off (``BIZOS_WORKFLOWS_ENABLED=false``) the
    lead stays as captured; where they should run but are not up yet, the handler fails
    so the dispatcher retries it."""
    flow = FlowContext(
        tenant_id=event.tenant_id,
        lead_id=event.aggregate_id,
        event_id=event.id,
        correlation_id=event.correlation_id or event.id,
    )
    try:
        await start_workflow(
            lead_flow, flow, workflow_id=workflow_id_for_event(event.id, WORKFLOW_NAME)
        )
    except WorkflowsNotRunning:
        if get_settings().workflows_enabled:
            raise
        log.info("crm.lead_flow.not_started", lead_id=flow.lead_id, reason="workflows disabled")


def register(dispatcher: Dispatcher) -> None:
    dispatcher.subscribe("crm.leads.start_lead_flow", "crm.lead.created", start_lead_flow)
