"""Dates and periods in contract text (no network).

Date convention: ISO (``2026-03-01``), written dates (``1 March 2026``, ``1st March
2026``, ``March 1, 2026``, ``1-Mar-2026``) are unambiguous. Numeric dates with slashes
or dots are read **day first** (``01/03/2026`` is 1 March 2026), as in most of the world
and in English law contracts, unless the document itself shows it writes month first: a
numeric date whose second number is above 12 (``03/25/2026``) switches the whole
document to month-first.

Periods: ``ninety (90) days``, ``90 days``, ``three months``, ``3 months``, ``12 weeks``,
``one year``. A notice date not stated is computed from the end (or renewal) date minus
the notice period, in calendar months where the period is given in months.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

# --- dates ---------------------------------------------------------------------------------

MONTHS = {
    name.lower(): number
    for number in range(1, 13)
    for name in (calendar.month_name[number], calendar.month_abbr[number])
}
MONTHS["sept"] = 9
_MONTH = r"(?:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<d>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<y>(?:19|20)\d\d)"

_DATE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("iso", re.compile(r"\b(?P<y>(?:19|20)\d\d)-(?P<m>[01]?\d)-(?P<d>[0-3]?\d)\b")),
    (
        "dmy_words",
        re.compile(
            rf"\b{_DAY}(?:\s+day)?(?:\s+of)?[\s-]+(?P<mon>{_MONTH})[\s,-]+{_YEAR}\b", re.IGNORECASE
        ),
    ),
    (
        "mdy_words",
        re.compile(rf"\b(?P<mon>{_MONTH})\s+{_DAY},?\s+{_YEAR}\b", re.IGNORECASE),
    ),
    (
        "numeric",
        re.compile(r"\b(?P<a>[0-3]?\d)[/.](?P<b>[0-3]?\d)[/.](?P<y>(?:19|20)\d\d)\b"),
    ),
)


@dataclass(frozen=True, slots=True)
class DateHit:
    value: dt.date
    start: int
    end: int


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def month_first(text: str) -> bool:
    """True when the text writes numeric dates month first (one of them says so)."""
    for match in _DATE_PATTERNS[3][1].finditer(text):
        a, b = int(match["a"]), int(match["b"])
        if b > 12 >= a:
            return True
        if a > 12:
            return False
    return False


def find_dates(text: str, *, us: bool | None = None) -> list[DateHit]:
    """Every date in ``text`` in order of appearance (overlapping matches dropped)."""
    if us is None:
        us = month_first(text)
    hits: list[DateHit] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            span = match.span()
            if any(span[0] < end and start < span[1] for start, end in taken):
                continue
            year = int(match["y"])
            if kind == "iso":
                value = _safe_date(year, int(match["m"]), int(match["d"]))
            elif kind == "numeric":
                a, b = int(match["a"]), int(match["b"])
                day, month = (b, a) if us else (a, b)
                if month > 12:  # the document's convention does not fit this one date
                    day, month = month, day
                value = _safe_date(year, month, day)
            else:
                month = MONTHS[match["mon"].lower().rstrip(".")]
                value = _safe_date(year, month, int(match["d"]))
            if value is not None:
                hits.append(DateHit(value, *span))
                taken.append(span)
    return sorted(hits, key=lambda h: h.start)


def parse_date(text: str) -> dt.date | None:
    """The first date in ``text`` (for a model's answer: ISO preferred, any form taken)."""
    hits = find_dates(text)
    return hits[0].value if hits else None


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole calendar months (the 31st becomes the month's last day)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


# --- periods ------------------------------------------------------------------------------

_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fourteen": 14,
    "fifteen": 15,
    "eighteen": 18,
    "twenty": 20,
    "twenty-one": 21,
    "twenty-four": 24,
    "thirty": 30,
    "thirty-six": 36,
    "forty-five": 45,
    "sixty": 60,
    "ninety": 90,
    "one hundred and twenty": 120,
    "one hundred twenty": 120,
    "one hundred and eighty": 180,
    "one hundred eighty": 180,
    "a": 1,
    "an": 1,
}
_NUMBER = (
    r"(?P<word>" + "|".join(sorted(map(re.escape, _NUMBER_WORDS), key=len, reverse=True)) + r")?"
)
_PERIOD = re.compile(
    rf"\b(?:{_NUMBER}\s*\(\s*(?P<paren>\d{{1,4}})\s*\)|(?P<digits>\d{{1,4}})"
    rf"|{_NUMBER.replace('word', 'word2')})"
    r"[\s-]*(?:calendar\s+|business\s+|working\s+)?(?P<unit>days?|weeks?|months?|years?)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Period:
    count: int
    unit: str  # day | week | month | year
    start: int = 0
    end: int = 0

    def before(self, day: dt.date) -> dt.date:
        """The date this period before ``day``."""
        if self.unit == "month":
            return add_months(day, -self.count)
        if self.unit == "year":
            return add_months(day, -12 * self.count)
        return day - dt.timedelta(days=self.count * (7 if self.unit == "week" else 1))

    def after(self, day: dt.date) -> dt.date:
        if self.unit == "month":
            return add_months(day, self.count)
        if self.unit == "year":
            return add_months(day, 12 * self.count)
        return day + dt.timedelta(days=self.count * (7 if self.unit == "week" else 1))

    @property
    def approx_days(self) -> int:
        per = {"day": 1, "week": 7, "month": 365 / 12, "year": 365}[self.unit]
        return round(self.count * per)


def find_periods(text: str) -> list[Period]:
    out = []
    for match in _PERIOD.finditer(text):
        raw = match["paren"] or match["digits"]
        if raw is not None:
            count = int(raw)
        else:
            word = (match["word2"] or "").lower()
            if not word or word not in _NUMBER_WORDS:
                continue
            count = _NUMBER_WORDS[word]
        unit = match["unit"].lower().rstrip("s")
        if count > 0:
            out.append(Period(count, unit, *match.span()))
    return out


def notice_date_for(
    anchor: dt.date, period_days: int | None, period: Period | None = None
) -> dt.date | None:
    """When notice must be given at the latest: ``anchor`` minus the notice period."""
    if period is not None:
        return period.before(anchor)
    if period_days is None:
        return None
    return anchor - dt.timedelta(days=period_days)
