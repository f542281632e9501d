"""The things a question names besides its period: products, people and companies (from
the tenant's vocabulary, forgiving typos), a channel, a currency, a stage, a priority, a
status, "top N", an amount, a grouping, a ticket or invoice number."""

# ruff: noqa: E501  (pattern tables and phrasing tables read best one entry a line)

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from bizos.modules.copilot import topics
from bizos.modules.copilot.dates import NUMBER_WORDS, PATTERNS
from bizos.modules.copilot.matching import find_named, fold
from bizos.modules.copilot.vocabulary import Vocabulary

CHANNELS = [
    (re.compile(r"\bshopify\b|\bonline (?:store|shop)\b|\bweb ?(?:shop|store|site)\b|\bwebsite\b|\be-?commerce\b|\bonline\b"), "shopify"),
    (re.compile(r"\bwholesale\b|\bb2b\b|\bapi\b|\btrade (?:customers|orders|accounts)\b|\bcafes?\b|\bcafés?\b"), "api"),
    (re.compile(r"\b(?:from|via|through|by) (?:closed |won )?deals\b|\bdeal (?:revenue|sales|orders)\b|\bsales team\b|\bdirect sales\b"), "deal"),
]  # fmt: skip
SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}
CURRENCY_WORDS = {
    "dollars": "USD", "dollar": "USD", "usd": "USD", "euros": "EUR", "euro": "EUR", "eur": "EUR",
    "pounds": "GBP", "sterling": "GBP", "gbp": "GBP", "yen": "JPY", "cad": "CAD", "aud": "AUD",
    "sek": "SEK", "chf": "CHF", "nok": "NOK", "dkk": "DKK",
}  # fmt: skip
PRIORITY = re.compile(
    r"\b(?P<p>urgent|high|normal|low|medium)[- ](?:priority|prio)\b|\b(?P<u>urgent)\b|\bp(?P<n>[1-4])\b"
)
STATUS = re.compile(
    r"\b(?P<s>new|open|pending|resolved|closed|unresolved|waiting)\b(?= (?:tickets?|cases?|requests?|issues?|complaints?))|\btickets? (?:that are |which are )?(?P<s2>open|pending|resolved|closed|new)\b"
)
_N = (
    r"(?P<n>\d{1,3}|"
    + "|".join(w for w in NUMBER_WORDS if " " not in w and w not in ("a", "an"))
    + r")"
)
TOP_N = re.compile(
    r"\b(?:top|best|biggest|largest|highest|worst|first|leading|hottest)\s+"
    + _N
    + r"\b|\b"
    + _N.replace("<n>", "<m>")
    + r"\s+(?:best|top|biggest|largest|hottest|most)\b"
)
SINGLE = re.compile(
    r"\b(?:the|my|our) (?:single )?(?:best|top|biggest|largest|number one|#1|most valuable)"
    r"(?: \w+)? (?:customer|client|buyer|product|seller|item|lead|account)\b(?!s)"
)
AMOUNT = re.compile(
    r"(?P<sym>[$€£¥])\s?(?P<v>\d[\d,]*(?:\.\d+)?)\s?(?P<k>k|m|thousand|million)?\b"
    r"|\b(?P<v2>\d[\d,]*(?:\.\d+)?)\s?(?P<k2>k|m|thousand|million)?\s?(?P<w>dollars|euros|pounds|usd|eur|gbp)\b"
)
GROUP = [
    (re.compile(r"\b(?:by|per|for each|each|every|across|split by|broken down by|breakdown by|down by) (?:product|sku|item|coffee)s?\b|\bproduct (?:breakdown|split|mix)\b|\bwhich products\b"), "product"),
    (re.compile(r"\b(?:by|per|for each|each|across|split by|down by) (?:channel|source|sales channel)s?\b|\bchannel (?:breakdown|split|mix)\b|\bwhich (?:sales )?channels?\b"), "channel"),
    (re.compile(r"\b(?:by|per|each|every) (?:status)\b"), "status"),
    (re.compile(r"\b(?:by|per|each|every|month by) month\b|\bmonthly\b|\bmonth[- ]by[- ]month\b"), "month"),
    (re.compile(r"\b(?:by|per|each|every) week\b|\bweekly\b|\bweek[- ]by[- ]week\b"), "week"),
    (re.compile(r"\b(?:by|per|each|every) day\b|\bdaily\b|\bday[- ]by[- ]day\b"), "day"),
]  # fmt: skip
TICKET = re.compile(
    r"\bt-?(?P<a>\d{1,6})\b|\bticket\s*(?:number\s*|no\.?\s*)?#?\s*(?P<b>\d{1,6})\b"
)
INVOICE = re.compile(
    r"\binv-?(?P<a>\d{1,6})\b|\binvoice\s*(?:number\s*|no\.?\s*)?#?\s*(?P<b>\d{1,6})\b"
)
QUANTITY = re.compile(
    r"\b(?:units?|quantity|quantities|volume|how many (?:bags|units|items))\b|\bmost (?:units|bags)\b"
)
CATEGORY_SYNONYMS = {
    "ads": "marketing", "advertising": "marketing", "adverts": "marketing", "promotion": "marketing",
    "beans": "green coffee", "green beans": "green coffee", "coffee beans": "green coffee",
    "postage": "shipping", "delivery": "shipping", "couriers": "shipping", "freight": "shipping",
    "bags": "packaging", "labels": "packaging", "lease": "rent", "premises": "rent",
    "subscriptions": "software", "saas": "software", "apps": "software", "wages": "payroll",
    "salaries": "payroll", "staff": "payroll", "power": "utilities", "electricity": "utilities",
}  # fmt: skip


LEAD_SOURCES = [
    (
        re.compile(r"\bweb ?(?:site|form)s?\b|\bcontact form\b|\bonline form\b|\bweb_form\b"),
        "web_form",
    ),
    (re.compile(r"\breferr(?:al|als|ed)\b|\bword of mouth\b"), "referral"),
    (re.compile(r"\btrade ?shows?\b|\bevents?\b|\bexpos?\b|\bfairs?\b"), "trade_show"),
    (re.compile(r"\bcold (?:outreach|emails?|calls?|calling)\b|\boutbound\b"), "cold_outreach"),
    (re.compile(r"\binstagram\b|\binsta\b|\bsocial(?: media)?\b"), "instagram"),
    (re.compile(r"\bimport(?:ed|s)?\b|\bcsv\b"), "import"),
]


def _reserved() -> frozenset[str]:
    """The words the parser reads for itself (in its topic, date and entity patterns):
    alone they are never taken for a name ("daily" is not The Daily Grind)."""
    sources = [p for patterns in topics.TOPIC_PATTERNS.values() for p, _ in patterns]
    sources += [p for p, _ in PATTERNS]
    sources += [r.pattern for r in (topics.KB_CUES, topics.KB_STRONG, topics.OUT_OF_SCOPE)]
    sources += [r.pattern for r, _ in (*CHANNELS, *GROUP, *LEAD_SOURCES)]
    sources += [PRIORITY.pattern, STATUS.pattern, QUANTITY.pattern, " ".join(CATEGORY_SYNONYMS)]
    plain = [re.sub(r"\\[a-zA-Z]", " ", source) for source in sources]  # "\\bsales" is "sales"
    return frozenset(w for text in plain for w in re.findall(r"[a-z]{3,}", text))


def ticket_number(text: str) -> str | None:
    match = TICKET.search(text)
    if match is None or (match.group("a") and not re.search(r"\bt-\d|\bticket", text)):
        return None
    return f"T-{int(match.group('a') or match.group('b')):06d}"


RESERVED = _reserved()


def extract(text: str, vocab: Vocabulary) -> dict[str, Any]:
    """The entities of a lower-cased question whose periods are blanked out."""
    out: dict[str, Any] = {}
    words = fold(text).split()
    named = _names(words, vocab, out)
    for word in named:
        text = re.sub(rf"\b{re.escape(word)}\b", " ", text)
    channels = [channel for regex, channel in CHANNELS if regex.search(text)]
    if len(channels) == 1:
        out["channel"] = channels[0]
    elif channels:  # "Shopify vs wholesale": side by side, not two periods
        out["group_by"] = "channel"
        out["versus"] = "channel"
    out["currency"] = _currency(text, vocab)
    out["top_n"] = _top_n(text)
    out["amount"] = _amount(text, vocab)
    for regex, group in GROUP:
        if "group_by" not in out and regex.search(text):
            if group in ("month", "week", "day"):
                out["group_by"], out["interval"] = "period", group
            else:
                out["group_by"] = group
            break
    if match := PRIORITY.search(text):
        word = (
            match.group("p")
            or match.group("u")
            or {"1": "urgent", "2": "high", "3": "normal", "4": "low"}[match.group("n")]
        )
        out["priority"] = "normal" if word == "medium" else word
    if match := STATUS.search(text):
        out["status"] = match.group("s") or match.group("s2")
    if re.search(r"\borders?\b", text) and (match := ORDER_STATUS.search(text)):
        word = match.group(0)
        out["order_status"] = (
            "backordered"
            if "back" in word
            else ("cancelled" if word.startswith("cancel") else "failed")
        )
    out["ticket_number"] = ticket_number(text)
    if match := INVOICE.search(text):
        out["invoice_number"] = f"INV-{(match.group('a') or match.group('b')).zfill(4)}"
    out["category"] = _category(text, words, vocab)
    both = _categories(words, vocab)
    if len(both) > 1 and re.search(r"\b(?:than|vs\.?|versus|or|against|compared)\b", text):
        out["categories"] = both[:2]  # "shipping or packaging": side by side, one period
        out["category"] = both[0]
        out["versus"] = "category"
    for regex, source in LEAD_SOURCES:
        if regex.search(text) and (not vocab.lead_sources or source in vocab.lead_sources):
            out["lead_source"] = source
            break
    if QUANTITY.search(text):
        out["by"] = "quantity"
    if match := re.search(
        r"\b(?:in|at|to) (?:the )?(?P<s>\w+) stage\b|\bdeals? (?:are |is )?(?:currently |still |now )?"
        r"(?:in|at) (?:the )?(?P<t>\w+)\b|\b(?:in|at) (?P<u>\w+)\b",
        text,
    ):
        stage = match.group("s") or match.group("t") or match.group("u")
        if stage in vocab.stages:
            out["stage"] = stage
    out["deal_query"] = _deal_query(text, out)
    return {k: v for k, v in out.items() if v not in (None, [], {})}


def _names(words: list[str], vocab: Vocabulary, out: dict[str, Any]) -> set[str]:
    """Sets products, contacts and companies; returns the words that named them."""
    kinds = {"products": vocab.products, "contacts": vocab.contacts, "companies": vocab.companies}
    found = [
        (kind, match)
        for kind, items in kinds.items()
        for match in find_named(words, items, reserved=RESERVED)
    ]
    # the longer, then the closer, naming wins where kinds claim the same words
    # ("Copper Kettle" is the café, not the Gooseneck Kettle)
    found.sort(key=lambda km: (-(km[1].span[1] - km[1].span[0]), -km[1].score))
    kept: list[tuple[str, Any]] = []
    for kind, match in found:
        lo, hi = match.span
        clash = [m for _, m in kept if lo < m.span[1] and m.span[0] < hi]
        if all(m.span == match.span and abs(m.score - match.score) < 1e-9 for m in clash):
            kept.append((kind, match))
    for kind in kinds:
        out[kind] = [m.as_entity() for k, m in kept if k == kind]
    return {words[i] for _, m in kept for i in range(*m.span)}


def _currency(text: str, vocab: Vocabulary) -> str | None:
    for symbol, code in SYMBOLS.items():
        if re.search(re.escape(symbol) + r"\s?\d", text):
            return None if code == vocab.default_currency and len(vocab.currencies) <= 1 else code
    for word, code in CURRENCY_WORDS.items():
        if re.search(rf"\b(?:in|only|as) {word}\b|\b{word} (?:only|revenue|sales|orders)\b", text):
            return code
    for code in vocab.currencies:
        if re.search(rf"\b{code.lower()}\b", text):
            return code.upper()
    return None


def _top_n(text: str) -> int | None:
    if match := TOP_N.search(text):
        word = match.group("n") or match.group("m")
        value = int(word) if word.isdigit() else NUMBER_WORDS.get(word)
        if value is not None and 0 < value <= 100:
            return value
    if SINGLE.search(text):
        return 1
    return None


def _amount(text: str, vocab: Vocabulary) -> dict[str, str] | None:
    match = AMOUNT.search(text)
    if match is None:
        return None
    raw = (match.group("v") or match.group("v2")).replace(",", "")
    scale = (match.group("k") or match.group("k2") or "").lower()
    try:
        value = Decimal(raw) * {
            "k": 1000,
            "thousand": 1000,
            "m": 1_000_000,
            "million": 1_000_000,
        }.get(scale, 1)
    except InvalidOperation:
        return None
    currency = (
        SYMBOLS.get(match.group("sym") or "")
        or CURRENCY_WORDS.get(match.group("w") or "")
        or vocab.default_currency
    )
    before = text[: match.start()]
    op = (
        "gt"
        if re.search(r"\b(?:over|above|more than|greater than|at least|bigger than|>)\s*$", before)
        else (
            "lt" if re.search(r"\b(?:under|below|less than|smaller than|<)\s*$", before) else "eq"
        )
    )
    return {"value": str(value.quantize(Decimal("0.01"))), "currency": currency, "op": op}


def _category(text: str, words: list[str], vocab: Vocabulary) -> str | None:
    folded = " ".join(words)
    for category in vocab.categories:
        if re.search(rf"\b{re.escape(fold(category))}\b", folded):
            return category
    for word, category in CATEGORY_SYNONYMS.items():
        if category in vocab.categories and re.search(rf"\b{word}\b", folded):
            return category
    return None


# Order statuses the revenue rule leaves out or holds back, asked for by name.
ORDER_STATUS = re.compile(r"\bback[- ]?order(?:s|ed)?\b|\bcancel+(?:ed|ations?)\b|\bfailed\b")


def _categories(words: list[str], vocab: Vocabulary) -> list[str]:
    """Every category named, in the order said."""
    folded = " ".join(words)
    at: dict[str, int] = {}
    names = [(fold(c), c) for c in vocab.categories]
    names += [(w, c) for w, c in CATEGORY_SYNONYMS.items() if c in vocab.categories]
    for word, category in names:
        if match := re.search(rf"\b{re.escape(word)}\b", folded):
            at[category] = min(at.get(category, match.start()), match.start())
    return sorted(at, key=lambda c: at[c])


def _deal_query(text: str, out: dict[str, Any]) -> str | None:
    """What names the deal: the company or contact named, else the words before "deal"."""
    if not re.search(r"\bdeals?\b", text):
        return None
    named = out.get("companies") or out.get("contacts")
    if named:
        return str(named[0]["name"])
    match = re.search(r"(?P<q>(?:[\w&'.-]+ ){0,3}?[\w&'.-]+) deal\b", text)
    if match is None:
        return None
    skip = {"the", "of", "on", "a", "our", "my", "status", "stage", "with", "is", "how"}
    words = [w for w in match.group("q").split() if w not in skip]
    return " ".join(words[-3:]) or None
