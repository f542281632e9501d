"""Map-reduce summaries at the service: how chunks are grouped, how partial summaries
are reduced (in rounds when they are many), how progress rises, and which chunks a
summary is said to rest on."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest

from bizos.ai import gateway
from bizos.core.context import Context
from bizos.modules.knowledge.summaries import service as summaries
from bizos.modules.knowledge.summaries.service import (
    ChunkText,
    DocumentText,
    excerpt,
    group_chunks,
    group_texts,
    sources_of,
)


def chunk(ordinal: int, text: str, tokens: int = 100, start: int = 0, end: int = 0) -> ChunkText:
    return ChunkText(f"c{ordinal}", ordinal, None, None, text, start, end, tokens)


def test_chunks_are_grouped_in_order_within_the_budget() -> None:
    chunks = [chunk(i, f"part {i}", tokens) for i, tokens in enumerate([500, 700, 900, 3000, 10])]
    groups = group_chunks(chunks, budget=1500)
    assert [[c.ordinal for c in g] for g in groups] == [[0, 1], [2], [3], [4]]


def test_a_group_reads_the_documents_own_span_so_overlaps_are_read_once() -> None:
    text = "Alpha beta gamma. Delta epsilon zeta. Eta theta iota."
    document = DocumentText("d", "T", text, ())
    first = chunk(0, "Alpha beta gamma. Delta epsilon", start=0, end=31)
    second = chunk(1, "Delta epsilon zeta. Eta theta iota.", start=18, end=len(text))
    assert summaries.group_text(document, [first, second]) == text


def test_partial_summaries_reduce_in_groups_of_at_least_two() -> None:
    groups = group_texts(["word " * 900] * 5, budget=2000)
    assert all(len(g) >= 2 for g in groups)
    assert sum(len(g) for g in groups) == 5 and len(groups) < 5


def test_sources_are_the_chunks_the_summary_sentences_come_from() -> None:
    chunks = [
        chunk(0, "Refunds are paid within five business days to the original card."),
        chunk(1, "Our warehouse is in Leeds and ships parcels every afternoon."),
        chunk(2, "Gift cards are never refundable, whatever the reason."),
    ]
    summary = "Gift cards are never refundable. Refunds are paid within five business days."
    assert [c.ordinal for c, _ in sources_of(summary, chunks)] == [0, 2]
    # A summary that quotes nothing rests on everything it was made from.
    assert [c.ordinal for c, _ in sources_of("Lorem ipsum dolor sit amet.", chunks)] == [0, 1, 2]


def test_an_excerpt_is_cut_around_the_sentence_it_supports() -> None:
    text = " ".join(f"Filler sentence number {i}." for i in range(60)) + " The key fact is here."
    cut = excerpt(text, ["The key fact is here."], limit=120)
    assert "The key fact is here." in cut and cut.startswith("…") and len(cut) <= 121


class ScriptedGateway:
    """Stands in for the gateway: long answers, so reduction needs several rounds."""

    def __init__(self) -> None:
        self.templates: list[str] = []
        self.ids = itertools.count(1)

    async def generate(self, ctx: Context, **kwargs: Any) -> gateway.AiResult:
        self.templates.append(kwargs["template"])
        n = next(self.ids)
        return gateway.AiResult(
            text=f"Partial {n} says the policy matters. " + "More detail here. " * 300,
            call_id=f"call-{n}",
            provider="local",
            model="bizos-local-1",
            template=kwargs["template"],
            template_version="1",
            prompt_tokens=10,
            completion_tokens=5,
            cost=Decimal(0),
        )


async def test_many_parts_reduce_in_rounds_with_rising_progress(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = ScriptedGateway()
    monkeypatch.setattr(summaries.gateway, "generate", fake.generate)
    stored: list[dict[str, Any]] = []

    async def keep(
        ctx: Context,
        document: DocumentText,
        query: Any,
        summary: str,
        sources: Any,
        provenance: Any,
    ) -> Any:
        stored.append({"summary": summary, "provenance": provenance})
        return provenance

    monkeypatch.setattr(summaries, "_store", keep)
    chunks = tuple(
        chunk(i, f"Section {i} of the policy explains rule {i}.", 1800) for i in range(9)
    )
    document = DocumentText("doc-1", "Policy", "", chunks)
    seen: list[int] = []

    async def progress(percent: int) -> None:
        seen.append(percent)

    ctx = Context(tenant_id="t-1", actor_type="system")
    await summaries.summarize(ctx, document, on_progress=progress)

    maps = fake.templates.count("kb.summarize.map")
    reduces = fake.templates.count("kb.summarize.reduce")
    assert maps == 9
    assert reduces >= 3  # 9 long partials cannot be combined in one call, nor in two
    assert fake.templates[-1] == "kb.summarize.reduce"
    assert seen == sorted(set(seen)) and seen[-1] <= 99  # 100 is the caller's, once stored
    provenance = stored[0]["provenance"]
    assert provenance.calls == maps + reduces
    assert provenance.prompt_tokens == 10 * (maps + reduces)
    assert provenance.call_ids == [f"call-{i}" for i in range(1, maps + reduces + 1)]
