"""The periods owners name, as inclusive UTC days, worked out here independently of the
copilot's parser so the labelled set can check it."""

from __future__ import annotations

import calendar
import datetime as dt

Period = tuple[dt.date, dt.date]


def month(year: int, number: int) -> Period:
    return dt.date(year, number, 1), dt.date(year, number, calendar.monthrange(year, number)[1])


def this_month(today: dt.date) -> Period:
    return today.replace(day=1), today


def months_ago(today: dt.date, n: int) -> Period:
    index = today.year * 12 + today.month - 1 - n
    return month(index // 12, index % 12 + 1)


def last_month(today: dt.date) -> Period:
    return months_ago(today, 1)


def last_days(today: dt.date, n: int) -> Period:
    """ "The last 7 days": today and the six days before it."""
    return today - dt.timedelta(days=n - 1), today


def yesterday(today: dt.date) -> Period:
    day = today - dt.timedelta(days=1)
    return day, day


def this_week(today: dt.date) -> Period:
    return today - dt.timedelta(days=today.weekday()), today


def last_week(today: dt.date) -> Period:
    monday = today - dt.timedelta(days=today.weekday() + 7)
    return monday, monday + dt.timedelta(days=6)


def year_to_date(today: dt.date) -> Period:
    return dt.date(today.year, 1, 1), today


def last_year(today: dt.date) -> Period:
    return dt.date(today.year - 1, 1, 1), dt.date(today.year - 1, 12, 31)


def quarter(today: dt.date, q: int) -> Period:
    """Quarter ``q`` of this year, or of last year while it is still to come."""
    year = today.year if 3 * (q - 1) + 1 <= today.month else today.year - 1
    start = dt.date(year, 3 * (q - 1) + 1, 1)
    return start, month(year, 3 * q)[1]


def last_quarter(today: dt.date) -> Period:
    current = (today.month - 1) // 3
    year, q = (today.year, current) if current else (today.year - 1, 4)
    return dt.date(year, 3 * (q - 1) + 1, 1), month(year, 3 * q)[1]


def named_month(today: dt.date, number: int) -> Period:
    """ "In March": the latest March that has begun (this year's, or last year's)."""
    year = today.year if number <= today.month else today.year - 1
    start, end = month(year, number)
    return start, min(end, today)


def black_friday(year: int) -> dt.date:
    first = dt.date(year, 11, 1)
    first_friday = first + dt.timedelta(days=(4 - first.weekday()) % 7)
    return first_friday + dt.timedelta(days=21)


def since_black_friday(today: dt.date) -> Period:
    day = black_friday(today.year)
    return (day if day <= today else black_friday(today.year - 1)), today


def last_n_months(today: dt.date, n: int) -> Period:
    return months_ago(today, n)[0], today
