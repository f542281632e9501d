"""Contract terms out of text: parties, amounts, dates (no network).

What the built-in local provider answers for the ``extract_contract`` task, and what
the contract service uses to fill in what a model left out (the notice date).

Dates and periods (and the day-first convention for numeric dates) are read by
:mod:`bizos.ai.extract.dates`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from bizos.ai.extract.dates import (
    Period,
    find_dates,
    find_periods,
    month_first,
)

# --- sentences ----------------------------------------------------------------------------

_ABBREVIATIONS = ("ltd", "inc", "co", "no", "corp", "plc", "st", "nr", "art", "cl", "e.g", "i.e")
_BOUNDARY = re.compile(
    r"(?<=[.;!?])\s+(?=[\"“(A-Z0-9])|\n\s*\n|\n(?=\s*(?:\d+(?:\.\d+)*\.?\s|[A-Z ]{4,}\n))"
)


@dataclass(frozen=True, slots=True)
class Sentence:
    text: str
    start: int


def sentences(text: str) -> list[Sentence]:
    """Clauses of ``text`` (line breaks inside a clause are kept as spaces by callers)."""
    out: list[Sentence] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        before = text[start : match.start()]
        word = re.search(r"(\S+)\.$", before)
        if word and word.group(1).lower().strip("(") in _ABBREVIATIONS:
            continue
        if before.strip():
            out.append(Sentence(before, start))
        start = match.end()
    if text[start:].strip():
        out.append(Sentence(text[start:], start))
    return out


def _clean(text: str, limit: int = 300) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "…"


# --- parties ------------------------------------------------------------------------------

ROLES = (
    "Supplier",
    "Customer",
    "Buyer",
    "Seller",
    "Vendor",
    "Client",
    "Purchaser",
    "Licensor",
    "Licensee",
    "Landlord",
    "Tenant",
    "Lessor",
    "Lessee",
    "Provider",
    "Service Provider",
    "Contractor",
    "Consultant",
    "Distributor",
    "Manufacturer",
    "Reseller",
    "Agent",
    "Principal",
    "Company",
    "Employer",
    "Employee",
    "Partner",
)
_ROLE_SET = {r.lower() for r in ROLES}
_CORPORATE = re.compile(
    r"\b(?:Ltd|Limited|Inc|Incorporated|LLC|L\.L\.C|LLP|plc|PLC|GmbH|AG|S\.A|SA|SAS|SARL|"
    r"B\.V|BV|N\.V|Corp|Corporation|Company|Co|Pty|S\.r\.l|SpA|AB|AS|Oy|KG)\b\.?"
)
_DEFINED = re.compile(
    r"\(\s*(?:each\s+a\s+\"?Party\"?\s*,?\s*)?(?:hereinafter\s+(?:referred\s+to\s+as\s+|called\s+)?"
    r"|the\s+|as\s+)?[\"\u201c\u201d'\u2018]([A-Z][A-Za-z ]{1,30}?)[\"\u201c\u201d'\u2019]\s*\)"
)
_LABEL = re.compile(
    r"^\s*(?P<role>" + "|".join(sorted(ROLES, key=len, reverse=True)) + r")\s*(?:name)?\s*:\s*"
    r"(?P<name>[^\n,;]{2,120})",
    re.IGNORECASE | re.MULTILINE,
)


def _party_name(segment: str) -> str | None:
    segment = re.sub(r"\s+", " ", segment).strip()
    segment = re.sub(
        r"^.*?\b(?:between|by and between|made by)\s*:?\s*", "", segment, flags=re.IGNORECASE
    )
    while True:  # "; and (2) Beta Ltd" -> "Beta Ltd"
        stripped = re.sub(
            r"^(?:\(\w{1,3}\)|\d+[.)]|[;,:]|and\b|of\b|the\b(?=\s+\w+\s*$))\s*",
            "",
            segment,
            flags=re.IGNORECASE,
        )
        if stripped == segment:
            break
        segment = stripped
    name = re.split(
        r",(?!\s*(?:Inc|LLC|Ltd|L\.L\.C|LLP|S\.A|N\.V|B\.V)\b)|\s\((?!the\b)|\s+(?:a|an)\s+(?:company|corporation|limited)\b",
        segment,
    )[0]
    name = name.strip(' .:;"“”')
    if not name or len(name) > 120 or not name[0].isupper():
        return None
    return name


def find_parties(text: str) -> list[dict[str, Any]]:
    """``[{name, role, evidence}]`` from defined terms (``Acme Ltd (the "Supplier")``) and
    labelled lines (``Supplier: Acme Ltd``); each role once."""
    found: dict[str, dict[str, Any]] = {}
    previous_end = 0
    flat = text
    for match in _DEFINED.finditer(flat):
        role = match.group(1).strip()
        window_start = max(previous_end, match.start() - 400)
        segment = flat[window_start : match.start()]
        previous_end = match.end()
        # Skip back over a parenthetical inside the party's description.
        name = _party_name(segment)
        if name is None:
            continue
        if role.lower() not in _ROLE_SET and not _CORPORATE.search(name):
            continue
        if role.lower() in ("effective date", "agreement", "term", "party", "parties"):
            continue
        quote = segment[segment.find(name.split()[0]) :] + match.group(0)
        found.setdefault(role.lower(), {"name": name, "role": role, "evidence": _clean(quote)})
    for match in _LABEL.finditer(text):
        role = match["role"].strip().title()
        name = match["name"].strip(" .")
        if role.lower() not in found and name[:1].isupper():
            found[role.lower()] = {"name": name, "role": role, "evidence": _clean(match.group(0))}
    return list(found.values())


# --- amounts ------------------------------------------------------------------------------

_SYMBOLS = {"£": "GBP", "$": "USD", "€": "EUR", "¥": "JPY", "US$": "USD", "A$": "AUD", "C$": "CAD"}
_CODES = "USD|EUR|GBP|CHF|JPY|CAD|AUD|NZD|SEK|NOK|DKK|PLN|CZK|HUF|INR|CNY|SGD|HKD|ZAR|BRL|MXN|AED"
_NUM = r"(?P<num>\d{1,3}(?:[,.\s]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)"
_AMOUNT = re.compile(
    rf"(?:(?P<sym>US\$|A\$|C\$|[£$€¥])\s?{_NUM}"
    rf"|(?P<code>\b(?:{_CODES}))\s?{_NUM.replace('num', 'num2')}"
    rf"|{_NUM.replace('num', 'num3')}\s?(?P<code2>(?:{_CODES})\b|[£€]))"
    r"(?P<scale>\s?(?:million|m\b|k\b|thousand))?",
)


def _decimal(raw: str) -> Decimal | None:
    raw = raw.replace(" ", "")
    if "," in raw and "." in raw:
        if raw.rfind(",") > raw.rfind("."):
            raw = raw.replace(".", "").replace(",", ".")  # 1.200,50
        else:
            raw = raw.replace(",", "")
    elif "," in raw:
        head, _, tail = raw.rpartition(",")
        raw = raw.replace(",", "") if len(tail) == 3 else f"{head.replace(',', '')}.{tail}"
    elif raw.count(".") > 1 or (raw.count(".") == 1 and len(raw.rpartition(".")[2]) == 3):
        raw = raw.replace(".", "")
    try:
        return Decimal(raw)
    except InvalidOperation:
        return None


def find_amounts(text: str) -> list[dict[str, Any]]:
    """``[{amount, currency, description, evidence}]``; the same sum in the same currency
    once. ``amount`` is a decimal string with two places."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for sentence in sentences(text):
        flat = re.sub(r"\s+", " ", sentence.text)
        for match in _AMOUNT.finditer(flat):
            raw = match["num"] or match["num2"] or match["num3"]
            currency = (
                _SYMBOLS.get(match["sym"] or "")
                or match["code"]
                or _SYMBOLS.get(match["code2"] or "", match["code2"])
            )
            value = _decimal(raw)
            if value is None or not currency:
                continue
            scale = (match["scale"] or "").strip().lower()
            if scale in ("million", "m"):
                value *= 1_000_000
            elif scale in ("k", "thousand"):
                value *= 1000
            key = (f"{value:.2f}", currency)
            if key in seen or value == 0:
                continue
            seen.add(key)
            out.append(
                {
                    "amount": f"{value:.2f}",
                    "currency": currency,
                    "description": _describe_amount(flat, match.start()),
                    "evidence": _clean(flat),
                }
            )
    return out


def _describe_amount(sentence: str, at: int) -> str:
    """A short label for an amount: the clause heading or the words just before it."""
    heading = re.match(r"^\s*(?:\d+(?:\.\d+)*\.?\s+)?([A-Z][A-Za-z &]{2,40}?)[.:]\s", sentence)
    before = sentence[:at].rstrip(" :of-")
    words = re.findall(r"[A-Za-z][A-Za-z'-]*", before)[-6:]
    text = " ".join(words) if words else (heading.group(1) if heading else "amount")
    return _clean(text, 120)


# --- the extraction -----------------------------------------------------------------------

# Words that, just before a date in the same clause, say which date it is.
_FIELD_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("notice_date", r"notice\b[^.;]{0,120}?\b(?:no later than|not later than|on or before|by)"),
    ("notice_date", r"notice date"),
    ("renewal_date", r"renewal date|renews? on|renewed on|renews? with effect from"),
    ("termination_date", r"termination date|terminates? on|terminated on"),
    (
        "end_date",
        r"expir(?:e|es|y|ation)(?: date)?(?: on)?|end(?:s|ing)? on|end date|until|through"
        r"|up to and including|continue (?:in force )?(?:until|to)",
    ),
    (
        "start_date",
        r"commenc(?:e|es|ing|ement)(?: date)?(?: on)?|effective (?:date|as of|from|on)"
        r"|start(?:s|ing)?(?: date| on)?|with effect from|begin(?:s|ning)?(?: on)?|from",
    ),
    (
        "signed_date",
        r"dated|made on|entered into on|signed on|date of this agreement|made as of|as of",
    ),
)
_FIELD_PATTERNS = tuple(
    (name, re.compile(rf".*\b(?:{words})\b(?P<gap>[^.;]*)$", re.IGNORECASE | re.DOTALL))
    for name, words in _FIELD_KEYWORDS
)
_AUTO_RENEW = re.compile(
    r"\b(?:automatically\s+(?:be\s+)?(?:renew|extend)\w*|auto-?renew\w*|renew\w*\s+automatically|"
    r"tacit(?:ly)?\s+renew\w*|renew\w*\s+for\s+(?:successive|further|additional|consecutive))",
    re.I,
)
_NO_AUTO_RENEW = re.compile(
    r"\b(?:(?:shall|will|does|do)\s+not\s+(?:be\s+)?(?:automatically\s+)?renew\w*|"
    r"no\s+automatic\s+renewal|not\s+(?:be\s+)?(?:automatically\s+)?renewed|"
    r"renew\w*\s+(?:only\s+)?by\s+mutual)",
    re.I,
)
_NOTICE_PERIOD = re.compile(r"\bnotice\b", re.I)
_TERM = re.compile(
    r"\b(?:initial\s+term|term\s+of\s+this|for\s+a\s+(?:fixed\s+)?(?:initial\s+)?(?:term|period)\s+of|initial\s+period)\b",
    re.I,
)


def _notice_period_in(flat: str) -> Period | None:
    """The period that describes the notice ("90 days' notice", "notice of 3 months"):
    of the periods within 40 characters of the word, the nearest one — "renews for one
    year unless terminated by notice of ninety (90) days" gives 90 days, not a year."""
    notices = [(m.start(), m.end()) for m in _NOTICE_PERIOD.finditer(flat)]
    best: tuple[int, Period] | None = None
    for period in find_periods(flat):
        distances = [
            start - period.end if start >= period.end else period.start - end
            for start, end in notices
            if start >= period.end or end <= period.start
        ]
        near = min((d for d in distances if d <= 40), default=None)
        if near is not None and (best is None or near < best[0]):
            best = (near, period)
    return best[1] if best is not None else None


@dataclass
class ContractTerms:
    parties: list[dict[str, Any]] = field(default_factory=list)
    amounts: list[dict[str, Any]] = field(default_factory=list)
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    renewal_date: dt.date | None = None
    termination_date: dt.date | None = None
    notice_date: dt.date | None = None
    notice_period_days: int | None = None
    auto_renews: bool | None = None
    evidence: dict[str, str] = field(default_factory=dict)
    computed: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def iso(day: dt.date | None) -> str | None:
            return day.isoformat() if day else None

        return {
            "parties": [{"name": p["name"], "role": p["role"]} for p in self.parties],
            "amounts": [
                {k: a[k] for k in ("amount", "currency", "description")} for a in self.amounts
            ],
            "start_date": iso(self.start_date),
            "end_date": iso(self.end_date),
            "renewal_date": iso(self.renewal_date),
            "termination_date": iso(self.termination_date),
            "notice_date": iso(self.notice_date),
            "notice_period_days": self.notice_period_days,
            "auto_renews": self.auto_renews,
            "evidence": self.evidence,
            "computed": self.computed,
        }


def _classify_date(before: str) -> str | None:
    """The field a date belongs to: the keyword nearest before it in its clause wins
    ("commence on X and continue until Y"); on a tie, the earlier field in the list."""
    best: tuple[int, int, str] | None = None
    for rank, (name, pattern) in enumerate(_FIELD_PATTERNS):
        match = pattern.match(before)
        if match is None:
            continue
        candidate = (len(match["gap"]), rank, name)
        if best is None or candidate < best:
            best = candidate
    if best is None or best[0] > 60:
        return None
    return best[2]


def extract_contract(text: str) -> ContractTerms:
    """The terms of the contract in ``text``; fields it cannot find stay empty."""
    terms = ContractTerms()
    terms.parties = find_parties(text)
    if terms.parties:
        terms.evidence["parties"] = " … ".join(p["evidence"] for p in terms.parties)
    terms.amounts = find_amounts(text)
    if terms.amounts:
        terms.evidence["amounts"] = terms.amounts[0]["evidence"]
    us = month_first(text)
    notice_period: Period | None = None
    notice_clause: str | None = None
    notice_anchor_word: str | None = None
    term_period: Period | None = None
    signed: dt.date | None = None
    for sentence in sentences(text):
        flat = re.sub(r"\s+", " ", sentence.text)
        for hit in find_dates(flat, us=us):
            before = flat[max(0, hit.start - 160) : hit.start]
            name = _classify_date(before)
            if name == "signed_date":
                signed = signed or hit.value
                continue
            if name is not None and getattr(terms, name) is None:
                setattr(terms, name, hit.value)
                terms.evidence[name] = _clean(flat)
        if terms.auto_renews is None or terms.auto_renews is False:
            if _NO_AUTO_RENEW.search(flat):
                if terms.auto_renews is None:
                    terms.auto_renews = False
                    terms.evidence["auto_renews"] = _clean(flat)
            elif _AUTO_RENEW.search(flat):
                terms.auto_renews = True
                terms.evidence["auto_renews"] = _clean(flat)
        if notice_period is None and _NOTICE_PERIOD.search(flat):
            period = _notice_period_in(flat)
            if period is not None:
                notice_period, notice_clause = period, flat
                tail = flat[period.end :].lower()
                notice_anchor_word = "renewal" if re.search(r"\brenewal\b", tail) else None
        if term_period is None and _TERM.search(flat):
            periods = [p for p in find_periods(flat) if p.unit in ("month", "year")]
            if periods:
                term_period = periods[0]
                terms.evidence.setdefault("term", _clean(flat))
    if terms.start_date is None and signed is not None:
        terms.start_date = signed
        terms.computed.append("start_date")
    if terms.end_date is None and terms.start_date and term_period is not None:
        terms.end_date = term_period.after(terms.start_date) - dt.timedelta(days=1)
        terms.computed.append("end_date")
        terms.evidence.setdefault("end_date", terms.evidence.get("term", ""))
    if terms.renewal_date is None and terms.auto_renews and terms.end_date is not None:
        terms.renewal_date = terms.end_date + dt.timedelta(days=1)
        terms.computed.append("renewal_date")
        terms.evidence.setdefault("renewal_date", terms.evidence.get("auto_renews", ""))
    if notice_period is not None and notice_clause is not None:
        terms.evidence["notice_period_days"] = _clean(notice_clause)
        anchor = (
            terms.renewal_date
            if notice_anchor_word == "renewal" and terms.renewal_date
            else terms.end_date or terms.renewal_date
        )
        if anchor is not None:
            terms.notice_period_days = (anchor - notice_period.before(anchor)).days
        else:
            terms.notice_period_days = notice_period.approx_days
        if terms.notice_date is None and anchor is not None:
            terms.notice_date = notice_period.before(anchor)
            terms.computed.append("notice_date")
            terms.evidence["notice_date"] = _clean(notice_clause)
    return terms


def extract_contract_json(text: str) -> str:
    """The local provider's answer to ``extract_contract``: the terms as JSON."""
    return json.dumps(extract_contract(text).as_json(), ensure_ascii=False)
