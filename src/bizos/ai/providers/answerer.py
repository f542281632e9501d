"""The extractive answerer: which source sentences answer which of a customer's questions.

A customer mail is read as a person would read it: the greeting, the sign-off and any
quoted earlier mail are not the question; each question in it ("can I return it and how
long does a refund take?" is two) is answered on its own. A source sentence answers a
question when it carries a fair share of the question's own words — in the sentence, or
in the heading or title it sits under — and, when the question asks for a kind of
answer (how long, how much, when), a sentence that holds one ("within 45 days",
"EUR 9.90") counts that share too. The mail's other words (the subject, the sentence
before "when will it be processed?") help rank, but never make an answer on their own.
Nothing relevant: no answer, and the caller declines honestly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bizos.ai.providers.extractive import (
    Sentence,
    SentenceScorer,
    split_paragraph,
    split_sentences,
    terms,
)
from bizos.ai.types import Source

# Words that say what is asked, not what it is about.
_ASKING = frozenset(
    terms(
        "long take takes taking soon quickly many possible able wonder wondering tell "
        "question questions help let find out work works happen happens process "
        "processed anything something someone way also ask asking make later now"
    )
)
_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|greetings)\b"
    r"(?:[ \t]+[A-Z][\w'-]*){0,2}\s*[,!.:\-\u2013\u2014]*\s*",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"^\s*(?:thanks?(?: you)?(?: (?:so|very) much)?(?: in advance)?|many thanks|cheers|"
    r"(?:best|kind|warm|many)?\s*(?:regards|wishes)|best|sincerely|yours(?: truly)?|br|"
    r"all the best|thx|ty)\s*[,!.]*\s*$",
    re.IGNORECASE,
)
_QUOTED_START = re.compile(r"^\s*(?:on .+ wrote:|-{2,}\s*original message|from: .+)\s*$", re.I)
_QUESTION_SPLIT = re.compile(
    r",?\s+(?:and|or|also)\s+(?=(?:how|when|what|where|why|which|who|is|are|do|does|can|"
    r"could|will|would|should|may|did)\b)",
    re.IGNORECASE,
)
_LEADING_LINK = re.compile(r"^\s*(?:also|and|but|so|plus|oh|ok|okay)\b[\s,]*", re.I)
_YES_NO = re.compile(
    r"^(?:can|could|do|does|did|is|are|was|will|would|should|may|have|has|am)\b", re.I
)

_NUMBER_WORDS = (
    r"(?:\d+(?:[.,]\d+)?(?:\s*[-\u2013]\s*\d+)?|one|two|three|four|five|six|seven|eight|"
    r"nine|ten|twelve|fourteen|thirty|sixty|ninety)"
)
_DURATION = re.compile(
    rf"\b{_NUMBER_WORDS}(?:\s*\(\d+\))?[\s-]+(?:business\s+|working\s+|calendar\s+)?"
    r"(?:days?|weeks?|months?|years?|hours?|minutes?|seconds?)\b"
    r"|\b(?:same|next)\s+(?:day|afternoon|morning|week)\b|\bstraight away\b|\bimmediately\b",
    re.IGNORECASE,
)
_TIME = re.compile(
    r"\b\d{1,2}:\d{2}\b|\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"today|tomorrow|weekday|weekend)s?\b|\bon (?:the |each |every )?(?:\w+ )?day\b",
    re.IGNORECASE,
)
_PRICE = re.compile(
    r"(?:EUR|USD|GBP|CHF|[$€£])\s?\d|\d(?:[\d.,]*)\s?(?:EUR|USD|GBP|CHF|€|euros?|dollars?)\b"
    r"|\bfree\b|\bno (?:\w+ )?(?:cost|charge|fee)s?\b|\d+(?:\.\d+)?\s?%",
    re.IGNORECASE,
)
_CONTACT = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|\+?\d[\d ()-]{7,}\d|\baccount page\b", re.I)
_KIND_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "duration",
        re.compile(
            r"\bhow (?:long|soon|quickly|fast)\b|\bhow many (?:days|weeks|months|hours|years)\b"
            r"|\bby when\b",
            re.I,
        ),
    ),
    (
        "price",
        re.compile(r"\bhow much\b|\b(?:price|prices|cost|costs|fee|fees|charge for)\b", re.I),
    ),
    ("contact", re.compile(r"\b(?:contact|reach|email address|phone number|call you)\b", re.I)),
    ("when", re.compile(r"^\s*when\b|\bwhat time\b|\bwhich days?\b", re.I)),
    (
        "how",
        re.compile(
            r"^\s*how (?:do|can|should|would) (?:i|we)\b"
            r"|\bwhat (?:should|do|can|must) (?:i|we) do\b",
            re.I,
        ),
    ),
)
# Words a "when" question asks with ("which days"), not about.
_WHEN_WORDS = frozenset(terms("day days time times date dates hour hours"))
# What answers each kind of question, and how fully ("when" is best a day or a time).
_KIND_PATTERNS: dict[str, tuple[tuple[re.Pattern[str], float], ...]] = {
    "duration": ((_DURATION, 1.0),),
    "price": ((_PRICE, 1.0),),
    "contact": ((_CONTACT, 1.0),),
    "when": ((_TIME, 1.0), (_DURATION, 0.7)),
}
_PERMISSION = re.compile(r"\b(?:yes|no|can|cannot|can't|may|not|never|always)\b", re.I)

HEADING_WEIGHT = 0.6  # a question word in the heading or title, not in the sentence
SECTION_WEIGHT = 0.4  # a question word elsewhere in the sentence's section
BORROWED_WEIGHT = 0.5  # the subject's words, for a question that says "it"
MIN_COVERAGE = 0.5  # share of a question's weight a sentence must carry
MAX_PER_QUESTION = 2
MAX_SENTENCES = 6
_PRONOUNS = frozenset({"it", "this", "that", "they", "them", "these", "those", "one"})


@dataclass(frozen=True, slots=True)
class Question:
    """One thing the customer asks, with the words that say what it is about."""

    text: str
    words: dict[str, float]  # stemmed term -> weight (own words 1.0, borrowed less)
    context: frozenset[str]  # the rest of the mail's words: rank, never qualify
    kind: str  # duration | price | contact | when | yesno | open
    whole: bool = False  # no question asked: the whole mail stands for one
    borrowed: bool = False  # ... or the question's words all come from around it

    @property
    def needed(self) -> float:
        """The share of its weight a sentence must carry to answer it: less for a whole
        mail, which says far more than any one answer can."""
        return MIN_COVERAGE / 2 if self.whole else MIN_COVERAGE

    @property
    def typed(self) -> bool:
        return self.kind in _KIND_PATTERNS


@dataclass(frozen=True, slots=True)
class Part:
    """The sentences that answer one question, in the order they stand in the sources."""

    question: Question
    sentences: tuple[Sentence, ...]


@dataclass(frozen=True, slots=True)
class Answer:
    parts: tuple[Part, ...]
    unanswered: tuple[Question, ...]
    sources: tuple[Source, ...]  # what the parts rest on, in the order first cited
    quoted: dict[int, Source] = field(default_factory=dict)  # passage index -> source

    @property
    def answered(self) -> bool:
        return bool(self.parts)


# --- reading the mail -----------------------------------------------------------------------


def mail_body(message: str) -> str:
    """The customer's own words: no quoted earlier mail, no greeting, no sign-off."""
    kept: list[str] = []
    for line in message.replace("\r\n", "\n").split("\n"):
        if line.lstrip().startswith(">") or _QUOTED_START.match(line):
            break
        if _SIGN_OFF.match(line) and kept:
            break
        kept.append(line)
    body = "\n".join(kept).strip()
    return _GREETING.sub("", body, count=1) if _GREETING.match(body) else body


def kind_of(text: str) -> str:
    """What sort of answer a question wants. "Do wholesale prices include VAT?" is a
    yes/no question about prices, not a question of how much."""
    if _YES_NO.match(text.strip()) and not re.search(r"\bhow\b", text, re.I):
        return "yesno"
    for kind, cue in _KIND_CUES:
        if cue.search(text):
            return kind
    return "yesno" if _YES_NO.match(text.strip()) else "open"


def _own_words(text: str) -> list[str]:
    asking = _ASKING | _WHEN_WORDS if kind_of(text) == "when" else _ASKING
    return [t for t in terms(text) if t not in asking]


def questions_of(message: str, *, subject: str = "") -> list[Question]:
    """The questions a mail asks. A mail without a question mark ("our delivery did not
    come") is one question: all of what it says."""
    sentences = split_paragraph(" ".join(mail_body(message).split()))
    everything = frozenset(_own_words(" ".join([subject, *sentences])))
    asked: list[tuple[str, int]] = []
    for i, sentence in enumerate(sentences):
        if sentence.rstrip().endswith("?"):
            for piece in _QUESTION_SPLIT.split(sentence):
                piece = _LEADING_LINK.sub("", piece).strip(" ,")
                if _own_words(piece) or kind_of(piece) in _KIND_PATTERNS:
                    asked.append((piece, i))
    if not asked:
        whole = " ".join(sentences) or subject
        words = dict.fromkeys(_own_words(whole), 1.0)
        for t in _own_words(subject):
            words.setdefault(t, BORROWED_WEIGHT)
        question = Question(whole, words, everything, kind_of(whole), whole=True)
        return [question] if words else []
    out = []
    for text, i in asked:
        words = dict.fromkeys(_own_words(text), 1.0)
        lowered = {w.lower() for w in re.findall(r"\w+", text)}
        if len(words) <= 1 or lowered & _PRONOUNS:
            # "When will it be processed?": what "it" is comes from the subject and the
            # sentence before.
            before = sentences[i - 1] if i > 0 and not sentences[i - 1].endswith("?") else ""
            for t in [*_own_words(subject), *_own_words(before)]:
                words.setdefault(t, BORROWED_WEIGHT)
        if words or kind_of(text) in _KIND_PATTERNS:
            # A question all of whose words are borrowed is read like a whole mail.
            borrowed = all(w < 1.0 for w in words.values())
            out.append(
                Question(text, words, everything, kind_of(text), whole=borrowed, borrowed=borrowed)
            )
    return out


# --- finding the answers ---------------------------------------------------------------------


def _source_sentences(sources: Sequence[Source]) -> list[Sentence]:
    """Every quotable sentence of the sources. A past ticket is quoted only for what we
    answered, never for what its customer asked."""
    out: list[Sentence] = []
    for i, source in enumerate(sources):
        text = source.text
        if source.kind == "ticket":
            _, _, text = text.partition("We answered:")
        path = source.title.split(" — ", 1)[1] if " — " in source.title else ""
        heading = path.split(" > ")[-1].strip() or None
        out.extend(split_sentences(text, passage=i, heading=heading))
    return out


def display_title(title: str) -> str:
    """A source's title as a reader wants it: "Returns and refunds — Refunds", not
    "Returns and refunds — Returns and refunds > Refunds"."""
    document, _, path = title.partition(" — ")
    steps = [p for p in path.split(" > ") if p.strip() and p.strip().lower() != document.lower()]
    return f"{document} — {steps[-1]}" if steps else document


@dataclass(frozen=True, slots=True)
class _Scored:
    score: float
    sentence: Sentence


class _Matcher:
    def __init__(self, sentences: Sequence[Sentence], sources: Sequence[Source]) -> None:
        self.scorer = SentenceScorer(sentences)
        self.sources = sources
        self._title_terms = [frozenset(terms(s.title)) for s in sources]
        self._first: dict[tuple[int, str | None], int] = {}
        self._section_terms: dict[tuple[int, str | None], set[str]] = {}
        for s in sentences:
            self._first.setdefault((s.passage, s.heading), s.position)
            self._section_terms.setdefault((s.passage, s.heading), set()).update(s.terms)
        self._passage_terms = [
            frozenset(terms(s.text)) | self._title_terms[i] for i, s in enumerate(sources)
        ]

    def first_of(self, sentence: Sentence) -> int:
        """The position of the first sentence of ``sentence``'s section."""
        return self._first.get((sentence.passage, sentence.heading), sentence.position)

    def opens_section(self, sentence: Sentence) -> bool:
        return self.first_of(sentence) == sentence.position

    def around(self, sentence: Sentence) -> frozenset[str]:
        return frozenset(terms(sentence.heading or "")) | self._title_terms[sentence.passage]

    def score(self, question: Question, sentence: Sentence) -> float | None:
        """How well ``sentence`` answers ``question`` (None: it does not)."""
        idf = self.scorer.idf
        own = set(sentence.terms)
        around = self.around(sentence)
        heading = frozenset(terms(sentence.heading or ""))
        # "How do I return an item?" is answered by the section headed "How to return",
        # and an FAQ entry's question is the heading of its answer.
        faq = (sentence.heading or "").endswith("?")
        heading_weight = 1.0 if question.kind == "how" or faq else HEADING_WEIGHT
        section = self._section_terms.get((sentence.passage, sentence.heading), set())
        words = question.words
        if question.whole:
            # A mail that asks nothing says much no source speaks of ("unacceptable"):
            # only the words the sources know can point to an answer.
            words = {t: w for t, w in words.items() if self.scorer.df.get(t)}
        total = sum(w * idf(t) for t, w in words.items())
        matched = 0.0
        direct = 0
        for t, w in words.items():
            if t in own:
                matched += w * idf(t)
                direct += 1
            elif t in heading:
                matched += heading_weight * w * idf(t)
            elif t in around:
                matched += HEADING_WEIGHT * w * idf(t)
            elif t in section:
                matched += SECTION_WEIGHT * w * idf(t)
        if matched == 0.0:
            return None
        if question.typed:
            typed_weight = total / max(1, len(words)) or 1.0
            total += typed_weight
            fits = [
                w * min(1.0 + 0.05 * (len(p.findall(sentence.text)) - 1), 1.1)
                for p, w in _KIND_PATTERNS[question.kind]
                if p.search(sentence.text)
            ]  # "Monday, Wednesday and Friday" answers "which days" more fully than "09:00"
            matched += typed_weight * max(fits, default=0.0)
        coverage = matched / total if total else 0.0
        if coverage < question.needed or (question.whole and not question.borrowed and direct < 2):
            return None
        context = question.context - set(question.words)
        extra = sum(idf(t) for t in context & (own | around)) / max(1.0, total)
        rank = 1.0 - 0.005 * min(sentence.passage, 20)  # the search's order, a little
        ticket = 0.85 if self.sources[sentence.passage].kind == "ticket" else 1.0
        headed = sum(idf(t) for t in words if t in heading) / max(1.0, total)
        if (sentence.heading or "").endswith("?"):
            headed *= 2.5  # an FAQ entry whose question is this one
        # The passage as a whole being about the question picks the right document.
        passage = self._passage_terms[sentence.passage]
        topical = sum(w * idf(t) for t, w in words.items() if t in passage)
        fit = coverage + 0.2 * min(extra, 1.0) + 0.15 * headed + 0.3 * topical / max(1.0, total)
        if question.kind == "how" and headed and self.opens_section(sentence):
            fit += 0.1  # a procedure starts where its section does
        if question.kind == "yesno" and _PERMISSION.search(sentence.text):
            fit += 0.1  # "can I return it?" is answered by what can (or cannot) be done
        return (fit + 0.05 * direct) * rank * ticket


def _pick(matcher: _Matcher, question: Question, sentences: Sequence[Sentence]) -> list[Sentence]:
    scored = [
        _Scored(score, s) for s in sentences if (score := matcher.score(question, s)) is not None
    ]
    if not scored:
        return []
    kb = [x for x in scored if matcher.sources[x.sentence.passage].kind != "ticket"]
    pool = sorted(kb or scored, key=lambda x: (-x.score, x.sentence.passage, x.sentence.position))
    best = pool[0]
    chosen = [best.sentence]
    place = {(s.passage, s.position): s for s in sentences}
    if question.kind == "how" and set(question.words) & set(terms(best.sentence.heading or "")):
        # A procedure starts where its section does ("Email us with your order number").
        first = place.get((best.sentence.passage, matcher.first_of(best.sentence)))
        if first is not None and first is not best.sentence:
            chosen.insert(0, first)
    after = place.get((best.sentence.passage, best.sentence.position + 1))
    # The next sentence of the same paragraph often finishes the thought ("To request a
    # refund, reply with ...").
    if (
        after is not None
        and after.paragraph == best.sentence.paragraph
        and _goes_on(matcher, question, after, best.score)
    ):
        chosen.append(after)
    for x in pool[1:]:
        if len(chosen) >= MAX_PER_QUESTION:
            break
        if (
            x.score >= 0.9 * best.score
            and x.sentence.passage == best.sentence.passage
            and x.sentence not in chosen
            and not _similar(x.sentence, best.sentence)
        ):
            chosen.append(x.sentence)
    return sorted(chosen[:MAX_PER_QUESTION], key=lambda s: (s.passage, s.position))


def _goes_on(matcher: _Matcher, question: Question, after: Sentence, best: float) -> bool:
    """Whether the sentence after the best one still answers the question: it scores
    near it and names the question's own words itself (not only through its section),
    or, for a question in borrowed words, gives the kind of answer asked for."""
    follows = matcher.score(question, after)
    if follows is None or follows < 0.5 * best:
        return False
    own = [t for t, w in question.words.items() if w == 1.0]
    if own:
        return len(set(own) & set(after.terms)) >= min(2, len(own))
    patterns = _KIND_PATTERNS.get(question.kind, ())
    return any(p.search(after.text) for p, _ in patterns)


def _similar(a: Sentence, b: Sentence) -> bool:
    sa, sb = set(a.terms), set(b.terms)
    return len(sa & sb) / max(1, len(sa | sb)) > 0.6


def answer(message: str, sources: Sequence[Source], *, subject: str = "") -> Answer:
    """The sentences of ``sources`` that answer each question in ``message``."""
    asked = questions_of(message, subject=subject)
    sentences = _source_sentences(sources)
    if not asked or not sentences:
        return Answer((), tuple(asked), ())
    matcher = _Matcher(sentences, sources)
    parts: list[Part] = []
    unanswered: list[Question] = []
    used: set[tuple[int, int]] = set()
    count = 0
    for question in asked:
        found = _pick(matcher, question, sentences)
        picked = [s for s in found if (s.passage, s.position) not in used]
        picked = picked[: max(0, MAX_SENTENCES - count)]
        if not picked:
            if not found:  # (found but already quoted: answered with an earlier question)
                unanswered.append(question)
            continue
        used.update((s.passage, s.position) for s in picked)
        count += len(picked)
        parts.append(Part(question, tuple(picked)))
    cited = list(dict.fromkeys(s.passage for p in parts for s in p.sentences))
    return Answer(
        tuple(parts),
        tuple(unanswered),
        tuple(sources[i] for i in cited),
        {i: sources[i] for i in cited},
    )


# --- writing the answer ---------------------------------------------------------------------


def cited_text(found: Answer) -> list[tuple[Source, str]]:
    """The quoted sentences grouped by the source they come from, in source order."""
    keep = sorted(
        {(s.passage, s.position): s for p in found.parts for s in p.sentences}.values(),
        key=lambda s: (s.passage, s.position),
    )
    grouped: list[tuple[Source, list[str]]] = []
    for s in keep:
        source = found.quoted[s.passage]
        if grouped and grouped[-1][0] is source:
            grouped[-1][1].append(s.text)
        else:
            grouped.append((source, [s.text]))
    return [(source, " ".join(texts)) for source, texts in grouped]


def written_answer(found: Answer, *, not_covered: str) -> str:
    """An answer in words: what each source says (named), then what no source covers."""
    if not found.answered:
        return not_covered
    parts = []
    for source, said in cited_text(found):
        title = display_title(source.title)
        parts.append(f"According to “{title}”: {said}" if title else said)
    if found.unanswered:
        asked = "; ".join(f"“{q.text.rstrip('?')}?”" for q in found.unanswered)
        parts.append(f"The sources say nothing about {asked}")
    return "\n\n".join(parts)
