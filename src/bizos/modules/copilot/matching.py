"""Finding the tenant's products, people and companies in a question, forgiving typos:
whole names and aliases (a SKU) by similarity of word runs (``difflib``), and single
distinctive words of a name ("yirgacheffe", "acme")."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from difflib import SequenceMatcher

from bizos.modules.copilot.vocabulary import Named

# Words that name what is asked, never a record: a product called "Sales Kit" must not
# match "sales".
COMMON = frozenset(
    """
    a an the and or of for to in on at by with from about my our we us me i you it is are
    was were be do did does have has how what who which when where why this that these those
    revenue sales sale sold sell selling orders order customer customers client clients
    product products item items stock inventory money much many total top best most month
    week year quarter today yesterday last next day days invoice invoices deal deals lead
    leads ticket tickets task tasks note email company contact pipeline new open overdue low
    high show tell give list get find please can could would should compare compared versus
    vs only just break down per each number count value average coffee cafe café espresso
    shop store online kit set pack one two three five ten make made spend spent budget
    profit forecast price cost costs common little second morning evening north south east
    west side street lane corner door red blue green black white gold stone half full free
    good great big small old early late long short round star sun night home house city town
    park field ground market table bar lab cup cups shot world life love team people group
    place point line center centre general local united national global prime premium
    quality express service services solutions systems trading supply supplies partners
    holdings inc llc ltd corp co
    """.split()  # noqa: SIM905 (a word list reads best as words)
)  # fmt: skip  # fmt: skip


@functools.lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """Lower case without accents, apostrophes or punctuation: "Café Ümit's" → "cafe umits"."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"['\u2019`]", "", text)
    text = re.sub(r"[^\w\s&+-]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True, slots=True)
class Match:
    item: Named
    score: float
    span: tuple[int, int]  # word indexes [start, end) in the folded question

    def as_entity(self) -> dict[str, str]:
        return {"id": self.item.id, "name": self.item.name}


def _ratio(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def _threshold(name: str) -> float:
    return 1.0 if len(name) <= 3 else 0.92 if len(name) <= 5 else 0.84


@dataclass(frozen=True, slots=True)
class _Target:
    """One way to say an item (its name or an alias), folded, with the word prefixes a
    run of the question must share before it is compared at all."""

    item: Named
    text: str
    size: int
    prefixes: frozenset[str]
    threshold: float


@dataclass(frozen=True, slots=True)
class _Index:
    targets: list[_Target]
    owners: dict[str, list[Named]]  # a distinctive word -> the items (variants) it names
    words: dict[str, frozenset[str]]  # item id -> the folded words of its name


@functools.lru_cache(maxsize=32)
def _index(items: tuple[Named, ...], stop: frozenset[str]) -> _Index:
    """What matching needs of a list of items, worked out once per vocabulary."""
    targets = []
    bases: dict[str, set[str]] = {}
    owners: dict[str, list[Named]] = {}
    words: dict[str, frozenset[str]] = {}
    for item in items:
        for alias in (item.name, *item.aliases, *_short(item.name, stop)):
            text = fold(alias)
            if text:
                tokens = text.split()
                prefixes = frozenset(t[:3] for t in tokens if t not in stop or len(tokens) > 1)
                targets.append(_Target(item, text, len(tokens), prefixes, _threshold(text)))
        words[item.id] = frozenset(fold(item.name).split())
        for word in words[item.id]:
            if len(word) >= 3 and word not in stop and not word.isdigit():
                bases.setdefault(word, set()).add(_base(item.name))
                owners.setdefault(word, []).append(item)
    distinctive = {w: owners[w] for w, b in bases.items() if len(b) == 1}
    return _Index(targets, distinctive, words)


def find_named(
    words: list[str], items: Iterable[Named], *, reserved: frozenset[str] = frozenset()
) -> list[Match]:
    """Records of ``items`` named in ``words`` (a folded question split on spaces), best
    first, none sharing words with a better one. A single word in ``reserved`` (the words
    the parser reads for itself: "daily", "second", "open") never names a record alone."""
    stop = COMMON | reserved
    index = _index(tuple(items), stop)
    best: dict[str, Match] = {}
    for match in _runs(words, index, stop):
        if match.item.id not in best or match.score > best[match.item.id].score:
            best[match.item.id] = match
    found = list(best.values())
    found.extend(_distinctive(words, index, set(best), stop))
    found.sort(key=lambda m: (-m.score, -(m.span[1] - m.span[0])))
    kept: list[Match] = []
    seen: set[str] = set()
    for match in found:
        if match.item.id in seen:
            continue
        if all(match.span[1] <= k.span[0] or k.span[1] <= match.span[0] for k in kept):
            kept.append(match)
            seen.add(match.item.id)
        elif any(k.span == match.span and abs(k.score - match.score) < 1e-9 for k in kept):
            kept.append(match)  # equally good (a product's 250 g and 1 kg): keep both
            seen.add(match.item.id)
    return kept


def _runs(words: list[str], index: _Index, stop: frozenset[str]) -> Iterator[Match]:
    """Runs of the question's words as close as their threshold to a whole name or alias;
    only runs sharing a word's first three letters with the name are compared."""
    heads = [w[:3] for w in words]
    matcher = SequenceMatcher(None, autojunk=False)
    for target in index.targets:
        if not any(h in target.prefixes for h in heads):
            continue
        matcher.set_seq2(target.text)
        for n in {max(1, target.size - 1), target.size, target.size + 1}:
            for i in range(0, len(words) - n + 1):
                if not any(h in target.prefixes for h in heads[i : i + n]):
                    continue
                run = " ".join(words[i : i + n])
                if n == 1 and run in stop:
                    continue
                matcher.set_seq1(run)
                if matcher.real_quick_ratio() < target.threshold:
                    continue
                if matcher.quick_ratio() < target.threshold:
                    continue
                score = matcher.ratio()
                if score >= target.threshold:
                    yield Match(target.item, score, (i, i + n))


def _distinctive(
    words: list[str], index: _Index, already: set[str], stop: frozenset[str]
) -> list[Match]:
    """Single words of a name that only one name (or one name's variants) has: a first
    name ("Dana", "Sam"), a brand ("Acme"), an origin ("Yirgacheffe")."""
    found: list[Match] = []
    for i, word in enumerate(words):
        if len(word) < 3 or word in stop:
            continue
        for name_word, items in index.owners.items():
            if name_word[0] != word[0] and name_word[1:2] != word[1:2]:
                continue
            if not _close(word, name_word):
                continue
            score = 1.0 if word == name_word else _ratio(word, name_word)
            for item in items:
                if item.id not in already:
                    found.append(Match(item, score * 0.9, _widened(words, i, index.words[item.id])))
    return found


def _widened(words: list[str], i: int, own: frozenset[str]) -> tuple[int, int]:
    """The run of words around ``i`` that all belong to a name (``own``, its words):
    "goosneck kettle" is one naming of the Gooseneck Kettle, not two."""
    start, end = i, i + 1
    while start > 0 and any(_close(words[start - 1], w) for w in own):
        start -= 1
    while end < len(words) and any(_close(words[end], w) for w in own):
        end += 1
    return start, end


def _close(word: str, target: str) -> bool:
    """The same word, or one typo away (two for long words); short words must be exact."""
    if word == target:
        return True
    if min(len(word), len(target)) < 5 or abs(len(word) - len(target)) > 2:
        return False
    allowed = 2 if len(target) >= 9 else 1
    return edits(word, target) <= allowed or _ratio(word, target) >= 0.9


def edits(a: str, b: str) -> int:
    """Edit distance counting a swap of neighbours as one edit (optimal string
    alignment): "kettel" is one edit from "kettle"."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                best = min(best, previous2[j - 2] + 1)
            current.append(best)
        previous2, previous = previous, current
    return previous[-1]


GENERIC = frozenset(
    [
        "coffee",
        "cafe",
        "espresso",
        "bar",
        "co",
        "company",
        "inc",
        "llc",
        "ltd",
        "corp",
        "house",
        "lab",
        "roasters",
        "roastery",
    ]
)


def _short(name: str, stop: frozenset[str]) -> list[str]:
    """A business name as people shorten it: "Common Ground Coffee" → "common ground",
    "The Daily Grind" → "daily grind" (kept only when what remains is still a name)."""
    words = fold(name).split()
    if words and words[0] == "the":
        words = words[1:]
    while len(words) > 1 and words[-1] in GENERIC:
        words = words[:-1]
    short = " ".join(words)
    if short == fold(name) or not words:
        return []
    if len(words) == 1 and (len(short) < 5 or short in stop):
        return []
    return [short]


def _base(name: str) -> str:
    """A product's name without its size: "Kenya Nyeri 250 g" and "Kenya Nyeri 1 kg" are
    variants of one coffee."""
    return re.sub(r"\s+\d+(?:[.,]\d+)?\s*(?:g|kg|ml|l|oz|lb|cup|pack)\b.*$", "", fold(name))
