"""The lead flow (seed 000 §2) as a durable workflow: enrich -> score -> assign -> first
outreach email from the owner.

``crm.lead.created`` starts one run per lead (its id derives from the event id, so a
redelivered event finds the run already there). Each step takes ids, opens its own unit
of work and is idempotent, because a step that was running when the process died runs
again on recovery:

* enrichment records its outcome once (a lead past ``pending`` is left alone); the
  provider is called outside any transaction and retried with backoff; when it keeps
  failing the lead is marked ``failed`` (``crm.lead.enrichment_failed``) and the flow
  goes on without it;
* scoring and assignment are skipped for a lead already scored or owned;
* the first email is queued with its id recorded on the lead in one transaction, so it
  goes out once (``outreach.message.sent`` follows from the delivery loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from bizos.connectors.enrichment import EnrichmentError, EnrichmentRefused
from bizos.core.context import Context
from bizos.core.db import get_database
from bizos.core.workflows import RetryPolicy, step, workflow
from bizos.modules.crm.assignment import service as assignment_service
from bizos.modules.crm.leads import enrichment, first_outreach
from bizos.modules.crm.leads.enrichment import LookupOutcome, LookupStatus
from bizos.modules.crm.leads.service import get_lead
from bizos.modules.crm.scoring import service as scoring_service

log = structlog.get_logger("bizos.crm.lead_flow")

WORKFLOW_NAME = "crm.lead_flow"
# Four tries over about 3.5 s (0.5 + 1 + 2 between them); a refusal (bad key) is final.
ENRICHMENT_RETRY = RetryPolicy(
    max_attempts=4, interval_seconds=0.5, backoff_rate=2.0, give_up_on=(EnrichmentRefused,)
)
CRM_STEP_RETRY = RetryPolicy(max_attempts=3, interval_seconds=0.2, backoff_rate=2.0)


@dataclass(frozen=True, slots=True)
class FlowContext:
    """What every step needs to act for the tenant, as caused by ``crm.lead.created``."""

    tenant_id: str
    lead_id: str
    event_id: str
    correlation_id: str

    def ctx(self) -> Context:
        return Context(
            tenant_id=self.tenant_id,
            actor_type="system",
            correlation_id=self.correlation_id,
            causation_id=self.event_id,
        )


@step("crm.lead_flow.look_up_company", retry=ENRICHMENT_RETRY)
async def look_up_company(flow: FlowContext) -> LookupOutcome:
    async with get_database().unit_of_work(tenant_id=flow.tenant_id, readonly=True) as session:
        plan = await enrichment.plan_lookup(session, flow.ctx(), flow.lead_id)
    if plan.outcome is not None:
        return plan.outcome
    assert plan.enricher is not None and plan.domain is not None
    # No transaction is open while the provider is asked.
    profile = await plan.enricher.lookup_company(plan.domain)
    status: LookupStatus = "enriched" if profile is not None else "not_found"
    return LookupOutcome(
        status, domain=plan.domain, provider=plan.enricher.provider, profile=profile
    )


@step("crm.lead_flow.record_enrichment")
async def record_enrichment(flow: FlowContext, outcome: LookupOutcome) -> str:
    async with get_database().unit_of_work(tenant_id=flow.tenant_id) as session:
        lead = await enrichment.record_enrichment(
            session, flow.ctx(), flow.lead_id, outcome=outcome
        )
        return lead.enrichment_status


@step("crm.lead_flow.score", retry=CRM_STEP_RETRY)
async def score(flow: FlowContext) -> int | None:
    async with get_database().unit_of_work(tenant_id=flow.tenant_id) as session:
        lead = await get_lead(session, flow.ctx(), flow.lead_id)
        if lead.scored_at is None:
            lead = await scoring_service.score_lead(
                session, flow.ctx(), flow.lead_id, reason="created", event_id=flow.event_id
            )
        return lead.score


@step("crm.lead_flow.assign", retry=CRM_STEP_RETRY)
async def assign(flow: FlowContext) -> str | None:
    async with get_database().unit_of_work(tenant_id=flow.tenant_id) as session:
        lead = await get_lead(session, flow.ctx(), flow.lead_id)
        if lead.owner_id is None:
            lead = await assignment_service.assign_lead(session, flow.ctx(), flow.lead_id)
        return lead.owner_id


@step("crm.lead_flow.first_outreach", retry=CRM_STEP_RETRY)
async def send_first_email(flow: FlowContext) -> first_outreach.OutreachOutcome:
    async with get_database().unit_of_work(tenant_id=flow.tenant_id) as session:
        return await first_outreach.send_first_outreach(session, flow.ctx(), flow.lead_id)


@workflow(WORKFLOW_NAME)
async def lead_flow(flow: FlowContext) -> dict[str, str | int | None]:
    """Enrich, score, assign and greet one new lead. Returns what each step decided."""
    try:
        outcome = await look_up_company(flow)
    except EnrichmentError as exc:
        outcome = LookupOutcome("failed", error=exc.detail)
    except Exception as exc:  # a bug in a provider must not stop the lead
        outcome = LookupOutcome("failed", error=type(exc).__name__)
    enrichment_status = await record_enrichment(flow, outcome)
    try:
        lead_score = await score(flow)
    except Exception as exc:  # assignment can still run without a score
        log.error("crm.lead_flow.scoring_failed", lead_id=flow.lead_id, error=type(exc).__name__)
        lead_score = None
    owner_id = await assign(flow)
    sent = await send_first_email(flow)
    return {
        "enrichment": enrichment_status,
        "score": lead_score,
        "owner_id": owner_id,
        "message_id": sent.message_id,
        "outreach_skipped": sent.skipped,
    }
