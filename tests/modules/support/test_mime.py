"""MIME parsing: real-world mail (odd and mislabelled charsets, HTML-only bodies,
nested multiparts, attachments, encoded headers, robots) comes out as readable text."""

from __future__ import annotations

import datetime as dt

import pytest

from bizos.modules.support.inbound import mime
from bizos.modules.support.inbound.mime import (
    UnparseableEmail,
    decode_text,
    html_to_text,
    parse_message,
    trim_quoted,
)
from tests.modules.support.test_inbound_helpers import build_email, fixture


def test_quoted_printable_utf8_with_encoded_headers() -> None:
    m = parse_message(fixture("plain_utf8.eml"))
    assert m.sender is not None
    assert (m.sender.email, m.sender.name) == ("maria.gonzalez@example.com", "María González")
    assert m.subject == "Where is my order \u2013 #1042?"
    assert m.message_id == "<CAF7h2+plain-0001@mail.example.com>"
    assert "it still hasn\u2019t shipped" in m.text and m.text.endswith("Gracias,\nMaría")
    assert "\r" not in m.text
    assert m.date == dt.datetime(2026, 3, 3, 8, 15, tzinfo=dt.UTC)
    assert [a.email for a in m.to] == ["support@acme.example"]
    assert not m.auto_reply and m.attachments == []


def test_alternative_base64_prefers_the_plain_part_and_keeps_the_html() -> None:
    m = parse_message(fixture("alternative_base64.eml"))
    assert m.text == "Your refund of 49,90 € was not received.\n\nKind regards,\nJürgen Müller"
    assert m.html is not None and "<b>49,90 €</b>" in m.html
    assert m.subject == "Refund nicht erhalten"
    assert m.sender is not None and m.sender.name == "Jürgen Müller"  # iso-8859-1 word


def test_an_html_only_body_becomes_text_without_markup_or_scripts() -> None:
    m = parse_message(fixture("html_only.eml"))
    assert m.text == (
        "Hi team,\n\nThe grinder arrived broken.\nPhotos attached.\n\n"
        "- Box dented\n- Burr cracked\n\nThanks & regards,\nTom"
    )
    assert "alert" not in m.text and "color" not in m.text


def test_iso_2022_jp_body_and_headers() -> None:
    m = parse_message(fixture("iso2022jp.eml"))
    assert m.subject == "注文について"
    assert m.sender is not None and m.sender.name == "山田太郎"
    assert m.text == "こんにちは。注文が届いていません。"


def test_windows_1252_labelled_as_latin_1_keeps_its_quotes_and_euro_signs() -> None:
    m = parse_message(fixture("mislabelled_cp1252.eml"))
    expected = "Bonjour, la facture indique “120 €” au lieu de 100 € \u2013 merci de corriger."
    assert m.text == expected


def test_an_unknown_charset_name_falls_back_without_losing_the_text() -> None:
    m = parse_message(fixture("unknown_charset.eml"))
    assert m.text == "Não recebi a encomenda. Obrigada!"
    assert m.subject  # an encoded word in an unknown charset still gives a subject


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        ("naïve café".encode(), "us-ascii", "naïve café"),  # UTF-8 labelled ASCII
        ("café".encode("latin-1"), None, "café"),  # unlabelled Latin-1
        (b"\x93quoted\x94", "iso-8859-1", "“quoted”"),
        ("ｶﾀｶﾅ".encode("cp932"), "shift_jis", "ｶﾀｶﾅ"),
        ("①".encode("cp932"), "shift_jis", "①"),  # a vendor character
        ("中文".encode("gb18030"), "gb2312", "中文"),
        ("hé".encode(), "x-nonsense", "hé"),
        (b"a\x00b\xff", "utf-8", "ab\ufffd"),  # NUL dropped, broken byte replaced
        ("\ufeffbom".encode(), "utf-8", "bom"),
    ],
)
def test_decode_text_never_fails(data: bytes, charset: str | None, expected: str) -> None:
    assert decode_text(data, charset) == expected


def test_mixed_message_keeps_attachments_with_decoded_names_and_no_paths() -> None:
    m = parse_message(fixture("mixed_attachments.eml"))
    assert m.text == "I'd like to return the grinder. Photo and receipt attached."
    assert m.html is not None and "cid:photo1@x" in m.html
    names = {a.filename: a for a in m.attachments}
    assert set(names) == {"photo.png", "reçu №99.pdf", "Original receipt.eml", "evil.exe"}
    photo = names["photo.png"]
    assert photo.inline and photo.content_id == "<photo1@x>" and photo.content_type == "image/png"
    assert photo.content.startswith(b"\x89PNG")
    assert names["reçu №99.pdf"].content.startswith(b"%PDF-1.4")
    assert b"Receipt #99" in names["Original receipt.eml"].content
    assert [a.email for a in m.cc] == ["jane@example.org"]


def test_attachments_over_the_cap_are_listed_as_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mime, "MAX_ATTACHMENT_BYTES", 60)
    m = parse_message(fixture("mixed_attachments.eml"))
    kept = {a.filename for a in m.attachments}
    skipped = {s.filename: s for s in m.skipped}
    assert "Original receipt.eml" in skipped and "photo.png" in skipped
    assert skipped["photo.png"].size == 70 and "limit" in skipped["photo.png"].reason
    assert kept == {"reçu №99.pdf", "evil.exe"}


def test_a_reply_has_its_thread_ids_and_its_quoted_history_trimmed() -> None:
    m = parse_message(fixture("reply_quoted.eml"))
    assert m.in_reply_to == "<CAF7h2+plain-0001@mail.example.com>"
    assert m.thread_ids == ["<CAF7h2+plain-0001@mail.example.com>"]
    assert m.reply_text == "Thanks, but it is still not here."
    assert "> I ordered a pour-over kettle" in m.text  # the whole body is kept too


def test_thread_ids_put_in_reply_to_first_then_references_newest_first() -> None:
    raw = build_email(
        in_reply_to="<c@x>", references=["<a@x>", "<b@x>", "<c@x>"], message_id="<d@x>"
    )
    assert parse_message(raw).thread_ids == ["<c@x>", "<b@x>", "<a@x>"]
    bare = build_email(headers={"X-Dummy": "1"}).replace(
        b"Subject:", b"In-Reply-To: bare-id@host.example\r\nSubject:"
    )
    assert parse_message(bare).in_reply_to == "<bare-id@host.example>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thanks!\n\n-----Original Message-----\nFrom: us\nold", "Thanks!"),
        ("Merci\n\nLe mar. 3 mars 2026 à 09:15, Support a écrit :\n> x", "Merci"),
        ("Danke\n\nAm 03.03.2026 um 09:15 schrieb Support <s@x.de>:\n> x", "Danke"),
        (
            "See below\n\n________________________________\nFrom: Support\nSent: Monday\n"
            "To: me\nSubject: Re: x\n\nold text",
            "See below",
        ),
        ("Only new text\n> stray quote at the end\n>", "Only new text"),
        ("> everything quoted\n> nothing new", "> everything quoted\n> nothing new"),
        (
            "From: the start of a sentence, not a header",
            "From: the start of a sentence, not a header",
        ),
    ],
)
def test_trim_quoted(text: str, expected: str) -> None:
    assert trim_quoted(text) == expected


def test_html_to_text_keeps_preformatted_text_and_table_cells_apart() -> None:
    text = html_to_text("<pre>a  b\n  c</pre><table><tr><td>x</td><td>y</td></tr></table>")
    assert "a  b\n  c" in text and "x y" in text


@pytest.mark.parametrize(
    ("name", "reason"),
    [("auto_reply_ooo.eml", "Auto-Submitted: auto-replied"), ("bounce.eml", "Auto-Submitted")],
)
def test_automatic_messages_are_flagged(name: str, reason: str) -> None:
    m = parse_message(fixture(name))
    assert m.auto_reply and m.auto_reason is not None and m.auto_reason.startswith(reason)


@pytest.mark.parametrize(
    ("headers", "sender"),
    [
        ({"X-Autoreply": "yes"}, "a@example.com"),
        ({"Precedence": "bulk"}, "a@example.com"),
        ({"Return-Path": "<>"}, "a@example.com"),
        ({}, "MAILER-DAEMON@mx.example.com"),
        ({"Auto-Submitted": "auto-generated"}, "a@example.com"),
    ],
)
def test_robot_markers(headers: dict[str, str], sender: str) -> None:
    assert parse_message(build_email(sender=sender, headers=headers)).auto_reply


def test_auto_submitted_no_and_a_normal_subject_are_a_person() -> None:
    raw = build_email(headers={"Auto-Submitted": "no"}, subject="Re: automatic billing question")
    assert not parse_message(raw).auto_reply


@pytest.mark.parametrize(
    "raw", [b"", b"  \r\n", fixture("not_an_email.eml"), b"Subject: hi\r\n\r\nno sender\r\n"]
)
def test_bytes_without_a_sender_are_unparseable(raw: bytes) -> None:
    with pytest.raises(UnparseableEmail):
        parse_message(raw)


def test_binary_junk_in_headers_and_body_still_parses_to_clean_text() -> None:
    raw = (
        b"From: x@example.com\r\nSubject: caf\xe9 \x00ok\r\nMessage-ID: <j@x>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nbody \xff\xfe \x00end\r\n"
    )
    m = parse_message(raw)
    assert m.subject == "café ok"
    assert "\x00" not in m.text and m.text.endswith("end")
