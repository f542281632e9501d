"""Contracts: the terms extracted from documents tagged ``contract``, and the task that
reminds someone of the notice date. The only writer of ``kb_contracts``.

The terms come from a model (``workflows.py``); each extracted contract keeps one task:
due 90 days before the earliest notice or renewal date, or today when that day has
passed (the description says why). A re-extraction moves the open task instead of adding
a second one; a failed extraction keeps one task asking a person to look.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import NotFound
from bizos.core.events import append_event
from bizos.core.pagination import ListOrder, PageParams
from bizos.core.reads import read_of
from bizos.modules.identity import service as identity
from bizos.modules.knowledge.contracts.models import KbContract
from bizos.modules.knowledge.contracts.schemas import Amount, ContractRead, ContractTerms, Party
from bizos.modules.knowledge.documents import service as documents
from bizos.modules.knowledge.documents.models import KbDocument
from bizos.modules.work import service as work
from bizos.modules.work.schemas import OPEN_STATUSES, TaskUpdate

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


def parse_terms(answer: str) -> ContractTerms:
    """The terms in a model's answer: a JSON object, possibly fenced or with prose
    around it. Fills in a notice date from the end (or renewal) date and the notice
    period when the model gave both but not the date."""
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", answer.strip(), flags=re.IGNORECASE)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ContractUnreadable("the extraction answer holds no JSON object")
    try:
        data = json.loads(text[start : end + 1])
        terms = ContractTerms.model_validate(data)
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


def reminder_for(title: str, terms: ContractTerms | KbContract, today: dt.date) -> Reminder:
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


async def _open_task(session: AsyncSession, ctx: Context, task_id: str | None) -> str | None:
    """``task_id`` if that task is still open (work's service says), else None."""
    if task_id is None:
        return None
    try:
        task = await work.get_task(session, ctx, task_id)
    except NotFound:
        return None
    return task.id if task.status in OPEN_STATUSES else None


async def _keep_task(
    session: AsyncSession,
    ctx: Context,
    *,
    task_id: str | None,
    document: KbDocument,
    reminder: Reminder,
) -> str:
    """Move the contract's open task to the new reminder, or make one; the task's id."""
    open_id = await _open_task(session, ctx, task_id)
    if open_id is not None:
        moved = await work.update_task(
            session,
            ctx,
            open_id,
            TaskUpdate(
                title=reminder.title,
                description=reminder.description,
                due_at=_due_at(reminder.due),
                priority=reminder.priority,
            ),
        )
        return moved.id
    made = await work.create_task(
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
    return made.id


async def _cancel_task(session: AsyncSession, ctx: Context, task_id: str | None) -> None:
    open_id = await _open_task(session, ctx, task_id)
    if open_id is not None:
        await work.update_task(session, ctx, open_id, TaskUpdate(status="cancelled"))


# --- writing ---------------------------------------------------------------------------


async def save_terms(
    session: AsyncSession,
    ctx: Context,
    *,
    document_id: str,
    sha256: str,
    terms: ContractTerms,
    provenance: dict[str, Any],
    today: dt.date,
) -> str:
    """Store the terms, keep the task, record ``kb.contract.extracted``; returns the
    outcome (``extracted``, ``stale`` when the document changed meanwhile, ``gone``)."""
    document = await _current_document(session, ctx, document_id)
    if document is None:
        return "gone"
    if document.sha256 != sha256:
        return "stale"
    contract = await contract_row(session, ctx, document_id, lock=True)
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
    reminder = reminder_for(document.title, terms, today)
    task_id = await _keep_task(
        session, ctx, task_id=contract.task_id, document=document, reminder=reminder
    )
    await _cancel_task(session, ctx, previous.get("failure_task_id"))
    contract.task_id = task_id
    contract.task_due_date = reminder.due
    contract.provenance = {
        **provenance,
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
            "task_id": task_id,
            "task_due_date": reminder.due.isoformat(),
            "call_id": provenance.get("call_id"),
        },
    )
    return "extracted"


async def save_failure(
    session: AsyncSession, ctx: Context, *, document_id: str, reason: str, today: dt.date
) -> str:
    """Mark the contract failed with ``reason`` and ask a person to look (one open task)."""
    document = await _current_document(session, ctx, document_id)
    if document is None:
        return "gone"
    contract = await contract_row(session, ctx, document_id, lock=True)
    contract.status = "failed"
    contract.error = reason[:ERROR_CHARS]
    reminder = Reminder(
        due=today,
        title=f"Contract terms could not be extracted: {document.title}"[:300],
        description=(
            f"Automatic extraction of “{document.title}” failed: {reason[:ERROR_CHARS]} "
            "Read the contract and note its notice and renewal dates."
        ),
        priority="normal",
    )
    provenance = dict(contract.provenance or {})
    task_id = await _keep_task(
        session,
        ctx,
        task_id=provenance.get("failure_task_id"),
        document=document,
        reminder=reminder,
    )
    contract.provenance = {**provenance, "failure_task_id": task_id}
    contract.version += 1
    await session.flush()
    await append_event(
        session,
        ctx,
        "kb.contract.failed",
        aggregate_type="kb_contract",
        aggregate_id=contract.id,
        version=contract.version,
        data={"document_id": document_id, "error": contract.error, "task_id": task_id},
    )
    return "failed"


# --- rows -------------------------------------------------------------------------------


def _of_document(ctx: Context, document_id: str) -> Select[KbContract]:
    return sa.select(KbContract).where(
        KbContract.tenant_id == ctx.require_tenant(), KbContract.document_id == document_id
    )


async def _current_document(
    session: AsyncSession, ctx: Context, document_id: str
) -> KbDocument | None:
    try:
        document = await documents.get_document(session, ctx, document_id)
    except NotFound:
        return None
    return document if is_contract(document.tags) else None


async def contract_row(
    session: AsyncSession, ctx: Context, document_id: str, *, lock: bool = False
) -> KbContract:
    """The document's contract row, made (``pending``) when it has none."""
    query = _of_document(ctx, document_id)
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


# --- forgetting --------------------------------------------------------------------------


async def forget(session: AsyncSession, ctx: Context, document_id: str) -> None:
    """The document is gone or no longer a contract: its contract and open tasks go."""
    contract = await session.scalar(_of_document(ctx, document_id))
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


# --- reading ----------------------------------------------------------------------------


def contract_read(contract: KbContract, title: str | None) -> ContractRead:
    provenance = dict(contract.provenance or {})
    return read_of(
        ContractRead,
        contract,
        document_title=title,
        parties=[Party.model_validate(p) for p in contract.parties or []],
        amounts=[Amount.model_validate(a) for a in contract.amounts or []],
        evidence=dict(contract.evidence or {}),
        computed=list(provenance.get("computed", [])),
        provenance={
            k: v for k, v in provenance.items() if k not in ("computed", "failure_task_id")
        },
    )


async def contract_for_document(
    session: AsyncSession, ctx: Context, document_id: str
) -> ContractRead:
    document = await documents.get_document(session, ctx, document_id)
    contract = await session.scalar(_of_document(ctx, document.id))
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
