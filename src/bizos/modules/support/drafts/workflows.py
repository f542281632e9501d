"""The durable AI draft workflow (seed 000 §4: email → ticket → AI draft → approval).

``support.ai_draft`` runs once per inbound customer message and attempt (run id
``support.ai_draft:<message id>:<attempt>``, see ``service.draft_workflow_id``):

1. ``prepare`` — what to answer (every customer message since our last reply), or
   nothing to do (a draft of this attempt exists, a newer customer message will get
   its own draft, an agent replied before the automatic draft was written, the ticket
   is gone);
2. ``retrieve`` — knowledge-base passages and similar resolved tickets;
3. ``classify`` — only when the tenant has an external provider: a model's sentiment
   and intent refine the local triage (a failure here is logged and skipped);
4. ``write`` — the draft from the AI gateway (budget, privacy proxy, provider fallback
   and metering are the gateway's); its failure is a result, not an exception;
5. ``store`` — the draft (or the failure) with sources and provenance, the event and
   the agent's notification, in one transaction.

Every step takes ids, opens its own unit of work and is idempotent (a step that was
running when the process died runs again on recovery; ``store`` finds the draft it
made). Nothing loops: a failed draft is recorded as failed and the agent told; a new
attempt is the agent's call (``POST /support/tickets/{id}/draft``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import structlog

from bizos.ai import gateway
from bizos.ai.extract.classify import INTENTS, SENTIMENTS, Classification
from bizos.ai.types import Source
from bizos.core.config import get_settings
from bizos.core.context import Context
from bizos.core.db import get_database
from bizos.core.errors import ProblemError
from bizos.core.workflows import (
    RetryPolicy,
    WorkflowsNotRunning,
    start_workflow,
    step,
    workflow,
)
from bizos.modules.support.drafts import retrieval
from bizos.modules.support.drafts import service as drafts
from bizos.modules.support.drafts.schemas import DraftRead, DraftRequested
from bizos.modules.support.drafts.service import WORKFLOW_NAME, DraftBasis
from bizos.modules.support.sla import triage

log = structlog.get_logger("bizos.support.drafts")

P = ParamSpec("P")
R = TypeVar("R")

STEP_RETRY = RetryPolicy(max_attempts=4, interval_seconds=0.2, backoff_rate=2.0)
# The gateway already retries and falls back between providers: one try here.
WRITE_RETRY = RetryPolicy(max_attempts=1)
DRAFT_MAX_TOKENS = 600


class DraftStepFailed(Exception):
    """A step's failure, reduced to a message: step errors are pickled into the
    workflow's record and replayed, and not every library error survives that."""


def _portable(fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    @functools.wraps(fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except DraftStepFailed:
            raise
        except Exception as exc:
            raise DraftStepFailed(describe(exc)) from None

    return run


def describe(exc: BaseException) -> str:
    """What went wrong, for the agent (errors carry no keys or prompts)."""
    detail = getattr(exc, "detail", None)
    if isinstance(exc, ProblemError) or isinstance(detail, str):
        return str(detail or exc)
    attempts = getattr(exc, "attempts", None)
    if attempts:
        tried = ", ".join(
            f"{getattr(a, 'provider', '?')}: {getattr(a, 'detail', None) or 'failed'}"
            for a in attempts
        )
        return f"every AI provider failed ({tried})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _ctx(tenant_id: str, ticket_id: str) -> Context:
    # The events of one ticket's drafting share the ticket id as correlation id.
    return Context(tenant_id=tenant_id, actor_type="system", correlation_id=ticket_id)


@dataclass(frozen=True, slots=True)
class Written:
    """The draft text and its provenance, or why there is none."""

    body: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


# --- steps ------------------------------------------------------------------------------


@step("support.ai_draft.prepare", retry=STEP_RETRY)
@_portable
async def prepare(
    tenant_id: str, ticket_id: str, message_id: str, attempt: int
) -> DraftBasis | str:
    async with get_database().unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        return await drafts.draft_basis(
            session, _ctx(tenant_id, ticket_id), ticket_id, message_id, attempt
        )


@step("support.ai_draft.retrieve", retry=STEP_RETRY)
@_portable
async def retrieve(tenant_id: str, ticket_id: str, query: str) -> list[dict[str, Any]]:
    """KB passages then precedent tickets, as stored on the draft."""
    ctx = _ctx(tenant_id, ticket_id)
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        passages = await retrieval.knowledge_sources(session, ctx, query)
        precedent = await retrieval.similar_tickets(
            session, ctx, query, exclude_ticket_id=ticket_id
        )
    sources: list[dict[str, Any]] = [{**s.as_json(), "ticket_id": None} for s in passages]
    sources += [{**p.as_source().as_json(), "ticket_id": p.ticket_id} for p in precedent]
    return sources


@step("support.ai_draft.classify", retry=WRITE_RETRY)
async def classify(tenant_id: str, ticket_id: str, message_id: str, text: str) -> str:
    """Refine the local triage with the configured provider's reading of the message.
    Returns what happened (``applied``, ``local``, ``unreadable`` or ``failed``)."""
    ctx = _ctx(tenant_id, ticket_id)
    try:
        result = await gateway.generate(
            ctx,
            feature="support.classify",
            task="classify",
            template="support.classify",
            variables={"text": text},
            max_tokens=200,
            related=("ticket", ticket_id),
        )
        if result.provider == "local":
            return "local"  # the chain fell back: triage already did exactly this
        parsed = _classification(result.text)
        if parsed is None:
            log.warning("support.classification_unreadable", ticket_id=ticket_id)
            return "unreadable"
        async with get_database().unit_of_work(tenant_id=tenant_id) as session:
            await triage.apply_classification(
                session, ctx, ticket_id, message_id, Classification(**parsed)
            )
    except Exception as exc:
        log.warning("support.classification_failed", ticket_id=ticket_id, error=describe(exc))
        return "failed"
    return "applied"


@step("support.ai_draft.write", retry=WRITE_RETRY)
async def write(basis: DraftBasis, sources: list[dict[str, Any]]) -> Written:
    """Ask the gateway for the draft. Never raises: a failure is the result."""
    ctx = _ctx(basis.tenant_id, basis.ticket_id)
    try:
        result = await gateway.generate(
            ctx,
            feature="support.draft",
            task="draft",
            template="support.draft",
            variables={
                "message": basis.message,
                "customer_name": basis.customer_name or "",
                "subject": basis.subject,
                "ticket_number": basis.number,
            },
            sources=[_source(s) for s in sources],
            max_tokens=DRAFT_MAX_TOKENS,
            related=("ticket", basis.ticket_id),
        )
    except Exception as exc:
        log.warning("support.draft_not_written", ticket_id=basis.ticket_id, error=describe(exc))
        return Written(error=describe(exc))
    if not result.text.strip():
        return Written(error=f"{result.provider} returned an empty draft")
    return Written(body=result.text.strip(), provenance=dict(result.provenance()))


@step("support.ai_draft.store", retry=STEP_RETRY)
@_portable
async def store(
    tenant_id: str,
    ticket_id: str,
    message_id: str,
    attempt: int,
    written: Written,
    sources: list[dict[str, Any]],
) -> str:
    ctx = _ctx(tenant_id, ticket_id)
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        if written.error is not None:
            draft = await drafts.record_failure(
                session,
                ctx,
                ticket_id=ticket_id,
                message_id=message_id,
                attempt=attempt,
                error=written.error,
            )
        else:
            draft = await drafts.store_draft(
                session,
                ctx,
                ticket_id=ticket_id,
                message_id=message_id,
                attempt=attempt,
                body=written.body,
                sources=sources,
                provenance=written.provenance,
            )
        return draft.id


# --- the workflow -----------------------------------------------------------------------


@workflow(WORKFLOW_NAME)
async def ai_draft(tenant_id: str, ticket_id: str, message_id: str, attempt: int = 1) -> str:
    """Draft the answer to one customer message. Returns how it ended: ``drafted``,
    ``failed``, or the reason nothing was done (``exists``, ``superseded``,
    ``answered``, ``gone``, ``not_inbound``)."""
    return await draft_answer(tenant_id, ticket_id, message_id, attempt)


async def draft_answer(tenant_id: str, ticket_id: str, message_id: str, attempt: int) -> str:
    """The workflow's body. Inside the workflow each step is checkpointed; called on its
    own (workflows switched off in this deployment) the steps are plain calls."""
    basis = await prepare(tenant_id, ticket_id, message_id, attempt)
    if isinstance(basis, str):
        return basis
    try:
        sources = await retrieve(tenant_id, ticket_id, f"{basis.subject}\n{basis.message}")
    except DraftStepFailed as failed:
        await store(tenant_id, ticket_id, message_id, attempt, Written(error=str(failed)), [])
        return "failed"
    if basis.external_provider:
        await classify(tenant_id, ticket_id, message_id, basis.message)
    written = await write(basis, sources)
    await store(tenant_id, ticket_id, message_id, attempt, written, sources)
    return "failed" if written.error is not None else "drafted"


async def redraft(
    ctx: Context, ticket_id: str, *, wait_seconds: float
) -> DraftRead | DraftRequested:
    """An agent asks for a new draft of the ticket's latest customer message: the
    request is recorded (``support.draft.requested``), the run started here when this
    process runs workflows, and its draft returned if it is done within
    ``wait_seconds`` (else where it stands). Where workflows are switched off the draft
    is written right here."""
    tenant_id = ctx.require_tenant()
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        requested = await drafts.request_draft(session, ctx, ticket_id)
    message_id, attempt = requested.message_id, requested.attempt
    try:
        run = await start_workflow(
            ai_draft, tenant_id, ticket_id, message_id, attempt, workflow_id=requested.workflow_id
        )
    except WorkflowsNotRunning:
        if get_settings().workflows_enabled:
            return requested  # a worker process starts it from the event
        await draft_answer(tenant_id, ticket_id, message_id, attempt)
    else:
        try:
            await run.result(timeout_seconds=wait_seconds)
        except TimeoutError:
            return requested
    async with get_database().unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        draft = await drafts.find_draft(session, ctx, message_id, attempt)
        return requested if draft is None else drafts.draft_read(draft)


# --- helpers ----------------------------------------------------------------------------


def _source(data: dict[str, Any]) -> Source:
    return Source(
        title=str(data.get("title") or ""),
        text=str(data.get("text") or ""),
        document_id=data.get("document_id"),
        chunk_id=data.get("chunk_id"),
        kind=str(data.get("kind") or "kb"),
        score=data.get("score"),
    )


def _classification(text: str) -> dict[str, Any] | None:
    """The provider's JSON answer as Classification fields, or None if unusable."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(text[start : end + 1])
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    sentiment = data.get("sentiment")
    intent = data.get("intent")
    if sentiment not in SENTIMENTS or intent not in INTENTS:
        return None
    try:
        score = max(-1.0, min(1.0, float(data.get("sentiment_score", 0.0))))
    except (TypeError, ValueError):
        return None
    signals = data.get("signals") or []
    return {
        "sentiment": sentiment,
        "sentiment_score": score,
        "intent": intent,
        "urgent": bool(data.get("urgent", False)),
        "signals": [str(s)[:100] for s in signals][:10] if isinstance(signals, list) else [],
    }
