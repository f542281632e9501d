"""The privacy proxy (DESIGN rule 7): personal data out of prompts before an external
provider sees them, and back into its answer afterwards.

A :class:`Redactor` replaces, in every message of one request, with one shared mapping:

* e-mail addresses → ``[EMAIL_n]``;
* IBANs whose mod-97 checksum holds → ``[IBAN_n]``;
* card numbers (13 to 19 digits, spaces or dashes allowed) that pass the Luhn check →
  ``[CARD_n]``; digit runs that fail it are left alone;
* phone numbers → ``[PHONE_n]``: what ``phonenumbers`` finds as a *valid* number for the
  tenant's region (or in international form), plus a fallback for numbers it cannot place:
  7 to 15 digits that start with ``+``/``(``/``0`` or are grouped by spaces, dashes, dots or
  slashes (dates such as 2024-01-15 and identifiers glued to letters such as INV-2024-0001
  are not phones);
* names of people and companies the tenant's CRM knows (:class:`KnownEntity`) →
  ``[PERSON_n]`` / ``[COMPANY_n]``: whole words, case- and diacritic-insensitive, the
  longest name first. A person may also be mentioned by the first or last word of the
  name alone ("Hi Ada" for Ada Lovelace): such *short forms* are decided by
  the name lookup port (:data:`bizos.core.ports.ports`, filled by the CRM) and become
  ``[PERSON_n_FIRST]`` /
  ``[PERSON_n_LAST]`` (the same ``n``, so a model sees it is one person). A short form must
  start with a capital letter in the text ("Will" the person, not "will" the verb), and
  one claimed by two different people is dropped as ambiguous.

The same value gets the same token everywhere in the request. :meth:`Redactor.restore`
puts the originals back: a name as the CRM spells it, a short form as the CRM spells it,
any other value as it first appeared. Tokens a model alters slightly are restored too:
``[Person_1]``, ``[PERSON 1]``, ``[ PERSON-1 ]`` and the bare ``PERSON_1``; a token the
mapping does not know (``[PERSON_9]``) is left as written. Streams are restored by a
:class:`StreamRestorer`, which holds back only the tail of the text that could still be
the start of a token.

Limitation: a prompt that already contains literal token text (``[EMAIL_1]``) is not
escaped; the answer would show the redacted value in its place.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import phonenumbers

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bizos.core.context import Context

from bizos.core.ports import ports

EntityKind = Literal["PERSON", "COMPANY"]
TOKEN_KINDS = ("PERSON", "COMPANY", "EMAIL", "PHONE", "CARD", "IBAN")


@dataclass(frozen=True, slots=True)
class KnownEntity:
    """A name the tenant's CRM knows. ``short_forms`` are words of ``value`` (its first or
    last word) that, standing alone in the texts, refer to this entity unambiguously."""

    kind: EntityKind
    value: str
    short_forms: tuple[str, ...] = ()


# --- detectors -----------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.+%-])[\w.+%-]*\w@[^\W_](?:[\w-]*\w)?(?:\.[^\W_](?:[\w-]*\w)?)+(?![\w-])"
)
# Two letters, two check digits, then 11 to 30 alphanumerics, either compact or in groups.
_IBAN = re.compile(
    r"(?<![\w])[A-Za-z]{2}\d{2}(?:[A-Za-z0-9]{11,30}|(?:[ -]?[A-Za-z0-9]{4}){2,7}"
    r"(?:[ -]?[A-Za-z0-9]{1,3})?)(?![\w])"
)
_CARD = re.compile(r"(?<![\w-])\d+(?:[ -]\d+)*(?![\w])")
_PHONE_FALLBACK = re.compile(r"(?<![\w+/.-])(?:\+|\(\+?)?\d[\d ()./-]*\d\)?(?![\w])")
_DATE = re.compile(r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})(?!\d)")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number carries."""
    if not digits.isdigit() or not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(compact: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to numbers
    (A=10 … Z=35); the number mod 97 must be 1."""
    text = compact.upper()
    if not 15 <= len(text) <= 34 or not text[:2].isalpha() or not text[2:4].isdigit():
        return False
    if not text.isascii() or not text.isalnum():
        return False
    rearranged = text[4:] + text[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


Span = tuple[int, int, str, str, str]  # start, end, kind, key, surface


# IBAN lengths by country (the SWIFT IBAN registry): a candidate is cut to its country's
# length, so a word after the IBAN is not swallowed and a typo is not half-redacted.
_IBAN_LENGTHS = {
    c[:2]: int(c[2:])
    for c in (  # noqa: SIM905
        "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 "
        "DE22 DJ27 DK18 DO28 EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 "
        "GT28 HN28 HR21 HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 "
        "LU20 LV21 LY25 MC27 MD24 ME22 MK19 MN20 MR27 MT31 MU30 NI28 NL18 NO15 OM23 PK24 "
        "PL28 PS29 PT25 QA29 RO24 RS22 RU33 SA24 SC31 SD18 SE24 SI19 SK24 SM27 SO23 ST25 "
        "SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20 YE30"
    ).split()
}


def _iban_spans(text: str) -> list[Span]:
    out: list[Span] = []
    for m in _IBAN.finditer(text):
        surface = m.group(0)
        length = _IBAN_LENGTHS.get(surface[:2].upper())
        end = len(surface)
        if length is not None:
            seen = 0
            for i, char in enumerate(surface):
                seen += char.isalnum()
                if seen == length:
                    end = i + 1
                    break
            else:
                continue  # too short for its country
            if end < len(surface) and surface[end] not in " -":
                continue  # the country's length ends inside a group: not an IBAN
        candidate = surface[:end]
        compact = re.sub(r"[ -]", "", candidate)
        if iban_valid(compact):
            out.append((m.start(), m.start() + end, "IBAN", compact.upper(), candidate))
    return out


def _windows(text: str, run: re.Match[str]) -> list[tuple[int, int]]:
    """The digit groups of a run of numbers, as (start, end) offsets in ``text``."""
    return [(run.start() + g.start(), run.start() + g.end()) for g in re.finditer(r"\d+", run[0])]


def _group_spans(
    text: str,
    run: re.Match[str],
    accept: Callable[[str], bool],
    *,
    lead: str = "",
    free: Callable[[int, int], bool] = lambda s, e: True,
) -> list[tuple[int, int]]:
    """Left to right, the longest windows of whole digit groups that ``accept`` takes:
    numbers written next to each other ("+44 20 7946 0958 4111 1111 ...") are found one
    by one. ``lead`` characters just before a window's first group belong to it."""
    groups = _windows(text, run)
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(groups):
        start = groups[i][0]
        while start > run.start() and text[start - 1] in lead:
            start -= 1
        for j in range(len(groups) - 1, i - 1, -1):
            end = groups[j][1]
            if end < run.end() and text[end] == ")" and text[start:end].count("(") == 1:
                end += 1
            if free(start, end) and accept(text[start:end]):
                out.append((start, end))
                i = j + 1
                break
        else:
            i += 1
    return out


def _is_card(raw: str) -> bool:
    return luhn_valid(_digits(raw))


def _card_spans(text: str) -> list[Span]:
    out: list[Span] = []
    for run in _CARD.finditer(text):
        if len(_digits(run[0])) <= 19:
            # One number: a card as a whole or not at all (a 17-digit reference is not
            # a card because 16 of its digits happen to pass Luhn).
            if _is_card(run[0]):
                out.append((run.start(), run.end(), "CARD", _digits(run[0]), run[0]))
            continue
        for start, end in _group_spans(text, run, _is_card):
            raw = text[start:end]
            out.append((start, end, "CARD", _digits(raw), raw))
    return out


def _phone_key(raw: str, number: phonenumbers.PhoneNumber | None) -> str:
    if number is not None:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return _digits(raw)


_CARD_SHAPED = re.compile(r"^\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,4})?$")


def _phone_spans(
    text: str, region: str | None, free: Callable[[int, int], bool] = lambda s, e: True
) -> list[Span]:
    out: list[Span] = []
    # A card-shaped number that failed Luhn is not a phone, nor is any part of it.
    card_shaped = [
        (run.start(), run.end())
        for run in _PHONE_FALLBACK.finditer(text)
        if _CARD_SHAPED.match(run[0]) and len(_digits(run[0])) >= 13
    ]
    matcher = phonenumbers.PhoneNumberMatcher(
        text, region or "ZZ", leniency=phonenumbers.Leniency.VALID
    )
    for match in matcher:
        key = _phone_key(match.raw_string, match.number)
        # E.164 allows 15 digits after the +; fewer than 7 digits are service codes and
        # fragments of longer numbers, not someone's phone.
        if len(key) > 16 or len(_digits(match.raw_string)) < 7 or not free(match.start, match.end):
            continue
        if any(match.start < e and match.end > s for s, e in card_shaped):
            continue
        out.append((match.start, match.end, "PHONE", key, match.raw_string))
    for run in _PHONE_FALLBACK.finditer(text):
        if _CARD_SHAPED.match(run[0]):
            continue  # a card number that failed Luhn is not a phone either
        for start, end in _group_spans(text, run, _looks_like_phone, lead="+(", free=free):
            raw = text[start:end]
            number = _parse_phone(raw, region)
            out.append((start, end, "PHONE", _phone_key(raw, number), raw))
    return out


def _looks_like_phone(raw: str) -> bool:
    digits = _digits(raw)
    if not 7 <= len(digits) <= 15 or _DATE.match(raw):
        return False
    if raw.count("(") != raw.count(")"):
        return False
    groups = re.findall(r"\d+", raw)
    # "030 1234567 030 ...": a trunk zero after a subscriber number starts the next one.
    if any(g.startswith("0") and len(p) >= 6 for p, g in itertools.pairwise(groups)):
        return False
    grouped = bool(re.search(r"\d[ ./-]+\d", raw))
    # A bare run of digits is an order or invoice number unless it reads like a
    # dialled number (international prefix or national trunk zero).
    return raw[0] in "+(" or raw[0] == "0" or grouped


def _parse_phone(raw: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_possible_number(number) else None


def _email_spans(text: str) -> list[Span]:
    return [
        (m.start(), m.end(), "EMAIL", m.group(0).lower(), m.group(0)) for m in _EMAIL.finditer(text)
    ]


# --- names ---------------------------------------------------------------------------


# Latin letters with diacritics to their plain letter, one character for one, so offsets in
# the folded text are offsets in the original.
def fold(text: str) -> str:
    """``text`` with Latin diacritics removed, character for character."""
    return text.translate(_FOLD_TABLE)


def _build_fold_table() -> dict[int, int]:
    table: dict[int, int] = {}
    for code in range(0xC0, 0x250):
        char = chr(code)
        base = unicodedata.normalize("NFKD", char)[0]
        if base != char and base.isascii() and base.isalpha():
            table[code] = ord(base)
    for char, plain in {
        "đ": "d",
        "Đ": "D",
        "\u0131": "i",
        "ł": "l",
        "Ł": "L",
        "ø": "o",
        "Ø": "O",
    }.items():
        table[ord(char)] = ord(plain)
    return table


_FOLD_TABLE = _build_fold_table()


def _name_pattern(name: str, *, capitalised: bool) -> str:
    """A regex for ``name`` (folded). Where the name has punctuation between words
    ("Müller-Lüdenscheidt", "Acme, Inc.") any punctuation or space may stand there;
    where it has a space, spaces or a hyphen. With ``capitalised`` the first letter must
    be upper-case in the text."""
    folded = fold(name).strip()
    matches = list(re.finditer(r"[^\W_]+", folded))
    if not matches:
        return re.escape(folded)
    parts: list[str] = []
    for i, m in enumerate(matches):
        if i:
            gap = folded[matches[i - 1].end() : m.start()]
            parts.append(r"(?:\s+|-)" if gap.isspace() else "[\\s,.'\u2019&-]*")
        word = m.group(0)
        if capitalised and i == 0:
            parts.append(f"(?-i:{re.escape(word[0].upper())})" + re.escape(word[1:]))
        else:
            parts.append(re.escape(word))
    if folded.endswith("."):
        parts.append(r"\.?")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class _NameForm:
    kind: EntityKind
    entity: str  # the entity's value as the CRM spells it
    part: str  # "" | FIRST | LAST
    value: str  # what restoring puts back


def _name_forms(entities: Iterable[KnownEntity]) -> dict[str, _NameForm]:
    """Every spelling to look for (folded, lower-cased) → what it stands for."""
    full: dict[str, _NameForm] = {}
    short: dict[str, _NameForm | None] = {}
    for entity in entities:
        value = entity.value.strip()
        if not value:
            continue
        key = fold(value).lower()
        if key not in full or (full[key].kind == "COMPANY" and entity.kind == "PERSON"):
            full[key] = _NameForm(entity.kind, value, "", value)
        words = [w.strip(",.;:").lower() for w in value.split()]
        for spelling in entity.short_forms:
            if len(words) < 2:
                continue
            lowered = spelling.strip().lower()
            part = "FIRST" if lowered == words[0] else "LAST" if lowered == words[-1] else ""
            if not part:
                continue
            mine = _NameForm(entity.kind, value, part, spelling.strip())
            skey = fold(mine.value).lower()
            seen = short.get(skey, mine)
            same = seen is not None and fold(seen.entity).lower() == key and seen.part == part
            short[skey] = mine if same else None
    forms = dict(full)
    for skey, form in short.items():
        if form is not None and skey not in full:
            forms[skey] = form
    return forms


# --- restoring -----------------------------------------------------------------------

_KINDS = "|".join(TOKEN_KINDS)
_TOKEN = re.compile(
    rf"\[\s*(?P<k1>{_KINDS})[\s_-]*(?P<n1>\d+)(?:[\s_-]*(?P<p1>FIRST|LAST))?\s*\]"
    rf"|(?<![\w\[])(?P<k2>{_KINDS})_(?P<n2>\d+)(?:_(?P<p2>FIRST|LAST))?(?!\w)",
    re.IGNORECASE,
)
MAX_TOKEN_CHARS = 40


def _token_key(m: re.Match[str]) -> str:
    kind = (m.group("k1") or m.group("k2")).upper()
    number = int(m.group("n1") or m.group("n2"))
    part = m.group("p1") or m.group("p2")
    return f"{kind}_{number}" + (f"_{part.upper()}" if part else "")


class Redactor:
    """One request's mapping between personal data and tokens (see the module doc)."""

    def __init__(self, entities: Iterable[KnownEntity] = (), *, region: str | None = None):
        self.region = region.upper() if region else None
        self._forms = _name_forms(entities)
        self._names: re.Pattern[str] | None = None
        if self._forms:
            ordered = sorted(self._forms.items(), key=lambda kv: len(kv[0]), reverse=True)
            alternatives = [
                _name_pattern(form.value if form.part else form.entity, capitalised=bool(form.part))
                for _key, form in ordered
            ]
            self._names = re.compile(
                r"(?<![\w@])(?:" + "|".join(f"({a})" for a in alternatives) + r")(?![\w@])",
                re.IGNORECASE,
            )
            self._name_order = [form for _key, form in ordered]
        self._by_key: dict[tuple[str, str], str] = {}  # (kind, identity) → "PERSON_1"
        self._originals: dict[str, str] = {}  # "PERSON_1" → "Ada Lovelace"
        self._counters: dict[str, int] = {}

    @property
    def count(self) -> int:
        """How many distinct values were replaced so far."""
        return len(self._originals)

    @property
    def mapping(self) -> dict[str, str]:
        """Token (without brackets) → the value it stands for."""
        return dict(self._originals)

    def _token(self, kind: str, identity: str, original: str) -> str:
        key = (kind, identity)
        token = self._by_key.get(key)
        if token is None:
            self._counters[kind] = self._counters.get(kind, 0) + 1
            token = f"{kind}_{self._counters[kind]}"
            self._by_key[key] = token
            self._originals[token] = original
        return token

    def _name_spans(self, text: str) -> list[tuple[int, int, _NameForm]]:
        if self._names is None:
            return []
        out = []
        for m in self._names.finditer(fold(text)):
            index = m.lastindex
            assert index is not None
            out.append((m.start(), m.end(), self._name_order[index - 1]))
        return out

    def redact(self, text: str) -> str:
        """``text`` with every piece of personal data found replaced by its token."""
        claimed: list[tuple[int, int, str]] = []  # start, end, replacement

        def free(start: int, end: int) -> bool:
            return all(end <= s or start >= e for s, e, _r in claimed)

        detectors: list[Callable[[], list[Span]]] = [
            lambda: _email_spans(text),
            lambda: _iban_spans(text),
            lambda: _card_spans(text),
            lambda: _phone_spans(text, self.region, free),
        ]
        for detect in detectors:
            for start, end, kind, key, surface in sorted(detect(), key=lambda s: (s[0], -s[1])):
                if free(start, end):
                    claimed.append((start, end, f"[{self._token(kind, key, surface)}]"))
        for start, end, form in self._name_spans(text):
            if free(start, end):
                base = self._token(form.kind, fold(form.entity).lower(), form.entity)
                if form.part:
                    self._originals.setdefault(f"{base}_{form.part}", form.value)
                    claimed.append((start, end, f"[{base}_{form.part}]"))
                else:
                    claimed.append((start, end, f"[{base}]"))
        out: list[str] = []
        position = 0
        for start, end, replacement in sorted(claimed):
            out.append(text[position:start])
            out.append(replacement)
            position = end
        out.append(text[position:])
        return "".join(out)

    def _restore_match(self, m: re.Match[str]) -> str:
        return self._originals.get(_token_key(m), m.group(0))

    def restore(self, text: str) -> str:
        """``text`` with every token this redactor issued replaced by its original."""
        if not self._originals:
            return text
        return _TOKEN.sub(self._restore_match, text)

    def restorer(self) -> StreamRestorer:
        return StreamRestorer(self)


class StreamRestorer:
    """Restores a streamed answer delta by delta. ``feed`` returns the text that can be
    released now; the tail that could still become a token is held until the next delta
    (or :meth:`finish`). The concatenated output equals ``restore`` of the whole text."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._pending = ""

    def _safe_cut(self, text: str) -> int:
        cut = len(text)
        bracket = text.rfind("[")
        if bracket != -1 and "]" not in text[bracket:] and len(text) - bracket <= MAX_TOKEN_CHARS:
            cut = bracket
        run = len(text)
        while run > 0 and (text[run - 1].isalnum() or text[run - 1] == "_"):
            run -= 1
        if len(text) - run <= MAX_TOKEN_CHARS:
            cut = min(cut, run)
        for m in _TOKEN.finditer(text):
            if m.start() < cut < m.end():
                cut = m.start()
        return cut

    def feed(self, delta: str) -> str:
        text = self._pending + delta
        cut = self._safe_cut(text)
        self._pending = text[cut:]
        return self._redactor.restore(text[:cut])

    def finish(self) -> str:
        text, self._pending = self._pending, ""
        return self._redactor.restore(text)


async def redactor_for(session: AsyncSession, ctx: Context, texts: Sequence[str]) -> Redactor:
    """A redactor for one request to an external provider: the CRM names of ``ctx``'s
    tenant that occur in ``texts``, and the tenant's phone region.

    The names come through the name lookup port, which the CRM fills (its manifest's
    ``name_lookup``); without it only patterns (emails, phones, cards…) are redacted."""
    lookup = ports.name_lookup
    if lookup is None:
        return Redactor()
    entities, region = await lookup(session, ctx, texts)
    return Redactor(entities, region=region)
