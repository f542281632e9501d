"""Finding the tenant's products, people and companies in a question, forgiving typos:
whole names and aliases (a SKU) by similarity of word runs (``difflib``), and single
distinctive words of a name ("yirgacheffe", "acme")."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher

from bizos.modules.copilot.vocabulary import Named

# Words that name what is asked, never a record: a product called "Sales Kit" must not
# match "sales".
COMMON = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "for",
        "to",
        "in",
        "on",
        "at",
        "by",
        "with",
        "from",
        "about",
        "my",
        "our",
        "we",
        "us",
        "me",
        "i",
        "you",
        "it",
        "is",
        "are",
        "was",
        "were",
        "be",
        "do",
        "did",
        "does",
        "have",
        "has",
        "how",
        "what",
        "who",
        "which",
        "when",
        "where",
        "why",
        "this",
        "that",
        "these",
        "those",
        "revenue",
        "sales",
        "sale",
        "sold",
        "sell",
        "selling",
        "orders",
        "order",
        "customer",
        "customers",
        "client",
        "clients",
        "product",
        "products",
        "item",
        "items",
        "stock",
        "inventory",
        "money",
        "much",
        "many",
        "total",
        "top",
        "best",
        "most",
        "month",
        "week",
        "year",
        "quarter",
        "today",
        "yesterday",
        "last",
        "this",
        "next",
        "day",
        "days",
        "invoice",
        "invoices",
        "deal",
        "deals",
        "lead",
        "leads",
        "ticket",
        "tickets",
        "task",
        "tasks",
        "note",
        "email",
        "company",
        "contact",
        "pipeline",
        "new",
        "open",
        "overdue",
        "low",
        "high",
        "show",
        "tell",
        "give",
        "list",
        "get",
        "find",
        "me",
        "please",
        "can",
        "could",
        "would",
        "should",
        "compare",
        "compared",
        "versus",
        "vs",
        "only",
        "just",
        "break",
        "down",
        "per",
        "each",
        "number",
        "count",
        "value",
        "average",
        "coffee",
        "cafe",
        "café",
        "espresso",
        "shop",
        "store",
        "online",
        "kit",
        "set",
        "pack",
        "one",
        "two",
        "three",
        "five",
        "ten",
        "make",
        "made",
        "spend",
        "spent",
        "budget",
        "profit",
        "forecast",
        "price",
        "cost",
        "costs",
    ]
)


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


def find_named(words: list[str], items: Iterable[Named], *, kind_words: int = 0) -> list[Match]:
    """Records of ``items`` named in ``words`` (a folded question split on spaces), best
    first, none sharing words with a better one."""
    items = list(items)
    found: list[Match] = []
    for item in items:
        best = _best_run(words, item)
        if best is not None:
            found.append(best)
    found.extend(_distinctive(words, items, {m.item.id for m in found}))
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


def _best_run(words: list[str], item: Named) -> Match | None:
    best: Match | None = None
    for alias in (item.name, *item.aliases):
        target = fold(alias)
        size = len(target.split())
        if not target or size == 0:
            continue
        threshold = _threshold(target)
        for n in {max(1, size - 1), size, size + 1}:
            for i in range(0, len(words) - n + 1):
                run = " ".join(words[i : i + n])
                if n == 1 and run in COMMON:
                    continue
                score = _ratio(run, target)
                if score >= threshold and (best is None or score > best.score):
                    best = Match(item, score, (i, i + n))
    return best


def _distinctive(words: list[str], items: list[Named], already: set[str]) -> list[Match]:
    """Single words of a name that only one name (or one name's variants) has."""
    owners: dict[str, set[str]] = {}
    for item in items:
        for word in set(fold(item.name).split()):
            if len(word) >= 4 and word not in COMMON and not word.isdigit():
                owners.setdefault(word, set()).add(_base(item.name))
    found: list[Match] = []
    for i, word in enumerate(words):
        if len(word) < 4 or word in COMMON:
            continue
        for name_word, bases in owners.items():
            if len(bases) != 1:
                continue
            score = _ratio(word, name_word)
            if score < (0.86 if len(name_word) >= 6 else 0.95):
                continue
            for item in items:
                if item.id not in already and name_word in fold(item.name).split():
                    found.append(Match(item, score * 0.9, (i, i + 1)))
    return found


def _base(name: str) -> str:
    """A product's name without its size: "Kenya Nyeri 250 g" and "Kenya Nyeri 1 kg" are
    variants of one coffee."""
    return re.sub(r"\s+\d+(?:[.,]\d+)?\s*(?:g|kg|ml|l|oz|lb|cup|pack)\b.*$", "", fold(name))
