"""The built-in local provider: no network, extractive and grounded, honest.

It reads the structured request (``task``, ``inputs``, ``sources``) rather than the
rendered prompt, and only ever says what its sources say: summaries are the text's most
telling sentences, drafts and answers quote the passages that match the question, and
when nothing matches it says so plainly instead of inventing an answer.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from bizos.ai.providers import answerer
from bizos.ai.providers.extractive import (
    Sentence,
    SentenceScorer,
    split_sentences,
    terms,
)
from bizos.ai.tokens import estimate_message_tokens, estimate_tokens
from bizos.ai.types import (
    Completion,
    CompletionRequest,
    ProviderError,
    Source,
    StreamChunk,
    StreamEnd,
    TextDelta,
)

NOT_COVERED_ANSWER = (
    "The available sources do not cover this question, so I cannot answer it reliably. "
    "A member of the team will need to look into it."
)
NOT_COVERED_DRAFT = (
    "Thank you for your message. I could not find reliable information about this in our "
    "documentation, so rather than guess, I have passed your question to a member of our "
    "team, who will follow up with you shortly."
)


@dataclass(frozen=True, slots=True)
class Passage:
    """Sentences of one source that bear on a question."""

    source: Source
    sentences: tuple[str, ...]


class LocalProvider:
    """Offline provider for every task in :data:`bizos.ai.types.TASKS`."""

    name = "local"
    model = "bizos-local-1"
    external = False

    async def complete(self, request: CompletionRequest) -> Completion:
        text = self.respond(request)
        return Completion(
            text=text,
            provider=self.name,
            model=self.model,
            prompt_tokens=_prompt_tokens(request),
            completion_tokens=estimate_tokens(text),
        )

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamChunk]:
        completion = await self.complete(request)
        # Word by word; whitespace at the end is a last piece, so the pieces join to the text.
        for piece in re.findall(r"\s*\S+|\s+$", completion.text):
            yield TextDelta(piece)
        yield StreamEnd(completion)

    def respond(self, request: CompletionRequest) -> str:
        """The answer text for ``request`` (pure: same request, same answer)."""
        task = request.task
        if task == "summarize":
            return summarize(
                _passages_of(request),
                query=request.inputs.get("query", ""),
                max_tokens=request.max_tokens,
            )
        if task == "draft":
            message = request.inputs.get("message") or _last_user_text(request)
            return draft_reply(
                message,
                request.sources,
                customer_name=request.inputs.get("customer_name"),
                signature=request.inputs.get("signature"),
                subject=request.inputs.get("subject", ""),
            )
        if task == "answer":
            question = (
                request.inputs.get("question")
                or request.inputs.get("query")
                or request.inputs.get("message")
                or _last_user_text(request)
            )
            return answer_question(question, request.sources)
        if task == "extract_contract":
            return _extractor("bizos.ai.extract.contract", "extract_contract_json")(
                _plain_text(request)
            )
        if task == "classify":
            return _extractor("bizos.ai.extract.classify", "classify_json")(_plain_text(request))
        raise ProviderError(
            f"local provider has no task {task!r}", provider=self.name, retryable=False
        )


# --- summarize ---------------------------------------------------------------------------


def summarize(
    passages: Sequence[tuple[str, str]], *, query: str = "", max_tokens: int = 800
) -> str:
    """An extractive summary: the sentences that carry the text's recurring vocabulary
    (and the query's words, when a query is given), in their original order. Without a
    query every section (heading) of the text is represented by at least its most
    telling sentence, as far as ``max_tokens`` allows; table rows are data, not
    sentences, and are left out."""
    sentences = [
        s
        for i, (_, text) in enumerate(passages)
        for s in split_sentences(text, passage=i)
        if not s.table_row
    ]
    if not sentences:
        return "There is no text to summarize."
    scorer = SentenceScorer(sentences)
    query_terms = terms(query)
    central = [scorer.centrality(s) for s in sentences]
    top_central = max(central) or 1.0
    matches = [scorer.query_match(s, query_terms)[0] for s in sentences]
    top_match = max(matches) if matches else 0.0
    focused = bool(query_terms) and top_match > 0

    def score(i: int) -> float:
        lead = 0.15 if sentences[i].position == 0 else 0.0  # openings usually state the point
        base = central[i] / top_central + lead
        return 0.3 * base + (matches[i] / top_match) if focused else base

    ranked = sorted(range(len(sentences)), key=lambda i: (-score(i), i))
    if focused:
        # A focused summary keeps to the sentences about the query.
        ranked = [i for i in ranked if matches[i] > 0]
        target = max(1, min(8, round(len(sentences) * 0.3)))
    else:
        sections = _section_leads(sentences, ranked)
        target = max(len(sections), min(8, round(len(sentences) * 0.3)))
        ranked = sections + [i for i in ranked if i not in sections]
    if len(sentences) <= 3:
        target = len(sentences)
    chosen = _fill(sentences, ranked, target=target, max_tokens=max_tokens)
    summary = " ".join(sentences[i].text for i in sorted(chosen))
    if query_terms and top_match == 0:
        return f"The text does not mention “{query.strip()}”. In general, it says: {summary}"
    return summary


def _section_leads(sentences: Sequence[Sentence], ranked: Sequence[int]) -> list[int]:
    """Each section's best sentence (by ``ranked``), best sections first."""
    seen: set[tuple[int, str | None]] = set()
    leads = []
    for i in ranked:
        section = (sentences[i].passage, sentences[i].heading)
        if section not in seen:
            seen.add(section)
            leads.append(i)
    return leads


def _fill(
    sentences: Sequence[Sentence], ranked: Sequence[int], *, target: int, max_tokens: int
) -> list[int]:
    chosen: list[int] = []
    used = 0
    for i in ranked:
        if len(chosen) >= target:
            break
        cost = estimate_tokens(sentences[i].text)
        if chosen and used + cost > max_tokens:
            continue  # a shorter, lower-ranked sentence may still fit
        if any(_similar(sentences[i], sentences[j]) for j in chosen):
            continue
        chosen.append(i)
        used += cost
    return chosen


def _similar(a: Sentence, b: Sentence) -> bool:
    sa, sb = set(a.terms), set(b.terms)
    return len(sa & sb) / max(1, len(sa | sb)) > 0.7


# --- grounding ----------------------------------------------------------------------------


def relevant_passages(question: str, sources: Sequence[Source]) -> list[Passage]:
    """The source sentences that answer ``question``, grouped by source in source order
    (see :mod:`bizos.ai.providers.answerer`)."""
    found = answerer.answer(question, sources)
    return [Passage(source, (said,)) for source, said in answerer.cited_text(found)]


def draft_reply(
    message: str,
    sources: Sequence[Source],
    *,
    customer_name: str | None = None,
    signature: str | None = None,
    subject: str = "",
) -> str:
    """A customer reply that answers each of the message's questions from what the
    sources say, names where it comes from, and says plainly that a person will follow
    up on what they say nothing about."""
    first_name = (customer_name or "").strip().split(" ")[0]
    greeting = f"Hi {first_name}," if first_name else "Hello,"
    closing = f"Best regards,\n{signature.strip() if signature else 'The support team'}"
    found = answerer.answer(message, sources, subject=subject)
    if not found.answered:
        return f"{greeting}\n\n{NOT_COVERED_DRAFT}\n\n{closing}"
    blocks = ["Thank you for your message."]
    for part in found.parts:
        said = " ".join(s.text for s in part.sentences)
        labels = list(dict.fromkeys(_source_label(found.quoted[s.passage]) for s in part.sentences))
        blocks.append(f"{said} ({'; '.join(labels)})")
    if found.unanswered:
        asked = "; ".join(f"“{q.text.rstrip('?')}?”" for q in found.unanswered)
        blocks.append(
            f"About {asked}: I could not find that in our documentation, so rather than "
            "guess I have asked a colleague to follow up on it."
        )
    blocks.append("If anything is still unclear, just reply to this email and we will help.")
    return f"{greeting}\n\n" + "\n\n".join(blocks) + f"\n\n{closing}"


def answer_question(question: str, sources: Sequence[Source]) -> str:
    """An answer quoting the sources that address ``question``, or an honest 'not covered'."""
    found = answerer.answer(question, sources)
    return answerer.written_answer(found, not_covered=NOT_COVERED_ANSWER)


def _source_label(source: Source) -> str:
    if source.kind == "ticket":
        return f"as we answered in a similar earlier ticket, “{source.title}”"
    title = answerer.display_title(source.title)
    return f"from “{title}”" if title else "from our documentation"


# --- helpers ----------------------------------------------------------------------------


def _passages_of(request: CompletionRequest) -> list[tuple[str, str]]:
    passages: list[tuple[str, str]] = []
    text = request.inputs.get("text", "")
    if text.strip():
        passages.append((request.inputs.get("title", ""), text))
    passages.extend((s.title, s.text) for s in request.sources)
    if not passages and _last_user_text(request).strip():
        passages.append(("", _last_user_text(request)))
    return passages


def _plain_text(request: CompletionRequest) -> str:
    text = request.inputs.get("text", "")
    if text.strip():
        return text
    if request.sources:
        return "\n\n".join(s.text for s in request.sources)
    return _last_user_text(request)


def _last_user_text(request: CompletionRequest) -> str:
    return next((m.content for m in reversed(request.messages) if m.role == "user"), "")


def _prompt_tokens(request: CompletionRequest) -> int:
    if request.messages:
        return estimate_message_tokens(request.messages)
    return sum(estimate_tokens(v) for v in request.inputs.values()) + sum(
        estimate_tokens(s.text) for s in request.sources
    )


def _extractor(module_name: str, function: str) -> Callable[[str], str]:
    """The offline extractor another part of ``bizos.ai.extract`` provides, imported on
    first use so the provider loads even while an extractor is being written."""
    module = importlib.import_module(module_name)
    found: Callable[[str], str] | None = getattr(module, function, None)
    if found is None:
        raise ProviderError(
            f"local provider: {module_name}.{function} is missing",
            provider="local",
            retryable=False,
        )
    return found
