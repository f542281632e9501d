"""Sentence splitting and scoring for the local provider's extractive answers.

Scores are TF-IDF-like: a word that appears in many sentences says little about any of
them. A query, when given, counts most: a sentence that shares its rare words is what
the reader asked about.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_STOPWORD_LIST = """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing done down during
    each else even ever every few for from further get gets got had has have having he
    her here hers herself him himself his how i if in into is it its itself just let me
    more most much must my myself no nor not now of off on once only or other our ours
    ourselves out over own please same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until
    up upon us very was we were what when where which while who whom why will with
    would yes yet you your yours yourself yourselves hi hello hey dear thanks thank
    regards best cheers kind ok okay sure really still know want wanted need needed like
    would could may might shall one two also via per etc re fwd
"""
STOPWORDS = frozenset(_STOPWORD_LIST.split())

_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)?", re.UNICODE)
# A sentence ends at . ! ? (plus closing quotes/brackets) before whitespace and a capital,
# digit or opening quote; newlines between list items and paragraphs also end one.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])")
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
_HEADING = re.compile(r"^\s*#{1,6}\s+")
_TABLE_ROW = re.compile(r"^\s*\|")
_FENCED_CODE = re.compile(r"^\s*(```|~~~).*?^\s*\1[^\n]*$", re.MULTILINE | re.DOTALL)
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "Mr.", "Mrs.", "Ms.", "Dr.", "No.", "approx.")


_SUFFIXES = (
    ("ations", ""),
    ("ation", ""),
    ("tions", "t"),
    ("tion", "t"),
    ("sions", "s"),
    ("sion", "s"),
    ("ies", "y"),
    ("ing", ""),
    ("ed", ""),
    ("ses", "s"),
    ("xes", "x"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("s", ""),
    ("ly", ""),
)


def stem(word: str) -> str:
    """A light suffix stripper, enough to match refund/refunds/refunded,
    price/prices/pricing, cancel/cancelled/cancellation and delete/deletion."""
    w = word.lower().replace("\u2019", "'")
    if w.endswith("'s"):
        w = w[:-2]
    if w.isdigit():
        return w
    for suffix, keep in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and not w.endswith("ss"):
            w = w[: -len(suffix)] + keep
            break
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]  # store/storing, price/pricing
    if len(w) > 4 and w[-1] == w[-2] and w[-1] not in "aeiousz":
        w = w[:-1]  # cancell(ed) -> cancel
    return w


def terms(text: str) -> list[str]:
    """The content words of ``text``, stemmed, in order (stopwords dropped)."""
    out = []
    for match in _WORD.findall(text):
        low = match.lower()
        if low in STOPWORDS or (len(low) < 2 and not low.isdigit()):
            continue
        out.append(stem(low))
    return out


@dataclass(frozen=True, slots=True)
class Sentence:
    text: str
    position: int  # order within its passage
    passage: int  # which input passage it came from
    heading: str | None  # the heading (Markdown, bare line or FAQ question) it sits under
    terms: tuple[str, ...]
    table_row: bool = False  # a row of a table, written out as "cell — Header: cell; ..."
    paragraph: int = 0  # which paragraph of its passage (sentences of one keep together)


_EMPHASIS = re.compile(r"\*\*|__|(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])|`")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}")
_LINE_END_PUNCTUATION = ".!?:;,"


def plain(text: str) -> str:
    """``text`` without Markdown emphasis and with single spaces, as a reader sees it."""
    return " ".join(_EMPHASIS.sub("", text).split())


def is_table_row(line: str) -> bool:
    """Pipe-separated cells (Markdown tables, or tables laid out as text by the parser)."""
    return _TABLE_ROW.match(line) is not None or " | " in line


def is_bare_heading(block_lines: Sequence[str], *, followed: bool) -> bool:
    """A block of one short line with no sentence punctuation, followed by more text:
    the way headings look once a document is laid out as plain text ("Costs and times")."""
    if len(block_lines) != 1 or not followed:
        return False
    line = block_lines[0].strip()
    words = line.split()
    return (
        0 < len(words) <= 10
        and len(line) <= 90
        and line[-1] not in _LINE_END_PUNCTUATION
        and not _BULLET.match(line)
        and not is_table_row(line)
        and (line[0].isupper() or line[0].isdigit())
    )


def _cells(line: str) -> list[str]:
    return [plain(c) for c in line.strip().strip("|").split("|")]


def _table_sentence(header: Sequence[str], row: Sequence[str]) -> str:
    """A table row as a sentence: "UK — Cost: EUR 14.90; Typical time: 4-7 days."."""
    if not row:
        return ""
    parts = [f"{h}: {c}" if h else c for h, c in zip(header[1:], row[1:], strict=False) if c]
    text = row[0] + (" — " + "; ".join(parts) if parts else "")
    return text if text.endswith(".") else text + "."


def _blocks(text: str) -> list[list[str]]:
    text = _FENCED_CODE.sub("\n\n", text)  # code is not prose to quote
    out = []
    for block in re.split(r"\n\s*\n|\n(?=\s*(?:[-*+•]|\d+[.)]|#{1,6})\s)", text):
        lines = [ln.strip() for ln in block.strip().splitlines() if ln.strip()]
        if lines:
            out.append(lines)
    return out


def split_sentences(text: str, *, passage: int = 0, heading: str | None = None) -> list[Sentence]:
    """Sentences of ``text``: blank lines, list items and sentence ends split. Headings —
    Markdown ``#`` lines, bare short lines standing alone before a paragraph, and FAQ
    questions in bold — become context for the sentences below them rather than
    sentences; table rows become one sentence each (``table_row``), headed by their
    column names. A sentence without content words ("Yes.") joins the next one."""
    out: list[Sentence] = []
    blocks = _blocks(text)
    header: list[str] | None = None
    for index, lines in enumerate(blocks):
        if _HEADING.match(lines[0]):
            heading = _HEADING.sub("", lines[0]).strip().strip("#").strip() or heading
            lines = lines[1:]
        elif is_bare_heading(lines, followed=index + 1 < len(blocks)):
            heading = plain(lines[0])
            continue
        rows = [ln for ln in lines if is_table_row(ln)]
        if rows:
            for row in rows:
                if _TABLE_RULE.match(row):
                    continue
                if header is None:
                    header = _cells(row)
                    continue
                sentence = _table_sentence(header, _cells(row))
                out.append(
                    Sentence(
                        sentence,
                        len(out),
                        passage,
                        heading,
                        tuple(terms(sentence)),
                        table_row=True,
                        paragraph=index,
                    )
                )
            lines = [ln for ln in lines if not is_table_row(ln)]
        else:
            header = None
        if lines:
            out.extend(_paragraph(lines, passage, heading, index, len(out)))
    return out


def _paragraph(
    lines: Sequence[str], passage: int, heading: str | None, index: int, start: int
) -> list[Sentence]:
    """The sentences of one paragraph. A paragraph that opens with a question and goes on
    (an FAQ entry) is headed by its question, which is not itself an answer."""
    pieces = split_paragraph(plain(" ".join(_BULLET.sub("", ln) for ln in lines)))
    if len(pieces) > 1 and pieces[0].endswith("?"):
        heading = pieces[0]
        pieces = pieces[1:]
    out: list[Sentence] = []
    carried = ""
    for n, piece in enumerate(pieces):
        piece = f"{carried} {piece}".strip() if carried else piece
        words = tuple(terms(piece))
        if not words or (piece.endswith("?") and n + 1 < len(pieces)):
            carried = piece  # "Yes." and "Too bitter?" belong with what follows them
            continue
        carried = ""
        out.append(Sentence(piece, start + len(out), passage, heading, words, paragraph=index))
    return out


def split_paragraph(para: str) -> list[str]:
    protected = para
    for i, abbr in enumerate(_ABBREVIATIONS):
        protected = protected.replace(abbr, f"\x00{i}\x00")
    pieces = _SENTENCE_END.split(protected)
    restored = []
    for piece in pieces:
        for i, abbr in enumerate(_ABBREVIATIONS):
            piece = piece.replace(f"\x00{i}\x00", abbr)
        if piece.strip():
            restored.append(piece.strip())
    return restored


class SentenceScorer:
    """Scores sentences of a collection by the weight of their words and of a query's."""

    def __init__(self, sentences: Sequence[Sentence]) -> None:
        self.sentences = list(sentences)
        self.count = max(1, len(self.sentences))
        df: Counter[str] = Counter()
        for s in self.sentences:
            df.update(set(s.terms))
        self.df = df
        tf: Counter[str] = Counter()
        for s in self.sentences:
            tf.update(s.terms)
        self.tf = tf

    def idf(self, term: str) -> float:
        return math.log((1 + self.count) / (1 + self.df.get(term, 0))) + 1.0

    def centrality(self, sentence: Sentence) -> float:
        """How much of the collection's recurring vocabulary a sentence carries."""
        if not sentence.terms:
            return 0.0
        weight = sum(math.log1p(self.tf[t]) * self.idf(t) for t in set(sentence.terms))
        # Dampen length so long sentences do not win on size alone; beyond ~25 words a
        # "sentence" is usually a list or a table flattened into one, not a summary.
        n = len(sentence.terms)
        return weight / max(math.sqrt(n), n / 5)

    def query_match(self, sentence: Sentence, query_terms: Iterable[str]) -> tuple[float, int]:
        """(weight of the query's words the sentence has, how many distinct ones)."""
        present = set(sentence.terms) | {stem(h) for h in terms(sentence.heading or "")}
        matched = {t for t in set(query_terms) if t in present}
        return sum(self.idf(t) for t in matched), len(matched)
