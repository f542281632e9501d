"""The rule of ``Said`` checked from outside: every number an answer writes is the exact
value of one of its figures, or part of a date (ISO, or "9 Nov 2026") or month, or part
of a name that appears in a figure's label or a source's title."""

from __future__ import annotations

import re
from decimal import Decimal

from bizos.core.tools import Said

_ISO_DAY_OR_MONTH = re.compile(r"\d{4}-\d{2}(?:-\d{2})?")
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
# Days as answers write them: "9 Nov", "8 Dec 2026", "Nov 2026".
_SPOKEN_DAY = re.compile(rf"\b\d{{1,2}} {_MONTH}\b(?: \d{{4}})?|\b{_MONTH} \d{{4}}\b")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_EDGES = ".,;:()\"'!?"


def numbers_in(text: str) -> list[tuple[str, Decimal]]:
    """Each number written in ``text`` with the word it stands in, dates left out:
    ``"$1,200.50"`` is 1200.50, ``"2026-12-07"`` nothing."""
    found = []
    for token in _SPOKEN_DAY.sub(" ", text).split():
        word = token.strip(_EDGES)
        for match in _NUMBER.finditer(_ISO_DAY_OR_MONTH.sub(" ", word)):
            found.append((word, Decimal(match.group().replace(",", "").rstrip("."))))
    return found


def _in_a_name(word: str, names: list[str]) -> bool:
    pattern = re.compile(rf"(?<!\w){re.escape(word.lower())}(?!\w)")
    return any(pattern.search(name) for name in names)


def unbacked_numbers(said: Said) -> list[str]:
    """The words of ``said.text`` holding a number that no figure, date or name backs."""
    names = [f.label.lower() for f in said.figures] + [s.title.lower() for s in said.sources]
    values = {Decimal(str(f.value)) for f in said.figures}
    return [
        word
        for word, number in numbers_in(said.text)
        if number not in values and not _in_a_name(word, names)
    ]


def assert_backed(said: Said) -> None:
    assert said.text.strip(), "an answer says something"
    assert unbacked_numbers(said) == [], said.text


def figure(said: Said, label: str) -> Decimal:
    """The value of the figure labelled ``label`` (exactly one)."""
    [found] = [f for f in said.figures if f.label == label]
    return Decimal(str(found.value))
