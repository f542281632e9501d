"""What the copilot may ask of the knowledge base (scope ``kb:read``): passages that
answer a question, and contracts whose notice or renewal dates fall in a range. Every
answer carries its query in words, the filters and the ids behind it (DESIGN rule 8).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.phrases import between_text, counted, listed, period_of, quoted
from bizos.core.reads import read_of
from bizos.core.tools import (
    MAX_DAYS,
    MAX_RECORDS,
    Figure,
    Said,
    SourceRef,
    Tool,
    ToolResult,
    tools_for,
)
from bizos.modules.knowledge.contracts.models import KbContract
from bizos.modules.knowledge.documents import answers, service
from bizos.modules.knowledge.documents.models import KbDocument
from bizos.modules.knowledge.documents.schemas import KbAnswerRead

SCOPE = "kb:read"
# How far ahead ``kb.contracts_due`` looks when no range is given.
DEFAULT_HORIZON_DAYS = 365
PASSAGE_CHARS = 1200

DateKind = Literal["notice", "renewal", "end", "termination"]
DEFAULT_KINDS: tuple[DateKind, ...] = ("notice", "renewal")
_COLUMNS: dict[str, sa.orm.InstrumentedAttribute[dt.date | None]] = {
    "notice": KbContract.notice_date,
    "renewal": KbContract.renewal_date,
    "end": KbContract.end_date,
    "termination": KbContract.termination_date,
}


# --- kb.search ------------------------------------------------------------------------


class SearchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=1000, description="The question, in words.")
    limit: int = Field(default=5, ge=1, le=20, description="Passages to return.")
    document_id: str | None = Field(default=None, description="Only this document.")

    @model_validator(mode="after")
    def _not_blank(self) -> SearchParams:
        if not self.query.strip():
            raise ValueError("the query is blank")
        return self


class Passage(BaseModel):
    document_id: str
    title: str
    chunk_id: str
    heading: str | None
    page: int | None
    text: str
    score: float


class SearchValue(BaseModel):
    passages: list[Passage]


async def search(session: AsyncSession, ctx: Context, params: SearchParams) -> ToolResult:
    """The passages relevant to ``query``, best first (knowledge search)."""
    hits = await service.search(
        session,
        ctx,
        params.query.strip(),
        limit=params.limit,
        document_id=params.document_id,
        min_score=service.RELEVANT,
    )
    passages = [read_of(Passage, h, text=h.text[:PASSAGE_CHARS]) for h in hits]
    documents = list(dict.fromkeys(p.document_id for p in passages))
    return ToolResult(
        value=SearchValue(passages=passages),
        query=(
            "knowledge-base passages found by full-text and vector search, ranked by "
            "relevance to the query (cosine in the tenant's TF-IDF space; passages under "
            "its threshold left out); records are the documents they come from"
        ),
        filters={
            "query": params.query.strip(),
            "limit": params.limit,
            "document_id": params.document_id,
        },
        records=documents,
    )


def _section(passage: Passage) -> str | None:
    """The passage's heading without its document's title ("Returns > Coffee" of the
    document "Returns" is "Coffee"); None for the document's opening."""
    heading = (passage.heading or "").strip()
    for prefix in (f"{passage.title} > ", passage.title):
        if heading.startswith(prefix):
            heading = heading[len(prefix) :].strip()
    return heading or None


def _passage_title(passage: Passage) -> str:
    section = _section(passage)
    return f"{passage.title} — {section}" if section else passage.title


def speak_search(params: SearchParams, result: ToolResult) -> Said:
    """The passages found, named by document and section; their text goes in the sources'
    excerpts, not in the sentence (it holds numbers no figure backs)."""
    passages: list[Passage] = result.value.passages
    if not passages:
        return Said("I found nothing in the knowledge base about that.")
    sections: dict[str, list[str]] = {}
    for p in passages:
        found = sections.setdefault(p.document_id, [p.title])
        section = _section(p)
        if section and section not in found:
            found.append(section)
    figures = [
        Figure("passages found", len(passages), unit="passages"),
        Figure("documents they come from", len(sections), unit="documents"),
    ]
    sources = [
        SourceRef("document", p.document_id, _passage_title(p), quoted(p.text, 300))
        for p in passages
    ]
    named = listed(
        f"{title} ({', '.join(rest)})" if rest else title for title, *rest in sections.values()
    )
    text = (
        f"I found {counted(len(passages), 'passage')} in "
        f"{counted(len(sections), 'document')}: {named}."
    )
    return Said(text, figures, sources)


# --- kb.contracts_due -----------------------------------------------------------------


class ContractsDueParams(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: dt.date | None = Field(default=None, alias="from", description="First day (UTC).")
    to: dt.date | None = Field(
        default=None, description=f"Last day, inclusive; default {DEFAULT_HORIZON_DAYS} days on."
    )
    kinds: list[DateKind] = Field(
        default_factory=lambda: list(DEFAULT_KINDS),
        min_length=1,
        description="Which contract dates count: notice, renewal, end, termination.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> ContractsDueParams:
        start, end = self.bounds()
        if end < start:
            raise ValueError("'to' is before 'from'")
        if (end - start).days > MAX_DAYS:
            raise ValueError(f"the range is longer than {MAX_DAYS} days")
        self.kinds = list(dict.fromkeys(self.kinds))
        return self

    def bounds(self) -> tuple[dt.date, dt.date]:
        """From today (UTC) for :data:`DEFAULT_HORIZON_DAYS` unless told otherwise."""
        start = self.from_ or dt.datetime.now(dt.UTC).date()
        end = self.to or (start + dt.timedelta(days=DEFAULT_HORIZON_DAYS))
        return start, end


class DueDate(BaseModel):
    kind: DateKind
    date: dt.date


class ContractDue(BaseModel):
    document_id: str
    contract_id: str
    title: str
    parties: list[str]
    due: list[DueDate] = Field(description="The contract's dates inside the range, earliest first.")
    notice_date: dt.date | None
    renewal_date: dt.date | None
    end_date: dt.date | None
    termination_date: dt.date | None
    auto_renews: bool | None
    task_id: str | None = Field(description="The reminder task made for this contract.")
    task_due_date: dt.date | None


class ContractsDueValue(BaseModel):
    count: int
    contracts: list[ContractDue] = Field(description="Earliest date in range first.")


async def contracts_due(
    session: AsyncSession, ctx: Context, params: ContractsDueParams
) -> ToolResult:
    """Extracted contracts with a notice/renewal (or chosen) date inside the range."""
    start, end = params.bounds()
    in_range = [_COLUMNS[k].between(start, end) for k in params.kinds]
    rows = (
        await session.execute(
            sa.select(KbContract, KbDocument.title)
            .join(KbDocument, KbDocument.id == KbContract.document_id)
            .where(
                KbContract.tenant_id == ctx.require_tenant(),
                KbDocument.tenant_id == ctx.require_tenant(),
                KbContract.status == "extracted",
                sa.or_(*in_range),
            )
        )
    ).all()
    found: list[ContractDue] = []
    for contract, title in rows:
        dates = {kind: getattr(contract, column.key) for kind, column in _COLUMNS.items()}
        due = sorted(
            (
                DueDate(kind=kind, date=day)
                for kind in params.kinds
                if (day := dates[kind]) is not None and start <= day <= end
            ),
            key=lambda d: (d.date, d.kind),
        )
        parties = [str(p.get("name")) for p in contract.parties or [] if p.get("name")]
        found.append(
            read_of(
                ContractDue,
                contract,
                contract_id=contract.id,
                title=title,
                parties=parties,
                due=due,
            )
        )
    found.sort(key=lambda c: (c.due[0].date if c.due else end, c.document_id))
    return ToolResult(
        value=ContractsDueValue(count=len(found), contracts=found[:MAX_RECORDS]),
        query=(
            "contracts extracted from documents tagged 'contract' whose "
            f"{' or '.join(params.kinds)} date falls within the range (inclusive); records "
            "are the contract documents"
        ),
        filters={
            "from": start.isoformat(),
            "to": end.isoformat(),
            "kinds": list(params.kinds),
            "status": "extracted",
        },
        records=[c.document_id for c in found[:MAX_RECORDS]],
        records_total=len(found),
    )


def speak_contracts_due(params: ContractsDueParams, result: ToolResult) -> Said:
    value: ContractsDueValue = result.value
    start, end = period_of(result.filters) or params.bounds()
    which = " or ".join(params.kinds)
    figures = [
        Figure(
            f"contracts with a {which} date due", value.count, unit="contracts", period=(start, end)
        )
    ]
    when = between_text(start, end)
    if value.count == 0:
        return Said(f"No contract has a {which} date {when}.", figures)
    sources = [SourceRef("document", c.document_id, c.title) for c in value.contracts]
    parts = [
        f"{c.title} ({', '.join(f'{d.kind} {d.date.isoformat()}' for d in c.due)})"
        for c in value.contracts
    ]
    verb = "has" if value.count == 1 else "have"
    text = f"{counted(value.count, 'contract')} {verb} a {which} date {when}: {listed(parts)}."
    return Said(text, figures, sources)


# --- kb.answer ------------------------------------------------------------------------


class AnswerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=1000, description="The question, in words.")
    limit: int = Field(
        default=answers.DEFAULT_PASSAGES, ge=1, le=20, description="Passages to read for it."
    )

    @model_validator(mode="after")
    def _not_blank(self) -> AnswerParams:
        if not self.question.strip():
            raise ValueError("the question is blank")
        return self


async def answer(session: AsyncSession, ctx: Context, params: AnswerParams) -> ToolResult:
    """An answer quoted from the knowledge-base passages that answer the question."""
    found = await answers.answer(session, ctx, params.question, limit=params.limit)
    return ToolResult(
        value=found,
        query=(
            "the sentences of the best-ranked knowledge-base passages that answer each part "
            "of the question (extractive: quoted, never generated); records are the "
            "documents quoted"
        ),
        filters={"question": found.question, "limit": params.limit},
        records=list(dict.fromkeys(s.document_id for s in found.sources)),
    )


def speak_answer(params: AnswerParams, result: ToolResult) -> Said:
    """The answer as the knowledge base gives it; its sources are the quoted passages.
    Numbers in it are quoted from those passages (each source's excerpt), not figures."""
    found: KbAnswerRead = result.value
    return Said(
        text=found.answer,
        figures=[],
        sources=[
            SourceRef(type="document", id=s.document_id, title=s.title, excerpt=s.excerpt)
            for s in found.sources
        ],
    )


TOOLS: list[Tool] = tools_for(
    SCOPE,
    (
        "kb.search",
        "Find the knowledge-base passages (policies, FAQs, guides, contracts) that answer "
        "a question; each passage names its document.",
        SearchParams,
        search,
        speak_search,
    ),
    (
        "kb.contracts_due",
        "Contracts whose notice or renewal date (or end/termination date, if asked) "
        "falls in a date range; by default the coming year.",
        ContractsDueParams,
        contracts_due,
        speak_contracts_due,
    ),
    (
        "kb.answer",
        "Answer a question from the knowledge base (policies, FAQs, guides, contracts): "
        "the sentences that answer it, quoted, each naming its document; says so when "
        "nothing there answers it.",
        AnswerParams,
        answer,
        speak_answer,
    ),
)
