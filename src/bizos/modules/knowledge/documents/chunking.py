"""Structure-aware chunking with overlap.

The parsed sections are laid out as the document's plain text (:func:`lay_out`): each
heading on a line of its own, then the section's body. Chunks are cut from that text
(:func:`chunk_document`) and keep one invariant: ``chunk.text == text[start:end]``, so a
passage can always be shown in place.

How a section is cut: into paragraphs (blank lines), a paragraph longer than a chunk
into sentences, a sentence longer than a chunk at spaces (or, failing that, anywhere).
Those pieces are packed greedily into chunks of at most ``max_chars``. A chunk never
crosses into another section (so its heading path is exact); within a section each
chunk after the first begins up to ``overlap`` characters before the previous one ended,
at a sentence or word start, so a fact on a boundary is whole in at least one chunk.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bizos.modules.knowledge.documents.parsing import Section

MAX_CHARS = 1200
OVERLAP = 200
HEADING_SEPARATOR = " > "
MAX_HEADING_CHARS = 500

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+")
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True, slots=True)
class SectionSpan:
    heading: tuple[str, ...]
    page: int | None
    start: int  # of the body in the laid-out text
    end: int


@dataclass(frozen=True, slots=True)
class Layout:
    text: str
    spans: list[SectionSpan]


@dataclass(frozen=True, slots=True)
class Chunk:
    ordinal: int
    heading: str | None  # "Returns > Refunds"
    text: str
    start_offset: int
    end_offset: int
    page: int | None
    token_count: int


def heading_label(path: Sequence[str]) -> str | None:
    if not path:
        return None
    label = HEADING_SEPARATOR.join(path)
    return label if len(label) <= MAX_HEADING_CHARS else label[: MAX_HEADING_CHARS - 1] + "…"


def estimate_tokens(text: str) -> int:
    """Roughly what a model's tokenizer makes of ``text`` (words and punctuation)."""
    return len(_WORD.findall(text))


def lay_out(sections: Sequence[Section]) -> Layout:
    """The document's plain text: new headings on their own lines, then each body."""
    parts: list[str] = []
    spans: list[SectionSpan] = []
    length = 0
    previous: tuple[str, ...] = ()
    for section in sections:
        body = section.text.strip()
        if not body:
            continue
        # Only the headings that are new relative to the previous section are written.
        shared = 0
        while (
            shared < min(len(previous), len(section.heading))
            and previous[shared] == section.heading[shared]
        ):
            shared += 1
        lines = [*section.heading[shared:], body] if section.heading != previous else [body]
        block = "\n\n".join(lines)
        if parts:
            parts.append("\n\n")
            length += 2
        start = length + len(block) - len(body)
        parts.append(block)
        length += len(block)
        spans.append(SectionSpan(section.heading, section.page, start, length))
        previous = section.heading
    return Layout("".join(parts), spans)


_BOUNDARIES = (_PARAGRAPH_BREAK, _SENTENCE_END, re.compile(r"\s+"))


def _pieces(text: str, start: int, end: int, limit: int, level: int = 0) -> list[tuple[int, int]]:
    """``[start, end)`` split into pieces of at most ``limit`` chars at the most natural
    boundaries: paragraphs, then sentences, then spaces, then anywhere."""
    if end - start <= limit:
        return _trimmed(text, [(start, end)])
    if level == len(_BOUNDARIES):
        return _trimmed(text, [(a, min(a + limit, end)) for a in range(start, end, limit)])
    cuts = [m.end() for m in _BOUNDARIES[level].finditer(text, start, end)]
    bounds = [start, *[c for c in cuts if start < c < end], end]
    out: list[tuple[int, int]] = []
    for a, b in itertools.pairwise(bounds):
        out.extend(_pieces(text, a, b, limit, level + 1) if b - a > limit else [(a, b)])
    return _trimmed(text, out)


def _trimmed(text: str, pieces: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for a, b in pieces:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            out.append((a, b))
    return out


def _overlap_start(text: str, previous_start: int, previous_end: int, overlap: int) -> int:
    """Where the next chunk starts: the first sentence start (else word start) in the
    last ``overlap`` characters of the previous chunk."""
    window_start = max(previous_start + 1, previous_end - overlap)
    if window_start >= previous_end:
        return previous_end
    window = text[window_start:previous_end]
    sentence = _SENTENCE_END.search(window)
    if sentence is not None and sentence.end() < len(window):
        return window_start + sentence.end()
    space = re.search(r"\s+", window)
    if space is not None and space.end() < len(window):
        return window_start + space.end()
    return window_start


def chunk_document(
    layout: Layout, *, max_chars: int = MAX_CHARS, overlap: int = OVERLAP
) -> list[Chunk]:
    if not 0 <= overlap < max_chars // 2:
        raise ValueError("overlap must be under half of max_chars")
    text = layout.text
    chunks: list[Chunk] = []
    for span in layout.spans:
        pieces = _pieces(text, span.start, span.end, max_chars - overlap)
        heading = heading_label(span.heading)
        i = 0
        previous: tuple[int, int] | None = None
        while i < len(pieces):
            start = pieces[i][0]
            if previous is not None and overlap:
                start = min(start, _overlap_start(text, *previous, overlap))
            end = pieces[i][1]
            i += 1
            while i < len(pieces) and pieces[i][1] - start <= max_chars:
                end = pieces[i][1]
                i += 1
            body = text[start:end]
            chunks.append(
                Chunk(
                    ordinal=len(chunks),
                    heading=heading,
                    text=body,
                    start_offset=start,
                    end_offset=end,
                    page=span.page,
                    token_count=estimate_tokens(body),
                )
            )
            previous = (start, end)
    return chunks
