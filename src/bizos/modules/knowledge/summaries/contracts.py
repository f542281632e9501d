"""Contracts: extraction and the notice-date task.

A document tagged ``contract`` (any content type; the issue's case is a PDF) gets its
terms extracted off the request path: the dispatcher handler of
``kb.document.created``/``kb.document.updated`` marks the contract ``pending`` and
starts the durable workflow ``kb.contract_extraction`` (run id from the event id, so a
redelivered event starts nothing new). The workflow

1. reads the document's text (no transaction held afterwards);
2. asks the model through the gateway (task ``extract_contract``, template
   ``kb.contract.extract``; the built-in provider runs
   :func:`bizos.ai.extract.contract.extract_contract_json`), retrying only errors that
   may pass; a spent budget or a vanished document is final;
3. stores the terms as the document's ``KbContract`` (``kb.contract.extracted``) and
   keeps one task on it: due 90 days before the earliest notice or renewal date, or
   today when that day has passed (the description says why). A re-extraction moves
   the open task instead of adding a second one.

A document that cannot be read, or an answer that is not the expected JSON, ends the
run: the contract is ``failed`` with the reason (``kb.contract.failed``) and a task asks
a person to look. Nothing loops. A run that finds the document changed since it read it
stores nothing (the run for the newer content does).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.ai import gateway
from bizos.ai.extract.contract import parse_date
from bizos.core.config import get_settings
from bizos.core.context import Context
from bizos.core.db import get_database, utcnow
from bizos.core.dispatcher import Dispatcher, EventRecord
from bizos.core.errors import NotFound, ProblemError
from bizos.core.events import append_event
from bizos.core.pagination import ListOrder, PageParams
from bizos.core.workflows import (
    RetryPolicy,
    WorkflowsNotRunning,
    start_workflow,
    step,
    workflow,
    workflow_id_for_event,
)
from bizos.modules.identity import service as identity
from bizos.modules.knowledge.documents import service as knowledge
from bizos.modules.knowledge.documents.models import KbDocument
from bizos.modules.knowledge.summaries.models import KbContract
from bizos.modules.knowledge.summaries.schemas import Amount, ContractRead, Party
from bizos.modules.work import service as work
from bizos.modules.work.models import Task
from bizos.modules.work.schemas import OPEN_STATUSES, TaskUpdate

log = structlog.get_logger("bizos.knowledge.contracts")

WORKFLOW_NAME = "kb.contract_extraction"
CONTRACT_TAG = "contract"
FEATURE = "kb.contract"
TEMPLATE = "kb.contract.extract"
REMINDER_DAYS = 90
TASK_ORIGIN = "kb.contract"
# Due at the end of a (UTC) working day.
DUE_TIME = dt.time(17, 0, tzinfo=dt.UTC)
# How much of a contract a model reads (tokens are ~4 characters): long schedules and
# annexes past this are rarely where the dates are.
MAX_TEXT_CHARS = 60_000
ERROR_CHARS = 500


def is_contract(tags: Any) -> bool:
    return isinstance(tags, list) and any(
        isinstance(t, str) and t.strip().lower() == CONTRACT_TAG for t in tags
    )


# --- reading the model's answer -----------------------------------------------------------


class ContractUnreadable(Exception):
    """The model's answer is not the contract JSON; retrying the same text will not help."""


class ModelRefused(Exception):
    """The gateway said no for good (budget spent, a bad request): do not retry."""


class ModelUnavailable(Exception):
    """No provider answered this time; worth another try later."""


# Plain exceptions with one string argument: a step's error is pickled by the workflow
# engine, and the gateway's problem errors take keyword-only arguments.
FINAL = (ContractUnreadable, ModelRefused)


class _Terms(BaseModel):
    model_config = ConfigDict(extra="ignore")
    parties: list[Party] = []
    amounts: list[Amount] = []
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    renewal_date: dt.date | None = None
    termination_date: dt.date | None = None
    notice_date: dt.date | None = None
    notice_period_days: int | None = None
    auto_renews: bool | None = None
    evidence: dict[str, str] = {}
    computed: list[str] = []

    @field_validator(
        "start_date", "end_date", "renewal_date", "termination_date", "notice_date", mode="before"
    )
    @classmethod
    def _date(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value or value.lower() in ("null", "none", "n/a", "unknown"):
                return None
            return parse_date(value) or value  # a model may write "1 March 2026"
        return value

    @field_validator("amounts", mode="before")
    @classmethod
    def _amounts(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [
                {**a, "amount": str(a.get("amount"))} if isinstance(a, dict) else a for a in value
            ]
        return value

    @field_validator("evidence", mode="before")
    @classmethod
    def _evidence(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items() if v is not None}
        return {}

    @field_validator("notice_period_days")
    @classmethod
    def _period(cls, value: int | None) -> int | None:
        return value if value is None or 0 < value <= 3650 else None


def parse_terms(answer: str) -> _Terms:
    """The terms in a model's answer: a JSON object, possibly fenced or with prose
    around it. Fills in a notice date from the end (or renewal) date and the notice
    period when the model gave both but not the date."""
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", answer.strip(), flags=re.IGNORECASE)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ContractUnreadable("the extraction answer holds no JSON object")
    try:
        data = json.loads(text[start : end + 1])
        terms = _Terms.model_validate(data)
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ContractUnreadable(
            f"the extraction answer is not valid contract JSON: {exc}"
        ) from None
    anchor = terms.end_date or terms.renewal_date
    if terms.notice_date is None and terms.notice_period_days and anchor is not None:
        terms.notice_date = anchor - dt.timedelta(days=terms.notice_period_days)
        if "notice_date" not in terms.computed:
            terms.computed.append("notice_date")
    return terms


# --- the task ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reminder:
    due: dt.date
    title: str
    description: str
    priority: str


def reminder_for(title: str, terms: _Terms | KbContract, today: dt.date) -> Reminder:
    """The task for a contract: 90 days before its earliest notice or renewal date (the
    end date when it states neither); today, saying why, when that day has passed."""
    dates = [
        (day, label)
        for day, label in (
            (terms.notice_date, "notice date"),
            (terms.renewal_date, "renewal date"),
        )
        if day is not None
    ]
    if not dates and terms.end_date is not None:
        dates = [(terms.end_date, "end date")]
    if not dates:
        return Reminder(
            due=today,
            title=f"Review contract: {title}"[:300],
            description=(
                f"No notice, renewal or end date could be found in “{title}”. "
                "Check the contract and note its key dates."
            ),
            priority="normal",
        )
    key_date, label = min(dates)
    wanted = key_date - dt.timedelta(days=REMINDER_DAYS)
    lines = [f"{label.capitalize()} of “{title}”: {key_date.isoformat()}."]
    if terms.notice_date is not None and terms.notice_period_days:
        lines.append(f"Notice period: {terms.notice_period_days} days.")
    if terms.auto_renews:
        lines.append("The contract renews automatically unless notice is given.")
    if wanted >= today:
        lines.insert(0, f"Reminder {REMINDER_DAYS} days before the {label}.")
        return Reminder(
            wanted,
            f"Contract {label} on {key_date.isoformat()}: {title}"[:300],
            " ".join(lines),
            "normal",
        )
    if key_date >= today:
        why = (
            f"Due today: {REMINDER_DAYS} days before the {label} was {wanted.isoformat()}, "
            f"which has already passed; {(key_date - today).days} days remain."
        )
    else:
        why = (
            f"Due today: the {label} ({key_date.isoformat()}) has already passed; "
            "check what the contract says now."
        )
    return Reminder(
        today,
        f"Contract {label} on {key_date.isoformat()}: {title}"[:300],
        " ".join([why, *lines]),
        "high",
    )


def _due_at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, DUE_TIME)


async def _assignee(session: AsyncSession, ctx: Context, user_id: str | None) -> str | None:
    """The document's uploader when they are an active user, else nobody."""
    if user_id is None:
        return None
    try:
        user = await identity.get_user(session, ctx, user_id=user_id)
    except NotFound:
        return None
    return user.id if user.is_active else None


async def _open_task(session: AsyncSession, ctx: Context, task_id: str | None) -> Task | None:
    if task_id is None:
        return None
    try:
        task = await work.get_task(session, ctx, task_id)
    except NotFound:
        return None
    return task if task.status in OPEN_STATUSES else None


async def _keep_task(
    session: AsyncSession,
    ctx: Context,
    *,
    task_id: str | None,
    document: KbDocument,
    reminder: Reminder,
) -> Task:
    """Move the contract's open task to the new reminder, or make one."""
    task = await _open_task(session, ctx, task_id)
    if task is not None:
        return await work.update_task(
            session,
            ctx,
            task.id,
            TaskUpdate(
                title=reminder.title,
                description=reminder.description,
                due_at=_due_at(reminder.due),
                priority=reminder.priority,
            ),
        )
    return await work.create_task(
        session,
        ctx,
        title=reminder.title,
        description=reminder.description,
        assignee_id=await _assignee(session, ctx, document.created_by),
        due_at=_due_at(reminder.due),
        priority=reminder.priority,
        related_type="kb_document",
        related_id=document.id,
        origin=TASK_ORIGIN,
    )


async def _cancel_task(session: AsyncSession, ctx: Context, task_id: str | None) -> None:
    task = await _open_task(session, ctx, task_id)
    if task is not None:
        await work.update_task(session, ctx, task.id, TaskUpdate(status="cancelled"))


# --- the workflow -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Source:
    title: str
    text: str
    sha256: str


def _ctx(tenant_id: str, correlation_id: str | None) -> Context:
    kwargs: dict[str, Any] = {"correlation_id": correlation_id} if correlation_id else {}
    return Context(tenant_id=tenant_id, actor_type="system", **kwargs)


@step("kb.contract.read_document", retry=RetryPolicy(max_attempts=3, interval_seconds=0.5))
async def read_document(tenant_id: str, document_id: str) -> dict[str, str] | None:
    """The contract's text, or None when the document is gone or no longer a contract."""
    ctx = _ctx(tenant_id, None)
    async with get_database().unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        try:
            document = await knowledge.get_document(session, ctx, document_id)
        except NotFound:
            return None
        if not is_contract(document.tags):
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
            feature=FEATURE,
            task="extract_contract",
            template=TEMPLATE,
            variables={"title": title, "text": text[:MAX_TEXT_CHARS]},
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
    terms = parse_terms(answer["text"])
    ctx = _ctx(tenant_id, correlation_id)
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        document = await _current_document(session, ctx, document_id)
        if document is None:
            return "gone"
        if document.sha256 != sha256:
            return "stale"
        contract = await _contract_row(session, ctx, document_id, lock=True)
        for name in (
            "start_date",
            "end_date",
            "renewal_date",
            "termination_date",
            "notice_date",
            "notice_period_days",
            "auto_renews",
        ):
            setattr(contract, name, getattr(terms, name))
        contract.parties = [p.model_dump() for p in terms.parties]
        contract.amounts = [a.model_dump() for a in terms.amounts]
        contract.evidence = dict(terms.evidence)
        contract.status = "extracted"
        contract.error = None
        previous = dict(contract.provenance or {})
        reminder = reminder_for(document.title, terms, dt.date.fromisoformat(today))
        task = await _keep_task(
            session, ctx, task_id=contract.task_id, document=document, reminder=reminder
        )
        await _cancel_task(session, ctx, previous.get("failure_task_id"))
        contract.task_id = task.id
        contract.task_due_date = reminder.due
        contract.provenance = {
            **answer["provenance"],
            "computed": list(terms.computed),
            "document_sha256": sha256,
        }
        contract.version += 1
        await session.flush()
        await append_event(
            session,
            ctx,
            "kb.contract.extracted",
            aggregate_type="kb_contract",
            aggregate_id=contract.id,
            version=contract.version,
            data={
                "document_id": document_id,
                "notice_date": _iso(contract.notice_date),
                "renewal_date": _iso(contract.renewal_date),
                "end_date": _iso(contract.end_date),
                "task_id": task.id,
                "task_due_date": reminder.due.isoformat(),
                "call_id": answer["provenance"].get("call_id"),
            },
        )
    return "extracted"


@step("kb.contract.record_failure", retry=RetryPolicy(max_attempts=3, interval_seconds=0.5))
async def record_failure(
    tenant_id: str, correlation_id: str | None, document_id: str, reason: str, today: str
) -> str:
    """Mark the contract failed with ``reason`` and ask a person to look (one open task)."""
    ctx = _ctx(tenant_id, correlation_id)
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        document = await _current_document(session, ctx, document_id)
        if document is None:
            return "gone"
        contract = await _contract_row(session, ctx, document_id, lock=True)
        contract.status = "failed"
        contract.error = reason[:ERROR_CHARS]
        reminder = Reminder(
            due=dt.date.fromisoformat(today),
            title=f"Contract terms could not be extracted: {document.title}"[:300],
            description=(
                f"Automatic extraction of “{document.title}” failed: {reason[:ERROR_CHARS]} "
                "Read the contract and note its notice and renewal dates."
            ),
            priority="normal",
        )
        provenance = dict(contract.provenance or {})
        task = await _keep_task(
            session,
            ctx,
            task_id=provenance.get("failure_task_id"),
            document=document,
            reminder=reminder,
        )
        contract.provenance = {**provenance, "failure_task_id": task.id}
        contract.version += 1
        await session.flush()
        await append_event(
            session,
            ctx,
            "kb.contract.failed",
            aggregate_type="kb_contract",
            aggregate_id=contract.id,
            version=contract.version,
            data={"document_id": document_id, "error": contract.error, "task_id": task.id},
        )
    return "failed"


@step("kb.contract.today")
async def _today() -> str:
    return utcnow().date().isoformat()


@workflow(WORKFLOW_NAME)
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


# --- rows -------------------------------------------------------------------------------


async def _current_document(
    session: AsyncSession, ctx: Context, document_id: str
) -> KbDocument | None:
    try:
        document = await knowledge.get_document(session, ctx, document_id)
    except NotFound:
        return None
    return document if is_contract(document.tags) else None


async def _contract_row(
    session: AsyncSession, ctx: Context, document_id: str, *, lock: bool = False
) -> KbContract:
    """The document's contract row, made (``pending``) when it has none."""
    query = sa.select(KbContract).where(
        KbContract.tenant_id == ctx.require_tenant(), KbContract.document_id == document_id
    )
    if lock:
        query = query.with_for_update()
    contract = await session.scalar(query)
    if contract is None:
        contract = KbContract(
            tenant_id=ctx.require_tenant(), document_id=document_id, status="pending"
        )
        session.add(contract)
        await session.flush()
    return contract


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


# --- event handlers -------------------------------------------------------------------


def _document_id(event: EventRecord) -> str:
    data = event.data or {}
    return str(data.get("document_id") or event.aggregate_id)


async def on_document_saved(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    """A document created or updated: extract if it is a contract whose content is new
    to us; a document no longer tagged ``contract`` loses its contract and open task."""
    document_id = _document_id(event)
    try:
        document = await knowledge.get_document(session, ctx, document_id)
    except NotFound:
        return
    if not is_contract(document.tags):
        await _forget(session, ctx, document_id)
        return
    contract = await _contract_row(session, ctx, document_id, lock=True)
    done = (contract.provenance or {}).get("document_sha256") == document.sha256
    if done and contract.status == "extracted":
        return  # a title or tag change: the terms still hold
    if contract.status != "pending":
        contract.status = "pending"
        contract.version += 1
    await _start(event, document_id)


async def on_document_deleted(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    await _forget(session, ctx, _document_id(event))


async def _forget(session: AsyncSession, ctx: Context, document_id: str) -> None:
    contract = await session.scalar(
        sa.select(KbContract).where(
            KbContract.tenant_id == ctx.require_tenant(), KbContract.document_id == document_id
        )
    )
    if contract is None:
        return
    await _cancel_task(session, ctx, contract.task_id)
    await _cancel_task(session, ctx, (contract.provenance or {}).get("failure_task_id"))
    await session.delete(contract)
    await append_event(
        session,
        ctx,
        "kb.contract.removed",
        aggregate_type="kb_contract",
        aggregate_id=contract.id,
        data={"document_id": document_id},
    )


async def _start(event: EventRecord, document_id: str) -> None:
    try:
        await start_workflow(
            extract_contract_terms,
            event.tenant_id,
            document_id,
            event.correlation_id,
            workflow_id=workflow_id_for_event(event.id, WORKFLOW_NAME),
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


# --- reading ----------------------------------------------------------------------------


def contract_read(contract: KbContract, title: str | None) -> ContractRead:
    provenance = dict(contract.provenance or {})
    return ContractRead(
        id=contract.id,
        document_id=contract.document_id,
        document_title=title,
        status=contract.status,
        parties=[Party.model_validate(p) for p in contract.parties or []],
        amounts=[Amount.model_validate(a) for a in contract.amounts or []],
        start_date=contract.start_date,
        end_date=contract.end_date,
        renewal_date=contract.renewal_date,
        termination_date=contract.termination_date,
        notice_date=contract.notice_date,
        notice_period_days=contract.notice_period_days,
        auto_renews=contract.auto_renews,
        evidence=dict(contract.evidence or {}),
        computed=list(provenance.get("computed", [])),
        task_id=contract.task_id,
        task_due_date=contract.task_due_date,
        error=contract.error,
        provenance={
            k: v for k, v in provenance.items() if k not in ("computed", "failure_task_id")
        },
        version=contract.version,
        created_at=contract.created_at,
        updated_at=contract.updated_at,
    )


async def contract_for_document(
    session: AsyncSession, ctx: Context, document_id: str
) -> ContractRead:
    document = await knowledge.get_document(session, ctx, document_id)
    contract = await session.scalar(
        sa.select(KbContract).where(
            KbContract.tenant_id == ctx.require_tenant(), KbContract.document_id == document.id
        )
    )
    if contract is None:
        raise NotFound("this document has no contract terms (is it tagged “contract”?)")
    return contract_read(contract, document.title)


CONTRACT_ORDER = ListOrder(
    "contracts",
    KbContract.id,
    [KbContract.created_at, KbContract.updated_at, KbContract.notice_date, KbContract.renewal_date],
    unsorted_descending=True,
)


async def list_contracts(
    session: AsyncSession,
    ctx: Context,
    *,
    page: PageParams,
    status: str | None = None,
    notice_before: dt.date | None = None,
) -> tuple[list[ContractRead], str | None]:
    """In ``page``'s order (newest first by default)."""
    query = (
        sa.select(KbContract, KbDocument.title)
        .join(KbDocument, KbDocument.id == KbContract.document_id)
        .where(KbContract.tenant_id == ctx.require_tenant())
    )
    if status is not None:
        query = query.where(KbContract.status == status)
    if notice_before is not None:
        query = query.where(
            sa.or_(KbContract.notice_date < notice_before, KbContract.renewal_date < notice_before)
        )
    rows = (await session.execute(CONTRACT_ORDER.apply(query, page))).all()
    items, cursor = CONTRACT_ORDER.take_page(rows, page, entity=lambda r: r[0])
    return [contract_read(contract, title) for contract, title in items], cursor
