"""Text out of uploads: plain text, Markdown, HTML and PDF.

An upload becomes a list of :class:`Section`: a run of body text under a heading path
(Markdown and HTML headings, outermost first) or on a PDF page. Chunking cuts along
these sections, so a chunk never straddles two headings and always knows where it is.

The type is decided from the bytes, not only from what the caller claims
(:func:`resolve_content_type`): a PDF is recognised by its header whatever it is called,
a file claiming to be a PDF that is not one is a 422, and binary content (images,
archives, anything with NUL bytes) is refused with 415 rather than indexed as noise.
HTML loses its scripts, styles and page furniture (navigation, banners, footers, cookie
notices) before its text is read.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import structlog
from bs4 import BeautifulSoup
from bs4.element import (
    Comment,
    Declaration,
    Doctype,
    NavigableString,
    ProcessingInstruction,
    Tag,
)
from markdown_it import MarkdownIt
from markdown_it.token import Token
from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

from bizos.core.errors import ProblemError, Unprocessable, field_error

PLAIN = "text/plain"
MARKDOWN = "text/markdown"
HTML = "text/html"
PDF = "application/pdf"
CONTENT_TYPES = (PLAIN, MARKDOWN, HTML, PDF)
MAX_PDF_PAGES = 2000

_ALIASES = {
    "text/x-markdown": MARKDOWN,
    "text/md": MARKDOWN,
    "application/markdown": MARKDOWN,
    "application/xhtml+xml": HTML,
    "application/x-pdf": PDF,
    "text/txt": PLAIN,
}
_UNKNOWN = ("", "application/octet-stream", "binary/octet-stream")
_EXTENSIONS = {
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".mdown": MARKDOWN,
    ".html": HTML,
    ".htm": HTML,
    ".xhtml": HTML,
    ".txt": PLAIN,
    ".text": PLAIN,
    ".pdf": PDF,
}
# Binary formats people upload by mistake; named so the refusal can say what it saw.
_BINARY_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\xd0\xcf\x11\xe0", "an old Office document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"RIFF", "a RIFF media file"),
    (b"\x7fELF", "an executable"),
)
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)
# Control characters other than tab and newline: dropped (PostgreSQL text holds no NUL).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

log = structlog.get_logger("bizos.knowledge.parsing")


class UnsupportedMediaType(ProblemError, status=415, title="Unsupported media type"): ...


@dataclass(frozen=True, slots=True)
class Section:
    """Body text under one heading path (outermost first), or on one PDF page."""

    heading: tuple[str, ...]
    text: str
    page: int | None = None


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    content_type: str
    sections: list[Section]
    title: str | None = None  # what the file calls itself: <title>, first heading, PDF info
    page_count: int | None = None


def _unsupported(what: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"{what} cannot be indexed; upload text, Markdown, HTML or PDF",
        errors=[field_error(["body", "file"], "unsupported content type")],
    )


def normalize_content_type(value: str | None) -> str:
    media = (value or "").split(";", 1)[0].strip().lower()
    return _ALIASES.get(media, media)


def resolve_content_type(data: bytes, *, declared: str | None, filename: str | None) -> str:
    """The type ``data`` really is, among :data:`CONTENT_TYPES`.

    The bytes win over the claim: a PDF header makes a PDF; a claimed PDF without one is
    a 422; images, archives and other binary content are a 415.
    """
    claimed = normalize_content_type(declared)
    head = data[:8192]
    if b"%PDF-" in data[:1024]:
        return PDF
    if claimed == PDF:
        raise Unprocessable(
            "the file is not a PDF (it has no PDF header)",
            errors=[field_error(["body", "file"], "not a PDF")],
        )
    for magic, what in _BINARY_MAGIC:
        if head.startswith(magic):
            raise _unsupported(what)
    if b"\x00" in head:
        raise _unsupported("binary content")
    if claimed in (PLAIN, MARKDOWN, HTML):
        return claimed
    if claimed not in _UNKNOWN and not claimed.startswith("text/"):
        raise _unsupported(f"content of type {claimed}")
    by_name = _EXTENSIONS.get(PurePath(filename).suffix.lower()) if filename else None
    if by_name is not None and by_name != PDF:
        return by_name
    if _HTML_START.match(head):
        return HTML
    return PLAIN


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without a BOM, or UTF-16 with one), else Windows-1252."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def clean_text(text: str) -> str:
    """NFC, ``\\n`` line ends, no control characters, no trailing spaces on lines."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text.replace("\x0c", "\n"))
    return re.sub(r"[ \t]+\n", "\n", text)


def parse_document(content: bytes | str, content_type: str) -> ParsedDocument:
    """Sections of ``content`` read as ``content_type`` (already resolved)."""
    if content_type == PDF:
        if isinstance(content, str):
            raise Unprocessable(
                "a PDF must be uploaded as a file",
                errors=[field_error(["body", "content_type"], "PDF needs a file upload")],
            )
        return parse_pdf(content)
    if content_type == HTML:
        return parse_html(content)
    text = content if isinstance(content, str) else decode_text(content)
    if content_type == MARKDOWN:
        return parse_markdown(clean_text(text))
    return ParsedDocument(PLAIN, [Section((), clean_text(text).strip())])


# --- Markdown ---------------------------------------------------------------------------

_MD = MarkdownIt("commonmark").enable("table")


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)  # the alt text
    return "".join(parts).strip()


class _Outline:
    """Collects body blocks under the current heading path."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.path: list[tuple[int, str]] = []
        self.blocks: list[str] = []
        self.first_heading: str | None = None
        self.in_list = False

    def heading(self, level: int, title: str) -> None:
        self.flush()
        while self.path and self.path[-1][0] >= level:
            self.path.pop()
        title = " ".join(title.split())[:200]
        if title:
            self.path.append((level, title))
            self.first_heading = self.first_heading or title

    def block(self, text: str, *, item: bool = False) -> None:
        """A paragraph; consecutive list items (``item``) stay one block, line by line."""
        text = text.strip("\n")
        if not text.strip():
            return
        if item and self.in_list and self.blocks:
            self.blocks[-1] += "\n" + text
        else:
            self.blocks.append(text)
        self.in_list = item

    def flush(self) -> None:
        self.in_list = False
        if self.blocks:
            heading = tuple(t for _, t in self.path)
            self.sections.append(Section(heading, "\n\n".join(self.blocks)))
        self.blocks = []


def parse_markdown(text: str) -> ParsedDocument:
    outline = _Outline()
    tokens = _MD.parse(text)
    list_markers: list[str] = []
    item_prefix = ""
    row: list[str] | None = None
    skip_next_inline = False
    for index, token in enumerate(tokens):
        kind = token.type
        if kind == "heading_open":
            outline.heading(int(token.tag[1:]), _inline_text(tokens[index + 1]))
            skip_next_inline = True
        elif kind == "inline":
            if skip_next_inline:
                skip_next_inline = False
            elif row is not None:
                row.append(_inline_text(token))
            else:
                indent = "  " * max(0, len(list_markers) - 1)
                line = _inline_text(token)
                outline.block(
                    f"{indent}{item_prefix}{line}" if item_prefix else line, item=bool(list_markers)
                )
                item_prefix = ""
        elif kind in ("bullet_list_open", "ordered_list_open"):
            list_markers.append("- " if kind == "bullet_list_open" else "1. ")
        elif kind in ("bullet_list_close", "ordered_list_close"):
            list_markers.pop()
        elif kind == "list_item_open":
            item_prefix = list_markers[-1] if list_markers else "- "
        elif kind in ("fence", "code_block"):
            outline.block(token.content)
        elif kind == "html_block":
            outline.block(BeautifulSoup(token.content, "html.parser").get_text(" ").strip())
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close" and row is not None:
            outline.block(" | ".join(cell for cell in row))
            row = None
    outline.flush()
    return ParsedDocument(MARKDOWN, outline.sections, title=outline.first_heading)


# --- HTML -------------------------------------------------------------------------------

_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_DROP = (
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "iframe",
    "canvas",
    "nav",
    "aside",
    "form",
    "button",
    "select",
    "dialog",
    "head",
)
_JUNK_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu"}
_JUNK_NAME = re.compile(
    r"(^|[-_\s])(nav|navbar|menu|breadcrumbs?|cookie|consent|sidebar|skip-link|share|social)"
    r"($|[-_\s])",
    re.I,
)
_BLOCKS = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "ul",
    "ol",
    "li",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "blockquote",
    "dl",
    "dt",
    "dd",
    "figure",
    "figcaption",
    "address",
    "details",
    "summary",
    "hr",
    "caption",
}


def _is_junk(tag: Tag) -> bool:
    if tag.name in _DROP:
        return True
    attrs = tag.attrs or {}
    if "hidden" in attrs or str(attrs.get("aria-hidden", "")).lower() == "true":
        return True
    if str(attrs.get("role", "")).lower() in _JUNK_ROLES:
        return True
    names = " ".join([*(attrs.get("class") or []), str(attrs.get("id") or "")])
    if _JUNK_NAME.search(names):
        return True
    # A page footer, or a site header holding the navigation; an article's own header
    # (its title) stays.
    if tag.name == "footer":
        return tag.find_parent(["article", "main"]) is None
    if tag.name == "header":
        outside = tag.find_parent(["article", "main"]) is None
        return tag.find("nav") is not None or (outside and tag.find(list(_HEADINGS)) is None)
    return False


def _walk(root: Tag) -> Iterator[tuple[str, Any]]:
    """Events in document order without recursion (deeply nested HTML is legal)."""
    stack: list[tuple[bool, Any]] = [(False, root)]
    while stack:
        leaving, node = stack.pop()
        if leaving:
            yield "leave", node
            continue
        if isinstance(node, (Comment, Declaration, Doctype, ProcessingInstruction)):
            continue
        if isinstance(node, NavigableString):
            yield "text", str(node)
            continue
        if not isinstance(node, Tag):
            continue
        yield "enter", node
        if node.name in _HEADINGS or node.name == "pre":
            stack.append((True, node))
            continue  # read whole on "enter"
        stack.append((True, node))
        stack.extend((False, child) for child in reversed(node.contents))


def parse_html(content: bytes | str) -> ParsedDocument:
    soup = BeautifulSoup(content, "html.parser")
    title_tag = soup.find("title")
    page_title = " ".join(title_tag.get_text(" ").split()) if title_tag else None
    for tag in list(soup.find_all(True)):
        if not tag.decomposed and _is_junk(tag):
            tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.find("body") or soup
    assert isinstance(root, Tag)
    outline = _Outline()
    words: list[str] = []

    def end_paragraph() -> None:
        lines = [" ".join(line.split()) for line in "".join(words).split("\n")]
        text = clean_text("\n".join(line for line in lines if line))
        if text.strip() not in ("", "-"):
            outline.block(text, item=text.startswith("- "))
        words.clear()

    for kind, node in _walk(root):
        if kind == "text":
            words.append(node)
            continue
        name = node.name
        if kind == "enter":
            if name in _HEADINGS:
                end_paragraph()
                outline.heading(_HEADINGS[name], node.get_text(" "))
            elif name == "pre":
                end_paragraph()
                outline.block(clean_text(node.get_text()))
            elif name == "br":
                words.append("\n")
            elif name in _BLOCKS:
                end_paragraph()
                if name == "li":
                    words.append("- ")
            elif name in ("td", "th"):
                words.append(" ")
        elif name in _BLOCKS:
            end_paragraph()
        elif name in ("td", "th"):
            words.append(" ")
    end_paragraph()
    outline.flush()
    title = outline.first_heading if page_title is None or not page_title else page_title
    return ParsedDocument(HTML, outline.sections, title=title)


# --- PDF --------------------------------------------------------------------------------


def _pdf_error(detail: str) -> Unprocessable:
    return Unprocessable(detail, errors=[field_error(["body", "file"], detail)])


def parse_pdf(data: bytes) -> ParsedDocument:
    """One section per page with text. Encrypted (with a password), damaged or image-only
    PDFs are a 422 that says which."""
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Many PDFs are "encrypted" with an empty user password only: they open.
            try:
                opened = bool(reader.decrypt(""))
            except (DependencyError, NotImplementedError, PyPdfError):
                # pypdf raises NotImplementedError for encryption schemes it cannot
                # open, and DependencyError when AES needs the optional crypto extra.
                opened = False
            if not opened:
                raise _pdf_error("the PDF is encrypted with a password; upload an unlocked copy")
        page_count = len(reader.pages)
    except Unprocessable:
        raise
    except FileNotDecryptedError:
        raise _pdf_error("the PDF is encrypted with a password; upload an unlocked copy") from None
    except Exception as exc:  # pypdf raises many kinds on damaged files
        log.info("kb.pdf.unreadable", error=type(exc).__name__)
        raise _pdf_error("the PDF could not be read (damaged or not a PDF)") from None
    if page_count > MAX_PDF_PAGES:
        raise _pdf_error(f"the PDF has {page_count} pages; at most {MAX_PDF_PAGES} are indexed")
    pages: list[tuple[int, list[_Line]]] = []
    for number, page in enumerate(reader.pages, start=1):
        try:
            lines = _page_lines(page)
        except Exception as exc:
            log.info("kb.pdf.page_unreadable", page=number, error=type(exc).__name__)
            raise _pdf_error(f"page {number} of the PDF could not be read") from None
        pages.append((number, lines))
    sections = _pdf_sections(pages)
    if not sections:
        raise _pdf_error("the PDF holds no text to index (a scanned image?)")
    title = None
    try:
        meta = reader.metadata
        title = " ".join(str(meta.title).split()) if meta is not None and meta.title else None
    except Exception:  # a damaged info dictionary only costs the title
        title = None
    return ParsedDocument(PDF, sections, title=title or None, page_count=page_count)


# --- PDF headings -------------------------------------------------------------------------

_NUMBERED_HEADING = re.compile(r"^(?:\d+(?:\.\d+)*\.?|[IVX]+\.|[A-Z]\.)\s+[A-Z]")
_BOLD_FONT = re.compile(r"bold|black|heavy|semibold|demi", re.IGNORECASE)


@dataclass(slots=True)
class _Line:
    text: str
    size: float  # the font size most of its characters are set in
    bold: bool


def _page_lines(page: Any) -> list[_Line]:
    """The page's lines with the font each is mostly set in (pypdf's text visitor)."""
    runs: list[tuple[str, float, bool]] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        scale = abs(float(tm[3]) * float(cm[3])) if tm and cm else 1.0
        name = str(font.get("/BaseFont", "")) if font else ""
        runs.append((text, float(size or 0) * (scale or 1.0), bool(_BOLD_FONT.search(name))))

    plain_text = page.extract_text(visitor_text=visit) or ""
    lines: list[_Line] = []
    current: list[tuple[str, float, bool]] = []

    def end_line() -> None:
        text = clean_text("".join(t for t, _, _ in current)).strip()
        if text:
            weights: dict[tuple[float, bool], int] = {}
            for t, size, bold in current:
                weights[(round(size, 1), bold)] = weights.get((round(size, 1), bold), 0) + len(
                    t.strip()
                )
            size, bold = max(weights, key=lambda k: weights[k])
            lines.append(_Line(text, size, bold))
        current.clear()

    for text, size, bold in runs:
        pieces = text.split("\n")
        for i, piece in enumerate(pieces):
            if i:
                end_line()
            current.append((piece, size, bold))
    end_line()
    if not lines and plain_text.strip():  # no visitor output: plain lines, no styles
        lines = [_Line(ln.strip(), 0.0, False) for ln in clean_text(plain_text).splitlines()]
    return [ln for ln in lines if ln.text]


def _is_pdf_heading(line: _Line, body_size: float) -> bool:
    """A short line without closing punctuation, set larger or bolder than the body —
    or, where the PDF carries no font sizes, numbered ("4. Renewal") or in capitals."""
    text = line.text
    words = text.split()
    if (
        not 0 < len(words) <= 12
        or len(text) > 100
        or text[-1] in ".,;:"
        or not any(c.isalpha() for c in text)
    ):
        return False
    if body_size and line.size:
        return line.size >= body_size * 1.15 or (line.bold and line.size >= body_size * 0.95)
    return bool(_NUMBERED_HEADING.match(text)) or (text.isupper() and len(words) <= 8)


def _pdf_sections(pages: list[tuple[int, list[_Line]]]) -> list[Section]:
    """Sections under the headings the PDF's typography shows (larger or bold lines),
    one per page at least; a heading carries over to the next page."""
    chars: dict[float, int] = {}
    for _, lines in pages:
        for ln in lines:
            if not ln.bold:
                chars[ln.size] = chars.get(ln.size, 0) + len(ln.text)
    body_size = max(chars, key=lambda k: chars[k]) if chars else 0.0
    heading_sizes = sorted(
        {ln.size for _, lines in pages for ln in lines if _is_pdf_heading(ln, body_size)},
        reverse=True,
    )
    path: list[tuple[float, str]] = []  # (size, heading), outermost first
    sections: list[Section] = []
    for number, lines in pages:
        body: list[str] = []
        for line in [*lines, None]:
            if line is not None and not _is_pdf_heading(line, body_size):
                body.append(line.text)
                continue
            text = "\n".join(body).strip()
            if text:
                sections.append(Section(tuple(h for _, h in path), text, page=number))
            body = []
            if line is not None:
                level = heading_sizes.index(line.size) if line.size in heading_sizes else 0
                while path and heading_sizes.index(path[-1][0]) >= level:
                    path.pop()
                path.append((line.size, " ".join(line.text.split())))
    return sections
