"""The labelled knowledge-base questions (``tests/fixtures/kb_questions.json``) and how
answers to them are scored. Counts, never times, so a test can hold a floor and
``bench/copilot.py`` can print the same figures::

    sys.path.insert(0, str(repo_root))
    from tests.kb_answers import evaluate, load_cases

``ask(question)`` is any async callable returning the ``GET /api/v1/kb/answer`` body (a
mapping with ``answer``, ``answered`` and ``sources`` with ``title``), or the
``KbAnswerRead`` itself.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).parent / "fixtures" / "kb_questions.json"


@dataclass(frozen=True, slots=True)
class Case:
    question: str
    spans: tuple[str, ...]  # each must appear in a correct answer
    document: str | None  # the document a correct answer cites; None: must decline
    kind: str  # kb | ticket | unanswerable


@dataclass(slots=True)
class Scores:
    answerable: int = 0
    answered: int = 0  # answerable questions that got an answer
    correct: int = 0  # ... with every expected span, citing the expected document
    unanswerable: int = 0
    declined: int = 0  # unanswerable questions declined
    citations: int = 0  # sources cited by answers to answerable questions
    citations_right: int = 0  # ... from the expected document
    misses: list[str] = field(default_factory=list)  # what went wrong, one line each

    @property
    def answer_rate(self) -> float:
        return self.answered / self.answerable if self.answerable else 0.0

    @property
    def correctness(self) -> float:
        """Correct answers over answerable questions."""
        return self.correct / self.answerable if self.answerable else 0.0

    @property
    def citation_precision(self) -> float:
        return self.citations_right / self.citations if self.citations else 0.0

    @property
    def decline_rate(self) -> float:
        return self.declined / self.unanswerable if self.unanswerable else 0.0

    def lines(self) -> list[str]:
        return [
            f"KB answers: answer rate {self.answered}/{self.answerable} "
            f"({100 * self.answer_rate:.1f}%)",
            f"KB answers: correct {self.correct}/{self.answerable} ({100 * self.correctness:.1f}%)",
            f"KB answers: citation precision {self.citations_right}/{self.citations} "
            f"({100 * self.citation_precision:.1f}%)",
            f"KB answers: declined {self.declined}/{self.unanswerable} unanswerable",
        ]


def load_cases(path: Path = FIXTURE) -> list[Case]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Case(c["question"], tuple(c["spans"]), c["document"], c["kind"]) for c in data["cases"]]


def _norm(text: str) -> str:
    return " ".join(text.replace("\u2013", "-").split()).casefold()


def _body(found: Any) -> Mapping[str, Any]:
    if isinstance(found, Mapping):
        return found
    dumped: Mapping[str, Any] = found.model_dump()
    return dumped


def score(case: Case, found: Any, scores: Scores) -> None:
    """Add one answer to ``scores``."""
    body = _body(found)
    answered = bool(body["answered"])
    documents = [str(s["title"]).split(" — ")[0] for s in body["sources"]]
    if case.document is None:
        scores.unanswerable += 1
        if answered:
            scores.misses.append(f"answered the unanswerable {case.question!r}: {documents}")
        else:
            scores.declined += 1
        return
    scores.answerable += 1
    if not answered:
        scores.misses.append(f"declined {case.question!r}")
        return
    scores.answered += 1
    scores.citations += len(documents)
    # A document title may itself hold " — " (the supply agreement): compare by prefix.
    right = [d for d in body["sources"] if str(d["title"]).startswith(case.document)]
    scores.citations_right += len(right)
    text = _norm(str(body["answer"]))
    missing = [s for s in case.spans if _norm(s) not in text]
    if missing or not right:
        scores.misses.append(f"{case.question!r}: missing {missing}, cited {documents}")
    else:
        scores.correct += 1


async def evaluate(ask: Callable[[str], Awaitable[Any]], cases: list[Case] | None = None) -> Scores:
    """Ask every case and score the answers."""
    scores = Scores()
    for case in cases if cases is not None else load_cases():
        score(case, await ask(case.question), scores)
    return scores
