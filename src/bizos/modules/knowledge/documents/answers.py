"""Answers from the knowledge base: the passages search finds, read by the extractive
answerer (:mod:`bizos.ai.providers.answerer`), which quotes the sentences that answer
each part of the question and names where each comes from. Nothing is generated, so
nothing is invented: when no passage answers, the answer says so.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.ai.providers import answerer
from bizos.ai.providers.extractive import split_sentences, terms
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


# Words that frame a question about a topic ("what's our refund policy?") rather than
# say what it is about.
_FRAMING = frozenset(
    terms(
        "what whats tell about explain show give info information details detail policy "
        "policies terms rules rule guide guidelines process procedure faq overview summary "
        "say says said document documents docs knowledge base our we us"
    )
)
OPENING_SENTENCES = 3


# A few words a policy states by example rather than by name: "do we ship
# internationally?" is answered by a table of destinations.
_SAID_BY_EXAMPLE = {
    term: frozenset(terms("destination destinations country countries abroad overseas worldwide"))
    for term in terms("international internationally abroad overseas worldwide")
}


def _topic_terms(question: str) -> list[str]:
    return [t for t in terms(question) if t not in _FRAMING]


def _has(words: set[str], term: str) -> bool:
    return term in words or bool(words & _SAID_BY_EXAMPLE.get(term, frozenset()))


def _about(hit: SearchHit) -> set[str]:
    """What a passage is about by name: its document's title and its heading."""
    return set(terms(f"{hit.title} {hit.heading or ''}"))


def _nearest(question: str, hits: list[SearchHit]) -> tuple[SearchHit, bool] | None:
    """The section a question names by its title or heading ("refund" -> "Returns and
    refunds — Refunds"), and whether every word of the question's topic is in it."""
    words = _topic_terms(question)
    if not words or len(words) > 4:
        return None
    ranked = []
    for i, hit in enumerate(hits):
        named = _about(hit)
        if not named & set(words):
            continue
        section = (hit.heading or "").split(" > ")[-1]
        headed = set() if section.lower() == hit.title.lower() else set(terms(section))
        inside = named | set(terms(hit.text))
        covered = all(_has(inside, w) for w in words)
        key = (not covered, -len(headed & set(words)), -len(named & set(words)), i)
        ranked.append((key, hit, covered))
    if not ranked:
        return None
    _, hit, covered = min(ranked, key=lambda r: r[0])
    return hit, covered


def _opening(hit: SearchHit) -> list[str]:
    """A section's first sentences, as the answerer quotes sentences."""
    sentences = split_sentences(hit.text, passage=0, heading=hit.heading)
    return [s.text for s in sentences[:OPENING_SENTENCES]]


def _topic_answer(question: str, hits: list[SearchHit]) -> KbAnswerRead | None:
    """A question that names a topic and asks nothing more specific ("what's our refund
    policy?", "shipping times") is answered with the opening sentences of the section
    about it, quoted and cited. Any other question the passages do not answer is still
    declined, naming the nearest section when one is about what it asks."""
    nearest = _nearest(question, hits)
    if nearest is None:
        return None
    hit, covered = nearest
    said = " ".join(_opening(hit))
    if not said:
        return None
    source = _source(hit)
    title = answerer.display_title(source.title)
    asked = " ".join(question.split())
    # what it asks is all there, and it asks for no one fact (how long, how much, when)
    topical = covered and answerer.kind_of(asked) in ("open", "yesno")
    if topical:
        text = f"According to “{title}”: {said}"
    else:
        text = (
            f"{NOT_COVERED.format(question=asked.rstrip('?'))} The nearest it comes is "
            f"“{title}”: {said}"
        )
    cited = AnswerSource(
        document_id=hit.document_id,
        chunk_id=hit.chunk_id,
        title=title,
        heading=hit.heading,
        page=hit.page,
        excerpt=said,
        score=round(float(hit.score), 4),
    )
    return KbAnswerRead(
        question=asked,
        answer=text,
        answered=topical,
        sources=[cited],
        provenance=AnswerProvenance(
            provider=LocalProvider.name, model=LocalProvider.model, passages_searched=len(hits)
        ),
    )


def _distinct_document(
    question: str, hits: list[SearchHit], found: answerer.Answer
) -> list[SearchHit] | None:
    """The passages of the one document that holds the question's distinctive word, when
    the answer quotes only its common ones ("what do we do with customer data?" is about
    data, which only the privacy notice speaks of, not about the customer who pays return
    postage). None when the answer already holds it, or no single document does."""
    if not found.answered or len(found.parts) != 1:
        return None
    documents: dict[str, set[str]] = {}
    for hit in hits:
        documents.setdefault(hit.document_id, set()).update(terms(f"{hit.title} {hit.text}"))
    quoted = {t for p in found.parts for s in p.sentences for t in s.terms}
    words = _topic_terms(question)
    holders_of = {w: [d for d, known in documents.items() if w in known] for w in words}
    if any(len(holders_of[w]) == 1 for w in words if w in quoted):
        return None  # the answer already quotes a word only its document has
    for word in words:
        holders = holders_of[word]
        if len(holders) == 1 and len(documents) > 1 and word not in quoted:
            cited = {str(s.document_id) for s in found.sources}
            if holders[0] not in cited:
                return [h for h in hits if h.document_id == holders[0]]
    return None


def answer_from(question: str, hits: list[SearchHit]) -> KbAnswerRead:
    """The extractive answer to ``question`` from these passages (pure)."""
    sources = [_source(h) for h in hits]
    found = answerer.answer(question, sources)
    distinct = _distinct_document(question, hits, found)
    if distinct is not None:
        # asked of that document alone, in the words it speaks ("customer" is not one)
        known = {t for h in distinct for t in terms(f"{h.title} {h.heading or ''} {h.text}")}
        kept = [w for w in question.split() if not terms(w) or set(terms(w)) & known]
        again = answerer.answer(" ".join(kept), [_source(h) for h in distinct])
        if again.answered:
            hits, found = distinct, again
    if not found.answered:
        topic = _topic_answer(question, hits)
        if topic is not None:
            return topic
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
