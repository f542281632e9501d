"""Periods in owners' words: "last month", "Q3", "the past two weeks", "since Black
Friday", "between 1 and 15 October". Pure date arithmetic against a given ``today``."""

# ruff: noqa: E501  (pattern tables and phrasing tables read best one entry a line)

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Day = dt.date
ONE = dt.timedelta(days=1)

MONTHS = {
    name: number
    for number in range(1, 13)
    for name in (calendar.month_name[number].lower(), calendar.month_abbr[number].lower())
}
MONTHS["sept"] = 9
WEEKDAYS = {calendar.day_name[i].lower(): i for i in range(7)}
WEEKDAYS.update({calendar.day_abbr[i].lower(): i for i in range(7)})
NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "fifteen": 15, "twenty": 20, "thirty": 30, "ninety": 90, "couple": 2, "couple of": 2,
    "a couple of": 2, "few": 3, "a few": 3, "several": 3,
}  # fmt: skip
ORDINAL_QUARTERS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": 4}

_MONTH = r"(?P<{g}>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_NUM = r"(?P<{g}>\d+|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"
_ORD = r"(?:st|nd|rd|th)?"
_YEAR = r"(?P<{g}>(?:19|20)\d\d)"


@dataclass(frozen=True, slots=True)
class Period:
    """Inclusive days ``start``..``end``; ``unit`` (day, week, month, quarter, year or
    range) says how "the one before" is found."""

    start: Day
    end: Day
    label: str
    unit: str = "range"

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "label": self.label,
            "unit": self.unit,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Period:
        return cls(
            dt.date.fromisoformat(data["from"]),
            dt.date.fromisoformat(data["to"]),
            str(data.get("label", "")),
            str(data.get("unit", "range")),
        )

    def before(self) -> Period:
        """The period just before this one, whole: the month before a month (even one
        still running), the quarter before a quarter, the same length before a range."""
        if self.unit == "month":
            start = add_months(self.start.replace(day=1), -1)
            return month(start.year, start.month, label="the month before")
        if self.unit == "quarter":
            start = add_months(self.start.replace(day=1), -3)
            return quarter(start.year, (start.month - 1) // 3 + 1, label="the quarter before")
        if self.unit == "year":
            return year(self.start.year - 1)
        if self.unit == "week":
            monday = self.start - dt.timedelta(days=self.start.weekday() + 7)
            return Period(monday, monday + dt.timedelta(days=6), "the week before", "week")
        if self.unit == "day":
            day = self.start - ONE
            return Period(day, day, "the day before", "day")
        length = self.end - self.start
        end = self.start - ONE
        return Period(end - length, end, "the period before", "range")

    def whole_year(self) -> bool:
        return (self.start.month, self.start.day, self.end.month, self.end.day) == (1, 1, 12, 31)

    def year_earlier(self) -> Period:
        """The same days a year earlier (29 February becomes the 28th), named by their own
        year ("October 2025", "Q3 2025", else "the same days last year"); the year before a
        whole year."""
        if self.whole_year():
            return year(self.start.year - 1)
        start, end = add_years(self.start, -1), add_years(self.end, -1)
        for whole in (month(start.year, start.month), quarter(start.year, (start.month + 2) // 3)):
            if (start, end) == (whole.start, whole.end):
                return whole
        named = re.sub(r"\b(?:19|20)\d\d\b", lambda m: str(int(m.group()) - 1), self.label)
        same = named == self.label or self.label.startswith("this")
        return Period(start, end, "the same days last year" if same else named, self.unit)


def add_months(day: Day, months: int) -> Day:
    index = day.year * 12 + day.month - 1 + months
    y, m = divmod(index, 12)
    return day.replace(year=y, month=m + 1, day=min(day.day, calendar.monthrange(y, m + 1)[1]))


def add_years(day: Day, years: int) -> Day:
    y = day.year + years
    return day.replace(year=y, day=min(day.day, calendar.monthrange(y, day.month)[1]))


def month(y: int, m: int, *, label: str | None = None, today: Day | None = None) -> Period:
    start = dt.date(y, m, 1)
    end = dt.date(y, m, calendar.monthrange(y, m)[1])
    if today is not None and start <= today < end:
        end = today
    return Period(start, end, label or f"{calendar.month_name[m]} {y}", "month")


def quarter(y: int, q: int, *, label: str | None = None, today: Day | None = None) -> Period:
    start = dt.date(y, 3 * q - 2, 1)
    end = add_months(start, 3) - ONE
    if today is not None and start <= today < end:
        end = today
    return Period(start, end, label or f"Q{q} {y}", "quarter")


def year(y: int, *, label: str | None = None, today: Day | None = None) -> Period:
    start, end = dt.date(y, 1, 1), dt.date(y, 12, 31)
    if today is not None and start <= today < end:
        end = today
    return Period(start, end, label or str(y), "year")


def week_of(day: Day, *, label: str, today: Day | None = None) -> Period:
    monday = day - dt.timedelta(days=day.weekday())
    end = monday + dt.timedelta(days=6)
    if today is not None and monday <= today < end:
        end = today
    return Period(monday, end, label, "week")


def number(word: str) -> int:
    word = word.strip()
    return int(word) if word.isdigit() else NUMBER_WORDS[word]


def holiday(name: str, y: int) -> Day | None:
    """Black Friday (the day after the fourth Thursday of November), Cyber Monday,
    Christmas, New Year's Day, Boxing Day, Valentine's Day, Halloween."""
    if name in ("black friday", "cyber monday", "thanksgiving"):
        first = dt.date(y, 11, 1)
        thursday = first + dt.timedelta(days=(3 - first.weekday()) % 7 + 21)
        offset = {"thanksgiving": 0, "black friday": 1, "cyber monday": 4}[name]
        return thursday + dt.timedelta(days=offset)
    fixed = {"christmas eve": (12, 24), "christmas day": (12, 25), "christmas": (12, 25),
             "boxing day": (12, 26), "new year's eve": (12, 31), "new years eve": (12, 31),
             "new year's day": (1, 1), "new years day": (1, 1), "new year": (1, 1),
             "valentine's day": (2, 14), "valentines day": (2, 14), "halloween": (10, 31)}  # fmt: skip
    if name in fixed:
        m, d = fixed[name]
        return dt.date(y, m, d)
    return None


HOLIDAYS = (
    r"black friday|cyber monday|thanksgiving|christmas eve|christmas day|christmas|"
    r"boxing day|new year'?s eve|new year'?s day|new year|valentine'?s day|halloween"
)


def last_holiday(name: str, today: Day) -> Day | None:
    """The most recent ``name`` on or before ``today``."""
    for y in (today.year, today.year - 1):
        day = holiday(name.replace("\u2019", "'"), y)
        if day is not None and day <= today:
            return day
    return None


def last_month_named(m: int, today: Day, *, strictly_before: bool = False) -> tuple[int, int]:
    """The year of the most recent month ``m`` that has begun (``strictly_before``: not
    this month)."""
    y = today.year
    if m > today.month or (strictly_before and m == today.month):
        y -= 1
    return y, m


def single_day(groups: dict[str, str | None], today: Day, suffix: str = "") -> Day | None:
    """A day from ``d{suffix}``/``m{suffix}``/``y{suffix}`` groups (a missing year is the
    most recent such day)."""
    d, m, y = groups.get("d" + suffix), groups.get("m" + suffix), groups.get("y" + suffix)
    if d is None or m is None:
        return None
    mm = MONTHS[m.rstrip(".")]
    try:
        if y:
            return dt.date(int(y), mm, int(d))
        day = dt.date(today.year, mm, int(d))
        return day if day <= today else dt.date(today.year - 1, mm, int(d))
    except ValueError:
        return None


def fill(pattern: str) -> str:
    """Fills ``{MONTH:g}``-style holes with named groups."""

    def hole(match: re.Match[str]) -> str:
        kind, group = match.group(1), match.group(2)
        return {"MONTH": _MONTH, "NUM": _NUM, "YEAR": _YEAR}[kind].format(g=group)

    return re.sub(r"\{(MONTH|NUM|YEAR):(\w+)\}", hole, pattern)


_DM = (
    r"(?:the\s+)?(?P<d{s}>\d{{1,2}})" + _ORD + r"\s+(?:of\s+)?{{MONTH:m{s}}}(?:,?\s+{{YEAR:y{s}}})?"
)
_MD = r"{{MONTH:m{s}b}}\s+(?:the\s+)?(?P<d{s}b>\d{{1,2}})" + _ORD + r"(?:,?\s+{{YEAR:y{s}b}})?"
_ISO = r"(?P<iso{s}>\d{{4}}-\d{{2}}-\d{{2}})"


def day_alternatives(s: str) -> str:
    return "(?:" + "|".join(p.format(s=s) for p in (_ISO, _DM, _MD)) + ")"


def day_from(groups: dict[str, str | None], today: Day, s: str) -> Day | None:
    iso = groups.get("iso" + s)
    if iso:
        try:
            return dt.date.fromisoformat(iso)
        except ValueError:
            return None
    return single_day(groups, today, s) or single_day(groups, today, s + "b")


Handler = Callable[[dict[str, str | None], Day], Period | None]


def _between_days(g: dict[str, str | None], today: Day) -> Period | None:
    first, last = day_from(g, today, "1"), day_from(g, today, "2")
    if first is None or last is None:
        return None
    if last < first and not (g.get("y1") or g.get("y1b")):
        first = add_years(first, -1)
    if last < first:
        return None
    return Period(first, last, f"{first.isoformat()} to {last.isoformat()}", "range")


def _days_of_month(g: dict[str, str | None], today: Day) -> Period | None:
    m = MONTHS[str(g["m"]).rstrip(".")]
    y = int(str(g["y"])) if g.get("y") else None
    d1, d2 = int(str(g["d1"])), int(str(g["d2"]))
    if y is None:
        y, _ = last_month_named(m, today)
        if dt.date(y, m, 1) > today:
            y -= 1
    try:
        first, last = dt.date(y, m, d1), dt.date(y, m, d2)
    except ValueError:
        return None
    if last < first:
        return None
    return Period(first, last, f"{first.isoformat()} to {last.isoformat()}", "range")


def _since(g: dict[str, str | None], today: Day) -> Period | None:
    start: Day | None = None
    if g.get("hol"):
        start = last_holiday(str(g["hol"]), today)
    elif g.get("wd"):
        start = today - dt.timedelta(days=(today.weekday() - WEEKDAYS[str(g["wd"])]) % 7 or 7)
    elif g.get("sm"):
        y, m = last_month_named(MONTHS[str(g["sm"]).rstrip(".")], today)
        start = dt.date(int(str(g["sy"])) if g.get("sy") else y, m, 1)
    else:
        start = day_from(g, today, "1")
    if start is None or start > today:
        return None
    what = str(g.get("hol") or g.get("wd") or start.isoformat())
    if g.get("sm"):
        what = calendar.month_name[start.month] + (
            "" if start.year == today.year else f" {start.year}"
        )
    label = f"since {what.title() if g.get('hol') or g.get('wd') else what}"
    return Period(start, today, label, "range")


def _last_n(g: dict[str, str | None], today: Day) -> Period | None:
    n, unit = number(str(g["n"])), str(g["unit"]).rstrip("s")
    if n <= 0 or n > 3660:
        return None
    if unit == "day":
        start = today - dt.timedelta(days=n - 1)
    elif unit == "week":
        start = today - dt.timedelta(days=7 * n - 1)
    elif unit == "fortnight":
        start = today - dt.timedelta(days=14 * n - 1)
    elif unit == "month":
        start = add_months(today, -n) + ONE
    elif unit == "quarter":
        start = add_months(today, -3 * n) + ONE
    else:
        start = add_years(today, -n) + ONE
    word = str(g["n"])
    return Period(start, today, f"the last {word} {g['unit']}", "range")


def _relative(g: dict[str, str | None], today: Day) -> Period | None:
    which, unit = str(g["which"]), str(g["unit"])
    if which == "past":
        rolling = _last_n({"n": "1", "unit": unit}, today)
        return None if rolling is None else Period(rolling.start, today, f"the past {unit}")
    back = {"this": 0, "current": 0, "next": -1, "coming": -1}.get(which, 1)
    if which in ("the month before last", "month before last"):
        back = 2
    label = f"{which} {unit}"
    if unit == "week":
        return week_of(today - dt.timedelta(days=7 * back), label=label, today=today)
    if unit == "month":
        start = add_months(today.replace(day=1), -back)
        return month(start.year, start.month, label=label, today=today)
    if unit == "quarter":
        start = add_months(today.replace(day=1), -3 * back)
        return quarter(start.year, (start.month - 1) // 3 + 1, label=label, today=today)
    return year(today.year - back, label=label, today=today)


def _before_last(g: dict[str, str | None], today: Day) -> Period | None:
    unit = str(g["unit"])
    g2: dict[str, str | None] = {"which": "last", "unit": unit}
    last = _relative(g2, today)
    if last is None:
        return None
    earlier = last.before()
    return Period(earlier.start, earlier.end, f"the {unit} before last", earlier.unit)


def _to_date(g: dict[str, str | None], today: Day) -> Period | None:
    unit = str(g["unit"])
    if unit in ("year", "y"):
        return Period(dt.date(today.year, 1, 1), today, "year to date", "year")
    if unit in ("quarter", "q"):
        q = quarter(today.year, (today.month - 1) // 3 + 1, today=today)
        return Period(q.start, today, "quarter to date", "quarter")
    if unit in ("week", "w"):
        return week_of(today, label="week to date", today=today)
    return Period(today.replace(day=1), today, "month to date", "month")


def _quarter(g: dict[str, str | None], today: Day) -> Period | None:
    q = int(str(g["q"])) if g.get("q") else ORDINAL_QUARTERS[str(g["oq"])]
    if g.get("y"):
        y = int(str(g["y"]))
    elif g.get("rel"):
        y = today.year - (1 if g["rel"] == "last year's" or g["rel"] == "last year" else 0)
    else:
        y = today.year if dt.date(today.year, 3 * q - 2, 1) <= today else today.year - 1
    label = f"Q{q} {y}"
    return quarter(y, q, label=label, today=today)


def _half(g: dict[str, str | None], today: Day) -> Period | None:
    h = 1 if g["h"] in ("1", "first") else 2
    y = int(str(g["y"])) if g.get("y") else today.year
    if dt.date(y, 6 * h - 5, 1) > today:
        y -= 1
    start = dt.date(y, 6 * h - 5, 1)
    end = add_months(start, 6) - ONE
    return Period(start, min(end, today) if start <= today else end, f"H{h} {y}", "range")


def _month(g: dict[str, str | None], today: Day) -> Period | None:
    m = MONTHS[str(g["m"]).rstrip(".")]
    rel = g.get("rel")
    if g.get("y"):
        y = int(str(g["y"]))
    elif rel in ("last", "past", "previous"):
        y, _ = last_month_named(m, today, strictly_before=True)
    elif rel in ("this", "this past"):
        y = today.year
    else:
        y, _ = last_month_named(m, today)
    if g.get("ry") == "last year":
        y = today.year - 1
    return month(y, m, label=f"{calendar.month_name[m]} {y}", today=today)


def _year(g: dict[str, str | None], today: Day) -> Period | None:
    y = int(str(g["y"]))
    if not today.year - 10 <= y <= today.year:
        return None
    return year(y, label=str(y), today=today)


def _named_day(g: dict[str, str | None], today: Day) -> Period | None:
    word = str(g["word"])
    if word == "today":
        return Period(today, today, "today", "day")
    if word == "yesterday":
        return Period(today - ONE, today - ONE, "yesterday", "day")
    day = today - 2 * ONE
    return Period(day, day, "the day before yesterday", "day")


def _weekday(g: dict[str, str | None], today: Day) -> Period | None:
    wd = WEEKDAYS[str(g["wd"])]
    back = (today.weekday() - wd) % 7
    if g.get("rel") == "last" and back == 0:
        back = 7
    day = today - dt.timedelta(days=back)
    return Period(day, day, f"{g['wd'].title() if g['wd'] else ''} {day.isoformat()}", "day")


def _weekend(g: dict[str, str | None], today: Day) -> Period | None:
    saturday = today - dt.timedelta(days=(today.weekday() - 5) % 7)
    if g.get("rel") == "last" and today.weekday() >= 5:
        saturday -= dt.timedelta(days=7)
    end = min(saturday + ONE, today)
    return Period(saturday, end, "the weekend", "range")


def _holiday_day(g: dict[str, str | None], today: Day) -> Period | None:
    name = str(g["hol"])
    day = last_holiday(name, today)
    if day is None:
        return None
    return Period(day, day, f"{name.title()} {day.year}", "day")


def _one_day(g: dict[str, str | None], today: Day) -> Period | None:
    day = day_from(g, today, "1")
    if day is None or day > today:
        return None
    return Period(day, day, day.isoformat(), "day")


def _ytd(g: dict[str, str | None], today: Day) -> Period | None:
    return _to_date({"unit": "year"}, today)


def _xtd(g: dict[str, str | None], today: Day) -> Period | None:
    unit = g.get("unit") or {"mtd": "month", "qtd": "quarter", "wtd": "week"}[str(g["u2"])]
    return _to_date({"unit": unit}, today)


def _half_words(g: dict[str, str | None], today: Day) -> Period | None:
    return _half({"h": g.get("h") or g.get("hw"), "y": g.get("y")}, today)


def _start_of(g: dict[str, str | None], today: Day) -> Period | None:
    period = _to_date({"unit": str(g["unit"])}, today)
    return (
        None
        if period is None
        else Period(period.start, today, f"since the start of the {g['unit']}", period.unit)
    )


def _fiscal(g: dict[str, str | None], today: Day) -> Period | None:
    """A financial year is taken as the calendar year (the tenant's year end is not known)."""
    return _relative({"which": g["which"], "unit": "year"}, today)


def _hours(g: dict[str, str | None], today: Day) -> Period | None:
    days = -(-number(str(g["n"])) // 24)
    return Period(today - dt.timedelta(days=days), today, f"the last {g['n']} hours", "range")


def _a_year_ago(g: dict[str, str | None], today: Day) -> Period | None:
    """ "this time last year" (this month to date, a year back); "this month last year"."""
    this = _relative({"which": g.get("which") or "this", "unit": g.get("unit") or "month"}, today)
    return None if this is None else this.year_earlier()


def _months_between(g: dict[str, str | None], today: Day) -> Period | None:
    first, last = MONTHS[str(g["m1"]).rstrip(".")], MONTHS[str(g["m2"]).rstrip(".")]
    y2 = int(str(g["y2"])) if g.get("y2") else last_month_named(last, today)[0]
    y1 = int(str(g["y1"])) if g.get("y1") else (y2 if first <= last else y2 - 1)
    start = dt.date(y1, first, 1)
    end = month(y2, last).end
    if end < start:
        return None
    label = f"{calendar.month_name[first]}{f' {y1}' if y1 != y2 else ''} to {calendar.month_name[last]} {y2}"
    return Period(start, min(end, today) if start <= today else end, label, "range")


_UNITS = r"(?P<unit>days?|weeks?|fortnights?|months?|quarters?|years?)"
_SINCE_WHAT = (
    r"(?:(?P<hol>" + HOLIDAYS + r")|(?:last\s+)?(?P<wd>"
    + "|".join(calendar.day_name[i].lower() for i in range(7))
    + r")|" + day_alternatives("1") + r"|(?:the\s+(?:start|beginning)\s+of\s+)?{MONTH:sm}(?:\s+{YEAR:sy})?)"
)  # fmt: skip

PATTERNS: list[tuple[str, Handler]] = [
    (
        r"(?:between|from)\s+" + day_alternatives("1")
        + r"\s+(?:and|to|until|till|through|thru)\s+" + day_alternatives("2"),
        _between_days,
    ),
    (
        r"(?:(?:between|from)\s+)?(?:the\s+)?(?P<d1>\d{1,2})" + _ORD
        + r"\s*(?:and|to|until|till|through|-|\u2013)\s*(?:the\s+)?(?P<d2>\d{1,2})" + _ORD
        + r"\s+(?:of\s+)?{MONTH:m}(?:,?\s+{YEAR:y})?",
        _days_of_month,
    ),
    (
        r"(?:(?:between|from)\s+)?{MONTH:m}\s+(?P<d1>\d{1,2})" + _ORD
        + r"\s*(?:and|to|until|till|through|-|\u2013)\s*(?P<d2>\d{1,2})" + _ORD
        + r"(?:,?\s+{YEAR:y})?",
        _days_of_month,
    ),
    (
        r"(?:(?:between|from)\s+)?" + _ISO.format(s="1")
        + r"\s*(?:and|to|until|till|through|-|\u2013)\s*" + _ISO.format(s="2"),
        _between_days,
    ),
    (
        r"(?:between|from)\s+{MONTH:m1}(?:\s+{YEAR:y1})?\s+(?:and|to|until|till|through|-|\u2013)\s+{MONTH:m2}(?:\s+{YEAR:y2})?",
        _months_between,
    ),
    (r"(?:ever\s+)?(?:since|from)\s+the\s+(?:start|beginning)\s+of\s+(?:the\s+|this\s+)?(?P<unit>year|month|quarter|week)", _start_of),
    (r"(?:ever\s+)?since\s+" + _SINCE_WHAT, _since),
    (r"(?:at\s+)?this\s+time\s+last\s+year|(?P<which>this|last)\s+(?P<unit>week|month|quarter)\s+last\s+year", _a_year_ago),
    (r"(?:the\s+)?(?P<which>this|current|last|previous|next)\s+(?:financial|fiscal)\s+year", _fiscal),
    (r"(?:in\s+|over\s+|during\s+)?(?:the\s+)?(?:last|past|previous)\s+{NUM:n}\s+hours?", _hours),
    (r"(?:year|y)[- ]to[- ]date|\bytd\b|so\s+far\s+this\s+year|this\s+year\s+so\s+far", _ytd),
    (r"(?:on\s+)?" + day_alternatives("1"), _one_day),
    (
        r"(?:(?:in|during|for|of|over)\s+)?(?:(?P<rel>last|past|previous|this)\s+)?{MONTH:m}"
        r"(?:\s+{YEAR:y}|\s+(?P<ry>last\s+year|this\s+year))?",
        _month,
    ),
    (
        r"(?:in\s+|over\s+|during\s+|for\s+)?(?:the\s+)?(?:last|past|previous|prior|recent)\s+{NUM:n}\s+" + _UNITS,
        _last_n,
    ),
    (
        r"(?:\bq(?P<q>[1-4])|(?:the\s+)?(?P<oq>first|second|third|fourth)\s+quarter)"
        r"(?:\s+(?:of\s+)?(?:{YEAR:y}|(?P<rel>last\s+year|this\s+year)))?",
        _quarter,
    ),
    (r"(?:the\s+)?(?P<unit>month|week|quarter|year)\s+before\s+last", _before_last),
    (
        r"(?:the\s+)?(?P<which>this|current|last|previous|past|prior|next|coming)\s+(?P<unit>week|month|quarter|year)(?:'s)?",
        _relative,
    ),
    (r"(?P<unit>month|quarter|week)[- ]to[- ]date|\b(?P<u2>mtd|qtd|wtd)\b", _xtd),
    (r"\bh(?P<h>[12])|(?:the\s+)?(?P<hw>first|second)\s+half(?:\s+of)?(?:\s+{YEAR:y})?", _half_words),
    (r"(?P<hol>" + HOLIDAYS + r")", _holiday_day),
    (r"(?:(?:in|during|for|of)\s+)?(?:the\s+year\s+)?{YEAR:y}", _year),
    (r"(?P<word>the\s+day\s+before\s+yesterday|yesterday|today|tonight)", _named_day),
    (r"(?:(?P<rel>last|this|on)\s+)?(?P<wd>monday|tuesday|wednesday|thursday|friday|saturday|sunday)", _weekday),
    (r"(?:(?P<rel>last|this|over\s+the)\s+)?weekend", _weekend),
]  # fmt: skip


COMPILED: list[tuple[re.Pattern[str], Handler]] = [
    (re.compile(r"(?<![\w$€£.,-])(?:" + fill(pattern) + r")(?![\w-])"), handler)
    for pattern, handler in PATTERNS
]


@dataclass(frozen=True, slots=True)
class Found:
    span: tuple[int, int]
    period: Period


def find_periods(text: str, today: Day) -> list[Found]:
    """Every period named in ``text`` (lower case), left to right, none overlapping; the
    earlier pattern wins where two would claim the same words."""
    taken: list[Found] = []
    for regex, handler in COMPILED:
        for match in regex.finditer(text):
            span = match.span()
            if any(span[0] < f.span[1] and f.span[0] < span[1] for f in taken):
                continue
            groups = {k: (v.strip() if v else None) for k, v in match.groupdict().items()}
            if "m" in groups and groups["m"] == "may" and not _may_is_month(text, span):
                continue
            period = handler(groups, today)
            if period is not None:
                taken.append(Found(span, period))
    return sorted(taken, key=lambda f: f.span)


def _may_is_month(text: str, span: tuple[int, int]) -> bool:
    """ "may" is a month after in/during/since/last/of or before a day or a year, not in
    "may I …"."""
    piece = text[span[0] : span[1]]
    return piece.strip() != "may" or bool(
        re.search(r"(?:in|during|since|of|for)\s+$", text[: span[0]])
    )
