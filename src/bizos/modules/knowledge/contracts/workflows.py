"""The durable flow that reads a contract's terms (``kb.contract_extraction``).

A document tagged ``contract`` (any content type; the issue's case is a PDF) gets its
terms extracted off the request path: the handler of ``kb.document.created``/``updated``
(``handlers.py``) marks the contract ``pending`` and starts this workflow (run id from the
event id, so a redelivered event starts nothing new). The workflow

1. reads the document's text (no transaction held afterwards);
2. asks the model through the gateway (task ``extract_contract``, template
   ``kb.contract.extract``; the built-in provider runs
   :func:`bizos.ai.extract.contract.extract_contract_json`), retrying only errors that
   may pass; a spent budget or a vanished document is final;
3. stores the terms as the document's contract (``kb.contract.extracted``) and keeps one
   task on it (``service.save_terms``).

A document that cannot be read, or an answer that is not the expected JSON, ends the
run: the contract is ``failed`` with the reason (``kb.contract.failed``) and a task asks
a person to look. Nothing loops. A run that finds the document changed since it read it
stores nothing (the run for the newer content does).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog

from bizos.ai import gateway
from bizos.core.context import Context
from bizos.core.db import get_database, utcnow
from bizos.core.errors import NotFound, ProblemError
from bizos.core.workflows import RetryPolicy, step, workflow
from bizos.modules.knowledge.contracts import service as contracts
from bizos.modules.knowledge.contracts.service import (
    FINAL,
    ContractUnreadable,
    ModelRefused,
    ModelUnavailable,
)
from bizos.modules.knowledge.documents import service as documents

log = structlog.get_logger("bizos.knowledge.contracts")


def _ctx(tenant_id: str, correlation_id: str | None) -> Context:
    kwargs: dict[str, Any] = {"correlation_id": correlation_id} if correlation_id else {}
    return Context(tenant_id=tenant_id, actor_type="system", **kwargs)


@step("kb.contract.read_document", retry=RetryPolicy(max_attempts=3, interval_seconds=0.5))
async def read_document(tenant_id: str, document_id: str) -> dict[str, str] | None:
    """The contract's text, or None when the document is gone or no longer a contract."""
    ctx = _ctx(tenant_id, None)
    async with get_database().unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        try:
            document = await documents.get_document(session, ctx, document_id)
        except NotFound:
            return None
        if not contracts.is_contract(document.tags):
            return None
        return {"title": document.title, "text": document.text or "", "sha256": document.sha256}


@step(
    "kb.contract.ask_model",
    retry=RetryPolicy(max_attempts=3, interval_seconds=2.0, backoff_rate=2.0, give_up_on=FINAL),
)
async def ask_model(
    tenant_id: str, correlation_id: str | None, document_id: str, title: str, text: str
) -> dict[str, Any]:
    """The model's answer and its provenance (no transaction is open here)."""
    try:
        result = await gateway.generate(
            _ctx(tenant_id, correlation_id),
            feature=contracts.FEATURE,
            task="extract_contract",
            template=contracts.TEMPLATE,
            variables={"title": title, "text": text[: contracts.MAX_TEXT_CHARS]},
            max_tokens=1200,
            related=("kb_document", document_id),
        )
    except ProblemError as exc:
        reason = f"{exc.title}: {exc.detail}"
        if exc.status >= 500:
            raise ModelUnavailable(reason) from None
        raise ModelRefused(reason) from None
    return {"text": result.text, "provenance": result.provenance()}


@step(
    "kb.contract.store",
    retry=RetryPolicy(max_attempts=3, interval_seconds=0.5, give_up_on=(ContractUnreadable,)),
)
async def store_terms(
    tenant_id: str,
    correlation_id: str | None,
    document_id: str,
    sha256: str,
    answer: dict[str, Any],
    today: str,
) -> str:
    """Store the terms, keep the task, record ``kb.contract.extracted``; returns the
    outcome (``extracted``, ``stale`` when the document changed meanwhile, ``gone``)."""
    terms = contracts.parse_terms(answer["text"])
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        return await contracts.save_terms(
            session,
            _ctx(tenant_id, correlation_id),
            document_id=document_id,
            sha256=sha256,
            terms=terms,
            provenance=answer["provenance"],
            today=dt.date.fromisoformat(today),
        )


@step("kb.contract.record_failure", retry=RetryPolicy(max_attempts=3, interval_seconds=0.5))
async def record_failure(
    tenant_id: str, correlation_id: str | None, document_id: str, reason: str, today: str
) -> str:
    """Mark the contract failed with ``reason`` and ask a person to look (one open task)."""
    ctx, day = _ctx(tenant_id, correlation_id), dt.date.fromisoformat(today)
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        return await contracts.save_failure(
            session, ctx, document_id=document_id, reason=reason, today=day
        )


@step("kb.contract.today")
async def _today() -> str:
    return utcnow().date().isoformat()


@workflow(contracts.WORKFLOW_NAME)
async def extract_contract_terms(
    tenant_id: str, document_id: str, correlation_id: str | None = None
) -> str:
    """Read, ask, store; any final failure marks the contract failed (never loops)."""
    today = await _today()
    source = await read_document(tenant_id, document_id)
    if source is None:
        return "skipped"
    if not source["text"].strip():
        return await record_failure(
            tenant_id, correlation_id, document_id, "the document has no text.", today
        )
    try:
        answer = await ask_model(
            tenant_id, correlation_id, document_id, source["title"], source["text"]
        )
        return await store_terms(
            tenant_id, correlation_id, document_id, source["sha256"], answer, today
        )
    except ContractUnreadable as exc:
        reason = f"{exc}."
    except (ModelRefused, ModelUnavailable) as exc:
        reason = f"{exc}"
    log.warning("kb.contract.extraction_failed", document_id=document_id)
    return await record_failure(tenant_id, correlation_id, document_id, reason, today)
