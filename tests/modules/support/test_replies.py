"""How a reply is addressed and threaded: the subject carries the ticket number once,
without piling up ``Re:``; References keep the customer's chain, then the rest of the
conversation, first and latest ids when it grows long."""

from __future__ import annotations

import pytest

from bizos.modules.support.drafts.replies import MAX_REFERENCES, reply_subject, thread_references
from bizos.modules.support.tickets.models import TicketMessage


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Where is my order?", "Re: Where is my order? [T-000042]"),
        ("Re: Where is my order?", "Re: Where is my order? [T-000042]"),
        ("RE: Fwd: re[2]: Where is my order?", "Re: Where is my order? [T-000042]"),
        ("Re: Where is my order? [T-000042]", "Re: Where is my order? [T-000042]"),
        ("AW:  Lieferung \t fehlt", "Re: Lieferung fehlt [T-000042]"),
        ("", "Re: Your request [T-000042]"),
        ("Re:", "Re: Your request [T-000042]"),
    ],
)
def test_the_reply_subject_names_the_ticket_once(subject: str, expected: str) -> None:
    assert reply_subject(subject, "T-000042") == expected


def message(header: str | None, references: list[str] | None = None) -> TicketMessage:
    return TicketMessage(
        direction="inbound", body="", header_message_id=header, references=references or []
    )


def test_references_follow_the_customers_chain_then_the_conversation() -> None:
    ours = message("<reply-1@acme.example>")
    parent = message("<q2@mail.example>", ["<q1@mail.example>", "<reply-1@acme.example>"])
    first = message("<q1@mail.example>")
    elsewhere = message("<cc@mail.example>")

    refs = thread_references([first, ours, elsewhere, parent], parent)

    assert refs == [
        "<q1@mail.example>",
        "<reply-1@acme.example>",
        "<q2@mail.example>",
        "<cc@mail.example>",
    ]


def test_a_long_thread_keeps_its_first_and_latest_references() -> None:
    chain = [f"<m{i}@mail.example>" for i in range(40)]
    parent = message("<m40@mail.example>", chain)

    refs = thread_references([parent], parent)

    assert len(refs) == MAX_REFERENCES
    assert refs[0] == "<m0@mail.example>"
    assert refs[-1] == "<m40@mail.example>"
    assert refs[1:] == [f"<m{i}@mail.example>" for i in range(22, 41)]


def test_header_injection_never_reaches_the_references() -> None:
    parent = message("<q@mail.example>", ["<a@x>\r\nBcc: victim@example.com", "  "])

    assert thread_references([parent], parent) == ["<q@mail.example>"]


def test_a_ticket_without_customer_mail_has_no_thread() -> None:
    assert thread_references([], None) == []
