"""Answers from the knowledge base: the passages search finds, read by the extractive
answerer (:mod:`bizos.ai.providers.answerer`), which quotes the sentences that answer
each part of the question and names where each comes from. Nothing is generated, so
nothing is invented: when no passage answers, the answer says so.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.ai.providers import answerer
from bizos.ai.providers.local import LocalProvider
from bizos.ai.types import Source
from bizos.core.context import Context
from bizos.modules.knowledge.documents import service
from bizos.modules.knowledge.documents.schemas import (
    AnswerProvenance,
    AnswerSource,
    KbAnswerRead,
    SearchHit,
)

DEFAULT_PASSAGES = 5
NOT_COVERED = (
    "The knowledge base does not answer this: none of its documents says anything about "
    "“{question}”."
)


def _source(hit: SearchHit) -> Source:
    title = f"{hit.title} — {hit.heading}" if hit.heading else hit.title
    return Source(
        title=title,
        text=hit.text,
        document_id=hit.document_id,
        chunk_id=hit.chunk_id,
        kind="kb",
        score=round(float(hit.score), 4),
    )


def answer_from(question: str, hits: list[SearchHit]) -> KbAnswerRead:
    """The extractive answer to ``question`` from these passages (pure)."""
    sources = [_source(h) for h in hits]
    found = answerer.answer(question, sources)
    said = dict(answerer.cited_text(found))
    by_chunk = {h.chunk_id: h for h in hits}
    cited = []
    for source in found.sources:
        hit = by_chunk[str(source.chunk_id)]
        cited.append(
            AnswerSource(
                document_id=hit.document_id,
                chunk_id=hit.chunk_id,
                title=answerer.display_title(source.title),
                heading=hit.heading,
                page=hit.page,
                excerpt=said.get(source, ""),
                score=round(float(hit.score), 4),
            )
        )
    asked = " ".join(question.split())
    return KbAnswerRead(
        question=asked,
        answer=answerer.written_answer(
            found, not_covered=NOT_COVERED.format(question=asked.rstrip("?"))
        ),
        answered=found.answered,
        sources=cited,
        provenance=AnswerProvenance(
            provider=LocalProvider.name,
            model=LocalProvider.model,
            passages_searched=len(hits),
        ),
    )


async def answer(
    session: AsyncSession, ctx: Context, question: str, *, limit: int = DEFAULT_PASSAGES
) -> KbAnswerRead:
    """An answer to ``question`` quoted from the ``limit`` passages search ranks best."""
    hits = await service.search(session, ctx, question.strip(), limit=limit)
    return answer_from(question, hits)
