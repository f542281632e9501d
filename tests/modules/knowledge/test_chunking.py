"""Reading uploads and cutting them into chunks: structure kept, junk dropped, overlap."""

from __future__ import annotations

import itertools

import pytest

from bizos.core.errors import Unprocessable
from bizos.modules.knowledge.documents.chunking import Chunk, chunk_document, lay_out
from bizos.modules.knowledge.documents.parsing import (
    HTML,
    MARKDOWN,
    PDF,
    PLAIN,
    Section,
    UnsupportedMediaType,
    parse_html,
    parse_markdown,
    parse_pdf,
    resolve_content_type,
)
from tests.modules.knowledge.kb_factories import NAV_JUNK_HTML, RETURNS_MD, make_pdf


def _chunks(sections: list[Section], **kw: int) -> tuple[str, list[Chunk]]:
    layout = lay_out(sections)
    return layout.text, chunk_document(layout, **kw)


def test_markdown_nested_headings_become_heading_paths() -> None:
    parsed = parse_markdown(RETURNS_MD)
    headings = [s.heading for s in parsed.sections]
    assert headings == [
        ("Customer handbook",),
        ("Customer handbook", "Returns"),
        ("Customer handbook", "Returns", "Refunds"),
        ("Customer handbook", "Returns", "Exchanges"),
        ("Customer handbook", "Shipping"),
        ("Opening hours",),  # a new h1 resets the path
    ]
    assert parsed.title == "Customer handbook"
    refunds = parsed.sections[2].text
    assert refunds.startswith("We refund the purchase price")
    assert "#" not in refunds

    _, chunks = _chunks(parsed.sections)
    by_heading = {c.heading: c.text for c in chunks}
    assert "5 business days" in by_heading["Customer handbook > Returns > Refunds"]
    assert "Leeds" in by_heading["Customer handbook > Shipping"]
    assert "Leeds" not in by_heading["Customer handbook > Returns > Exchanges"]


def test_markdown_markup_is_read_as_text() -> None:
    md = (
        "# Prices\n\nOur **basic** plan costs `$9`. See [the table](http://x).\n\n"
        "- monthly\n- yearly\n  - with discount\n\n| Plan | Price |\n|---|---|\n| Pro | 29 |\n\n"
        "```\nGET /prices\n```\n"
    )
    [section] = parse_markdown(md).sections
    assert "Our basic plan costs $9. See the table." in section.text
    assert "- monthly\n- yearly\n  - with discount" in section.text
    assert "Pro | 29" in section.text
    assert "GET /prices" in section.text
    assert "**" not in section.text and "](" not in section.text


def test_html_keeps_the_article_and_drops_navigation_cookies_and_footer() -> None:
    parsed = parse_html(NAV_JUNK_HTML)
    text = "\n".join(s.text for s in parsed.sections)
    assert parsed.title == "Warranty terms"
    assert "two year warranty" in text
    assert "- Photograph the defect.\n- Email the photo with your order number." in text
    for junk in ("Shop everything", "cookies", "Copyright", "bestselling", "console.log",
                 "tracking", "font-family", "Legal / Warranty"):  # fmt: skip
        assert junk not in text, junk
    assert [s.heading for s in parsed.sections] == [
        ("Warranty terms",),
        ("Warranty terms", "How to claim"),
        ("Warranty terms", "How to claim", "Claims outside the EU"),
    ]


def test_html_without_main_uses_the_body_and_survives_deep_nesting() -> None:
    deep = b"<div>" * 5000 + b"<p>buried treasure</p>" + b"</div>" * 5000
    page = b"<html><body><h2>Deep</h2>" + deep + b"</body></html>"
    [section] = parse_html(page).sections
    assert section.heading == ("Deep",)
    assert section.text == "buried treasure"


def test_a_pdf_is_read_page_by_page() -> None:
    data = make_pdf(
        ["The lease starts on 1 March 2025.", "", "Either party may terminate with notice."],
        title="Office lease",
    )
    parsed = parse_pdf(data)
    assert parsed.page_count == 3
    assert parsed.title == "Office lease"
    assert [s.page for s in parsed.sections] == [1, 3]  # the blank page has no text
    assert "terminate with notice" in parsed.sections[1].text
    _, chunks = _chunks(parsed.sections)
    assert [c.page for c in chunks] == [1, 3]


def test_an_encrypted_pdf_is_a_clear_422() -> None:
    with pytest.raises(Unprocessable) as caught:
        parse_pdf(make_pdf(["secret terms"], user_password="hunter2"))
    assert "encrypted" in caught.value.detail


def test_a_pdf_with_only_an_owner_password_opens() -> None:
    # Encrypted, but with an empty user password: every reader opens it without asking.
    parsed = parse_pdf(make_pdf(["open to all readers"], user_password=""))
    assert "open to all readers" in parsed.sections[0].text


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.7\n garbage that is no pdf at all", make_pdf(["x"])[:200]],
    ids=["garbage", "truncated"],
)
def test_a_damaged_pdf_is_a_clear_422(data: bytes) -> None:
    with pytest.raises(Unprocessable) as caught:
        parse_pdf(data)
    assert "PDF" in caught.value.detail


def test_the_bytes_decide_the_type() -> None:
    pdf = make_pdf(["hello"])
    assert resolve_content_type(pdf, declared="text/plain", filename="notes.txt") == PDF
    assert resolve_content_type(b"# Hi", declared=None, filename="readme.md") == MARKDOWN
    assert resolve_content_type(b"<!doctype html><p>x", declared=None, filename=None) == HTML
    assert resolve_content_type(b"just words", declared="", filename=None) == PLAIN
    assert resolve_content_type(b"# Hi", declared="text/x-markdown", filename=None) == MARKDOWN
    with pytest.raises(Unprocessable):
        resolve_content_type(b"plain words", declared="application/pdf", filename="x.pdf")
    with pytest.raises(UnsupportedMediaType):
        resolve_content_type(b"\x89PNG\r\n\x1a\n....", declared="text/plain", filename="a.txt")
    with pytest.raises(UnsupportedMediaType):
        resolve_content_type(b"abc\x00def", declared=None, filename=None)
    with pytest.raises(UnsupportedMediaType):
        resolve_content_type(b"words", declared="application/msword", filename="a.doc")


def test_chunks_are_slices_of_the_text_within_the_size_with_overlap() -> None:
    sentences = [f"Sentence number {i} talks about topic {i % 7}." for i in range(200)]
    body = "\n\n".join(" ".join(sentences[i : i + 5]) for i in range(0, 200, 5))
    text, chunks = _chunks([Section(("Guide",), body)], max_chars=400, overlap=80)
    assert len(chunks) > 10
    for chunk in chunks:
        assert text[chunk.start_offset : chunk.end_offset] == chunk.text
        assert len(chunk.text) <= 400 + 2  # plus at most the paragraph break it spans
        assert chunk.heading == "Guide"
        assert chunk.token_count > 0
    for before, after in itertools.pairwise(chunks):
        assert after.start_offset < before.end_offset  # overlapping
        assert before.end_offset - after.start_offset <= 80
        assert after.text[0].isupper()  # starts at a sentence, not mid-word
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    # Nothing is lost: the chunks cover every sentence.
    joined = " ".join(c.text for c in chunks)
    assert all(s in joined for s in sentences)


def test_chunks_never_cross_sections() -> None:
    sections = [Section(("A",), "alpha " * 30), Section(("A", "B"), "beta " * 30)]
    _, chunks = _chunks(sections, max_chars=1000, overlap=100)
    assert [(c.heading, set(c.text.split())) for c in chunks] == [
        ("A", {"alpha"}),
        ("A > B", {"beta"}),
    ]


def test_a_word_longer_than_a_chunk_is_cut_anyway() -> None:
    text, chunks = _chunks([Section((), "x" * 2500)], max_chars=1000, overlap=100)
    assert all(len(c.text) <= 1000 for c in chunks)
    assert chunks[0].start_offset == 0 and chunks[-1].end_offset == len(text)


def test_overlap_must_stay_below_half_a_chunk() -> None:
    with pytest.raises(ValueError, match="overlap"):
        _chunks([Section((), "text")], max_chars=100, overlap=60)
