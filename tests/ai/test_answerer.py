"""The extractive answerer behind the local provider's drafts and KB answers: it reads a
customer's mail for its questions, answers each from the sentences of its sources that
say so ("within 45 days"), names where each answer comes from, and declines only what
nothing in the sources answers. Summaries cover every section of a document."""

from __future__ import annotations

from bizos.ai.providers import answerer
from bizos.ai.providers.extractive import split_sentences
from bizos.ai.providers.local import NOT_COVERED_DRAFT, LocalProvider, draft_reply, summarize
from bizos.ai.types import ChatMessage, CompletionRequest, Source

RETURNS = Source(
    title="Returns policy",
    document_id="doc_returns",
    chunk_id="chk_1",
    text=(
        "We want you to love what you bought.\n\n"
        "Returns\n\n"
        "You can return any unused item in its original packaging within 45 days of "
        "delivery. Opened software cannot be returned.\n\n"
        "Refunds\n\n"
        "Once your return reaches our warehouse we refund the original payment method "
        "within 7 business days."
    ),
)
SHIPPING = Source(
    title="Shipping",
    document_id="doc_shipping",
    chunk_id="chk_2",
    text=(
        "Destination | Cost | Typical time\n\n"
        "Germany | EUR 4.90 | 1-2 business days\n\n"
        "EU | EUR 9.90 | 3-5 business days\n\n"
        "Orders placed before noon ship the same day."
    ),
)

HANDBOOK = """Staff handbook

Working hours

The office is open from 8:00 to 18:00. Core hours are 10:00 to 15:00, and everyone is
expected to be reachable then. Flexible time outside core hours is recorded in the
time sheet every Friday.

Holidays

Full-time staff get 28 days of paid holiday a year. Holiday requests go to your manager
at least two weeks ahead. Unused holiday carries over until the end of March.

Expenses

Travel and meals on business trips are reimbursed against receipts. Claims are filed in
the expense tool within 30 days. Managers approve claims every Monday.

Equipment

Every employee gets a laptop and a headset. Lost or broken equipment is reported to IT
the same day. Personal software needs IT's approval before it is installed.
"""


def test_a_customer_asking_two_things_gets_both_answered_from_the_policy() -> None:
    mail = "Hi,\n\ncan I return it and how long does a refund take?\n\nThanks,\nMia Jones"

    reply = draft_reply(mail, [RETURNS, SHIPPING], customer_name="Mia Jones")

    assert reply.startswith("Hi Mia,")
    assert "within 45 days of delivery" in reply
    assert "within 7 business days" in reply
    assert "(from “Returns policy”)" in reply
    assert NOT_COVERED_DRAFT not in reply
    assert "EUR 9.90" not in reply  # shipping answers neither question


def test_the_mail_is_read_for_its_questions_not_its_greeting_or_sign_off() -> None:
    mail = (
        "Hello Support Team,\n\nI ordered a lamp last week. Can I still return it, and how "
        "long does delivery to the EU take?\n\nBest regards,\nOliver Refund\n\n"
        "On Mon, 3 Nov 2025, Shop <shop@example.com> wrote:\n> Your order has shipped"
    )

    asked = answerer.questions_of(mail)

    assert [q.text for q in asked] == [
        "Can I still return it",
        "how long does delivery to the EU take?",
    ]
    assert [q.kind for q in asked] == ["yesno", "duration"]
    assert all("oliver" not in q.words and "ship" not in q.words for q in asked)


def test_a_table_row_answers_with_its_column_names() -> None:
    found = answerer.answer("How much is shipping to the EU and how long does it take?", [SHIPPING])

    [(source, said)] = answerer.cited_text(found)
    assert source is SHIPPING
    assert said == "EU — Cost: EUR 9.90; Typical time: 3-5 business days."


def test_a_question_the_sources_say_nothing_about_is_declined() -> None:
    found = answerer.answer("Do you sell gift cards?", [RETURNS, SHIPPING])

    assert not found.answered and found.sources == ()
    reply = draft_reply("Do you sell gift cards?", [RETURNS, SHIPPING], customer_name="Ana")
    assert NOT_COVERED_DRAFT in reply
    assert "45 days" not in reply


def test_what_only_part_of_a_mail_asks_about_is_passed_to_a_person() -> None:
    mail = "How long do refunds take? Also, do you sell gift cards?"

    reply = draft_reply(mail, [RETURNS], customer_name="Ana")

    assert "within 7 business days" in reply
    assert "“do you sell gift cards?”" in reply and "follow up" in reply


def test_bare_line_headings_head_their_sentences() -> None:
    sentences = split_sentences(RETURNS.text)

    assert "Returns" not in [s.text for s in sentences]
    refund = next(s for s in sentences if "7 business days" in s.text)
    assert refund.heading == "Refunds"


async def test_the_answer_task_quotes_and_names_its_sources() -> None:
    request = CompletionRequest(
        task="answer",
        messages=(ChatMessage("user", "How long does a refund take?"),),
        sources=(RETURNS, SHIPPING),
    )
    completion = await LocalProvider().complete(request)
    assert completion.text == (
        "According to “Returns policy”: Once your return reaches our warehouse "
        "we refund the original payment method within 7 business days."
    )


def test_a_summary_of_a_four_section_handbook_covers_every_section() -> None:
    summary = summarize([("Staff handbook", HANDBOOK)])

    sections = HANDBOOK.strip().split("\n\n")[2::2]  # the bodies under the four headings
    assert len(sections) == 4
    for body in sections:
        said = [s.text for s in split_sentences(body)]
        assert any(s in summary for s in said), body
    for heading in ("Working hours", "Holidays", "Expenses", "Equipment"):
        assert not summary.startswith(heading)


def test_a_summary_leaves_table_rows_out() -> None:
    summary = summarize([("Shipping", SHIPPING.text)])
    assert summary == "Orders placed before noon ship the same day."
