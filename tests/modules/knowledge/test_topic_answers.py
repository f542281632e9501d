"""A question that names a topic and asks nothing narrower ("what's our refund policy?",
"shipping times", "do we ship internationally?") is answered with the opening sentences
of the section about it, quoted and cited; a question the passages do not answer is still
declined, naming the nearest section when one is about what it asks."""

from __future__ import annotations

import pytest

from bizos.modules.knowledge.documents.answers import answer_from
from bizos.modules.knowledge.documents.schemas import SearchHit


def hit(title: str, heading: str | None, text: str, score: float = 0.2) -> SearchHit:
    return SearchHit(
        document_id=f"doc-{title}",
        title=title,
        chunk_id=f"chunk-{title}-{heading}",
        text=text,
        score=score,
        heading=f"{title} > {heading}" if heading else title,
    )


RETURNS = [
    hit("Returns and refunds", None, "We want every bag to be the best you have had.", 0.15),
    hit(
        "Returns and refunds",
        "Refunds",
        "We check a returned item within 2 business days. Refunds go back to the original "
        "payment method within 5 business days.",
        0.14,
    ),
]
SHIPPING = [
    hit("Shipping and delivery", "When we ship", "We roast on Monday and ship that afternoon."),
    hit(
        "Shipping and delivery",
        "Costs and times",
        "| Destination | Cost | Typical time |\n| --- | --- | --- |\n"
        "| Germany | EUR 4.90 | 1-2 business days |\n| EU | EUR 9.90 | 3-5 business days |",
        0.1,
    ),
]


@pytest.mark.parametrize(
    ("question", "hits", "title", "words"),
    [
        ("What's our refund policy?", RETURNS, "Returns and refunds — Refunds", "5 business days"),
        ("refunds", RETURNS, "Returns and refunds — Refunds", "2 business days"),
        ("Tell me about refunds", RETURNS, "Returns and refunds — Refunds", "original payment"),
        ("Shipping times", SHIPPING, "Shipping and delivery — Costs and times", "EUR 9.90"),
        ("Do we ship internationally?", SHIPPING, "Shipping and delivery — Costs and times", "EU"),
        ("do you ship abroad?", SHIPPING, "Shipping and delivery — Costs and times", "Germany"),
    ],
)
def test_a_topic_is_answered_with_its_sections_opening(
    question: str, hits: list[SearchHit], title: str, words: str
) -> None:
    found = answer_from(question, hits)
    assert found.answered
    assert [s.title for s in found.sources] == [title]
    assert words in found.answer and found.answer.startswith(f"According to “{title}”")
    assert found.sources[0].excerpt and found.sources[0].excerpt in found.answer


@pytest.mark.parametrize(
    "question",
    ["Do you ship to Australia?", "How long does shipping to Japan take?", "shipping options"],
)
def test_what_the_section_does_not_say_is_declined_naming_the_nearest(question: str) -> None:
    found = answer_from(question, SHIPPING)
    assert not found.answered
    assert found.answer.startswith("The knowledge base does not answer this")
    assert "The nearest it comes is “Shipping and delivery" in found.answer


@pytest.mark.parametrize(
    "question", ["Do you sell tea?", "What is the capital of France?", "Can I pay with Bitcoin?"]
)
def test_a_question_about_nothing_the_documents_name_is_declined_plainly(question: str) -> None:
    found = answer_from(question, [*RETURNS, *SHIPPING])
    assert not found.answered and found.sources == []


PRIVACY = hit(
    "Privacy notice",
    None,
    "We keep the details you give us to deliver orders. You can ask for a copy of your data "
    "or for its deletion. We do not sell data.",
    0.08,
)
HOW_TO_RETURN = hit(
    "Returns and refunds",
    "How to return",
    "We send a prepaid return label; for change-of-mind returns the customer pays postage.",
    0.16,
)
DAMAGED = hit(
    "Shipping and delivery",
    "Damaged parcels",
    "If a customer's parcel arrives damaged, we replace it at no cost.",
    0.15,
)


def test_the_document_of_the_distinctive_word_answers_not_the_common_one() -> None:
    found = answer_from("What do we do with customer data?", [HOW_TO_RETURN, DAMAGED, PRIVACY])
    assert found.answered
    assert [s.title for s in found.sources] == ["Privacy notice"]
    assert "data" in found.answer


def test_an_answer_that_quotes_the_distinctive_word_stands() -> None:
    found = answer_from("Who pays postage for a change-of-mind return?", [HOW_TO_RETURN, PRIVACY])
    assert [s.title for s in found.sources] == ["Returns and refunds — How to return"]
